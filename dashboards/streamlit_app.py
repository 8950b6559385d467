"""Moderation dashboard: ``streamlit run dashboards/streamlit_app.py -- --results DIR``.

The entry script lays out what every page shares (global filters in the
sidebar, kept in the URL so a view can be shared; who is moderating) and
hands over to the page ``st.navigation`` picked. Pages live in ``app_pages/``.
Unless the server listens on 127.0.0.1 only and the store has no users, the
sign-in form is the only page until someone signs in.
"""

import sys
from dataclasses import asdict
from datetime import date
from pathlib import Path

# the repository's `moderation` package, importable without installing it
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import logging  # noqa: E402

import streamlit as st  # noqa: E402

import _data  # noqa: E402
import _ui  # noqa: E402
from moderation import schema  # noqa: E402
from moderation.reports import Filters  # noqa: E402
from moderation.store import SchemaMismatch  # noqa: E402

_LOG = logging.getLogger(__name__)

st.set_page_config(page_title="Comment moderation", layout="wide")

REVIEW = st.Page("app_pages/review.py", title="Review", url_path="review")


def _landing() -> None:
    # a default page is served at "/" only, so the landing page forwards there and /review stays a real address
    st.switch_page(REVIEW, query_params=st.query_params.to_dict())


PAGES = [
    st.Page(_landing, title="Review", url_path="home", default=True, visibility="hidden"),
    REVIEW,
    st.Page("app_pages/history.py", title="History", url_path="history"),
    st.Page("app_pages/overview.py", title="Overview", url_path="overview"),
    st.Page("app_pages/votes.py", title="Vote review", url_path="votes"),
    st.Page("app_pages/offtopic.py", title="Off-topic speculation", url_path="offtopic"),
    st.Page("app_pages/teach.py", title="Teach", url_path="teach"),
    st.Page("app_pages/authors.py", title="Authors", url_path="authors"),
    st.Page("app_pages/engagement.py", title="Engagement", url_path="engagement"),
    st.Page("app_pages/thread.py", title="Thread", url_path="thread"),
    st.Page("app_pages/topics.py", title="Topics", url_path="topics"),
    st.Page("app_pages/decisions.py", title="Decisions", url_path="decisions"),
]
FILTER_NAMES = list(Filters.__dataclass_fields__)

results_dir, store_url = _data.settings()
try:
    _data.store(store_url)
except SchemaMismatch as mismatch:
    st.error(str(mismatch))
    st.stop()
if not _ui.moderating_session(store_url):
    st.navigation(PAGES, position="hidden")  # keeps the page asked for (a link to /votes) for after sign-in
    _ui.sign_in_form()
    st.stop()
page = st.navigation(PAGES)


def _sync_from_url() -> None:
    # A shared link or a page link brings filters in the URL: they win over the widgets.
    # Page switches may drop the query string; then the widgets keep their values.
    in_url = {k: v for k, v in st.query_params.to_dict().items() if k in FILTER_NAMES}
    if "filters_written" in st.session_state and (not in_url or in_url == st.session_state["filters_written"]):
        return
    for name, value in asdict(Filters.from_query(in_url)).items():
        st.session_state[f"filter_{name}"] = value


_sync_from_url()


def show() -> None:
    """The sidebar (filters kept in the URL) and the page ``st.navigation`` picked."""
    version = _data.version(results_dir)
    with st.sidebar:
        st.header("Filters")
        sources = _data.sources(results_dir, version)
        if st.session_state.get("filter_source") not in [None, *sources]:
            sources.append(st.session_state["filter_source"])
        source = st.selectbox("Source", [None, *sources], key="filter_source", format_func=lambda s: s or "All sources",
                              placeholder="All sources")
        articles = _data.article_choices(results_dir, version, source)
        if st.session_state.get("filter_article") not in [None, *articles]:
            articles[st.session_state["filter_article"]] = st.session_state["filter_article"]
        st.selectbox("Article", [None, *articles], key="filter_article", placeholder="All articles",
                     format_func=lambda a: articles.get(a, "All articles"))
        left, right = st.columns(2)
        # any day a link may carry: Streamlit's default bounds (ten years around today) would drop the filter
        left.date_input("From", value=None, key="filter_since", min_value=date.min, max_value=date.max)
        right.date_input("To", value=None, key="filter_until", min_value=date.min, max_value=date.max)
        st.text_input("Author", key="filter_author", placeholder="part of a name, any case")
        st.text_input("Text contains", key="filter_text")

    filters = Filters(**{name: st.session_state.get(f"filter_{name}") or None for name in FILTER_NAMES})
    written = filters.to_query()
    for name in FILTER_NAMES:
        if name in written:
            st.query_params[name] = written[name]
        elif name in st.query_params:
            del st.query_params[name]
    st.session_state["filters_written"] = written
    st.session_state["context"] = _data.Context(results_dir, store_url, filters, _ui.current_moderator(),
                                                _ui.current_role(), _ui.signed_in())
    if filters.active:
        st.sidebar.caption(f"{_data.filtered(results_dir, version, filters).shape[0]:,} comments match the filters.")
    if page.url_path != "review":
        _ui.release_card()  # the Review card this moderator left is free for the others
    try:
        page.run()
    finally:  # also after a page's st.stop(): once the page is drawn, the first queue table needs no wait
        _data.read_ahead(results_dir, version)


# Any other failure reaches Streamlit, which logs the traceback and shows visitors only a generic line
# (client.showErrorDetails = "none" in dashboards/.streamlit/config.toml).
try:
    show()
except schema.OutputError as error:
    # a results folder this app cannot read: say which file and column, in one line
    _LOG.warning("cannot show %s: %s", results_dir, error)
    st.error(f"Cannot show these results: {error}")
    st.caption("Results an earlier version wrote lack newer columns: run the pipeline into this folder again "
               "(python -m moderation run INPUT --out FOLDER). The store keeps every decision.")
