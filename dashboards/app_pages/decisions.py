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
names = sorted(log["moderator"].dropna().unique())
moderators = _ui.in_url("moderators", "log_moderators", [], left.multiselect,
                        lambda t: [n for n in _ui.words(t) if n in names], label="Moderators", options=names)
actions = _ui.in_url("actions", "log_actions", [], middle.multiselect,
                     lambda t: [a for a in _ui.words(t) if a in ACTIONS], label="Actions", options=ACTIONS)
include_undone = _ui.in_url("undone", "log_undone", True, right.toggle, _ui.flag, label="Include undone")
# the sidebar's filters choose the comments; the log shows the decisions on them
comments = _data.filtered(ctx.results, ctx.version, ctx.filters)
log_filters = reports.LogFilters(tuple(moderators), tuple(actions), include_undone,
                                 only_given_comments=ctx.filters.active)
shown = reports.decision_log(log, comments, log_filters, _data.results(ctx.results, ctx.version))
st.caption(f"{len(shown):,} of {len(log):,} decisions"
           + (" (on the comments the sidebar filters accept)." if ctx.filters.active else "."))
st.dataframe(shown, hide_index=True, key="log_table",
             column_config={"text": _ui.LINKS["text"], "reason": st.column_config.TextColumn("reason", width="medium")})
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
