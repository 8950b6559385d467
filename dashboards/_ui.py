"""Widgets several pages share: the comment table, the decision panel, CSV export.

Untrusted text (comments, author names, titles) only ever reaches the page
through dataframe cells, ``st.text``/``st.code`` or widget options, which
Streamlit renders as plain text; never through Markdown or HTML.
"""

from __future__ import annotations

import getpass
import html
import ipaddress

import pandas as pd
import streamlit as st

import _data
from moderation import reports
from moderation.store import ACTIONS

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


def decision_panel(shown: pd.DataFrame, key: str) -> None:
    """Decide on comments of ``shown`` (per comment, or all shown after a confirmation) and undo the last batch.

    The decision is written in the button's callback, before the page is drawn again: the
    picker is emptied there (a decided comment must not stay selected once it leaves the
    options), decided comments leave the queue, and the next pick works.
    """
    labels = comment_labels(shown)
    with st.container(border=True):
        st.subheader("Decide")
        everything = st.checkbox(f"All {len(shown)} shown comments", key=f"{key}_all")
        picked = st.multiselect(
            "Comments", options=list(labels), format_func=label_of(labels),
            key=f"{key}_pick", disabled=everything, placeholder="Choose comments",
        )
        action = st.selectbox("Action", ACTIONS, key=f"{key}_action")
        reason = st.text_input("Reason (optional)", key=f"{key}_reason")
        keys = list(labels) if everything else [k for k in picked if k in labels]
        confirmed = len(keys) <= 1  # several at once ("all shown", or the picker's select-all) need a yes
        if not confirmed:
            confirmed = st.checkbox(f"Yes, record '{action}' on these {len(keys)} comments", key=f"{key}_confirm")
        left, right = st.columns(2)
        left.button(f"Record '{action}' on {len(keys)} comment(s)", key=f"{key}_record", type="primary",
                    disabled=not keys or not confirmed, on_click=_record_batch, args=(key, keys, action, reason))
        error = st.session_state.pop(f"{key}_error", None)
        if error:
            st.error(error)
        with right:
            undo_button(key)


def _record_batch(key: str, keys: list[tuple[str, str]], action: str, reason: str) -> None:
    moderator = current_moderator()
    if not moderator:
        st.session_state[f"{key}_error"] = "Enter your name as moderator in the sidebar first."
        return
    _data.record_decision(_data.context().store_url, keys, action, moderator, reason or None)
    st.session_state["flash"] = f"Recorded {action} on {len(keys)} comment(s)."
    st.session_state[f"{key}_pick"] = []
    st.session_state[f"{key}_all"] = False
    st.session_state[f"{key}_confirm"] = False


def undo_button(key: str) -> None:
    """Undo the moderator's latest batch of decisions in the store."""
    st.button("Undo my last decision", key=f"{key}_undo", disabled=not current_moderator(), on_click=_undo_last)


def _undo_last() -> None:
    undone = _data.undo_last(_data.context().store_url, current_moderator())
    st.session_state["flash"] = (
        f"Undid {undone['action'].iloc[0]} on {len(undone)} comment(s)." if len(undone) else "Nothing to undo."
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
    shown = reports.queue_view(members, decisions, show_decided=show_decided, limit=int(limit))
    pending = len(reports.undecided(members, decisions))
    flagged = int(members["in_queue"].sum())
    st.caption(
        f"{flagged:,} comments in the queue"
        + (f" (ranked among all {len(members):,})" if ranked_all else "")
        + f", {pending:,} without a decision; showing {len(shown):,}."
    )
    if shown.empty:
        st.info(reports.empty_queue_hint(flagged, pending, show_decided, ranked_all, int(min_votes),
                                         ctx.filters.active))
        undo_button(key)  # the last decision may have emptied the queue: it stays undoable
        return None
    comment_table(shown, key=f"{key}_table")
    export_button(
        lambda: reports.queue_view(members, decisions, show_decided=show_decided, limit=len(members)),
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


# ---- who is moderating ----------------------------------------------------------


def _is_loopback(address: str | None) -> bool:
    try:
        return address in ("localhost",) or ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _local_session() -> bool:
    """True when this browser reaches the server on this machine (server bound to loopback, or a loopback peer)."""
    if _is_loopback(st.get_option("server.address")):
        return True
    peer = st.context.ip_address
    return peer is None or _is_loopback(peer)  # Streamlit gives no address for a localhost connection


@st.cache_resource
def _local_moderator() -> dict[str, str]:
    """The name the local user last chose, for every tab of this server (one person uses a loopback server)."""
    return {}


def _remember_moderator() -> None:
    if _local_session():
        _local_moderator()["name"] = st.session_state["moderator"].strip()


def moderator_input() -> None:
    """The sidebar's "Moderator" box: who decides in this session, shown and changeable.

    On a local server it starts with the name last chosen in any tab (kept for the server's
    life), else the operating-system user's name; elsewhere it starts empty.
    """
    if "moderator" not in st.session_state and _local_session():
        st.session_state["moderator"] = _local_moderator().get("name") or getpass.getuser()
    st.text_input("Moderator", key="moderator", placeholder="your name (recorded with each decision)",
                  on_change=_remember_moderator)


def current_moderator() -> str:
    """The moderator of this session ('' when nobody is named): the one place pages and decisions ask.

    Sign-in (issue 11) replaces the sidebar name by the signed-in user here.
    """
    return str(st.session_state.get("moderator") or "").strip()


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
