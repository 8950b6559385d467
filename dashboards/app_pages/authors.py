"""Authors: the engagement leaderboard and one author's profile (history, reply partners, activity)."""

import pandas as pd
import plotly.express as px
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
    sort_by = _ui.in_url("sort", "authors_sort", "comments" if "comments" in numeric else numeric[0], left.selectbox,
                         _ui.one_of(numeric), label="Sort by", options=numeric)
    n = _ui.in_url("rows", "authors_n", 100, middle.number_input, int, label="Rows", min_value=10, max_value=5000,
                   step=50)
    ascending = _ui.in_url("ascending", "authors_ascending", False, right.toggle, _ui.flag, label="Ascending")
    board = _data.leaderboard(ctx.results, ctx.version, sort_by, ascending, int(n))
    st.dataframe(board, hide_index=True, key="authors_table", height=_ui.TABLE_HEIGHT,
                 column_config={"profile": _ui.LINKS["profile"]})
    _ui.export_button(lambda: board, "authors.csv", key="authors_export", label="Export the leaderboard (CSV)")


# the profile is this page's own state (?profile=NAME), not the sidebar's author filter, which would filter every page
st.subheader("Profile")
choices = [] if authors.empty else board["author"].dropna().tolist()
for named in (st.query_params.get("profile"), st.session_state.get("authors_profile")):
    if named and named not in choices:
        choices.insert(0, named)
author = _ui.in_url("profile", "authors_profile", None, st.selectbox, _ui.one_of(choices),
                    label="Show the profile of", options=[None, *choices], format_func=lambda a: a or "choose an author")
if not author:
    st.info("Choose an author above or follow a profile link.")
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
        st.info("These results have no reply network: run the pipeline again to write it.")
    else:
        st.dataframe(partners, hide_index=True, key="authors_partners")
with right:
    st.caption("Comments per week")
    figure = px.line(weekly.reset_index(), x="period", y="comments", labels={"period": "week", "comments": "comments"})
    st.plotly_chart(_ui.time_axis(_ui.counts_axis(figure, weekly["comments"]), "week"), key="authors_weekly")
if len(history):
    _ui.decision_panel(history, key="authors")
