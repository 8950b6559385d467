"""Decisions: the audit log (who, when, what, why), filterable and exportable; undo; the team's activity."""

import streamlit as st

import _data
import _ui
from moderation import auth, reports
from moderation.store import ACTIONS, EVENTS, TEAM_EVENTS

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
if "undo_others" in auth.PERMISSIONS[ctx.role] and len(log):
    left, right = st.columns([2, 1])
    whose = left.selectbox("Undo the latest decision of", sorted(log["moderator"].dropna().unique()),
                           key="log_undo_of")
    right.button("Undo their last decision", key="log_undo_other", on_click=_ui.undo_latest, args=("log", whose))
message = st.session_state.pop("log_error", None)
if message:
    st.error(message)

st.subheader("Activity")
admin = "manage_users" in auth.PERMISSIONS[ctx.role]
st.caption("Claims, releases and undos" + (", sign-ins, failed sign-ins and user changes (you are an admin)."
                                            if admin else "."))
events = _data.activity(ctx.store_url, EVENTS if admin else TEAM_EVENTS)
st.dataframe(events.drop(columns=["id"]), hide_index=True, key="activity_table")
