"""Review: the moderators' landing page. One prioritised queue over every flag, one comment at a time.

Each card shows the comment in full (plain text, cue phrases marked), who wrote it where,
what it replies to, and why it is queued; one key decides it and the next card comes up.
Opening a card claims it: the others' queues skip it ("claimed by alice") until it is decided,
left or the claim lapses. A decision carries the card's decision as shown; if another landed
in between, nothing is written and the card shows theirs, and the moderator chooses.
"""

import pandas as pd
import streamlit as st

import _data
import _ui
from moderation import auth, reports
from moderation.store import DEFAULT_DECISION_REASONS, DecisionConflict, seen_states

# key -> the widget it presses (or focuses); shown in the "? Keys" help
KEYS = {
    "j": ("review_next", "next comment"),
    "k": ("review_previous", "previous comment"),
    "a": ("review_approve", "approve"),
    "r": ("review_remove", "remove"),
    "f": ("review_flag", "flag"),
    "e": ("review_escalate", "escalate"),
    "u": ("review_undo", "undo my last decision"),
    "/": ("filter_text", "search (the sidebar's Text contains)"),
    "?": ("review_help", "show these keys"),
}
DECISIONS = {"approve": "Approve", "remove": "Remove", "flag": "Flag", "escalate": "Escalate"}


def _move(step: int) -> None:
    st.session_state["review_index"] = max(0, st.session_state.get("review_index", 0) + step)
    st.session_state["review_focus"] = None


def _decide(action: str, key: tuple[str, str], card: int, seen: dict | None = None) -> None:
    moderator = _ui.current_moderator()
    if not moderator:
        st.session_state["review_error"] = "Enter your name as moderator in the sidebar first."
        return
    if st.session_state.get("review_card_live") != card:
        return  # a key pressed again before the next card was drawn: its buttons still name the decided card
    st.session_state["review_card_live"] = None
    try:
        _data.record_decision(_data.context().store_url, [key], action, moderator, _ui.picked_reason("review"),
                              seen=st.session_state.get("review_seen", {}) if seen is None else seen)
    except DecisionConflict as conflict:
        # keep this card in view with what landed meanwhile, and let the moderator choose
        st.session_state["review_conflict"] = {"key": key, "action": action, "conflicts": conflict.conflicts}
        st.session_state["review_focus"] = key
        return
    except auth.Forbidden as refused:
        st.session_state["review_error"] = f"Not recorded: {refused}."
        return
    st.session_state.pop("review_conflict", None)
    st.session_state["review_claimed"] = None  # deciding released the claim
    st.session_state["review_focus"] = None
    # a reason belongs to one decision: the next card starts without one
    st.session_state["review_reason"] = None
    st.session_state["review_reason_typed"] = ""
    st.session_state["flash"] = f"Recorded {action}. Press u to undo."


def _keep_theirs() -> None:
    st.session_state.pop("review_conflict", None)
    st.session_state["review_focus"] = None


def _undo() -> None:
    try:
        undone = _data.undo_last(_data.context().store_url, _ui.current_moderator())
    except auth.Forbidden as refused:
        st.session_state["review_error"] = f"Not undone: {refused}."
        return
    if len(undone):
        st.session_state["review_focus"] = (undone["source"].iloc[0], undone["comment_id"].iloc[0])
        st.session_state["flash"] = f"Undid {undone['action'].iloc[0]} on {len(undone)} comment(s): back in the queue."
    else:
        st.session_state["flash"] = "Nothing to undo."


def _decide_many(action: str, keys: list[tuple[str, str]], seen: dict) -> None:
    moderator = _ui.current_moderator()
    if not moderator:
        st.session_state["review_error"] = "Enter your name as moderator in the sidebar first."
        return
    try:
        _data.record_decision(_data.context().store_url, keys, action, moderator, _ui.picked_reason("review"),
                              seen=seen)
    except (DecisionConflict, auth.Forbidden) as refused:
        st.session_state["review_error"] = f"Not recorded: {refused}. The queue now shows what changed."
        st.session_state["review_bulk_confirm"] = False
        return
    st.session_state["review_bulk_confirm"] = False
    st.session_state["review_reason"] = None
    st.session_state["flash"] = f"Recorded {action} on {len(keys)} comments. Press u to undo them all."


@st.dialog("Author", position="right", width="large")
def _author_drawer(source: str, author: str) -> None:
    ctx = _data.context()
    st.text(author)
    own = _data.author_comments(ctx.results, ctx.version, source, author)
    data = _data.results(ctx.results, ctx.version)
    figures, recent = reports.author_drawer(own, data.authors, _data.current_decisions(ctx.store_url), results=data)
    st.dataframe(figures, hide_index=True, key="review_author_figures", height="content")
    st.caption("Latest comments")
    st.dataframe(recent, hide_index=True, key="review_author_recent",
                 column_config={"opening": st.column_config.TextColumn("comment", width="large")})
    st.page_link("app_pages/authors.py", label="Full profile", query_params={"author": author})


ctx = _data.context()
st.title("Review")
_ui.flash()
error = st.session_state.pop("review_error", None)
if error:
    st.error(error)
data = _data.results(ctx.results, ctx.version)
comments = data.comments
available = reports.available_queues(comments)
if not available:
    st.info("No queue yet: the vote and off-topic stages have not run on these results.")
    st.stop()

top_left, top_right = st.columns([5, 1], vertical_alignment="bottom")
reasons = _ui.in_url(
    "reasons", "review_reasons", available, top_left.multiselect,
    lambda text: [name for name in _ui.words(text) if name in available],  # a link's unknown reasons are dropped
    label="Reasons", options=available, format_func=lambda name: reports.REASON_NAMES.get(name, name),
    placeholder="every reason",
) or available
with top_right.popover("? Keys", key="review_help"):
    # our own fixed words (no comment text): a Markdown table draws without the interactive table's scripts
    st.markdown("| key | does |\n|---|---|\n" + "\n".join(f"| `{k}` | {words} |" for k, (_, words) in KEYS.items()))
    st.caption("Keys work when no text box has the focus (press Esc or click the page first).")
_ui.key_bindings({k: target for k, (target, _) in KEYS.items()})

queue = _data.review_queue(ctx.results, ctx.version, ctx.filters, tuple(reasons))
decisions = _data.current_decisions(ctx.store_url)
pending = reports.undecided(queue, decisions)
# comments another moderator has open are skipped (they come back when decided, left or lapsed)
claimed = _ui.claimed_by_others(ctx)
held = pd.MultiIndex.from_frame(pending[["source", "comment_id"]]).isin(list(claimed)) if claimed else None
if held is not None and held.any():
    pending = pending[~held]
focus = st.session_state.get("review_focus")
if focus is not None:
    at = ((pending["source"] == focus[0]) & (pending["comment_id"] == focus[1])).to_numpy().nonzero()[0]
    if len(at):  # back in the queue (undone): show it where it now ranks
        st.session_state["review_index"], focus = int(at[0]), None
        st.session_state["review_focus"] = None
index = min(st.session_state.get("review_index", 0), max(len(pending) - 1, 0))
st.session_state["review_index"] = index

skipped = int(held.sum()) if held is not None else 0
st.caption(f"{len(pending):,} {'comment' if len(pending) == 1 else 'comments'} to review, "
           f"{len(queue) - len(pending) - skipped:,} of {len(queue):,} flagged ones decided"
           + (f", {skipped:,} claimed by {', '.join(sorted(set(claimed.values())))}" if skipped else "")
           + ". Filter by article, author, date or text in the sidebar.")
without_text = _data.review_without_text(ctx.results, ctx.version, ctx.filters, tuple(reasons))
if without_text:
    st.caption(reports.without_text_note(without_text))
if not ctx.can_decide:
    st.caption(f"You are signed in as a {ctx.role}: you can look, not decide.")

if focus is not None:
    found = comments[((comments["source"] == focus[0]) & (comments["comment_id"] == focus[1])).to_numpy()]
    row = data.shown(found).iloc[0] if len(found) else None
    in_queue = queue[(queue["source"] == focus[0]).to_numpy() & (queue["comment_id"] == focus[1]).to_numpy()]
    row_reasons = in_queue["reasons"].iloc[0].split(", ") if len(in_queue) else []
    place = "Re-review (already decided)"
elif len(pending):
    row = data.shown(comments.loc[pending.index[[index]]]).iloc[0]
    row_reasons = pending["reasons"].iloc[index].split(", ")
    place = f"Comment {index + 1:,} of {len(pending):,}"
else:
    row = None

if row is None:
    st.success("Nothing left to review for these reasons and filters. Undo stays available below, and History "
               "lists every decision.")
else:
    thread = _data.article_comments(ctx.results, ctx.version, row["source"], row["article_id"])
    card = reports.review_card(row, row_reasons, thread, data.articles, decisions)
    # opening the card claims it; the card left behind is released
    holder = None
    if ctx.signed_in and ctx.can_decide and st.session_state.get("review_claimed") != card.key:
        if st.session_state.get("review_claimed"):
            _data.release(ctx.store_url, st.session_state["review_claimed"], ctx.moderator)
        claim = _data.claim(ctx.store_url, card.key, ctx.moderator)
        st.session_state["review_claimed"] = card.key if claim.mine else None
        holder = None if claim.mine else claim.moderator
    # what the moderator sees: the decision (or none) the card's decision will carry
    st.session_state["review_seen"] = seen_states(decisions, [card.key])
    # each drawn card gets a number its buttons carry; the first decision on it uses the number up
    drawn = st.session_state["review_card_live"] = st.session_state.get("review_cards_drawn", 0) + 1
    st.session_state["review_cards_drawn"] = drawn
    with st.container(border=True, key="review_card"):
        head, link = st.columns([4, 1], vertical_alignment="center")
        head.caption(place + " · " + " · ".join(reports.REASON_NAMES.get(r, r) for r in card.reasons))
        link.page_link("app_pages/thread.py", label="Open in thread", query_params={
            "source": card.source, "article": card.article_id, "comment": card.comment_id})
        when = f"{card.created_at:%Y-%m-%d %H:%M} UTC" if card.created_at is not None else "date unknown"
        st.text(f"{card.author or '(no author)'} · {when} · on “{card.article_title or card.article_id}”")
        if card.parent_opening is not None:
            st.text(f"In reply to {card.parent_author}: “{card.parent_opening}”")
        _ui.comment_html(card.text_html or "<i>(no text)</i>")
        _ui.plain_list(card.explanations)
        if card.decision:
            st.text(f"Current decision: {card.decision} by {card.decided_by}")
        if holder:
            st.info(f"Claimed by {holder} just now: press j for the next comment.")
        conflict = st.session_state.get("review_conflict")
        if conflict and conflict["key"] == card.key:
            st.warning(f"Not recorded: this comment changed since you opened it. Your decision was "
                       f"'{conflict['action']}'. Nothing was overwritten.")
            st.dataframe(reports.conflict_view(conflict["conflicts"]), hide_index=True, key="review_conflict_table")
            current = conflict["conflicts"]["current"].iloc[0]
            mine, theirs = st.columns(2)
            mine.button(f"Replace theirs with my '{conflict['action']}'", key="review_replace", on_click=_decide,
                        args=(conflict["action"], card.key, drawn,
                              {card.key: None if pd.isna(current) else int(current)}),
                        disabled=not ctx.can_decide or pd.notna(conflict["conflicts"]["claimed_by"].iloc[0]))
            theirs.button("Keep theirs", key="review_keep_theirs", on_click=_keep_theirs)
        if card.author and st.button("Author details", key="review_author"):
            _author_drawer(card.source, card.author)

    _ui.reason_picker("review", typed_hint="your reason, then Esc for the keys")
    actions = st.columns(len(DECISIONS))
    for column, (action, label) in zip(actions, DECISIONS.items()):
        shortcut = next(k for k, (target, _) in KEYS.items() if target == f"review_{action}")
        column.button(f"{label} ({shortcut})", key=f"review_{action}", on_click=_decide, args=(action, card.key, drawn),
                      type="primary" if action == "approve" else "secondary", use_container_width=True,
                      disabled=not ctx.can_decide or holder is not None)

nav = st.columns(3)
nav[0].button("Previous (k)", key="review_previous", on_click=_move, args=(-1,), disabled=focus is None and index == 0,
              use_container_width=True)
nav[1].button("Next (j)", key="review_next", on_click=_move, args=(1,),
              disabled=focus is None and index >= len(pending) - 1, use_container_width=True)
nav[2].button("Undo my last decision (u)", key="review_undo", on_click=_undo, disabled=not ctx.can_decide,
              use_container_width=True)

if len(pending) > index + 1:
    st.caption("Up next")
    _ui.plain_table(reports.upcoming(pending, comments, index + 1, results=data).rename(columns={"opening": "comment"}))

if len(pending):
    with st.expander("Decide many at once"):
        left, middle = st.columns(2)
        count = int(left.number_input("Comments from the current card on", min_value=1, max_value=len(pending),
                                      value=min(10, len(pending)), key="review_bulk_count"))
        action = middle.selectbox("Action", list(DECISIONS), key="review_bulk_action")
        keys = list(pending.iloc[index:index + count][["source", "comment_id"]].itertuples(index=False, name=None))
        confirmed = st.checkbox(f"Yes, record {action} on these {len(keys)} comments", key="review_bulk_confirm")
        st.button(f"Record {action} on {len(keys)} comments", key="review_bulk",
                  disabled=not confirmed or not ctx.can_decide, on_click=_decide_many,
                  args=(action, keys, seen_states(decisions, keys)))


def _save_reasons(reasons: list[str] | None = None) -> None:
    """Save ``reasons`` as the desk's list (None: the lines of the box, as they are when the button is pressed)."""
    if reasons is None:
        reasons = st.session_state.get("desk_decision_reasons", "").splitlines()
    try:
        _data.set_desk_setting(_data.context().store_url, "decision_reasons", reasons, _ui.current_moderator())
    except (ValueError, auth.Forbidden) as refused:
        st.session_state["review_error"] = f"Reasons not saved: {refused}."
        return
    st.session_state.pop("desk_decision_reasons", None)  # the box shows the list as saved
    st.session_state["flash"] = "The desk's reasons are saved: every moderator's picker offers them now."


with st.expander("The desk's decision reasons"):
    in_force = _data.decision_reasons(ctx.store_url)
    may_change = "manage_desk" in auth.PERMISSIONS[ctx.role]  # the store checks it again
    st.text_area("Reasons offered when deciding, one per line (typing another stays possible)",
                 value="\n".join(in_force), key="desk_decision_reasons", disabled=not may_change,
                 height=max(120, 26 * len(in_force) + 30))
    left, right = st.columns(2)
    left.button("Save reasons", key="desk_reasons_save", on_click=_save_reasons,
                disabled=not (ctx.moderator and may_change))
    right.button("Back to the usual reasons", key="desk_reasons_default", on_click=_save_reasons,
                 args=(list(DEFAULT_DECISION_REASONS),), disabled=not (ctx.moderator and may_change),
                 help=", ".join(DEFAULT_DECISION_REASONS))
    if not may_change:
        st.caption("Only an admin changes the desk's reasons.")
