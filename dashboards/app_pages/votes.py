"""Vote review: heavily up-, down-voted, controversial and anomalous queues with their reasons."""

import streamlit as st

import _data
import _ui
from moderation import reports

ctx = _data.context()
st.title("Vote review")
_ui.flash()
names = reports.available_queues(_data.results(ctx.results, ctx.version).comments, reports.VOTE_QUEUES)
if not names:
    st.info("The vote stage has not run on these results: no vote queues yet.")
    st.stop()
name = _ui.in_url("queue", "votes_queue", names[0], st.segmented_control, _ui.one_of(names), label="Queue",
                  options=names, format_func=lambda n: n.replace("_", " ")) or names[0]
_ui.queue_section(name, key=f"votes_{name}")
