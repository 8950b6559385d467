"""Sign-in, sessions and passwords (moderation.auth), and writers that wait for a busy store."""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from moderation import auth
from moderation.store import Store

PASSWORD = "correct horse battery"


@pytest.fixture
def store(tmp_path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'auth.db'}")
    store.add_user("ann", "moderator", PASSWORD)
    return store


def test_sign_in_opens_a_session_that_names_the_user_and_role(store):
    """The right password gives a session; the store keeps only the token's digest."""
    session = auth.sign_in(store, " ann ", PASSWORD)
    assert (session.user, session.role) == ("ann", "moderator")
    assert auth.current_session(store, session.token) == session
    with store.engine.connect() as connection:
        digests = connection.execute(sa.text("SELECT token_digest FROM sessions")).scalars().all()
    assert digests == [auth.token_digest(session.token)] and session.token not in digests


def test_a_failed_sign_in_never_says_whether_the_name_exists(store):
    """Unknown name and wrong password give the same message; neither password is logged."""
    messages = []
    for name, password in (("ann", "not the password"), ("nobody", "not the password")):
        with pytest.raises(auth.SignInRefused) as refused:
            auth.sign_in(store, name, password)
        messages.append(str(refused.value))
    assert messages == [auth.SIGN_IN_REFUSED] * 2
    assert "not the password" not in store.events().to_string()


def test_failed_sign_ins_are_rate_limited_per_name(store):
    """After MAX_FAILED_SIGN_INS failures for a name, even its right password is refused; other names are not."""
    store.add_user("bob", "viewer", PASSWORD)
    for _ in range(auth.MAX_FAILED_SIGN_INS):
        with pytest.raises(auth.SignInRefused):
            auth.sign_in(store, "ann", "wrong")
    with pytest.raises(auth.SignInRefused, match="Too many failed sign-ins"):
        auth.sign_in(store, "ann", PASSWORD)
    assert auth.sign_in(store, "bob", PASSWORD).role == "viewer"


def test_sessions_end_when_idle_signed_out_or_the_user_is_removed(store):
    """A session past its idle time, signed out, or of a removed user is gone."""
    idle = auth.sign_in(store, "ann", PASSWORD)
    time.sleep(0.05)
    assert auth.current_session(store, idle.token, idle=timedelta(milliseconds=10)) is None
    assert auth.current_session(store, idle.token) is None  # ended for good
    out = auth.sign_in(store, "ann", PASSWORD)
    auth.sign_out(store, out.token)
    assert auth.current_session(store, out.token) is None
    removed = auth.sign_in(store, "ann", PASSWORD)
    store.remove_user("ann")
    assert auth.current_session(store, removed.token) is None
    assert store.events()["event"].tolist()[:3] == ["user_removed", "sign_in", "sign_out"]


def test_a_role_change_applies_to_open_sessions(store):
    """The session's role is read from the store each time, so a demoted moderator stops deciding at once."""
    session = auth.sign_in(store, "ann", PASSWORD)
    store.set_role("ann", "viewer")
    assert auth.current_session(store, session.token).role == "viewer"


def test_short_passwords_are_refused(store):
    """A password shorter than MIN_PASSWORD_LENGTH is refused."""
    with pytest.raises(ValueError, match="at least"):
        store.add_user("bob", "viewer", "short")


def _hold_the_write_lock(url: str, seconds: float, held: threading.Event) -> None:
    """Another writer (as a long ingest is) holding SQLite's write lock for ``seconds``."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        held.set()
        time.sleep(seconds)
        connection.exec_driver_sql("COMMIT")


def test_a_decision_waits_for_a_busy_store_instead_of_failing(store):
    """While another writer holds the store past SQLite's busy timeout, a decision retries and lands,
    stamped when it was written (not when it was asked for)."""
    held = threading.Event()
    holder = threading.Thread(target=_hold_the_write_lock, args=(store.url, 2.5, held))
    holder.start()
    held.wait()
    asked = datetime.now(UTC)
    assert len(store.record_decision([("s", "1")], "remove", "ann")) == 1
    holder.join()
    decided = store.decisions()
    assert len(decided) == 1 and decided["decided_at"].iloc[0] > asked + timedelta(seconds=2)


def test_a_writer_that_waited_too_long_says_so_and_records_nothing(store):
    """With a short busy_wait, the decision fails with a clear TimeoutError and nothing is written."""
    impatient = Store(store.url, busy_wait=0.5)
    held = threading.Event()
    holder = threading.Thread(target=_hold_the_write_lock, args=(store.url, 2.0, held))
    holder.start()
    held.wait()
    with pytest.raises(TimeoutError, match="stayed busy"):
        impatient.record_decision([("s", "1")], "remove", "ann")
    holder.join()
    assert store.decisions().empty
