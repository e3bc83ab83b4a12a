"""Traces: schema, streaming Parquet run store, DuckDB views and queries, Perfetto export.

The simulator writes through `Store.new_run(...)` (a RunWriter) or a NullWriter;
the dashboard and CLI read through `traces.queries`. This package never imports
the simulator or the dashboard.
"""

from traces.gitinfo import git_info
from traces.layout import DEFAULT_STORE, resolve_store
from traces.schema import SCHEMA_VERSION, TABLES, canonical_params
from traces.store import RunNotFoundError, Store
from traces.views import CorruptTraceWarning, sql
from traces.writer import NullWriter, RunWriter

__all__ = [
    "DEFAULT_STORE",
    "SCHEMA_VERSION",
    "TABLES",
    "CorruptTraceWarning",
    "NullWriter",
    "RunNotFoundError",
    "RunWriter",
    "Store",
    "canonical_params",
    "git_info",
    "resolve_store",
    "sql",
]
