"""Topics: each topic's terms, the article/topic mix, comments per topic over time."""

import plotly.express as px
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
st.dataframe(table, hide_index=True, key="topics_table",
             column_config={"topic_id": st.column_config.NumberColumn("topic", format="%d"),
                            "share": st.column_config.NumberColumn("share of all comments", format="percent"),
                            "comments_matching": st.column_config.NumberColumn("comments matching the filters")})
mix, weekly = _data.topics_over_time(ctx.results, ctx.version, ctx.filters)
st.subheader("Topic mix of the most-commented articles")
if mix.empty:
    st.info("No comment with a topic matches the filters.")
else:
    topic_order = mix.sort_values("topic_id")["topic"].unique().tolist()
    figure = px.density_heatmap(
        mix, x="topic", y="article", z="share", histfunc="sum", color_continuous_scale="Blues",
        category_orders={"topic": topic_order, "article": mix["article"].unique().tolist()},
        labels={"topic": "topic", "article": "article", "share": "share of its comments"},
    )
    figure.update_layout(height=max(300, 28 * mix["article"].nunique() + 160), margin={"t": 10},
                         coloraxis_colorbar={"title": "share", "tickformat": ".0%"})
    st.plotly_chart(figure, key="topics_mix")
st.subheader("Comments per topic per month")
if not weekly.empty:
    order = weekly.sort_values("topic_id")["topic"].unique().tolist()
    figure = px.bar(weekly, x="period", y="comments", color="topic", category_orders={"topic": order},
                    labels={"period": "month", "comments": "comments", "topic": "topic"})
    figure.update_layout(legend={"title": f"all {len(order)} topics"}, bargap=0, height=max(450, 22 * len(order)))
    st.plotly_chart(_ui.counts_axis(figure, weekly.groupby("period")["comments"].sum()), key="topics_weekly")
_ui.export_button(lambda: table, "topics.csv", key="topics_export", label="Export topics (CSV)")
