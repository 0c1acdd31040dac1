"""Alembic environment: publisher hands over an open connection in `config.attributes`."""

from alembic import context
from sqlalchemy import create_engine

from publisher.store.schema import metadata

config = context.config
connection = config.attributes.get("connection")


def _run(conn) -> None:
    context.configure(
        connection=conn,
        target_metadata=metadata,
        render_as_batch=conn.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    _run(connection)
else:
    url = config.get_main_option("sqlalchemy.url")
    with create_engine(url).connect() as conn:
        _run(conn)
