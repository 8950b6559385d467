"""Off-topic speculation: the queue with its evidence (cues, similarity, nearest topic)."""

import streamlit as st

import _data
import _ui
from moderation import auth, reports



def label_panel(key: tuple[str, str]) -> None:
    """Off topic / On topic for the comment in view: the labels `train-offtopic --results` learns from."""
    labels = _data.offtopic_labels(ctx.store_url)
    with st.container(border=True):
        st.subheader("Is it off topic?")
        st.caption(
            "Your desk's notion of off topic: label comments here (in the queue or below the threshold), then "
            f"`python -m moderation train-offtopic --results {ctx.results} --out weights.json` learns it and "
            "`run ... --offtopic-weights weights.json` scores with it. "
            f"Labelled so far: {len(labels):,} ({int(labels['value'].sum()):,} off topic)."
        )
        current = labels[(labels["source"] == key[0]) & (labels["comment_id"] == key[1])]
        if len(current):
            row = current.iloc[0]
            st.text(f"Labelled {'off topic' if row['value'] else 'on topic'} by {row['moderator']} "
                    f"({row['labelled_at']:%Y-%m-%d %H:%M} UTC)")
        left, right = st.columns(2)
        for column, value, text in ((left, True, "Off topic"), (right, False, "On topic")):
            if column.button(text, key=f"offtopic_label_{value}", disabled=not ctx.can_decide):
                try:
                    _data.record_offtopic_label(ctx.store_url, [key], value, ctx.moderator)
                except auth.Forbidden as refused:
                    st.error(f"Not labelled: {refused}.")
                else:
                    st.session_state["flash"] = f"Labelled {text.lower()}."
                    st.rerun()
        if not ctx.moderator:
            st.caption("Enter your name as moderator in the sidebar to label.")
        elif not ctx.can_decide:
            st.caption(f"You are signed in as a {ctx.role}: you can look, not label.")


ctx = _data.context()
st.title("Off-topic speculation")
_ui.flash()
if not reports.available_queues(_data.results(ctx.results, ctx.version).comments, ["offtopic"]):
    st.info("The off-topic stage has not run on these results: no queue yet.")
    st.stop()
combiner = reports.offtopic_combiner_note(ctx.results)
if combiner:
    st.text(combiner)  # trained_on comes from a weights file: plain text, never Markdown
shown = _ui.queue_section("offtopic", key="offtopic")
if shown is not None:
    st.subheader("Evidence")
    labels = _ui.comment_labels(shown)
    key = st.selectbox("Comment", list(labels), format_func=_ui.label_of(labels), key="offtopic_evidence")
    source, comment_id = key
    article = shown.set_index(["source", "comment_id"]).loc[key, "article_id"]
    thread = _data.article_comments(ctx.results, ctx.version, source, article)
    row = thread[thread["comment_id"] == comment_id].iloc[0]
    cues = reports.marked_cues(row)
    st.caption("Comment text, speculation cues marked:" if cues is not None else
               "Comment text (not speculative: no cues marked):")
    _ui.comment_html(reports.highlighted_html(row["text"], cues))
    _ui.plain_list(reports.explain(row, ["offtopic"], thread))
    with st.expander("Scores, similarity and nearest topic"):
        st.dataframe(reports.offtopic_evidence(row), hide_index=True)
    label_panel(key)
