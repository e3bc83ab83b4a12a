"""Traces: schema, streaming Parquet run store, DuckDB views and queries, Perfetto export.

The simulator writes through `Store.new_run(...)` (a RunWriter) or a NullWriter;
the dashboard and CLI read through `traces.queries`. This package never imports
the simulator or the dashboard.
"""

import importlib
from typing import Any

# Where each public name lives. Loaded on first use (PEP 562), so that importing a light
# submodule such as traces.units does not pay for DuckDB and pyarrow (CLI start-up).
_EXPORTS = {
    "git_info": "traces.gitinfo",
    "DEFAULT_STORE": "traces.layout",
    "resolve_store": "traces.layout",
    "SCHEMA_VERSION": "traces.schema",
    "TABLES": "traces.schema",
    "canonical_params": "traces.schema",
    "RunNotFoundError": "traces.store",
    "Store": "traces.store",
    "CorruptTraceWarning": "traces.views",
    "sql": "traces.views",
    "NullWriter": "traces.writer",
    "RunWriter": "traces.writer",
}


def __getattr__(name: str) -> Any:
    """Import the submodule that defines a public name the first time it is asked for."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'traces' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


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
