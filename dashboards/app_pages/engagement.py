"""Engagement: staff responsiveness, who replies to whom, activity and returning authors, retention, participation.

Every figure lays out a table the run wrote (``engagement_*.parquet``); the
desk's staff settings are edited here and applied by the next run.
"""

from dataclasses import replace

import plotly.express as px
import streamlit as st

import _data
import _ui
from moderation import auth, engagement, reports
from moderation.store import DESK_SETTINGS

ctx = _data.context()
st.title("Engagement")
_ui.flash()
data = _data.results(ctx.results, ctx.version)
insights, filters = data.insights, ctx.filters
if not insights:
    st.info("These results have no engagement tables: run `python -m moderation run ... --out "
            f"{ctx.results}` again to write them.")
    st.stop()
# authors, staff and cohorts are per source: one source at a time, the sidebar's or the largest
sources = reports.sources_by_size(data.comments)
if filters.source is None and sources:
    filters = replace(filters, source=sources[0])
st.caption(f"Source {filters.source}" + (f" (the largest of {len(sources)}; choose another in the sidebar)"
                                          if ctx.filters.source is None and len(sources) > 1 else "")
           + ". Every comment of the results counts; the sidebar's dates select the weeks, months and cohorts, its "
             "article the per-article figures and its author the reply pairs.")

# ---- staff responsiveness ---------------------------------------------------------
st.header("Staff responsiveness")
summary = reports.staff_summary(insights, filters)
for row in summary.itertuples(index=False):
    columns = st.columns(4)
    columns[0].metric("Threads readers started", f"{row.threads:,}")
    columns[1].metric("With a staff reply", f"{row.share:.0%}" if row.threads else "–",
                      help=f"{row.threads_with_staff_reply:,} threads: a staff member replied at any depth.")
    columns[2].metric("Median time to the first staff reply",
                      "–" if row.median_hours != row.median_hours else f"{row.median_hours:,.1f} h")
    columns[3].metric("Staff authors seen", f"{row.staff_authors:,}")
if int(summary["staff_authors"].sum()) == 0:
    st.warning("Nobody is staff in these results: say who your staff are below (names, patterns or a source "
               "column), then run the pipeline again.")

monthly = reports.staff_by_month(insights, filters)
left, right = st.columns(2)
with left:
    st.subheader("Share of threads with a staff reply, per month")
    figure = px.line(monthly, x="month", y="share", markers=True, hover_data=["threads", "threads_with_staff_reply"],
                     labels={"month": "month the thread started", "share": "threads with a staff reply",
                             "threads": "threads", "threads_with_staff_reply": "with a staff reply"})
    figure.update_yaxes(tickformat=".0%", rangemode="tozero")
    st.plotly_chart(_ui.time_axis(figure, "month"), key="staff_share_by_month")
with right:
    st.subheader("Median hours to the first staff reply, per month (log scale)")
    answered = monthly.dropna(subset=["median_hours"])
    figure = px.scatter(answered, x="month", y="median_hours", size="threads_with_staff_reply",
                        labels={"month": "month the thread started", "median_hours": "median hours to first staff "
                                "reply", "threads_with_staff_reply": "threads with a staff reply"})
    figure.update_yaxes(type="log")  # a few threads answered years later would squash the rest
    st.plotly_chart(_ui.time_axis(figure, "month"), key="staff_hours_by_month")

st.subheader("Per article")
per_article = reports.staff_by_article(insights, data.articles, filters,
                                       n=_ui.in_url("staff_articles", "engagement_staff_n", 20, st.number_input, int,
                                                    label="Articles (most threads with a staff reply first)", min_value=5,
                                                    max_value=500, step=5))
if len(per_article):
    figure = px.bar(per_article, x="share", y="article", orientation="h",
                    hover_data=["threads", "threads_with_staff_reply", "median_hours"],
                    labels={"share": "threads with a staff reply", "article": "article", "threads": "threads",
                            "threads_with_staff_reply": "with a staff reply", "median_hours": "median hours"})
    figure.update_yaxes(categoryorder="array", categoryarray=per_article["article"].tolist()[::-1])
    figure.update_xaxes(tickformat=".0%", range=[0, 1])
    figure.update_layout(height=max(300, 24 * len(per_article) + 120), margin={"t": 10})
    st.plotly_chart(figure, key="staff_by_article")
    st.dataframe(per_article, hide_index=True, key="staff_by_article_table",
                 column_config={"thread": _ui.LINKS["thread"],
                                "share": st.column_config.NumberColumn("share with staff reply", format="percent"),
                                "median_hours": st.column_config.NumberColumn("median hours", format="%.1f")})

with st.expander("Who is staff (the desk's setting, applied on the next run)"):
    in_force = reports.staff_settings(_data.desk_settings(ctx.store_url))
    st.dataframe(reports.staff_list(data.authors), hide_index=True, key="staff_list",
                 column_config={"profile": _ui.LINKS["profile"]})
    st.caption("Staff in these results (above). Change who counts: one entry per line. Names match handles in "
               "any case; patterns are regular expressions searched in handles; columns are a source's "
               "true/false fields that mark staff comments (e.g. is_staff).")
    texts = {}
    columns = st.columns(3)
    for column, key in zip(columns, engagement.STAFF_SETTINGS):
        texts[key] = column.text_area(key.replace("_", " "), value="\n".join(in_force[key]), key=f"desk_{key}",
                                      help=DESK_SETTINGS[key])
    may_change = "manage_desk" in auth.PERMISSIONS[_ui.current_role()]  # the store checks it again
    if st.button("Save staff settings", key="desk_save", disabled=not (ctx.moderator.strip() and may_change)):
        try:
            # patterns first: a bad one stops the save before anything else is recorded
            for key, text in sorted(texts.items(), key=lambda item: item[0] != "staff_patterns"):
                values = [line.strip() for line in text.splitlines() if line.strip()]
                if values != in_force[key]:  # only what was changed is recorded, with who changed it
                    _data.set_desk_setting(ctx.store_url, key, values, ctx.moderator)
        except (ValueError, PermissionError) as error:
            st.error(str(error))
        else:
            st.session_state["flash"] = ("Staff settings saved; the next run (`python -m moderation run ... --out "
                                         f"{ctx.results}`, or an import on Overview) applies them.")
            st.rerun()
    if not may_change:
        st.caption("Only an admin changes who is staff.")
    elif not ctx.moderator.strip():
        st.caption("Enter your name as moderator in the sidebar to change the settings.")

# ---- reply network ----------------------------------------------------------------
st.header("Who replies to whom")
reciprocity = reports.insight(insights, "reciprocity", filters)
columns = st.columns(max(len(reciprocity), 1))
for column, row in zip(columns, reciprocity.itertuples(index=False)):
    column.metric("Reciprocity", "–" if row.reciprocity != row.reciprocity else
                  f"{row.reciprocity:.0%}",
                  help=f"Share of the {row.directed_pairs:,} directed pairs of different, identified authors "
                       "(A replied to B) where B also replied to A.")
pairs = reports.reply_pairs(insights, filters, n=20)
if len(pairs):
    long = pairs.melt(id_vars=["pair", "author_a", "author_b"], value_vars=["a_to_b", "b_to_a"], var_name="direction",
                      value_name="count")
    long["direction"] = long["direction"].map({"a_to_b": "first replied to second",
                                               "b_to_a": "second replied to first"})
    figure = px.bar(long, x="count", y="pair", color="direction", orientation="h",
                    labels={"count": "replies", "pair": "pair of authors", "direction": ""})
    figure.update_yaxes(categoryorder="array", categoryarray=pairs["pair"].tolist()[::-1])
    figure.update_layout(height=max(300, 24 * len(pairs) + 120))
    _ui.counts_axis(figure, pairs["replies"], axis="x")
    st.subheader("Pairs exchanging most replies")
    st.plotly_chart(figure, key="reply_pairs")
else:
    st.info("No two identified authors replied to each other under these filters.")

# ---- activity and returning authors ----------------------------------------------------
st.header("Activity and returning authors by week")
weekly = reports.weekly_activity(insights, filters)
if len(weekly):
    long = weekly.melt(id_vars=["source", "week"], value_vars=["new_authors", "returning_authors"],
                       var_name="authors", value_name="count")
    long["authors"] = long["authors"].map({"new_authors": "new (first comment that week)",
                                           "returning_authors": "returning"})
    figure = px.bar(long, x="week", y="count", color="authors",
                    labels={"week": "week (from Monday, UTC)", "count": "active authors", "authors": ""})
    figure.update_layout(bargap=0, margin={"t": 30})
    _ui.counts_axis(figure, weekly["active_authors"])
    st.plotly_chart(_ui.time_axis(figure, "week"), key="weekly_authors")
    figure = px.line(weekly, x="week", y="comments", markers=len(weekly) < 30,
                     labels={"week": "week (from Monday, UTC)", "comments": "comments"})
    st.plotly_chart(_ui.time_axis(_ui.counts_axis(figure, weekly["comments"]), "week"), key="weekly_comments")

# ---- retention -----------------------------------------------------------------------
st.header("Retention by first-month cohort")
months = _ui.in_url("months", "engagement_months", 12, st.slider, int, label="Months after the first",
                    min_value=1, max_value=36)
cohorts = reports.retention(insights, filters, months=months)
for source, table in cohorts.groupby("source", sort=True):
    matrix = table.pivot(index="cohort_label", columns="months_since", values="share")
    figure = px.imshow(matrix, color_continuous_scale="Blues", zmin=0, zmax=1, aspect="auto",
                       labels={"x": "months since the first comment", "y": "cohort (month of first comment)",
                               "color": "share active"})
    figure.update_layout(height=max(300, 16 * len(matrix) + 120), margin={"t": 30},
                         title=f"{source}: share of each cohort commenting again", coloraxis_colorbar={
                             "tickformat": ".0%"})
    figure.update_xaxes(dtick=1)
    figure.update_yaxes(type="category")
    st.plotly_chart(figure, key=f"retention_{source}")

# ---- participation -------------------------------------------------------------------
st.header("Participation per article")
table = reports.participation(insights, data.articles, filters, n=30)
if len(table):
    figure = px.scatter(table, x="participants", y="comments_per_participant", size="comments",
                        color="top_authors_share", hover_name="article", color_continuous_scale="Oranges",
                        labels={"participants": "participants (identified authors)",
                                "comments_per_participant": "comments per participant", "comments": "comments",
                                "top_authors_share": "top 10% authors' share"})
    figure.update_coloraxes(colorbar_tickformat=".0%")
    st.plotly_chart(figure, key="participation")
    st.dataframe(table, hide_index=True, key="participation_table",
                 column_config={"thread": _ui.LINKS["thread"],
                                "top_authors_share": st.column_config.NumberColumn("top authors' share",
                                                                                   format="percent"),
                                "comments_per_participant": st.column_config.NumberColumn(format="%.2f")})
