"""Where the database is and how to talk to it.

The URL comes from ``--database-url``, else ``PROCOBS_DATABASE_URL``, else an embedded
SQLite file under ``PROCOBS_HOME`` (default ``./.procobs/``).

Postgres URLs name their driver. procobs uses psycopg2 (``postgresql+psycopg2://``),
the driver dagster-postgres already requires, so one libpq driver serves both the
ledger and the Dagster instance. SQLAlchemy 2.1 would map a bare ``postgresql://`` to
psycopg 3, which is not installed; such URLs, and ``postgres://``, are therefore read as
``postgresql+psycopg2://``. Any other driver, psycopg 3 (``+psycopg``) included, is
refused: the write path's prepared statements need psycopg2 (see ``DRIVERS``).
"""

import contextlib
import functools
import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url

from procobs_dagster.environment import setting
from procobs_dagster.errors import ConfigurationError, DatabaseUnreachable, InvalidInput
from procobs_dagster.limits import shown
from procobs_dagster.store.driver import PREPARE_OPTION

log = logging.getLogger(__name__)

DEFAULT_HOME = ".procobs"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def procobs_home() -> Path:
    return Path(os.environ.get("PROCOBS_HOME") or DEFAULT_HOME)


# Query parameters whose values are secrets: libpq's password and sslpassword, and
# whatever else is named like one.
_SECRET_PARAMETER = re.compile(r"pass|secret|token", re.IGNORECASE)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
MASK = "***"


# Stands in for a secret query value while the URL is rendered (which would encode ***).
_MASKED_VALUE = "procobsmasked"


def masked_url(url: URL) -> str:
    """The URL as it may be shown: its password and every secret query value as ***."""
    query = {
        key: (_MASKED_VALUE if _SECRET_PARAMETER.search(key) else value)
        for key, value in url.query.items()
    }
    rendered = url.set(query=query).render_as_string(hide_password=True)
    # A secret repeated elsewhere in the URL (by mistake, say as another option's value)
    # is masked there too.
    return scrub_secrets(rendered.replace(_MASKED_VALUE, MASK), url)


def _secrets_in(url: URL) -> list[str]:
    found = [url.password] if url.password else []
    for key, value in url.query.items():
        if _SECRET_PARAMETER.search(key):
            found.extend([value] if isinstance(value, str) else value)
    # Longest first, and as they may appear percent-encoded, so no part is left behind.
    spelled = {form for secret in found if secret for form in (secret, quote(secret, safe=""))}
    return sorted(spelled, key=len, reverse=True)


def scrub_secrets(text: str, url: URL) -> str:
    """``text`` (a driver's message, say) with every secret of ``url`` replaced by ***."""
    for secret in _secrets_in(url):
        text = text.replace(secret, MASK)
    return text


def _malformed(raw: str, problem: str) -> ConfigurationError:
    # The URL itself is never repeated: it may hold a password where the parser did not
    # expect one. Its scheme alone says which URL is meant.
    scheme, colon, rest = raw.strip().partition(":")
    typed = colon and rest.startswith("/")  # not `localhost`, not `user:password@host`
    shown = f" ({scheme}://…)" if typed and _SCHEME.fullmatch(scheme) else ""
    return ConfigurationError(f"malformed database URL{shown}: {problem}")


# Per database, the drivers procobs works through. Not psycopg 3: the write path's
# prepared statements (store/driver.py) are EXECUTEs whose values the driver interpolates,
# as psycopg2 does; psycopg 3 binds them on the server, which cannot type the parameters
# of a utility statement, so every ledger write and relay claim failed on it.
DRIVERS = {"postgresql": ("psycopg2",), "sqlite": ("pysqlite",)}


def resolve_url(explicit: str | None = None) -> URL:
    # Set but empty is refused: taken as unset, the webserver and the daemon would each
    # write to a SQLite file of their own.
    raw = explicit or setting("PROCOBS_DATABASE_URL", "the SQLite default")
    if not raw:
        return make_url(f"sqlite:///{procobs_home() / 'procobs.db'}")
    try:
        url = make_url(raw)
        url.port  # noqa: B018 — a port that is no number raises here, not at connect time
    except (sa.exc.ArgumentError, ValueError, TypeError):
        raise _malformed(
            raw,
            "expected postgresql+psycopg2://USER:PASSWORD@HOST:PORT/DATABASE or sqlite:///PATH",
        ) from None
    if "@" in (url.host or ""):
        raise _malformed(raw, "'@' appears twice before the host: write '@' in a password as %40")
    if url.drivername in ("postgres", "postgresql"):
        url = url.set(drivername="postgresql+psycopg2")
    if url.get_backend_name() not in ("postgresql", "sqlite"):
        raise ConfigurationError(
            f"unsupported database {url.get_backend_name()!r}: use postgresql+psycopg2:// or sqlite:///"
        )
    if url.get_driver_name() not in DRIVERS[url.get_backend_name()]:
        # The hot paths send statements through the driver (store/driver.py); the other
        # drivers would fail there, mid-write, not here.
        psycopg3 = url.get_driver_name() == "psycopg"
        why = " (the write path needs psycopg2, not psycopg 3)" if psycopg3 else ""
        raise ConfigurationError(
            f"unsupported database driver {url.drivername!r}: use postgresql+psycopg2:// "
            f"or sqlite:///{why}"
        )
    if url.get_backend_name() == "sqlite":
        _check_sqlite_query(raw, url)
    return url


def _check_sqlite_query(raw: str, url: URL) -> None:
    # pysqlite drops SQLite's URI parameters with a warning, so a database meant to be
    # opened read-only (?mode=ro) was opened for writing; with ?uri=true a plain path
    # opened a new, empty database named after the whole string. Its own parameters
    # procobs sets on every connection (the busy timeout, the transaction mode), where a
    # URL's would be overridden without a word.
    if url.query:
        raise _malformed(
            raw,
            f"query parameter {shown(sorted(url.query)[0])}: a sqlite:/// URL takes none "
            "(procobs sets the busy timeout and the transaction mode itself)",
        )


def _stored_json(text: str):
    """A JSON column read back from SQLite, which (unlike jsonb) keeps any text there: a
    value written by hand or by another program is named, not an internal error."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InvalidInput(
            f"the database holds text that is not JSON in a JSON column ({exc}): "
            "correct or delete that row"
        ) from None


def _sqlite_engine(url: URL) -> Engine:
    engine = sa.create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        json_deserializer=_stored_json,
    )

    @sa.event.listens_for(engine, "do_connect")
    def _make_folder(_dialect, _record, _args, _kwargs):
        # On the first connection, not when the engine is made: looking at a database
        # (a status, a refused command) never creates its folder.
        if url.database and url.database != ":memory:":
            folder = Path(url.database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # PROCOBS_HOME names a file, or a folder we may not write
                raise ConfigurationError(
                    f"cannot use {folder} as the folder of the SQLite database: {exc.strerror}"
                ) from None

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Take transaction control away from pysqlite so BEGIN is ours (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn):
        # Writers take the write lock up front: a deferred transaction that later
        # upgrades to writing fails with SQLITE_BUSY instead of waiting its turn.
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


PREPARED_STATEMENTS_ENV = "PROCOBS_PREPARED_STATEMENTS"


def prepared_statements() -> bool:
    """Whether the hot paths' statements are prepared on the server (store/driver.py):
    ``on`` unless the environment says ``off`` — behind a pooler that lends a session per
    transaction, which would lose them."""
    raw = os.environ.get(PREPARED_STATEMENTS_ENV) or "on"
    if raw not in ("on", "off"):
        raise ConfigurationError(
            f"{PREPARED_STATEMENTS_ENV} must be on or off, not {raw[:20]!r}"
            + ("…" if len(raw) > 20 else "")
        )
    return raw == "on"


def make_engine(url: URL) -> Engine:
    prepare = prepared_statements()  # checked on SQLite too, where nothing is prepared
    try:
        if url.get_backend_name() == "sqlite":
            return _sqlite_engine(url)
        return sa.create_engine(
            url,
            # No pre-ping: it costs a round trip per transaction. A connection broken by a
            # server restart fails once, invalidates the pool, and the next checkout is fresh.
            pool_recycle=600,
            connect_args={"connect_timeout": 5, "application_name": "procobs"},
            execution_options={PREPARE_OPTION: prepare},
        )
    except (ValueError, TypeError) as exc:
        # A query parameter the dialect converts when the engine is made (?timeout=abc).
        problem = scrub_secrets(" ".join(str(exc).split()), url)
        raise _malformed(
            url.render_as_string(hide_password=True), f"a query parameter cannot be used: {problem}"
        ) from None
    except ModuleNotFoundError as exc:
        raise ConfigurationError(
            f"the database driver of {url.drivername}:// needs the Python module "
            f"{exc.name!r}, which is not installed: install it, or use postgresql+psycopg2://"
        ) from None


_AFTER_COMMIT = "procobs_after_commit"


def after_commit(conn: Connection, callback: Callable[[], object]) -> bool:
    """Run ``callback`` once the transaction of ``conn`` has committed; drop it if the
    transaction rolls back. Only transactions opened by :meth:`Database.begin` run such
    callbacks: for any other, nothing is kept and False is returned."""
    hooks = conn.info.get(_AFTER_COMMIT)
    if hooks is None:
        return False
    hooks.append(callback)
    return True


class Database:
    """An engine plus the two ways procobs uses it: a write transaction and a read."""

    def __init__(self, url: "str | URL | None" = None):
        self.url = url if isinstance(url, URL) else resolve_url(url)
        self.engine = make_engine(self.url)

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    @property
    def display_url(self) -> str:
        """The URL as it may be printed or logged: every secret in it masked."""
        return masked_url(self.url)

    def scrub(self, text: str) -> str:
        """``text`` with every secret of this database's URL masked."""
        return scrub_secrets(text, self.url)

    def connect(self) -> Connection:
        try:
            return self.engine.connect()
        except sa.exc.DBAPIError as exc:  # refused, unreachable, or an invalid option
            text = str(exc.orig if exc.orig is not None else exc).strip()
            reason = text.splitlines()[0] if text else type(exc).__name__
            # libpq's message may quote parts of the URL (a host, an option's value).
            raise DatabaseUnreachable(
                f"cannot reach database {self.display_url}: {self.scrub(reason)}"
            ) from None

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back if it raises.

        Callbacks registered with :func:`after_commit` run once it has committed."""
        hooks: list[Callable[[], object]] = []
        with self.connect() as conn:
            if self.dialect == "sqlite":
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            conn.info[_AFTER_COMMIT] = hooks
            try:
                with conn.begin():
                    yield conn
            finally:
                del conn.info[_AFTER_COMMIT]
        for hook in hooks:
            try:
                hook()
            except Exception:
                log.exception("an after-commit callback failed (the transaction is committed)")

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()


@functools.cache
def _database_for(url: str) -> Database:
    return Database(url)


def default_database() -> Database:
    """The database of PROCOBS_DATABASE_URL (else the embedded SQLite), one per URL."""
    return _database_for(resolve_url().render_as_string(hide_password=False))
