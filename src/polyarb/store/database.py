"""Database URLs, the async engine factory, dialect helpers and error classification."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Insert, Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DataError,
    DBAPIError,
    IntegrityError,
    ProgrammingError,
    SQLAlchemyError,
    StatementError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from polyarb.domain.errors import ConfigError
from polyarb.store.errors import StoreUnavailable

DEFAULT_DB_FILE = "polyarb.db"
SQLITE_DRIVER = "sqlite+aiosqlite"
POSTGRES_DRIVER = "postgresql+asyncpg"


def resolve_database_url(database_url: str | None, data_dir: Path) -> str:
    """The URL to use: ``DATABASE_URL`` when set, else the SQLite file ``DATA_DIR/polyarb.db``.

    ``postgres://`` and ``postgresql://`` (as hosting providers hand them out) are accepted and
    pointed at the asyncpg driver; any other driver is a configuration error.
    """
    if not database_url:
        path = (data_dir / DEFAULT_DB_FILE).resolve()
        return f"{SQLITE_DRIVER}:///{path}"
    try:
        url = make_url(database_url)
    except ArgumentError:
        raise ConfigError(
            "DATABASE_URL: not a database URL (expected postgresql+asyncpg://user:pass@host/db "
            "or sqlite+aiosqlite:///path)"
        ) from None
    if url.drivername in ("postgres", "postgresql"):
        url = url.set(drivername=POSTGRES_DRIVER)
    elif url.drivername == "sqlite":
        url = url.set(drivername=SQLITE_DRIVER)
    if url.drivername not in (POSTGRES_DRIVER, SQLITE_DRIVER):
        raise ConfigError(
            f"DATABASE_URL: driver {url.drivername!r} is not supported "
            f"(use {POSTGRES_DRIVER}:// or {SQLITE_DRIVER}:///)"
        )
    return url.render_as_string(hide_password=False)


def redacted(url: str) -> str:
    """The URL with its password masked: safe to log and print."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid url>"


def create_engine(
    url: str,
    *,
    connect_timeout_s: float = 5.0,
    command_timeout_s: float = 15.0,
    pool_size: int = 5,
) -> AsyncEngine:
    """An async engine tuned for the store (SQLite: WAL + full sync; PostgreSQL: timeouts).

    SQLite gets explicit ``BEGIN`` (SQLAlchemy's documented recipe), so transactions and DDL are
    real transactions; WAL lets the dashboard read while the engine writes; ``synchronous=FULL``
    makes a commit survive a power loss, not only a process crash.
    """
    parsed: URL = make_url(url)
    if parsed.drivername == SQLITE_DRIVER:
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # No pre-ping: a file's connection does not go stale the way a server's does, and the
        # ping was a round trip to aiosqlite's thread (and the GIL back) per checkout, on the
        # engine's loop for every dashboard query on the embedded default.
        engine = create_async_engine(url, connect_args={"timeout": connect_timeout_s})
        _install_sqlite_hooks(engine)
        return engine
    return create_async_engine(
        url,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=connect_timeout_s,
        connect_args={
            "timeout": connect_timeout_s,
            "command_timeout": command_timeout_s,
            "server_settings": {"application_name": "polyarb"},
        },
    )


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")


def dialect_insert(dialect_name: str, table: Table) -> Any:
    """``INSERT`` with the dialect's ``ON CONFLICT`` support (same API on both dialects)."""
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    if dialect_name == "sqlite":
        return sqlite.insert(table)
    raise ConfigError(f"unsupported database dialect {dialect_name!r}")


def insert_ignore(dialect_name: str, table: Table, *keys: str) -> Insert:
    """``INSERT ... ON CONFLICT (keys) DO NOTHING``: the idempotent append."""
    stmt: Insert = dialect_insert(dialect_name, table).on_conflict_do_nothing(
        index_elements=list(keys)
    )
    return stmt


# PostgreSQL SQLSTATE classes that mean "not now" rather than "never": connection exceptions,
# invalid authorization, the database missing (3D000: dropped) or not accepting connections
# (55000), insufficient resources, operator intervention (57P01 terminated, 57P03 starting up),
# system errors, and transaction rollbacks (serialization failure, deadlock).
_PG_TRANSIENT_CLASSES = frozenset({"08", "28", "3D", "40", "53", "55", "57", "58"})
# SQLite primary result codes of the same kind: BUSY, LOCKED, NOMEM, READONLY, IOERR, FULL,
# CANTOPEN, PROTOCOL.
_SQLITE_TRANSIENT_CODES = frozenset({5, 6, 7, 8, 10, 13, 14, 15})
# What a database says about a row's *content*: PostgreSQL data exceptions (22: too long, out
# of range, malformed) and integrity violations (23); SQLite TOOBIG, CONSTRAINT, MISMATCH, RANGE.
_PG_ROW_CLASSES = frozenset({"22", "23"})
_SQLITE_ROW_CODES = frozenset({18, 19, 20, 25})
_OUTAGE_TYPES = (OSError, TimeoutError, ConnectionError, PoolTimeoutError)


def _sqlstate(exc: BaseException) -> str | None:
    for candidate in (getattr(exc, "orig", None), exc):
        state = getattr(candidate, "sqlstate", None)
        if isinstance(state, str) and state:
            return state
    return None


def is_connectivity_error(exc: BaseException) -> bool:
    """True when ``exc`` means "the database cannot take this now": unreachable, shutting down,
    dropped, not accepting connections. For what the *store's writer* does with a failed row,
    see ``is_row_error`` (anything that is not about the row is an outage there)."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        state = _sqlstate(exc)
        if state is not None:
            return state[:2] in _PG_TRANSIENT_CLASSES
        if isinstance(exc, IntegrityError | DataError | ProgrammingError):
            return False
        code = getattr(exc.orig, "sqlite_errorcode", None)
        if isinstance(code, int):
            return code & 0xFF in _SQLITE_TRANSIENT_CODES
        return True  # no SQL state: the driver lost or could not open the connection
    if _sqlstate(exc) is not None:  # a driver error that reached us unwrapped
        return str(_sqlstate(exc))[:2] in _PG_TRANSIENT_CLASSES
    return isinstance(exc, _OUTAGE_TYPES)


@contextmanager
def unreachable_as_unavailable(url: str) -> Iterator[None]:
    """Re-raise a connectivity error (``is_connectivity_error``) as ``StoreUnavailable`` naming
    the database (password redacted); any other error as it is."""
    try:
        yield
    except Exception as exc:
        if is_connectivity_error(exc):
            raise StoreUnavailable(
                f"database {redacted(url)} is unreachable: {type(exc).__name__}: {exc}"
            ) from exc
        raise


def is_row_error(exc: BaseException) -> bool:
    """True only when the database refused a row for its *content*: writing it again would fail
    the same way, so it is set aside (``rejected.jsonl``). Anything else (a lost connection,
    SQLSTATE 55000/57P01/57P03/3D000, a permission or schema problem, a timeout) says nothing
    about the row, which could still succeed: that is an outage (spool, reducing, replay)."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return False
        state = _sqlstate(exc)
        if state is not None:
            return state[:2] in _PG_ROW_CLASSES
        code = getattr(exc.orig, "sqlite_errorcode", None)
        if isinstance(code, int):
            return code & 0xFF in _SQLITE_ROW_CODES
        return isinstance(exc, IntegrityError | DataError)
    state = _sqlstate(exc)
    if state is not None:  # a driver error that reached us unwrapped
        return state[:2] in _PG_ROW_CLASSES
    if isinstance(exc, StatementError):  # a parameter SQLAlchemy could not convert: the row's
        return isinstance(exc.orig, ValueError | TypeError | ArithmeticError)
    if isinstance(exc, (SQLAlchemyError, *_OUTAGE_TYPES)):
        return False
    # Our own code refused the row while building its statement (a bad value in the record).
    return isinstance(exc, ValueError | TypeError | ArithmeticError | LookupError)
