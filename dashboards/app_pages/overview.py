"""Overview: KPIs, queue shares, activity over time, vote distribution, most-discussed articles; import; problems."""

import logging
import tempfile
from pathlib import Path

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
shares = reports.queue_shares(comments, _data.current_decisions(ctx.store_url))

columns = st.columns(4)
for column, (label, value) in zip(columns, summary["kpis"].items()):
    column.metric(label.capitalize(), f"{value:,}")
columns[3].metric("Decisions pending", f"{int(shares['pending'].sum()):,}", help="queue members without a decision")

st.subheader("Queues")
if shares.empty:
    st.info("No queue columns yet: the vote and off-topic stages have not run on these results.")
else:
    st.dataframe(
        shares, hide_index=True,
        column_config={"share": st.column_config.ProgressColumn(
            "share of comments", format="percent", min_value=0, max_value=1)},
    )

left, right = st.columns(2)
with left:
    st.subheader("Activity per week")
    comments_tab, votes_tab = st.tabs(["Comments", "Votes"])
    comments_tab.line_chart(summary["over_time"], y="comments")
    votes_tab.line_chart(summary["over_time"], y="votes")
with right:
    st.subheader("Net vote distribution")
    st.bar_chart(summary["votes"], x="net_from", y="comments")

st.subheader("Most-discussed articles")
st.dataframe(
    summary["top_articles"], hide_index=True,
    column_config={"thread": st.column_config.LinkColumn("thread", display_text="open thread")},
)

with st.expander("Import comments"):
    upload = st.file_uploader("A file in any supported format", key="import_file")
    source = st.text_input("Source name", key="import_source", placeholder="the file's name",
                           help="Used when the file itself does not name its source (e.g. a canonical comments.csv).")
    if upload is not None and st.button("Ingest and score", key="import_run"):
        from moderation import pipeline

        progress = st.progress(0.0, text="Saving the upload…")
        with tempfile.TemporaryDirectory() as folder:
            # a canonical comments.* file takes its source from its folder's name
            name = Path(upload.name).name
            path = Path(folder) / (source.strip() or Path(name).stem).replace("/", "_") / name
            path.parent.mkdir()
            path.write_bytes(upload.getvalue())
            progress.progress(0.2, text="Reading, storing and scoring (every stage runs again)…")
            try:
                run = pipeline.run([path], ctx.results, ctx.store_url)
            except (pipeline.NothingRead, catalog.FolderBusy) as error:
                progress.empty()
                st.error(f"Could not import: {str(error).replace(str(path), upload.name)}")
            except Exception as error:  # noqa: BLE001 - any failure must reach the moderator as a message
                progress.empty()
                _LOG.exception("import of %s failed", upload.name)
                st.error(f"Import failed ({type(error).__name__}); the details are in the server's log. "
                         "The results were left as they were.")
            else:
                progress.progress(1.0, text="Done.")
                _data.clear_results()
                # rerun so every figure above shows the new results; the message survives it
                st.session_state["flash"] = (
                    f"Scored {len(run.comments):,} comments; {run.run_problems} problem(s) in the file "
                    "(listed under Input problems)."
                )
                st.rerun()

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
