"""Tests of the trace schema (traces/schema.py)."""

import numpy as np
import pyarrow as pa
import pytest

from traces.schema import SCHEMA_VERSION, TABLES, canonical_params
from traces.views import duckdb_type


def test_every_table_starts_with_run_id():
    """run_id is the first column of every table (the appender skips it)."""
    assert all(schema.names[0] == "run_id" for schema in TABLES.values())


def test_times_are_float64_ns():
    """Every *_ns column is float64, and every time-like column is named *_ns."""
    for table, schema in TABLES.items():
        for field in schema:
            if field.name.endswith("_ns"):
                assert field.type == pa.float64(), (table, field.name)
            if "time" in field.name or field.name in ("start", "end", "issue"):
                assert field.name in ("commit_time",), (table, field.name)


def test_contract_columns_present():
    """The columns the design names for each table exist."""
    required = {
        "runs": "created_at workload params topology topology_json topology_hash git_commit "
        "git_branch git_dirty commit_time commit_message sim_version schema_version "
        "verify_data verified status error sim_end_ns wall_s n_events host",
        "metrics": "name value unit",
        "launches": "launch_id kernel grid n_pes barrier host_issue_ns target_start_ns end_ns "
        "coll_id",
        "pe_exec": "launch_id sip cube pe pe_global dispatch_ns exec_start_ns exec_end_ns",
        "programs": "launch_id program pid_x pid_y pid_z sip cube pe pe_global start_ns end_ns",
        "ops": "op_id launch_id sip cube pe pe_global engine op issue_ns start_ns end_ns "
        "flops bytes",
        "dma": "dma_id launch_id kind src dst src_space dst_space src_sip src_cube src_pe "
        "dst_sip dst_cube dst_pe bytes hops level issue_ns start_ns end_ns coll_id round",
        "collectives": "coll_id op algorithm world_size bytes dtype start_ns end_ns",
        "collective_rounds": "coll_id rank round phase level peer bytes start_ns end_ns",
        "links": "link src dst level bw_gbs bytes busy_ns",
        "deps": "item item_id cause on_item on_id resource ready_ns wait_ns",
    }
    assert set(required) == set(TABLES)
    for table, columns in required.items():
        assert set(columns.split()) <= set(TABLES[table].names), table
    assert isinstance(SCHEMA_VERSION, int) and SCHEMA_VERSION >= 1


def test_repetitive_strings_are_dictionaries():
    """Engine, op, kind, level, workload and status are dictionary-encoded."""
    for table, column in [
        ("ops", "engine"),
        ("ops", "op"),
        ("dma", "kind"),
        ("dma", "level"),
        ("runs", "workload"),
        ("runs", "status"),
    ]:
        assert pa.types.is_dictionary(TABLES[table].field(column).type), (table, column)


def test_every_column_has_a_duckdb_type():
    """Each Arrow type of the schema maps to a DuckDB SQL type (for typed empty views)."""
    for schema in TABLES.values():
        for field in schema:
            assert duckdb_type(field.type)


def test_canonical_params():
    """Canonical JSON sorts keys, drops spaces, accepts JSON text and numpy scalars."""
    assert canonical_params({"b": 1, "a": {"y": 2, "x": 1}}) == '{"a":{"x":1,"y":2},"b":1}'
    assert canonical_params('{ "b": 1, "a": 2 }') == '{"a":2,"b":1}'
    assert canonical_params({"n": np.int64(3), "v": np.array([1, 2])}) == '{"n":3,"v":[1,2]}'
    with pytest.raises(ValueError, match="not valid JSON"):
        canonical_params("{oops")
    with pytest.raises(ValueError, match="cannot be stored"):
        canonical_params({"f": object()})
