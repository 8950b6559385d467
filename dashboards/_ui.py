"""Widgets several pages share: the comment table, the decision panel, CSV export.

Untrusted text (comments, author names, titles) only ever reaches the page
through dataframe cells, ``st.text``/``st.code`` or widget options, which
Streamlit renders as plain text; never through Markdown or HTML.
"""

from __future__ import annotations

import getpass
import html

import pandas as pd
import streamlit as st

import _data
from moderation import auth, reports
from moderation.store import ACTIONS, DecisionConflict, seen_states

TABLE_HEIGHT = 420
LINKS = {
    "thread": st.column_config.LinkColumn("thread", display_text="open thread", width="small"),
    "profile": st.column_config.LinkColumn("profile", display_text="profile", width="small"),
    "text": st.column_config.TextColumn("text", width="large"),
}


def comment_table(frame: pd.DataFrame, key: str) -> None:
    """A sortable table of comments with links to each comment's thread and author profile."""
    st.dataframe(frame, key=key, hide_index=True, height=TABLE_HEIGHT, column_config=LINKS)


def comment_labels(frame: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(source, comment_id) -> :func:`comment_label`, in the frame's order (options of a comment picker)."""
    return {(r.source, r.comment_id): comment_label(r) for r in frame.itertuples(index=False)}


def label_of(labels: dict[tuple[str, str], str]):
    """A picker's ``format_func`` over :func:`comment_labels` that also names a comment no longer among them
    (a widget may still hold one that was just decided; ``labels.get`` would give None and break the widget)."""
    return lambda key: labels.get(key) or f"{key[0]}/{key[1]}"


def comment_label(row) -> str:
    """Option label of one comment: author and the start of its text (plain text)."""
    text = "" if pd.isna(row.text) else " ".join(str(row.text).split())
    author = "(no author)" if pd.isna(row.author) else row.author
    return f"{author}: {text[:90]}"


TYPED_REASON = "type a reason…"


def reason_picker(key: str, typed_hint: str = "your reason") -> None:
    """The desk's reasons (``Store.decision_reasons``) in a list, or one typed: widgets ``{key}_reason`` and
    ``{key}_reason_typed``; :func:`picked_reason` reads what was chosen."""
    reasons = _data.decision_reasons(_data.context().store_url)
    options = [*reasons, TYPED_REASON]
    if st.session_state.get(f"{key}_reason") not in [None, *options]:
        st.session_state[f"{key}_reason"] = None  # the desk removed the reason this tab had picked
    left, right = st.columns([1, 2])
    left.selectbox("Reason", options, index=None, key=f"{key}_reason", placeholder="optional")
    if st.session_state.get(f"{key}_reason") == TYPED_REASON:
        right.text_input("Reason", key=f"{key}_reason_typed", placeholder=typed_hint)


def picked_reason(key: str) -> str | None:
    """The reason :func:`reason_picker` holds: the one picked, the one typed (stripped), or None."""
    picked = st.session_state.get(f"{key}_reason")
    if picked == TYPED_REASON:
        return (st.session_state.get(f"{key}_reason_typed") or "").strip() or None
    return picked


def decision_panel(shown: pd.DataFrame, key: str) -> None:
    """Decide on comments of ``shown`` (per comment, or all shown after a confirmation) and undo the last batch.

    Picking a comment claims it (others see "claimed by NAME" and cannot decide
    it until the claim lapses). A decision carries the decisions shown when it
    was made; if another landed in between, nothing is written and the panel
    shows theirs and lets the moderator choose. Then the cached decision
    frames are cleared and decided comments leave the queue.
    """
    ctx = _data.context()
    claimed = claimed_by_others(ctx)
    labels = {k: (f"[claimed by {claimed[k]}] " if k in claimed else "") + text
              for k, text in comment_labels(shown).items()}
    # what this moderator sees now: the decision (or none) on each comment shown
    st.session_state[f"{key}_seen"] = seen_states(_data.current_decisions(ctx.store_url), labels)
    with st.container(border=True):
        st.subheader("Decide")
        if not ctx.can_decide:
            st.caption(f"You are signed in as a {ctx.role}: you can look, not decide.")
        conflict_panel(key)
        everything = st.checkbox(f"All {len(shown)} shown comments", key=f"{key}_all")
        st.multiselect(
            "Comments", options=list(labels), format_func=label_of(labels), key=f"{key}_pick",
            disabled=everything, placeholder="Choose comments", on_change=_claim_picked, args=(key,),
        )
        action = st.selectbox("Action", ACTIONS, key=f"{key}_action")
        reason_picker(key)
        picked = [k for k in st.session_state.get(f"{key}_pick", []) if k in labels]
        keys = [k for k in labels if k not in claimed] if everything else picked
        if everything and claimed:
            st.caption(f"{sum(k in claimed for k in labels)} shown comment(s) claimed by others are left out.")
        confirmed = len(keys) <= 1  # several at once ("all shown", or the picker's select-all) need a yes
        if not confirmed:
            confirmed = st.checkbox(f"Yes, record '{action}' on these {len(keys)} comments", key=f"{key}_confirm")
        left, right = st.columns(2)
        left.button(f"Record '{action}' on {len(keys)} comment(s)", key=f"{key}_record", type="primary",
                    disabled=not keys or not confirmed or not ctx.can_decide, on_click=_record, args=(key, keys))
        error = st.session_state.pop(f"{key}_error", None)
        if error:
            st.error(error)
        with right:
            undo_button(key)


def _claim_picked(key: str) -> None:
    """Claim the picked comments and release the unpicked ones; one someone else holds is dropped from the
    pick with their name."""
    ctx = _data.context()
    if not ctx.can_decide or not ctx.signed_in:
        return
    picked = st.session_state.get(f"{key}_pick", [])
    for dropped in set(st.session_state.get(f"{key}_claimed", [])) - set(picked):
        _data.release(ctx.store_url, dropped, ctx.moderator)
    kept = []
    for pick in picked:
        held = _data.claim(ctx.store_url, pick, ctx.moderator)
        if held.mine:
            kept.append(pick)
        else:
            st.session_state[f"{key}_error"] = (f"{pick[0]}/{pick[1]} is claimed by {held.moderator} until "
                                                f"{held.expires_at:%H:%M} UTC.")
    st.session_state[f"{key}_pick"] = st.session_state[f"{key}_claimed"] = kept


def _record(key: str, keys: list[tuple[str, str]], seen: dict | None = None) -> None:
    """Record the panel's action on ``keys`` as the signed-in moderator, checked against what they saw."""
    ctx = _data.context()
    action, reason = st.session_state[f"{key}_action"], picked_reason(key)
    if not ctx.moderator:
        st.session_state[f"{key}_error"] = "Enter your name as moderator in the sidebar first."
        return
    seen = st.session_state.get(f"{key}_seen", {}) if seen is None else seen
    try:
        _data.record_decision(ctx.store_url, keys, action, ctx.moderator, reason, seen=seen)
    except DecisionConflict as conflict:
        st.session_state[f"{key}_conflict"] = {"keys": keys, "action": action, "reason": reason,
                                               "conflicts": conflict.conflicts, "message": str(conflict)}
        return
    except auth.Forbidden as refused:
        st.session_state[f"{key}_error"] = f"Not recorded: {refused}."
        return
    st.session_state["flash"] = f"Recorded {action} on {len(keys)} comment(s)."
    for state in ("claimed", "conflict"):
        st.session_state.pop(f"{key}_{state}", None)
    # a decided comment must not stay selected once it leaves the options
    st.session_state[f"{key}_pick"] = []
    st.session_state[f"{key}_all"] = st.session_state[f"{key}_confirm"] = False


def conflict_panel(key: str) -> None:
    """When the last decision met a change since it was shown: the other decision, and the moderator's choice."""
    pending = st.session_state.get(f"{key}_conflict")
    if not pending:
        return
    conflicts = pending["conflicts"]
    st.warning(f"Not recorded: {len(conflicts)} of {len(pending['keys'])} comment(s) changed since you saw them. "
               f"Your decision was '{pending['action']}'. Nothing was overwritten.")
    st.dataframe(reports.conflict_view(conflicts), hide_index=True, key=f"{key}_conflict_table")
    changed = set(zip(conflicts["source"], conflicts["comment_id"]))
    others = [k for k in pending["keys"] if k not in changed]
    claimed = set(zip(conflicts["source"][conflicts["claimed_by"].notna()],
                      conflicts["comment_id"][conflicts["claimed_by"].notna()]))
    # replacing theirs: the decision now carries what the moderator has just been shown
    seen_now = {**st.session_state.get(f"{key}_seen", {}),
                **{(r.source, r.comment_id): (None if pd.isna(r.current) else int(r.current))
                   for r in conflicts.itertuples()}}
    st.session_state[f"{key}_action"] = pending["action"]
    left, middle, right = st.columns(3)
    left.button(f"Keep theirs, record mine on the other {len(others)}", key=f"{key}_keep_theirs",
                disabled=not others, on_click=_record, args=(key, others))
    middle.button(f"Replace theirs with mine ({len(changed - claimed)})", key=f"{key}_replace",
                  disabled=not changed - claimed, on_click=_record,
                  args=(key, [k for k in pending["keys"] if k not in claimed], seen_now))
    right.button("Cancel", key=f"{key}_cancel", on_click=lambda: st.session_state.pop(f"{key}_conflict", None))


def release_card() -> None:
    """Release the claim on the Review card this session had open (if any)."""
    card = st.session_state.pop("review_claimed", None)
    if card:
        ctx = _data.context()
        _data.release(ctx.store_url, card, ctx.moderator)


def claimed_by_others(ctx) -> dict[tuple[str, str], str]:
    """(source, comment_id) -> name of the other moderator holding its live claim (none in single-user mode)."""
    if not ctx.signed_in:
        return {}
    live = _data.claims(ctx.store_url)
    others = live[live["moderator"] != ctx.moderator]
    return dict(zip(zip(others["source"], others["comment_id"]), others["moderator"]))


def undo_button(key: str) -> None:
    """Undo the moderator's latest batch of decisions in the store."""
    ctx = _data.context()
    st.button("Undo my last decision", key=f"{key}_undo", disabled=not ctx.can_decide, on_click=undo_latest,
              args=(key,))


def undo_latest(key: str, of: str | None = None) -> None:
    """Undo the latest batch of `of` (default: the moderator's own); the outcome goes to the flash or the error."""
    ctx = _data.context()
    try:
        undone = _data.undo_last(ctx.store_url, ctx.moderator, of)
    except auth.Forbidden as refused:
        st.session_state[f"{key}_error"] = f"Not undone: {refused}."
        return
    whose = "" if of in (None, ctx.moderator) else f" of {of}"
    st.session_state["flash"] = (
        f"Undid {undone['action'].iloc[0]}{whose} on {len(undone)} comment(s)." if len(undone) else "Nothing to undo."
    )


def flash() -> None:
    """Show (once) the message the last decision left behind."""
    message = st.session_state.pop("flash", None)
    if message:
        st.success(message)


def export_button(make_frame, file_name: str, key: str, label: str = "Export CSV") -> None:
    """A CSV download (spreadsheet formulas neutralised); ``make_frame()`` only runs when clicked."""
    st.download_button(label, data=lambda: reports.csv_bytes(make_frame()), file_name=file_name, mime="text/csv",
                       key=key, on_click="ignore")


def queue_section(name: str, key: str) -> pd.DataFrame | None:
    """One queue: its controls, top rows (undecided by default), export and decision panel.

    Returns the rows shown (None when the queue is empty after filters).
    """
    ctx = _data.context()
    left, middle, right = st.columns([1, 1, 1])
    min_votes = in_url("min_votes", f"{key}_min_votes", 0, left.number_input, int, label="Minimum votes",
                       min_value=0, step=1)
    limit = in_url("rows", f"{key}_limit", 200, middle.number_input, int, label="Rows shown", min_value=10,
                   max_value=5000, step=50)
    show_decided = in_url("show_decided", f"{key}_show_decided", False, right.toggle, flag,
                          label="Show decided comments")
    ranked_all = in_url(
        "below_threshold", f"{key}_ranked_all", False, right.toggle, flag, label="Also comments below the threshold",
        help="Rank every comment by the queue's score, members or not (column in_queue): "
             "the top of a small discussion shows even when nothing in it is flagged.",
    )
    members = _data.queue_members(ctx.results, ctx.version, ctx.filters, name, int(min_votes), not ranked_all)
    decisions = _data.current_decisions(ctx.store_url)
    data = _data.results(ctx.results, ctx.version)
    shown = reports.queue_view(members, decisions, show_decided=show_decided, limit=int(limit), results=data)
    pending = len(members) - int(reports.decided_mask(members, decisions).sum())
    flagged = int(members["in_queue"].sum())
    without_text = _data.queue_without_text(ctx.results, ctx.version, ctx.filters, name, int(min_votes),
                                            not ranked_all)
    st.caption(
        f"{flagged:,} comments in the queue"
        + (f" (ranked among all {len(members):,})" if ranked_all else "")
        + f", {pending:,} without a decision; showing {len(shown):,}."
        + (f" {reports.without_text_note(without_text)}" if without_text else "")
    )
    if shown.empty:
        st.info(reports.empty_queue_hint(flagged, pending, show_decided, ranked_all, int(min_votes),
                                         ctx.filters.active))
        undo_button(key)  # the last decision may have emptied the queue: it stays undoable
        return None
    comment_table(shown, key=f"{key}_table")
    export_button(
        lambda: reports.queue_view(members, decisions, show_decided=show_decided, limit=len(members),
                                   results=data),
        f"queue_{name}.csv", key=f"{key}_export", label="Export the whole queue (CSV)",
    )
    st.button("Review this queue one comment at a time", key=f"{key}_to_review", on_click=_review_only, args=(name,))
    if st.session_state.pop("to_review", False):
        st.switch_page("app_pages/review.py")
    decision_panel(shown, key)
    return shown


# ---- page state in the URL --------------------------------------------------------


def in_url(param: str, key: str, default, widget, parse=str, to_text=None, **kwargs):
    """Draw ``widget(key=key, **kwargs)`` with its value kept in the URL parameter ``param``.

    A link's value (``?param=...``) fills the widget when it differs from what
    this tab last wrote; a value equal to ``default`` leaves the URL clean.
    ``parse`` turns the URL text back into a value (``flag``, ``int``, ``words``);
    an unreadable value falls back to the widget's current one. ``to_text``
    writes a value as URL text (default :func:`url_text`).
    """
    written = st.session_state.setdefault("url_written", {})
    raw = st.query_params.get(param)
    if raw is not None and written.get(param) != raw:
        try:
            st.session_state[key] = parse(raw)
        except ValueError:
            pass
    elif key not in st.session_state:
        st.session_state[key] = default
    value = widget(key=key, **kwargs)
    text = (to_text or url_text)(value) if value is not None else ""
    if value == default or value is None or text == "":
        st.query_params.pop(param, None)
        written.pop(param, None)
    else:
        st.query_params[param] = text
        written[param] = text
    return value


def url_text(value) -> str:
    """A widget value as URL text: booleans as true/false, lists comma-separated."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def flag(text: str) -> bool:
    """URL text to a boolean (true/1/yes); anything else is False."""
    return text.strip().lower() in ("true", "1", "yes")


def words(text: str) -> list[str]:
    """URL text to a list (comma-separated, blanks dropped)."""
    return [w for w in text.split(",") if w]


def one_of(options) -> callable:
    """A ``parse`` for :func:`in_url` accepting only ``options`` (ValueError otherwise)."""
    def parse(text: str):
        if text not in options:
            raise ValueError(text)
        return text
    return parse


# ---- charts -------------------------------------------------------------------------


def counts_axis(figure, counts, axis: str = "y"):
    """``figure`` with an ``axis`` ("y" or "x") of whole counts: no 0.5 ticks when the counts are small, from 0."""
    top = float(counts.max()) if len(counts) else 0.0
    update = figure.update_yaxes if axis == "y" else figure.update_xaxes
    update(rangemode="tozero", tickformat=",d")
    if top <= 10:
        update(dtick=1)
    return figure.update_layout(margin={"t": 10, "b": 10})


def time_axis(figure, period: str):
    """``figure`` with an x axis of dates labelled by ``period`` ("month" or "week"), never by clock time."""
    return figure.update_xaxes(tickformat="%b %Y" if period == "month" else "%d %b %Y")
def _review_only(name: str) -> None:
    st.session_state["review_reasons"] = [name]
    st.session_state["review_index"] = 0
    st.session_state["to_review"] = True


# ---- who is moderating: sign-in, or one local user -----------------------------------


def single_user(url: str) -> bool:
    """Whether this server runs without sign-in: it listens on 127.0.0.1 only and the store has no users."""
    return auth.is_local(st.get_option("server.address")) and not _data.has_users(url)


def moderating_session(url: str) -> bool:
    """Establish who is moderating in the sidebar; False when they must sign in first (see :func:`sign_in_form`).

    Single-user mode (127.0.0.1, a store without users): the name box starts
    with the name last chosen in any tab of this server, else this computer's
    user name. Otherwise the signed-in session names the
    moderator and its role, its idle clock restarts on every action, and
    "Sign out" ends it.
    """
    if single_user(url):
        st.session_state.pop("session", None)
        if "moderator" not in st.session_state:
            st.session_state["moderator"] = _local_moderator().get("name") or getpass.getuser()
        st.sidebar.text_input("Moderator", key="moderator", placeholder="your name (recorded with each decision)",
                              on_change=_remember_moderator)
        st.sidebar.caption("Single-user mode: served on 127.0.0.1 only and the store has no users, so there is "
                           "no sign-in. Add users (`python -m moderation users add`) to require it.")
        return True
    idle = _data.timeouts()[0]
    token = st.session_state.get("session") or _session_cookie()
    session = auth.current_session(_data.store(url), token, idle)
    if session is None:
        if token:
            st.session_state["sign_in_note"] = (f"Your session ended (signed out, or idle for more than "
                                                f"{idle.total_seconds() / 60:.0f} minutes): sign in again.")
            st.session_state["stale_cookie"] = token
        if _sent_cookie():
            _write_session_cookie("")
        st.session_state.pop("session", None)
        return False
    st.session_state["session"] = token
    st.session_state["signed_in"] = (session.user, session.role)
    if _sent_cookie() != token:
        _write_session_cookie(token)
    st.sidebar.text(f"Signed in as {session.user} ({session.role})")
    st.sidebar.button("Sign out", key="sign_out", on_click=_sign_out, args=(url,))
    return True


@st.cache_resource
def _local_moderator() -> dict[str, str]:
    """The name the local user last chose, for every tab of this server (single-user mode: one person)."""
    return {}


def _remember_moderator() -> None:
    _local_moderator()["name"] = st.session_state["moderator"].strip()


def sign_in_form() -> None:
    """The only thing shown until someone signs in: user name and password (failures rate-limited per name)."""
    url = _data.settings()[1]
    st.title("Comment moderation: sign in")
    note = st.session_state.pop("sign_in_note", None)
    if note:
        st.info(note)
    if not _data.has_users(url):
        st.warning("This dashboard is served beyond this machine, so everyone signs in, but the store has no "
                   "users yet. An admin adds them: `python -m moderation users add NAME --role moderator "
                   "--store URL`.")
    with st.form("sign_in"):
        st.text_input("User name", key="sign_in_name")
        st.text_input("Password", type="password", key="sign_in_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            session = auth.sign_in(_data.store(url), st.session_state["sign_in_name"],
                                   st.session_state["sign_in_password"])
        except auth.SignInRefused as refused:
            st.error(str(refused))
            return
        st.session_state["session"] = session.token
        st.session_state.pop("sign_in_password", None)  # the password is not kept in the tab's state
        _data.activity.clear()
        st.rerun()


def _sign_out(url: str) -> None:
    token = st.session_state.pop("session", "")
    auth.sign_out(_data.store(url), token)
    st.session_state["stale_cookie"] = token
    st.session_state.pop("signed_in", None)
    st.session_state["sign_in_note"] = "Signed out."


# The session token also lives in a cookie of this site, so that a reload or a new tab of the same browser
# stays signed in. Streamlit reads cookies (st.context.cookies, as they were when the tab connected) but
# cannot set them, so a tiny component sets it in the page. SameSite=Strict: no other site sends it; the
# store still ends the session when idle or signed out. A cookie this tab already found ended is ignored.
SESSION_COOKIE = "moderation_session"
_COOKIE_JS = """
export default function(component) {
    const {name, value} = component.data || {};
    if (!name) return;
    const secure = window.location.protocol === "https:" ? "; Secure" : "";
    const expiry = value ? "" : "; Max-Age=0";
    document.cookie = name + "=" + encodeURIComponent(value || "") + "; Path=/; SameSite=Strict" + expiry + secure;
}
"""
_cookie_component = st.components.v2.component("moderation_session_cookie", js=_COOKIE_JS)


def _session_cookie() -> str | None:
    """The session token this browser sent when the tab connected, unless this tab already saw it end."""
    token = _sent_cookie()
    return None if not token or token == st.session_state.get("stale_cookie") else token


def _sent_cookie() -> str | None:
    """The session cookie's value as sent (None without one, or where there is no browser, as in AppTest)."""
    token = st.context.cookies.get(SESSION_COOKIE)
    return token if isinstance(token, str) else None


def _write_session_cookie(token: str) -> None:
    """Set (or, with ``""``, clear) this browser's session cookie."""
    _cookie_component(data={"name": SESSION_COOKIE, "value": token}, key="moderation_session_cookie", height=0)


def current_moderator() -> str:
    """The moderator of this session ('' when nobody is named): the one place pages and decisions ask.

    The signed-in user, or in single-user mode the sidebar's name.
    """
    if signed_in():
        return st.session_state["signed_in"][0]
    return str(st.session_state.get("moderator") or "").strip()


def signed_in() -> bool:
    """Whether someone signed in (a team store or a server beyond 127.0.0.1), rather than single-user mode."""
    return "session" in st.session_state and "signed_in" in st.session_state


def current_role() -> str:
    """The role of :func:`current_moderator` (single-user mode: ``auth.SINGLE_USER_ROLE``)."""
    if signed_in():
        return st.session_state["signed_in"][1]
    return auth.SINGLE_USER_ROLE


# ---- keyboard -----------------------------------------------------------------------

# Runs in the app page (components v2 are not iframed). One listener on the window, in the capture
# phase, so a handled key never reaches Streamlit's own hotkeys ("r" would rerun the app). Keys typed
# into a text box, with a modifier, or while a dialog is open are left alone.
_KEYS_JS = """
export default function(component) {
    const keys = component.data || {};
    const editable = (el) => el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
    const handler = (event) => {
        if (event.ctrlKey || event.metaKey || event.altKey || editable(event.target)) return;
        if (document.querySelector("[role='dialog']")) return;
        const target = keys[event.key];
        if (!target) return;
        const box = document.querySelector(".st-key-" + target);
        const control = box && (box.querySelector("input, textarea") || box.querySelector("button"));
        event.preventDefault();
        event.stopImmediatePropagation();
        if (!control || control.disabled) return;
        if (control.tagName === "BUTTON") control.click(); else control.focus();
    };
    if (window.__moderationKeys) window.removeEventListener("keydown", window.__moderationKeys, true);
    window.__moderationKeys = handler;
    window.addEventListener("keydown", handler, true);
    return () => {
        window.removeEventListener("keydown", handler, true);
        if (window.__moderationKeys === handler) window.__moderationKeys = null;
    };
}
"""
_keys_component = st.components.v2.component("moderation_keys", js=_KEYS_JS)


def key_bindings(bindings: dict[str, str]) -> None:
    """Bind single keys to widgets: ``{"a": "review_approve", "/": "filter_text"}`` clicks the button
    (or focuses the text box) whose ``key`` is the value."""
    _keys_component(data=dict(bindings), key="moderation_keys", height=0)


def comment_html(text_html: str) -> None:
    """A comment's text already escaped by ``reports.highlighted_html``, line breaks kept, cues marked."""
    st.html(f"<div style='white-space: pre-wrap; overflow-wrap: anywhere; line-height: 1.5'>{text_html}</div>")


def plain_list(lines) -> None:
    """``lines`` as a bulleted list, each escaped (they quote comment text and names)."""
    st.html("<ul style='margin: 0'>" + "".join(f"<li>{html.escape(str(line))}</li>" for line in lines) + "</ul>")


def plain_table(frame: pd.DataFrame) -> None:
    """A small table as inert HTML, every header and cell escaped: for a landing page that should not wait for
    the interactive table's scripts (a few rows, no sorting needed)."""
    head = "".join(f"<th style='text-align: left; padding: 2px 12px 2px 0'>{html.escape(str(c))}</th>"
                   for c in frame.columns)
    rows = "".join("<tr>" + "".join(f"<td style='padding: 2px 12px 2px 0; vertical-align: top'>"
                                    f"{html.escape('' if pd.isna(v) else str(v))}</td>" for v in row) + "</tr>"
                   for row in frame.itertuples(index=False))
    st.html(f"<table style='border-collapse: collapse; font-size: 0.9rem'><thead><tr>{head}</tr></thead>"
            f"<tbody>{rows}</tbody></table>")
