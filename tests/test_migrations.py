"""Schema revisions: a store made before migrations upgrades keeping everything; other revisions are refused."""

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from moderation import migrations
from moderation.cli import main
from moderation.store import SchemaMismatch, Store, metadata
from tests.test_store import POSTGRES_URL

FIXTURE = Path(__file__).parent / "fixtures" / "store" / "before_migrations.db"
# what tests/fixtures/store/make_before_migrations.py recorded with the code before migrations
DECISIONS = [  # id, comment_id, action, reason, moderator, undone_by
    (5, "5", "flag", "check quote", "ann", "ann"), (4, "3", "approve", None, "bob", None),
    (3, "2", "approve", None, "bob", None), (2, "2", "remove", "spam", "ann", None),
    (1, "1", "remove", "spam", "ann", None),
]
LABELS = [("5", False, "bob"), ("3", False, "bob"), ("2", True, "ann"), ("1", True, "ann")]


@pytest.fixture
def old_store(tmp_path) -> str:
    """A copy of the store file made by the code before migrations."""
    path = tmp_path / "old.db"
    shutil.copy(FIXTURE, path)
    return f"sqlite:///{path}"


def test_a_store_from_before_migrations_is_refused_until_upgraded(old_store):
    """Opening it says what to run; nothing is changed by the refusal."""
    with pytest.raises(SchemaMismatch, match=r"revision 0001_baseline, this version needs .*store upgrade"):
        Store(old_store)


def test_upgrading_keeps_every_decision_and_label(old_store, capsys):
    """`store upgrade` brings the fixture to the newest revision with its comments, decisions and labels intact."""
    assert main(["store", "upgrade", "--store", old_store]) == 0
    assert f"0001_baseline -> {migrations.head()}" in capsys.readouterr().out
    store = Store(old_store)
    log = store.decisions()
    kept = [(r.id, r.comment_id, r.action, r.reason if isinstance(r.reason, str) else None, r.moderator,
             r.undone_by if isinstance(r.undone_by, str) else None) for r in log.itertuples()]
    assert kept == DECISIONS
    assert log["replaces"].isna().all() and log["decided_at"].notna().all()
    assert store.labels()[["comment_id", "value", "moderator"]].values.tolist() == [list(row) for row in LABELS]
    assert len(store.load()[1]) == 4
    # the upgraded store works as a new one: users, decisions with roles
    store.add_user("ann", "moderator", "a long password")
    store.record_decision([("basic", "1")], "approve", "ann")
    store.record_label([("basic", "1")], "speculative", True, "ann")  # a label the baseline did not allow
    assert store.labels("speculative")["comment_id"].tolist() == ["1"]
    assert len(store.labels()) == len(LABELS)
    assert main(["store", "upgrade", "--store", old_store]) == 0  # idempotent
    assert "already at" in capsys.readouterr().out


def test_a_current_store_opens_without_alembic(tmp_path):
    """HEAD is the scripts' newest revision, and a store stamped with it is opened without importing Alembic
    (every command opens the store; Alembic's import is a tenth of a second)."""
    assert migrations.HEAD == migrations.head()
    url = f"sqlite:///{tmp_path / 'current.db'}"
    Store(url)  # created and stamped
    probe = f"import sys; from moderation.store import Store; Store({url!r}); print('alembic' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_a_store_from_a_newer_version_is_refused(tmp_path):
    """A revision this version does not know means a newer moderation wrote the store: say so."""
    url = f"sqlite:///{tmp_path / 'new.db'}"
    Store(url)
    with sa.create_engine(url).begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '0099_future'"))
    with pytest.raises(SchemaMismatch, match="made by a newer version of moderation"):
        Store(url)
    assert main(["store", "upgrade", "--store", url]) == 1


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_labels_the_code_allows_are_allowed_after_upgrading(backend, tmp_path):
    """A store upgraded from the baseline takes every label in store.LABELS (CHECK constraints are not compared
    by the metadata check below)."""
    from moderation.store import LABELS

    url = _scratch_url(backend, tmp_path)
    with sa.create_engine(url).begin() as connection:
        command.upgrade(migrations.config(connection), "head")
    store = Store(url)
    for label in LABELS:
        store.record_label([("s", "1")], label, True, "ann")


def _scratch_url(backend: str, tmp_path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'scratch.db'}"
    if not POSTGRES_URL:
        pytest.skip("MODERATION_TEST_POSTGRES_URL is not set (make test starts a server when it can)")
    name = f"m_{uuid.uuid4().hex[:12]}"
    with sa.create_engine(POSTGRES_URL).begin() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA {name}"))
    return f"{POSTGRES_URL}?options=-csearch_path%3D{name}"


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_the_revisions_build_exactly_the_tables_the_code_defines(backend, tmp_path):
    """Upgrading an empty database from the baseline gives store.metadata: no table or column lacks a revision."""
    url = _scratch_url(backend, tmp_path)
    with sa.create_engine(url).begin() as connection:
        command.upgrade(migrations.config(connection), "head")
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []
    Store(url)  # and the store opens it as current
