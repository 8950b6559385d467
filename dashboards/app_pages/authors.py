"""Authors: the engagement leaderboard and one author's profile (history, reply partners, activity)."""

import pandas as pd
import streamlit as st

import _data
import _ui
from moderation import reports

ctx = _data.context()
st.title("Authors")
_ui.flash()
authors = _data.results(ctx.results, ctx.version).authors
if authors.empty:
    st.info("The engagement stage has not run on these results: no author table yet.")
else:
    st.subheader("Leaderboard")
    numeric = [c for c in authors.columns if pd.api.types.is_numeric_dtype(authors[c]) and c != "is_staff"]
    left, middle, right = st.columns([2, 1, 1])
    sort_by = left.selectbox("Sort by", numeric, index=numeric.index("comments") if "comments" in numeric else 0,
                             key="authors_sort")
    n = middle.number_input("Rows", min_value=10, max_value=5000, value=100, step=50, key="authors_n")
    ascending = right.toggle("Ascending", key="authors_ascending")
    board = _data.leaderboard(ctx.results, ctx.version, sort_by, ascending, int(n))
    st.dataframe(board, hide_index=True, key="authors_table", height=_ui.TABLE_HEIGHT,
                 column_config={"profile": _ui.LINKS["profile"]})
    _ui.export_button(lambda: board, "authors.csv", key="authors_export", label="Export the leaderboard (CSV)")


def _show_profile() -> None:
    # a callback runs before the sidebar is drawn, so it may set the sidebar's author filter
    st.session_state["filter_author"] = st.session_state["authors_profile"]


author = ctx.filters.author
st.subheader("Profile")
if not authors.empty:
    choices = board["author"].dropna().tolist()
    st.selectbox("Show the profile of", [None, *choices], key="authors_profile", on_change=_show_profile,
                 format_func=lambda a: a or "choose an author")
if not author:
    st.info("Choose an author above, follow a profile link, or set the Author filter in the sidebar.")
    st.stop()

st.text(f"Author: {author}")
if not authors.empty:
    row = authors[authors["author"] == author]
    if len(row):
        st.dataframe(row.T.astype("str").set_axis(["value"], axis=1), key="authors_row")
recent, weekly = _data.author_activity(ctx.results, ctx.version, author)
history = reports.author_history(recent, _data.current_decisions(ctx.store_url))
st.caption(f"Latest {len(history):,} comments, newest first")
_ui.comment_table(history, key="authors_history")
left, right = st.columns(2)
with left:
    st.caption("Reply partners")
    partners = _data.reply_partners(ctx.results, ctx.version, author)
    if partners is None:
        st.info("The engagement stage is not available: no reply network.")
    else:
        st.dataframe(partners, hide_index=True, key="authors_partners")
with right:
    st.caption("Comments per week")
    st.line_chart(weekly, y="comments")
if len(history):
    _ui.decision_panel(history, key="authors")
