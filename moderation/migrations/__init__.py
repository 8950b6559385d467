"""The store's schema revisions (Alembic) and the checks that keep code and store in step.

``0001_baseline`` is the schema every store had before migrations existed
(articles, comments, vote_events, decisions, labels); later revisions build on
it. A new store is created from ``store.metadata`` and stamped with the newest
revision; a store without a revision table but with the baseline's tables is a
store made before migrations, at the baseline.

Adding a revision (after changing a table in ``moderation/store.py``): copy the
newest file in ``versions/`` to ``versions/NNNN_what.py``, set ``revision`` to
``"NNNN_what"`` and ``down_revision`` to the previous one, write ``upgrade()``
with ``op.create_table``/``op.add_column`` (``op.batch_alter_table`` for
SQLite-unfriendly changes) and ``downgrade()``; ``tests/test_migrations.py``
then checks that upgrading from the baseline gives exactly ``store.metadata``.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

BASELINE = "0001_baseline"
# the newest revision, spelled out: a store stamped with it is opened without importing Alembic and reading its
# scripts (a tenth of a second of every command); tests/test_migrations.py checks that it is the scripts' head
HEAD = "0007_corpus_file"
HERE = Path(__file__).resolve().parent


def config(connection: sa.Connection, corpus: Path | None = None):
    """An Alembic configuration (``alembic.config.Config``) that migrates over ``connection`` (in its
    transaction); ``corpus`` is the corpus file a revision moving comments out of SQL moves them into (None:
    there is none, see ``0007_corpus_file``)."""
    from alembic.config import Config

    alembic_config = Config()
    alembic_config.set_main_option("script_location", str(HERE))
    alembic_config.attributes["connection"] = connection
    alembic_config.attributes["corpus"] = corpus
    return alembic_config


def head() -> str:
    """The newest revision this version of moderation knows, from its scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(HERE)).get_current_head()


def known() -> set[str]:
    """Every revision this version knows."""
    from alembic.script import ScriptDirectory

    return {script.revision for script in ScriptDirectory(str(HERE)).walk_revisions()}


def revision(connection: sa.Connection) -> str | None:
    """The store's revision: its stamped one, ``BASELINE`` for a store made before migrations, None when empty."""
    from alembic.runtime.migration import MigrationContext

    stamped = MigrationContext.configure(connection).get_current_revision()
    if stamped is not None:
        return stamped
    return BASELINE if sa.inspect(connection).has_table("decisions") else None


def check(connection: sa.Connection) -> bool:
    """Whether the store is empty; refuse one at any revision but the newest, saying what to do.

    In a write transaction (``write`` execution option), an empty store is
    created at the newest revision instead.

    Raises
    ------
    moderation.store.SchemaMismatch
    """
    if _stamped(connection) == HEAD:
        return False
    from alembic import command

    from moderation.store import SchemaMismatch, metadata

    current, newest = revision(connection), head()
    if current is None:
        if not connection.get_execution_options().get("write"):
            return True
        metadata.create_all(connection)
        command.stamp(config(connection), newest)
    elif current not in known():
        raise SchemaMismatch(f"the store {_where(connection)} has schema revision {current}, made by a newer "
                             f"version of moderation (this one knows up to {newest}); upgrade moderation")
    elif current != newest:
        raise SchemaMismatch(f"the store {_where(connection)} has schema revision {current}, this version needs "
                             f"{newest}: run `python -m moderation store upgrade --store URL` (keeps every "
                             "decision and label)")
    return False


def upgrade(connection: sa.Connection, corpus: Path | None = None) -> tuple[str | None, str]:
    """Bring the store to the newest revision (creating it when empty); (revision before, revision after).

    ``corpus``: the corpus file that comments an older store keeps in SQL move into."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    from moderation.store import SchemaMismatch, metadata

    current, newest = revision(connection), head()
    if current is None:
        metadata.create_all(connection)
        command.stamp(config(connection), newest)
        return None, newest
    if current not in known():
        raise SchemaMismatch(f"the store {_where(connection)} has schema revision {current}, made by a newer "
                             f"version of moderation (this one knows up to {newest}); upgrade moderation")
    if MigrationContext.configure(connection).get_current_revision() is None:
        command.stamp(config(connection), BASELINE)
    command.upgrade(config(connection, corpus), "head")
    return current, newest


def _stamped(connection: sa.Connection) -> str | None:
    """The revision stamped in Alembic's version table (``alembic_version.version_num``, one row in a linear
    history), None without that table."""
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _where(connection: sa.Connection) -> str:
    return connection.engine.url.render_as_string(hide_password=True)
