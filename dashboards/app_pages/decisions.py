"""Decisions: the audit log (who, when, what, why), filterable and exportable; undo."""

import streamlit as st

import _data
import _ui
from moderation import reports
from moderation.store import ACTIONS

ctx = _data.context()
st.title("Decisions")
_ui.flash()
log = _data.decision_log(ctx.store_url)
left, middle, right = st.columns([2, 2, 1])
moderators = left.multiselect("Moderators", sorted(log["moderator"].dropna().unique()), key="log_moderators")
actions = middle.multiselect("Actions", ACTIONS, key="log_actions")
include_undone = right.toggle("Include undone", value=True, key="log_undone")
comments = _data.results(ctx.results, ctx.version).comments
shown = reports.decision_log(log, comments, reports.LogFilters(tuple(moderators), tuple(actions), include_undone))
st.caption(f"{len(shown):,} of {len(log):,} decisions.")
st.dataframe(shown, hide_index=True, key="log_table", column_config={"text": _ui.LINKS["text"]})
_ui.export_button(lambda: shown, "decisions.csv", key="log_export", label="Export the log (CSV)")
_ui.undo_button("log")
