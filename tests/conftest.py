"""Shared test setup."""

import pytest
from streamlit import config


@pytest.fixture(autouse=True, scope="session")
def _dashboard_serves_this_machine_only():
    """AppTests run the dashboard as a server on 127.0.0.1 would (single-user while the store has no users);
    without it Streamlit's default address is every interface, where the dashboard asks for sign-in."""
    config.set_option("server.address", "127.0.0.1")
    yield
