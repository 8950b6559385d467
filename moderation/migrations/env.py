"""Alembic environment: migrations always run over the connection the store hands over."""

from alembic import context

from moderation.store import metadata

context.configure(connection=context.config.attributes["connection"], target_metadata=metadata,
                  render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
