"""Arrow schemas of the trace tables (contract: extend, never rename).

The columns and their types are listed in traces/columns.py (free of pyarrow, for the
simulating process); this module makes them Arrow schemas, one per table.
"""

import pyarrow as pa

# metrics.better's values live in traces.better (free of pyarrow); named here too.
from traces.better import BETTER, HIGHER, LOWER  # noqa: F401
from traces.columns import (  # noqa: F401  (named here too)
    BOOL,
    CATEGORY,
    DEP_CAUSES,
    EXTENSION_COLUMNS,
    FLOAT64,
    ID,
    INDEX,
    INT32,
    INT64,
    NS,
    TABLE_COLUMNS,
    TEXT,
    TIMESTAMP,
)

# The schema version and the canonical params JSON live in traces.runrow (free of
# pyarrow); named here too.
from traces.runrow import SCHEMA_VERSION, canonical_params  # noqa: F401

# The Arrow type of each column type of traces.columns.
ARROW_TYPES: dict[str, pa.DataType] = {
    CATEGORY: pa.dictionary(pa.int32(), pa.string()),
    TEXT: pa.string(),
    NS: pa.float64(),
    ID: pa.int64(),
    INDEX: pa.int32(),
    TIMESTAMP: pa.timestamp("us", tz="UTC"),
    BOOL: pa.bool_(),
    INT32: pa.int32(),
    INT64: pa.int64(),
    FLOAT64: pa.float64(),
}

# Every table of a run, in the order they are written; `runs` is published last.
TABLES: dict[str, pa.Schema] = {
    table: pa.schema([(name, ARROW_TYPES[kind]) for name, kind in columns])
    for table, columns in TABLE_COLUMNS.items()
}
