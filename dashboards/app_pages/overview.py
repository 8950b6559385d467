"""Overview: KPIs, queue shares, activity over time, vote distribution, most-discussed articles; import; problems."""

import logging
from pathlib import Path

import plotly.express as px
import streamlit as st

import _data
import _ui
from moderation import catalog, reports

_LOG = logging.getLogger(__name__)

ctx = _data.context()
st.title("Overview")
_ui.flash()
summary = _data.overview(ctx.results, ctx.version, ctx.filters)
comments = _data.filtered(ctx.results, ctx.version, ctx.filters)
decisions = _data.current_decisions(ctx.store_url)
with_text = _data.readable(ctx.results, ctx.version, ctx.filters)
shares = reports.queue_shares(comments, decisions, with_text)

columns = st.columns(4)
for column, (label, value) in zip(columns, summary["kpis"].items()):
    column.metric(label.capitalize(), f"{value:,}", help=reports.KPI_MEANINGS[label].capitalize() + ".")
columns[3].metric("Decisions pending", f"{reports.pending_comments(comments, decisions, with_text):,}",
                  help="Distinct comments in at least one queue without a decision (a comment in two queues "
                       "counts once), those without readable text left out as on Review.")

st.subheader("Queues")
if shares.empty:
    st.info("No queue columns yet: the vote and off-topic stages have not run on these results.")
else:
    st.dataframe(
        shares, hide_index=True,
        column_config={"share": st.column_config.ProgressColumn(
            "share of comments", format="percent", min_value=0, max_value=1),
            "without_text": st.column_config.NumberColumn(
                "without readable text", help="Image-only answers and the like: not shown in the queues"),
            "pending": st.column_config.NumberColumn("pending (without a decision)")},
    )

left, right = st.columns(2)
with left:
    st.subheader("Activity per week")
    weekly = summary["over_time"].reset_index()
    comments_tab, votes_tab = st.tabs(["Comments", "Votes"])
    for tab, measure, axis in ((comments_tab, "comments", "comments"), (votes_tab, "votes", "votes cast")):
        figure = px.line(weekly, x="period", y=measure, labels={"period": "week", measure: axis})
        tab.plotly_chart(_ui.counts_axis(figure, weekly[measure]), key=f"overview_weekly_{measure}")
with right:
    st.subheader("Net vote distribution")
    votes = summary["votes"]
    figure = px.bar(votes, x="net_score", y="comments",
                    labels={"net_score": "net score (up-votes minus down-votes)", "comments": "comments"})
    figure.update_xaxes(type="category")
    st.plotly_chart(_ui.counts_axis(figure, votes["comments"]), key="overview_votes")

st.subheader("Most-discussed articles")
st.dataframe(
    summary["top_articles"], hide_index=True,
    column_config={"thread": st.column_config.LinkColumn("thread", display_text="open thread")},
)

# open after an import, so its problems are in view next to the message
with st.expander("Import comments", expanded="import_problems" in st.session_state):
    upload = st.file_uploader("A file in any supported format", key="import_file")
    source = st.text_input("Source name", key="import_source", placeholder="the file's name",
                           help="The site or desk these comments come from; a source column in the file wins. "
                                "Left empty: the file's name, or an export format's own name (e.g. disqus).")
    st.caption("New comments are added to the store (comments already there are left as they are); then the "
               "articles they touch are scored with what the run that made these results fitted, its parameters "
               "and off-topic weights, and the desk's staff settings; other articles keep their scores. Results "
               "without fitted state for these settings are scored again in full (the message says why).")
    if upload is not None and st.button("Add and score", key="import_run"):
        from moderation import pipeline

        progress = st.progress(0.0, text="Saving the upload…")
        # kept in the results folder: the moderator's file is not lost, and importing it again replaces its problems
        # (a canonical comments.* file takes its source from its folder's name)
        path = catalog.import_path(ctx.results, source.strip() or Path(upload.name).stem, upload.name)
        path.write_bytes(upload.getvalue())
        progress.progress(0.2, text="Adding the new comments, then scoring the articles they touch…")
        try:
            named = {"source": source.strip()} if source.strip() else {}
            report = pipeline.import_files([path], ctx.results, ctx.store_url, **named)
        except pipeline.NothingRead as error:
            progress.empty()
            st.error(f"Could not import: {str(error).replace(str(path), upload.name)}")
        except catalog.FolderBusy as error:
            progress.empty()
            st.error(f"Could not import now: {error}")
        except Exception as error:  # noqa: BLE001 - any failure must reach the moderator as a message
            progress.empty()
            _LOG.exception("import of %s failed", upload.name)
            st.error(f"Import failed ({type(error).__name__}); the details are in the server's log. "
                     "The results were left as they were.")
        else:
            progress.progress(1.0, text="Done.")
            _data.clear_results()
            # rerun so every figure above shows the new results; the message and problems survive it
            st.session_state["flash"] = str(report).replace(str(path), upload.name)
            st.session_state["import_problems"] = report.problems.replace(str(path), upload.name, regex=False)
            st.rerun()
    problems = st.session_state.get("import_problems")
    if problems is not None and len(problems):
        st.caption("Problems in the last import")
        st.dataframe(problems, hide_index=True, key="import_problems")

st.subheader("Input problems")
behind = _data.results(ctx.results, ctx.version).problems
st.caption(
    f"{len(behind):,} problem(s) behind these results (the latest run's, and earlier runs' for files not read "
    "again since): records skipped or repaired, and why. Every run keeps its own in the store: "
    f"`python -m moderation problems --results {ctx.results} --all`."
)
if len(behind):
    st.dataframe(behind, hide_index=True, key="problems_behind")
history = reports.run_history(_data.runs(ctx.store_url))
with st.expander(f"Problem history ({len(history)} runs)"):
    if history.empty:
        st.caption("No run recorded in this store.")
    else:
        st.dataframe(history, hide_index=True, key="run_history")
        chosen = st.selectbox("Problems of run", history["run_id"], key="history_run")
        st.dataframe(_data.run_problems(ctx.store_url, chosen), hide_index=True, key="history_problems")
