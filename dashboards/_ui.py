"""Widgets several pages share: the comment table, the decision panel, CSV export.

Untrusted text (comments, author names, titles) only ever reaches the page
through dataframe cells, ``st.text``/``st.code`` or widget options, which
Streamlit renders as plain text; never through Markdown or HTML.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

import _data
from moderation import reports
from moderation.store import ACTIONS

TABLE_HEIGHT = 420
LINKS = {
    "thread": st.column_config.LinkColumn("thread", display_text="open thread", width="small"),
    "profile": st.column_config.LinkColumn("profile", display_text="profile", width="small"),
    "text": st.column_config.TextColumn("text", width="large"),
}


def comment_table(frame: pd.DataFrame, key: str) -> None:
    """A sortable table of comments with links to each comment's thread and author profile."""
    st.dataframe(frame, key=key, hide_index=True, height=TABLE_HEIGHT, column_config=LINKS)


def comment_labels(frame: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(source, comment_id) -> :func:`comment_label`, in the frame's order (options of a comment picker)."""
    return {(r.source, r.comment_id): comment_label(r) for r in frame.itertuples(index=False)}


def comment_label(row) -> str:
    """Option label of one comment: author and the start of its text (plain text)."""
    text = "" if pd.isna(row.text) else " ".join(str(row.text).split())
    author = "(no author)" if pd.isna(row.author) else row.author
    return f"{author}: {text[:90]}"


def decision_panel(shown: pd.DataFrame, key: str) -> None:
    """Decide on comments of ``shown`` (per comment or all shown at once) and undo the moderator's last batch.

    Decisions go straight to the store; the cached decision frames are then
    cleared and the page reruns, so decided comments leave the queue.
    """
    ctx = _data.context()
    labels = comment_labels(shown)
    with st.container(border=True):
        st.subheader("Decide")
        everything = st.checkbox(f"All {len(shown)} shown comments", key=f"{key}_all")
        picked = st.multiselect(
            "Comments", options=list(labels), format_func=labels.get, key=f"{key}_pick", disabled=everything,
            placeholder="Choose comments",
        )
        action = st.selectbox("Action", ACTIONS, key=f"{key}_action")
        reason = st.text_input("Reason (optional)", key=f"{key}_reason")
        keys = list(labels) if everything else picked
        left, right = st.columns(2)
        if left.button(f"Record '{action}' on {len(keys)} comment(s)", key=f"{key}_record", type="primary",
                       disabled=not keys):
            if not ctx.moderator.strip():
                st.error("Enter your name as moderator in the sidebar first.")
            else:
                _data.record_decision(ctx.store_url, keys, action, ctx.moderator, reason or None)
                st.session_state["flash"] = f"Recorded {action} on {len(keys)} comment(s)."
                st.session_state.pop(f"{key}_pick", None)
                st.rerun()
        with right:
            undo_button(key)


def undo_button(key: str) -> None:
    """Undo the moderator's latest batch of decisions in the store."""
    ctx = _data.context()
    if st.button("Undo my last decision", key=f"{key}_undo", disabled=not ctx.moderator.strip()):
        undone = _data.undo_last(ctx.store_url, ctx.moderator)
        st.session_state["flash"] = (
            f"Undid {undone['action'].iloc[0]} on {len(undone)} comment(s)." if len(undone) else "Nothing to undo."
        )
        st.rerun()


def flash() -> None:
    """Show (once) the message the last decision left behind."""
    message = st.session_state.pop("flash", None)
    if message:
        st.success(message)


def export_button(make_frame, file_name: str, key: str, label: str = "Export CSV") -> None:
    """A CSV download (spreadsheet formulas neutralised); ``make_frame()`` only runs when clicked."""
    st.download_button(label, data=lambda: reports.csv_bytes(make_frame()), file_name=file_name, mime="text/csv",
                       key=key, on_click="ignore")


def queue_section(name: str, key: str) -> pd.DataFrame | None:
    """One queue: its controls, top rows (undecided by default), export and decision panel.

    Returns the rows shown (None when the queue is empty after filters).
    """
    ctx = _data.context()
    left, middle, right = st.columns([1, 1, 1])
    min_votes = in_url("min_votes", f"{key}_min_votes", 0, left.number_input, int, label="Minimum votes",
                       min_value=0, step=1)
    limit = in_url("rows", f"{key}_limit", 200, middle.number_input, int, label="Rows shown", min_value=10,
                   max_value=5000, step=50)
    show_decided = in_url("show_decided", f"{key}_show_decided", False, right.toggle, flag,
                          label="Show decided comments")
    ranked_all = in_url(
        "below_threshold", f"{key}_ranked_all", False, right.toggle, flag, label="Also comments below the threshold",
        help="Rank every comment by the queue's score, members or not (column in_queue): "
             "the top of a small discussion shows even when nothing in it is flagged.",
    )
    members = _data.queue_members(ctx.results, ctx.version, ctx.filters, name, int(min_votes), not ranked_all)
    decisions = _data.current_decisions(ctx.store_url)
    shown = reports.queue_view(members, decisions, show_decided=show_decided, limit=int(limit))
    pending = len(reports.undecided(members, decisions))
    flagged = int(members["in_queue"].sum())
    st.caption(
        f"{flagged:,} comments in the queue"
        + (f" (ranked among all {len(members):,})" if ranked_all else "")
        + f", {pending:,} without a decision; showing {len(shown):,}."
    )
    if shown.empty:
        st.info(reports.empty_queue_hint(flagged, pending, show_decided, ranked_all, int(min_votes),
                                         ctx.filters.active))
        return None
    comment_table(shown, key=f"{key}_table")
    export_button(
        lambda: reports.queue_view(members, decisions, show_decided=show_decided, limit=len(members)),
        f"queue_{name}.csv", key=f"{key}_export", label="Export the whole queue (CSV)",
    )
    decision_panel(shown, key)
    return shown


# ---- page state in the URL --------------------------------------------------------


def in_url(param: str, key: str, default, widget, parse=str, to_text=None, **kwargs):
    """Draw ``widget(key=key, **kwargs)`` with its value kept in the URL parameter ``param``.

    A link's value (``?param=...``) fills the widget when it differs from what
    this tab last wrote; a value equal to ``default`` leaves the URL clean.
    ``parse`` turns the URL text back into a value (``flag``, ``int``, ``words``);
    an unreadable value falls back to the widget's current one. ``to_text``
    writes a value as URL text (default :func:`url_text`).
    """
    written = st.session_state.setdefault("url_written", {})
    raw = st.query_params.get(param)
    if raw is not None and written.get(param) != raw:
        try:
            st.session_state[key] = parse(raw)
        except ValueError:
            pass
    elif key not in st.session_state:
        st.session_state[key] = default
    value = widget(key=key, **kwargs)
    text = (to_text or url_text)(value) if value is not None else ""
    if value == default or value is None or text == "":
        st.query_params.pop(param, None)
        written.pop(param, None)
    else:
        st.query_params[param] = text
        written[param] = text
    return value


def url_text(value) -> str:
    """A widget value as URL text: booleans as true/false, lists comma-separated."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def flag(text: str) -> bool:
    """URL text to a boolean (true/1/yes); anything else is False."""
    return text.strip().lower() in ("true", "1", "yes")


def words(text: str) -> list[str]:
    """URL text to a list (comma-separated, blanks dropped)."""
    return [w for w in text.split(",") if w]


def one_of(options) -> callable:
    """A ``parse`` for :func:`in_url` accepting only ``options`` (ValueError otherwise)."""
    def parse(text: str):
        if text not in options:
            raise ValueError(text)
        return text
    return parse


# ---- charts -------------------------------------------------------------------------


def counts_axis(figure, counts, axis: str = "y"):
    """``figure`` with an ``axis`` ("y" or "x") of whole counts: no 0.5 ticks when the counts are small, from 0."""
    top = float(counts.max()) if len(counts) else 0.0
    update = figure.update_yaxes if axis == "y" else figure.update_xaxes
    update(rangemode="tozero", tickformat=",d")
    if top <= 10:
        update(dtick=1)
    return figure.update_layout(margin={"t": 10, "b": 10})


def time_axis(figure, period: str):
    """``figure`` with an x axis of dates labelled by ``period`` ("month" or "week"), never by clock time."""
    return figure.update_xaxes(tickformat="%b %Y" if period == "month" else "%d %b %Y")
