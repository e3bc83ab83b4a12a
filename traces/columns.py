"""The trace tables' columns and their types, free of pyarrow (contract: extend, never
rename). traces/schema.py makes them Arrow schemas.

One tuple of (name, type) per table. Every table starts with `run_id`, the Hive partition
key: it is the `run_id=<id>` folder name, not a column inside the files (schema_version
>= 2; older files also hold it inside and still read). An appender takes the remaining
columns positionally in the order given here. Times are float64 nanoseconds of simulated
time (`*_ns`), sizes are bytes, bandwidths GB/s (1 GB/s = 1 byte/ns). Repetitive strings
are dictionary-encoded (``CATEGORY``).
"""

# Repetitive text (engine, kind, level, workload, ...): stored as a dictionary.
CATEGORY = "category"
TEXT = "text"  # UTF-8 text
NS = "ns"  # float64 nanoseconds of simulated time
ID = "id"  # int64 identifier
INDEX = "index"  # int32 position or count
TIMESTAMP = "timestamp"  # UTC wall-clock time, microseconds
BOOL = "bool"
INT32 = "int32"
INT64 = "int64"
FLOAT64 = "float64"

RUNS = (
    ("run_id", CATEGORY),
    ("created_at", TIMESTAMP),  # wall-clock time the run started
    ("workload", CATEGORY),
    ("params", TEXT),  # canonical JSON, see canonical_params()
    ("topology", CATEGORY),  # topology name
    ("topology_json", TEXT),  # the fully resolved topology
    ("topology_hash", TEXT),
    ("git_commit", TEXT),
    ("git_branch", CATEGORY),
    ("git_dirty", BOOL),
    ("commit_time", TIMESTAMP),  # null if unknown
    ("commit_message", TEXT),
    ("sim_version", CATEGORY),
    ("schema_version", INT32),
    ("verify_data", BOOL),
    ("verified", BOOL),  # null if data was not verified
    ("status", CATEGORY),  # "ok" | "failed"
    ("error", TEXT),  # null, or "ExcType: message"
    ("sim_end_ns", NS),
    ("wall_s", FLOAT64),  # wall-clock seconds the run took
    ("n_events", INT64),  # simulator events processed
    ("host", CATEGORY),
    # Topology overrides of the run as canonical JSON of {dotted key: value}; "{}"
    # when the preset was used as is (null in runs older than schema version 2).
    ("overrides", TEXT),
    ("sweep_id", CATEGORY),  # the sweep the run is a point of; null for a single run
)

METRICS = (
    ("run_id", CATEGORY),
    ("name", CATEGORY),
    ("value", FLOAT64),
    ("unit", CATEGORY),  # e.g. tflops, busbw_gbs, ns
    ("better", CATEGORY),  # "lower" | "higher"; null in runs of schema < 3
)

LAUNCHES = (
    ("run_id", CATEGORY),
    ("launch_id", ID),
    ("kernel", CATEGORY),
    ("grid", CATEGORY),  # e.g. "8x4x1"
    ("n_pes", INDEX),
    ("barrier", BOOL),
    ("host_issue_ns", NS),
    ("target_start_ns", NS),
    ("end_ns", NS),
    ("coll_id", ID),  # null unless the launch runs a collective
    ("late_pes", INDEX),  # PEs whose launch message arrived after target_start_ns
)

PE_EXEC = (
    ("run_id", CATEGORY),
    ("launch_id", ID),
    ("sip", INDEX),
    ("cube", INDEX),
    ("pe", INDEX),
    ("pe_global", INDEX),
    ("dispatch_ns", NS),  # launch message reached the PE_CPU
    ("exec_start_ns", NS),
    ("exec_end_ns", NS),
)

# One row per program of a grid launch (``kernel[grid](...)``); a launch without a grid
# runs one program per PE, which its pe_exec rows describe.
PROGRAMS = (
    ("run_id", CATEGORY),
    ("launch_id", ID),
    ("program", ID),  # linear program id: x + y * X + z * X * Y
    ("pid_x", INDEX),
    ("pid_y", INDEX),
    ("pid_z", INDEX),
    ("sip", INDEX),  # the PE that ran it
    ("cube", INDEX),
    ("pe", INDEX),
    ("pe_global", INDEX),
    ("start_ns", NS),  # the program's body started issuing
    ("end_ns", NS),  # its body returned and its last op finished
)

OPS = (
    ("run_id", CATEGORY),
    ("op_id", ID),
    ("launch_id", ID),
    ("sip", INDEX),
    ("cube", INDEX),
    ("pe", INDEX),
    ("pe_global", INDEX),
    ("engine", CATEGORY),  # DMA_IN | GEMM | MATH | DMA_WB
    ("op", CATEGORY),  # load, dot, exp, add, store, ...
    ("issue_ns", NS),
    ("start_ns", NS),
    ("end_ns", NS),
    ("flops", INT64),
    ("bytes", INT64),
    # Which of the engine's lanes ran it: DMA engines keep several transfers in
    # flight (pe.dma_queue_depth lanes); compute engines have one lane, 0.
    ("lane", INDEX),
)

DMA = (
    ("run_id", CATEGORY),
    ("dma_id", ID),
    ("launch_id", ID),  # null for host transfers
    # load | store | atomic | send | host_write | host_read | copy | launch_msg
    ("kind", CATEGORY),
    ("src", CATEGORY),  # graph node names
    ("dst", CATEGORY),
    ("src_space", CATEGORY),  # HBM | TCM | SRAM | HOST | MCPU_LOCAL | IOCPU | PE_CPU
    ("dst_space", CATEGORY),
    ("src_sip", INDEX),  # null where not applicable
    ("src_cube", INDEX),
    ("src_pe", INDEX),
    ("dst_sip", INDEX),
    ("dst_cube", INDEX),
    ("dst_pe", INDEX),
    ("bytes", INT64),
    ("hops", INDEX),
    ("level", CATEGORY),  # highest level crossed: pe | cube | mesh | io | sip | host
    ("issue_ns", NS),
    ("start_ns", NS),
    ("end_ns", NS),
    ("coll_id", ID),
    ("round", INDEX),
)

COLLECTIVES = (
    ("run_id", CATEGORY),
    ("coll_id", ID),
    ("op", CATEGORY),  # all_reduce, ...
    ("algorithm", CATEGORY),  # ring, bidir_ring, hierarchical, ...
    ("world_size", INDEX),
    ("bytes", INT64),
    ("dtype", CATEGORY),
    ("start_ns", NS),
    ("end_ns", NS),
)

COLLECTIVE_ROUNDS = (
    ("run_id", CATEGORY),
    ("coll_id", ID),
    ("rank", INDEX),
    ("round", INDEX),
    ("phase", CATEGORY),  # e.g. reduce_scatter, all_gather
    ("level", CATEGORY),  # intra_cube | inter_cube | inter_sip
    ("peer", INDEX),
    ("bytes", INT64),
    ("start_ns", NS),
    ("end_ns", NS),
)

LINKS = (
    ("run_id", CATEGORY),
    ("link", TEXT),
    ("src", CATEGORY),
    ("dst", CATEGORY),
    ("level", CATEGORY),
    ("bw_gbs", FLOAT64),
    ("bytes", INT64),  # bytes carried over the whole run
    ("busy_ns", NS),  # time the link carried at least one flow
)

# What each op and transfer waited for (one row per dependency; contract extension of
# schema 6). ``item``/``item_id`` name the waiting row (``op`` -> ops.op_id, ``dma`` ->
# dma.dma_id); ``on_item``/``on_id`` the row it waited on (``op``, ``dma`` or ``launch`` ->
# launches.launch_id), null when it waited on a resource only. Causes (DEP_CAUSES):
#   engine   an op waited for the previous op of its engine lane to free it
#   input    an op waited for the op producing one of its input blocks
#   order    an op waited for an earlier load/store of the same bytes (memory order)
#   slot     a send waited for an IPCQ inbox slot
#   forward  a launch message (``item`` dma) waited for the message it forwards to
#            arrive (``on_item`` dma) -- or, the host's first, for the launch's host
#            issue (``on_item`` launch) -- then for its sender CPU's queue and service
#            (schema >= 8)
# An op that started as soon as its program issued it waited for what last resumed
# its program (ready_ns then is the resume time, wait_ns how long the program waited):
#   barrier  the launch's start barrier (``on_item`` = the launch)
#   ipcq     a message in recv (``on_item`` = the send op)
#   tcm      TCM space (``on_item`` = the op whose end made room for the block: the
#            one that woke it, or another ending in the same instant; schema >= 10,
#            before: the one that woke it; wait_ns from when the program blocked,
#            schema >= 10, before: from its last wake-up that found no room)
#   drain    its outstanding ops (``on_item`` = the last one)
#   value    a value computed from loaded data, to steer by: a branch or loop bound, a
#            gather's addresses, a mask, a pointer loaded from memory, a device_print
#            (``on_item`` = the op producing it; schema >= 11)
# One row per transfer (schema < 8: kernel transfers only), ``on_item`` = the DMA op
# carrying it (null for host copies and launch messages), ``resource`` its route's
# narrowest link or memory (what bounds its streaming; schema < 8: bandwidth rows only)
# and ``resource_kind`` that resource's kind, named after the parameter setting its
# bandwidth (hbm, tcm, sram, pe_link, mesh_link, io_link, ...:
# simulator/hw/resource_kinds.py):
#   carried    it streamed as fast as alone (wait 0)
#   bandwidth  it shared bandwidth: ``wait_ns`` is the time beyond streaming alone at
#              its route's narrowest capacity; ``resource`` is the link or memory
#              whose saturation fixed its max-min rate for the longest time while it
#              streamed (schema >= 9; before: the route's narrowest, which under
#              sharing may not be what bound it)
# ``ready_ns`` is when the dependency was released; ``wait_ns`` how long the item waited
# for it (for engine/input/order/slot: from its issue to its start).
DEP_CAUSES = ("engine", "input", "order", "slot", "barrier", "ipcq", "tcm",
              "drain", "value", "carried", "bandwidth", "forward")  # fmt: skip

DEPS = (
    ("run_id", CATEGORY),
    ("item", CATEGORY),  # op | dma
    ("item_id", ID),
    ("cause", CATEGORY),  # one of DEP_CAUSES
    ("on_item", CATEGORY),  # op | dma | launch; null for a resource
    ("on_id", ID),
    ("resource", CATEGORY),  # link or memory node (transfer rows), else null
    ("ready_ns", NS),
    ("wait_ns", NS),
    ("resource_kind", CATEGORY),  # kind of `resource` (schema >= 8), else null
)

# Columns added after a table was first published, per table. They sit at the end of
# the schema, and positional appenders default them to null, so writers made for the
# older schema keep working.
EXTENSION_COLUMNS: dict[str, tuple[str, ...]] = {"ops": ("lane",), "deps": ("resource_kind",)}

# Every table of a run, in the order they are written; `runs` is published last.
TABLE_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "runs": RUNS,
    "metrics": METRICS,
    "launches": LAUNCHES,
    "pe_exec": PE_EXEC,
    "programs": PROGRAMS,
    "ops": OPS,
    "dma": DMA,
    "collectives": COLLECTIVES,
    "collective_rounds": COLLECTIVE_ROUNDS,
    "links": LINKS,
    "deps": DEPS,
}
