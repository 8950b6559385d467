"""Teach: label the comments that would teach the off-topic and speculation scores most, then adopt what they learned."""

import streamlit as st

import _data
import _ui
from moderation import auth, reports, teach

QUESTIONS = (("offtopic", "Off topic", "On topic"), ("speculative", "Speculative", "Not speculative"))


def label_buttons(row) -> None:
    """Yes/no buttons for both questions on one comment; each click is one label in the store."""
    key = (row["source"], row["comment_id"])
    for column, (label, yes, no) in zip(st.columns(2), QUESTIONS):
        given = row[f"{label}_label"]
        with column:
            if given is not None:
                st.caption(f"Labelled: {yes if given else no}")
            left, right = st.columns(2)
            for side, value, text in ((left, True, yes), (right, False, no)):
                if side.button(text, key=f"teach_{label}_{value}_{row['source']}_{row['comment_id']}",
                               disabled=not ctx.can_decide):
                    try:
                        _data.record_offtopic_label(ctx.store_url, [key], value, ctx.moderator, label)
                    except auth.Forbidden as refused:
                        st.error(f"Not labelled: {refused}.")
                    else:
                        st.session_state["flash"] = f"Labelled {text.lower()}."
                        st.rerun()


ctx = _data.context()
st.title("Teach")
_ui.flash()
results = _data.results(ctx.results, ctx.version)
comments = results.comments
if "offtopic_score" not in comments or "speculation_score" not in comments:
    st.info("The off-topic and speculation stages have not run on these results: nothing to teach yet.")
    st.stop()
combiner = reports.offtopic_combiner_note(ctx.results)
if combiner:
    st.caption(combiner)
offtopic_labels = _data.offtopic_labels(ctx.store_url)
speculative_labels = _data.speculative_labels(ctx.store_url)
st.caption(
    "The comments below are those the current scores are least sure about, one article after another. Mark each "
    "as off topic or on topic and as speculative or not; then measure what the labels teach and, if it helps, "
    "use the learned model for every later run and import."
)
st.dataframe(teach.label_counts(offtopic_labels, speculative_labels), hide_index=True)
if not ctx.moderator.strip():
    st.caption("Enter your name as moderator in the sidebar to label.")
elif not ctx.can_decide:
    st.caption(f"You are signed in as a {ctx.role}: you can look, not label.")

n = st.slider("Comments to show", 5, 30, 10, key="teach_n")
picked = results.with_text(teach.candidates(comments, offtopic_labels, speculative_labels, n, results.articles))
for _, row in picked.iterrows():
    with st.container(border=True):
        # the author's name and the title are the poster's and the source's words: plain text, never Markdown
        st.text(f"{row['author'] or 'anonymous'} on “{row['title'] or row['article_id']}” ({row['source']}) · "
                f"off-topic {row['offtopic_score']:.2f}, speculation {row['speculation_score']:.2f}")
        st.text(row["text"])
        label_buttons(row.where(row.notna(), None))

st.subheader("What the labels teach")
if st.button("Measure (learn from every label so far)", key="teach_measure"):
    from moderation import pipeline  # scikit-learn and the stages: 2.5 s to import, paid by whoever measures

    try:
        weights, evaluation, problems = pipeline.learn_offtopic([], None, ctx.store_url)
    except ValueError as error:
        st.info(f"Not enough labels yet: {error}")
    else:
        st.session_state["teach_learned"] = (weights, teach.before_after(evaluation), len(problems))
learned = st.session_state.get("teach_learned")
if learned:
    weights, table, n_problems = learned
    st.caption("ROC AUC on your labels: before = the scores these results have; after = the learned model, "
               "each comment scored by a model that saw no comment of its article. The 90 % range is where the "
               "AUC lands when the labelled articles are drawn again: while the two ranges overlap, more labels "
               "are needed before the difference means anything.")
    st.dataframe(table, hide_index=True)
    if n_problems:
        st.caption(f"{n_problems} labels could not be used (e.g. on comments without text).")
    if st.button("Use the learned model for later runs and imports", key="teach_adopt", type="primary"):
        from moderation import pipeline

        path = pipeline.adopt_weights(ctx.results, weights)
        st.session_state["flash"] = f"Adopted: the next run or import into this folder scores with {path.name}."
        st.rerun()
