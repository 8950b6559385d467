"""History: what was approved, removed, flagged or escalated; undo any one decision or review it again."""

import streamlit as st

import _data
import _ui
from moderation import auth, reports


def _undo(decision_id: int) -> None:
    try:
        undone = _data.undo_decisions(_data.context().store_url, [decision_id], _ui.current_moderator())
    except auth.Forbidden as refused:
        st.session_state["flash"] = f"Not undone: {refused}."
        return
    st.session_state["history_pick"] = None
    st.session_state["flash"] = (f"Undid {undone['action'].iloc[0]}: the comment is back in the review queue."
                                 if len(undone) else "That decision was already undone.")


def _re_review(key: tuple[str, str]) -> None:
    st.session_state["review_focus"] = key


def _history_view(text: str) -> str:
    """A link's ``?view=``: one of ``reports.HISTORY_VIEWS`` (anything else keeps the current view)."""
    if text not in reports.HISTORY_VIEWS:
        raise ValueError(f"no history view {text!r}")
    return text


ctx = _data.context()
st.title("History")
_ui.flash()
decisions = _data.current_decisions(ctx.store_url)
comments = _data.filtered(ctx.results, ctx.version, ctx.filters)
counts = decisions["action"].value_counts()
view = _ui.in_url(
    "view", "history_view", "remove", st.segmented_control, _history_view, label="Decisions",
    options=list(reports.HISTORY_VIEWS),
    format_func=lambda a: f"{reports.HISTORY_VIEWS[a]} ({int(counts.get(a, 0)):,})",
) or "remove"
shown = reports.history(decisions, comments, view, only_these=ctx.filters.active,
                        results=_data.results(ctx.results, ctx.version))
if shown.empty:
    st.info(f"Nothing {reports.HISTORY_VIEWS[view].lower()} yet.")
    st.stop()
st.caption(f"{len(shown):,} comment{'s' * (len(shown) != 1)} whose current decision is {view}, newest first. "
           "Undo adds an entry to "
           "the log (the decision stays in Decisions, marked undone) and puts the comment back in the queue.")
st.dataframe(shown, hide_index=True, key="history_table",
             column_config={"text": _ui.LINKS["text"], "reason": st.column_config.TextColumn("reason", width="medium")})
if ctx.filters.active:
    st.caption("Only decisions on comments the sidebar's filters accept.")
labels = {int(r.id): f"{r.author if isinstance(r.author, str) else '(no author)'}: {reports.opening_words(r.text, 15)}"
          for r in shown.itertuples(index=False)}
picked = st.selectbox("Decision to undo or review again", list(labels), index=None, key="history_pick",
                      format_func=lambda i: labels.get(i, f"decision {i}"), placeholder="choose a comment")
if picked not in labels:
    st.stop()
row = shown[shown["id"] == picked].iloc[0]
with st.container(border=True):
    st.text(f"{row['author']} · {view} by {row['moderator']} at {row['decided_at']:%Y-%m-%d %H:%M} UTC"
            + (f" · reason: {row['reason']}" if isinstance(row["reason"], str) else ""))
    st.text(row["text"] if isinstance(row["text"], str) else "(comment not in these results)")
    left, right = st.columns(2)
    left.button("Undo this decision", key="history_undo", on_click=_undo, args=(int(row["id"]),),
                disabled=not ctx.can_decide)
    if right.button("Review it again", key="history_re_review", on_click=_re_review,
                    args=((row["source"], row["comment_id"]),)):
        st.switch_page("app_pages/review.py")
