"""Off-topic speculation: the queue with its evidence (cues, similarity, nearest topic)."""

import streamlit as st

import _data
import _ui
from moderation import reports

ctx = _data.context()
st.title("Off-topic speculation")
_ui.flash()
if not reports.available_queues(_data.results(ctx.results, ctx.version).comments, ["offtopic"]):
    st.info("The off-topic stage has not run on these results: no queue yet.")
    st.stop()
combiner = reports.offtopic_combiner_note(ctx.results)
if combiner:
    st.caption(combiner)
shown = _ui.queue_section("offtopic", key="offtopic")
if shown is not None:
    st.subheader("Evidence")
    labels = _ui.comment_labels(shown)
    key = st.selectbox("Comment", list(labels), format_func=labels.get, key="offtopic_evidence")
    source, comment_id = key
    article = shown.set_index(["source", "comment_id"]).loc[key, "article_id"]
    thread = _data.article_comments(ctx.results, ctx.version, source, article)
    row = thread[thread["comment_id"] == comment_id].iloc[0]
    cues = row.get("speculation_cues")
    st.caption("Comment text, speculation cues in [[double brackets]]:")
    st.text(reports.bracket_cues(row["text"], cues))
    left, right = st.columns(2)
    with left:
        st.caption("Cue spans (character offsets)")
        st.dataframe(reports.cue_spans(cues), hide_index=True)
    with right:
        st.caption("Scores, similarity and nearest topic")
        st.dataframe(reports.offtopic_evidence(row), hide_index=True)
