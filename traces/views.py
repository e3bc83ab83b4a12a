"""Opening a run store by location, and read-only SQL over its DuckDB views.

A source is a DuckDB connection (used as is), a Store, or a store location (a folder
or an ``s3://`` URL; None: the default store). The view definitions themselves are
`traces.tableviews`; this module sits above it and above both store kinds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from traces.opener import open_store  # noqa: F401  (named here too, its old home)
from traces.store import Store
from traces.tableviews import (
    VIEWS_SQL,
    CorruptTraceWarning,
    connect_views,
    duckdb_type,
    shell_views_sql,
    view_sql,
    write_shell_views,
)

if TYPE_CHECKING:
    from typing import TypeAlias

    Source: TypeAlias = Store | str | Path | duckdb.DuckDBPyConnection | None

__all__ = [
    "VIEWS_SQL",
    "CorruptTraceWarning",
    "check_read_only",
    "confine_to_store",
    "connect_views",
    "duckdb_type",
    "open_connection",
    "open_store",
    "shell_views_sql",
    "sql",
    "view_sql",
    "write_shell_views",
]


def open_connection(
    source: Source = None,
) -> duckdb.DuckDBPyConnection:
    """A connection for `source`: a DuckDB connection (used as is, views assumed),
    a Store, or a store path or ``s3://`` URL (None: the default store)."""
    if isinstance(source, duckdb.DuckDBPyConnection):
        return source
    if source is None or isinstance(source, str | Path):
        return open_store(source).connect()
    connect = getattr(source, "connect", None)
    if callable(connect):
        return connect()  # a Store or an ObjectStore
    root = getattr(source, "root", None)
    if root is None:
        raise TypeError(f"expected a Store, a store path or a DuckDB connection, got {source!r}")
    return connect_views(Path(root))


_READ_ONLY_PRAGMA = re.compile(
    r"^\s*pragma\s+(show|show_tables|show_tables_expanded|table_info|database_size|version|"
    r"database_list|platform|storage_info)\b",
    re.IGNORECASE,
)
_EXPLAIN = re.compile(r"^\s*explain\s+(analyze\s+)?", re.IGNORECASE)


def check_read_only(query: str) -> None:
    """Raise ValueError unless `query` is one statement that cannot change anything.

    Allowed: SELECT (incl. WITH, FROM-first, DESCRIBE, SHOW, SUMMARIZE), EXPLAIN
    [ANALYZE] of those, and informational PRAGMAs. Raises duckdb.ParserException for
    a query that does not parse.
    """
    statements = duckdb.extract_statements(query)
    if len(statements) != 1:
        raise ValueError(f"expected exactly one SQL statement, got {len(statements)}")
    statement = statements[0]
    kind = statement.type
    if kind == duckdb.StatementType.EXPLAIN:
        # EXPLAIN ANALYZE runs its statement: check what it explains.
        check_read_only(_EXPLAIN.sub("", statement.query, count=1))
        return
    if kind == duckdb.StatementType.SELECT:
        return
    if kind == duckdb.StatementType.PRAGMA and _READ_ONLY_PRAGMA.match(statement.query):
        return
    raise ValueError(
        f"only read-only queries are allowed (SELECT, WITH, DESCRIBE, SHOW, EXPLAIN); "
        f"got a {kind.name} statement"
    )


def confine_to_store(con: duckdb.DuckDBPyConnection, root: Path) -> None:
    """Let `con` read files only inside the store at `root`, with DuckDB's own settings.

    External access off except `root` (allowed_directories), no extension loaded or
    installed on demand (which would fetch code over the network), then the
    configuration locked so a query cannot switch any of it back.
    """
    allowed = str(Path(root).resolve()).rstrip("/") + "/"
    con.execute("SET allowed_directories = ?", [[allowed]])
    con.execute("SET enable_external_access = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET lock_configuration = true")


def sql(store: Source, query: str, params: Sequence[Any] | None = None) -> pa.Table:
    """Run one read-only query against the views of `store` (see open_connection).

    Given a local store (path or Store), the query runs sandboxed: it reads files only
    inside the store (see confine_to_store). On an object store (s3://) extensions
    are neither loaded nor installed and the configuration is locked. A connection
    passed in is used as is. Parameters are bound (`?`), never formatted. Raises
    ValueError for a statement that could change anything and duckdb.Error for
    invalid SQL (duckdb.PermissionException for a read outside the store).
    """
    check_read_only(query)
    if isinstance(store, duckdb.DuckDBPyConnection):
        con = store
    else:
        if store is None or isinstance(store, str | Path):
            store = open_store(store)
        root = getattr(store, "root", None)
        if isinstance(root, Path):
            con = connect_views(root.resolve())
            confine_to_store(con, root)
        else:
            con = open_connection(store)
            con.execute("SET autoload_known_extensions = false")
            con.execute("SET autoinstall_known_extensions = false")
            con.execute("SET lock_configuration = true")
    try:
        return con.sql(query, params=list(params or [])).to_arrow_table()
    except duckdb.CatalogException as exc:
        if "Table with name" not in str(exc):
            raise
        # The next question is what there is to query: name the views.
        views = con.sql("SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1")
        names = ", ".join(name for (name,) in views.fetchall())
        raise duckdb.CatalogException(f"{exc} (views: {names})") from None
