"""Choosing the store by URL: one function, :func:`open_store`, opens whatever a target names.

A *target* is either a data directory or a store URL:

``/srv/agent-host`` (a plain path, or any :class:`~pathlib.Path`)
    The data directory. The database is ``<dir>/agent-host.db`` (:data:`DB_FILENAME`).
    This is the historical form (``--store DIR``, ``$AGENT_HOST_STORE``) and keeps working.

``sqlite:///abs/path/to/agent-host.db``
    The SQLite database file at the absolute path ``/abs/path/to/agent-host.db``.
    ``sqlite:`` URLs read like ``file:`` URLs (RFC 3986/8089): the URL's path is the
    file's path and the authority (between ``//`` and the next ``/``) must be empty.

    - ``sqlite:///abs.db`` and ``sqlite:/abs.db``: absolute ``/abs.db``. SQLAlchemy's
      four-slash absolute spelling ``sqlite:////abs.db`` means the same.
    - ``sqlite:relative.db`` (no slashes): ``relative.db`` under the current directory,
      made absolute when resolved. Unlike SQLAlchemy, ``sqlite:///relative.db`` is the
      *absolute* ``/relative.db``: three slashes always mean an absolute path here.
    - The path is percent-decoded (``%20`` is a space, ``%25`` a percent sign); a query
      (``?...``) or fragment (``#...``) is refused, as are an empty path (SQLAlchemy's
      in-memory ``sqlite://``: every host process must see the same file) and a host
      (``sqlite://name.db`` is the usual slip for ``sqlite:name.db``).
    - The scheme is case-insensitive.

``postgresql://user[:password]@host:port/dbname[?param=value...]`` (also ``postgres://``)
    A PostgreSQL database (:class:`~host.store.postgres.PostgresStore`, psycopg 3): the URL
    is handed to libpq as it is, so every libpq connection parameter works in the query
    (``sslmode``, ``options=-csearch_path%3Dschema``, ...). SQLAlchemy's
    ``postgresql+driver://`` spelling is recognized and refused with a clear message.

``$AGENT_HOST_STORE_URL`` (:data:`STORE_URL_ENV`), when set to a store URL, names the database
of every *data directory* target: the directory keeps ``components/``, ``cache/`` and the
key, the database is the URL's (``--store DIR`` with a PostgreSQL database, no
``--data-dir`` needed). An explicit store URL target is not affected. The test suite's
PostgreSQL switch (``pytest --store=postgresql``) works by setting it per test.

Anything else with a scheme (``name:`` before the first ``/``) is refused, naming the
supported forms; a relative directory whose name has a colon can be written ``./a:b``.
Error messages never repeat a URL, only its scheme, since a database URL may hold a password.

The data directory holds the database (directory form), ``components/`` (the registered
component files), ``cache/`` (their compiled code) and the promise-secret key. A store URL
names only the database, so a host still needs a data directory for the rest:
:func:`resolve` returns both as a :class:`StoreLocation`. For a ``sqlite:`` URL the data
directory is the directory holding the file, so ``sqlite:///srv/ah/agent-host.db`` and
``/srv/ah`` name the same host state; a PostgreSQL URL implies none (``data_dir`` is None:
the caller must supply one).

The crash-injection test seam (:mod:`host.store.crashpoint`) is applied here and only here:
with ``AGENT_HOST_CRASH_AT`` or ``AGENT_HOST_CRASH_COUNT_FILE`` set, :func:`open_store`
returns a :class:`~host.store.crashpoint.CrashPointSqliteStore`; otherwise a plain
:class:`~host.store.sqlite.SqliteStore`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote, unquote

from host.errors import StoreError
from host.store.base import Store
from host.store.crashpoint import CrashPointSqliteStore, crash_point_from_env
from host.store.sqlite import SqliteStore

DB_FILENAME = "agent-host.db"
"""The database file's name inside a data directory."""

STORE_URL_ENV = "AGENT_HOST_STORE_URL"
"""A store URL naming the database of every data-directory target (module docstring)."""

SQLITE: Literal["sqlite"] = "sqlite"
POSTGRESQL: Literal["postgresql"] = "postgresql"
_POSTGRES_SCHEMES = ("postgresql", "postgres")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
SUPPORTED = (
    f"a data directory (the database is <dir>/{DB_FILENAME}), "
    "sqlite:///absolute/path/to/file.db or sqlite:relative/path/to/file.db"
)


@dataclass(frozen=True)
class StoreLocation:
    """What a target names: the database and the data directory.

    ``kind`` is ``"sqlite"`` or ``"postgresql"``. ``url`` is the canonical store URL
    (``sqlite:///abs/path.db``, percent-encoded where needed, so ``resolve(loc.url)`` gives
    ``loc`` back; a PostgreSQL URL as given). ``path`` is the SQLite file, absolute (None
    for PostgreSQL). ``data_dir`` holds ``components/`` and ``cache/``, absolute: the
    directory itself for the directory form, the file's directory for a ``sqlite:`` URL,
    None for PostgreSQL (the caller must supply one).
    """

    kind: Literal["sqlite", "postgresql"]
    url: str
    path: Path | None
    data_dir: Path | None

    def __repr__(self) -> str:  # a PostgreSQL URL may hold a password: show its scheme only
        url = self.url if self.kind == SQLITE else f"{self.url.partition(':')[0]}://..."
        return f"StoreLocation(kind={self.kind!r}, url={url!r}, data_dir={self.data_dir!r})"


def resolve(target: str | Path) -> StoreLocation:
    """Parse a target (a data directory or a store URL, see the module docstring) without
    opening anything. StoreError for a malformed or unsupported one."""
    if isinstance(target, Path):
        return _directory(target)
    text = str(target)
    if not text:
        raise StoreError(f"no store given: expected {SUPPORTED}")
    found = _SCHEME.match(text)
    if found is None:
        return _directory(Path(text))
    scheme = found[1].lower()
    rest = text[found.end() :]
    if scheme == SQLITE:
        return _sqlite(rest)
    if scheme in _POSTGRES_SCHEMES or scheme.startswith("postgresql+"):
        return StoreLocation(POSTGRESQL, text, None, None)
    raise StoreError(f"unsupported store URL scheme {scheme!r}: expected {SUPPORTED}")


def open_store(target: str | Path | StoreLocation) -> Store:
    """Open the store a target names (see the module docstring for the grammar).

    A data directory or a ``sqlite:`` URL opens a :class:`~host.store.sqlite.SqliteStore`
    (creating the file and its directory if missing), or its crash-injecting subclass when
    the ``AGENT_HOST_CRASH_*`` test variables are set. A PostgreSQL URL opens a
    :class:`~host.store.postgres.PostgresStore` (migrating a new database).
    """
    location = target if isinstance(target, StoreLocation) else resolve(target)
    if location.kind == POSTGRESQL:
        scheme = location.url.partition(":")[0].lower()
        if "+" in scheme:
            raise StoreError(
                f"the store URL scheme {scheme!r} names a SQLAlchemy driver; write "
                "postgresql://user@host:port/dbname (agent-host always uses psycopg 3)"
            )
        from host.store.postgres import PostgresStore  # psycopg is imported only here

        return PostgresStore(location.url)
    assert location.path is not None
    if location.path.is_dir():
        raise StoreError(
            f"{location.path} is a directory, not a database file (a sqlite: URL names the "
            "file; a data directory is given as a plain path, without sqlite:)"
        )
    crash = crash_point_from_env()
    if crash is not None:
        return CrashPointSqliteStore(location.path, crash)
    return SqliteStore(location.path)


def _directory(path: Path) -> StoreLocation:
    data_dir = path.absolute()
    if data_dir.exists() and not data_dir.is_dir():
        raise StoreError(
            f"{path} is a file, not a data directory; to open a database file by its path, "
            f"write {_sqlite_location(data_dir, data_dir.parent).url}"
        )
    database = os.environ.get(STORE_URL_ENV)
    if database:
        named = _database_from_env(database)
        return StoreLocation(named.kind, named.url, named.path, data_dir)
    return _sqlite_location(data_dir / DB_FILENAME, data_dir)


def _database_from_env(text: str) -> StoreLocation:
    found = _SCHEME.match(text)
    if found is None:
        raise StoreError(
            f"${STORE_URL_ENV} must be a store URL (postgresql://... or sqlite:///path.db), "
            "not a directory; unset it to keep the database in the data directory"
        )
    try:
        return resolve(text)
    except StoreError as exc:
        raise StoreError(f"${STORE_URL_ENV}: {exc}") from None


def _sqlite(rest: str) -> StoreLocation:
    if "?" in rest or "#" in rest:
        raise StoreError(
            "a sqlite: store URL takes no query (?...) or fragment (#...); "
            "percent-encode such characters in the path (%3F, %23)"
        )
    if rest.startswith("//"):
        authority, slash, path = rest[2:].partition("/")
        if authority:
            relative = (
                f"sqlite:{authority}{slash}{path}" if "@" not in authority else "sqlite:rel.db"
            )
            raise StoreError(
                "a sqlite: store URL names no host, but this one has one after '//'; for a "
                f"relative file write {relative}, for an absolute one sqlite:///abs/path.db"
            )
        # SQLAlchemy's sqlite:////abs.db: the path "//abs.db" is the absolute /abs.db.
        path = "/" + path.lstrip("/")
    else:
        path = rest
    if path.strip("/") == "":
        raise StoreError(
            "the sqlite: store URL names no file (in-memory databases are not supported: "
            "every host process must share the file); expected "
            "sqlite:///absolute/path.db or sqlite:relative/path.db"
        )
    file = Path(unquote(path)).absolute()
    return _sqlite_location(file, file.parent)


def _sqlite_location(file: Path, data_dir: Path) -> StoreLocation:
    return StoreLocation(SQLITE, f"{SQLITE}://{quote(str(file))}", file, data_dir)
