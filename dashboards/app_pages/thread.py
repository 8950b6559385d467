"""Thread: one article's comment tree, each comment with its scores, flags and decision inline."""

import streamlit as st

import _data
import _ui
from moderation import reports

ctx = _data.context()
st.title("Thread")
_ui.flash()
if not ctx.filters.article:
    st.info("Choose an article in the sidebar, or open a thread from a queue or the list below.")
    st.dataframe(_data.overview(ctx.results, ctx.version, ctx.filters)["top_articles"], hide_index=True,
                 column_config={"thread": _ui.LINKS["thread"]})
    st.stop()

comments = _data.article_comments(ctx.results, ctx.version, ctx.filters.source, ctx.filters.article)
if comments.empty:
    st.warning("No comments on this article in these results.")
    st.stop()
articles = _data.results(ctx.results, ctx.version).articles
article = articles[(articles["article_id"] == ctx.filters.article) & (articles["source"] == comments["source"].iloc[0])]
if len(article):
    # titles are untrusted: plain text, never Markdown
    st.text(f"{article['title'].iloc[0]}  ({comments['source'].iloc[0]}/{ctx.filters.article})")
    if article["url"].notna().iloc[0]:
        st.text(article["url"].iloc[0])
tree = reports.thread_view(comments, _data.current_decisions(ctx.store_url))
st.caption(f"{len(tree):,} comments; '· ' marks one level of reply; parent_link 'inferred' means the source "
           "did not say which comment was replied to and the parent was inferred.")
st.dataframe(tree.drop(columns=["text"]), hide_index=True, key="thread_table", height=_ui.TABLE_HEIGHT,
             column_config={"tree": st.column_config.TextColumn("comment", width="large")})

labels = _ui.comment_labels(tree)
keys = list(labels)
# options are reading-order positions, numbered: two comments may share a label (same author, same opening words)
position = {key[1]: i for i, key in enumerate(keys)}


def _position(comment_id: str) -> int:
    if comment_id not in position:
        raise ValueError(comment_id)
    return position[comment_id]


# the comment read is in the URL as ?comment=ID (what a queue's thread link sets); another article has other positions
if st.session_state.get("thread_read", 0) >= len(keys):
    del st.session_state["thread_read"]
chosen = _ui.in_url("comment", "thread_read", 0, st.selectbox, _position, to_text=lambda i: keys[i][1],
                    label="Read a comment", options=range(len(keys)),
                    format_func=lambda i: f"{i + 1}. {labels[keys[i]]}")
picked = keys[chosen]
row = tree[(tree["source"] == picked[0]) & (tree["comment_id"] == picked[1])].iloc[0]
with st.container(border=True):
    st.text(f"{row['author']} · {row['created_at']} · depth {row['depth']} · {row['parent_link'] or 'top level'}")
    st.text(row["text"])
    decision = row["decision"] if isinstance(row["decision"], str) else "none"
    st.text(f"flags: {row['flags'] or 'none'} · decision: {decision}")
_ui.decision_panel(tree, key="thread")
