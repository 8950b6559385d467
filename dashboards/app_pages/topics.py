"""Topics: each topic's terms, the article/topic mix, comments per topic over time."""

import streamlit as st

import _data
import _ui
from moderation import reports

ctx = _data.context()
st.title("Topics")
data = _data.results(ctx.results, ctx.version)
if "topic_id" not in data.comments:
    st.info("The off-topic stage has not run on these results: no topics yet.")
    st.stop()
comments = _data.filtered(ctx.results, ctx.version, ctx.filters)
table = reports.topic_table(data.topics, comments)
st.subheader("Topics and their terms")
st.dataframe(table, hide_index=True, key="topics_table")
mix, weekly = _data.topics_over_time(ctx.results, ctx.version, ctx.filters)
st.subheader("Topic mix of the most-commented articles")
st.dataframe(mix, key="topics_mix",
             column_config={c: st.column_config.NumberColumn(format="percent") for c in mix.columns})
st.subheader("Comments per topic per week")
st.line_chart(weekly)
_ui.export_button(lambda: table, "topics.csv", key="topics_export", label="Export topics (CSV)")
