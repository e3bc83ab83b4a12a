"""The plain facts of a run's ``runs`` row, free of pyarrow: its id, the canonical JSON of
its parameters and the schema version it is written with.

Apart from traces/schema.py so that the simulating process can start a run (see
traces/writer_process.py) without loading Arrow.
"""

import json
import secrets
import threading
import time
from datetime import UTC, datetime
from typing import Any

# 2: runs.overrides, runs.sweep_id; 3: metrics.better; 4: programs;
# 5: run_id only in the partition folder name, every table has a file for every run;
# 6: deps; 7: launches.late_pes, dma.kind launch_msg, MCPU_LOCAL / IOCPU spaces;
# 8: deps.resource_kind; a deps row for every transfer, each naming its resource;
#    launch messages' ``forward`` rows; 9: a ``bandwidth`` row names the resource the
#    network's max-min fill saturated (what bound the transfer while it shared);
# 10: a ``tcm`` row waits from when its program blocked (before: from the last op end
#    that woke it and found no room) for the op whose end made room (before: the op
#    whose end woke it, which in one instant with others may have freed nothing).
# 11: deps cause ``value``: a program stalled for a value from loaded data to steer by.
# 12: a launch message to a PE's CPU has dst_space PE_CPU and its sip/cube/pe (before:
#     null).
SCHEMA_VERSION = 12

_id_lock = threading.Lock()
_last_id_us = 0


def new_run_id() -> str:
    """A run id like `20261126-073012-123456-3fa2`: UTC time to the microsecond + random hex.

    Ids sort by creation time; within one process they strictly increase. The
    random suffix separates processes; the store also creates the run's temporary
    folder exclusively, so a clash is retried, never shared.
    """
    global _last_id_us
    with _id_lock:
        now_us = max(time.time_ns() // 1000, _last_id_us + 1)
        _last_id_us = now_us
    seconds, micros = divmod(now_us, 1_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{micros:06d}-{secrets.token_hex(2)}"


def canonical_params(params: dict[str, Any] | str) -> str:
    """Canonical JSON of workload parameters: sorted keys, no spaces.

    Accepts a dict or a JSON text (re-encoded canonically). Numpy scalars become
    plain numbers. Raises ValueError for JSON text that does not parse and for
    values JSON cannot represent.
    """
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except json.JSONDecodeError as exc:
            raise ValueError(f"params is not valid JSON: {params!r} ({exc})") from None
    try:
        return json.dumps(params, sort_keys=True, separators=(",", ":"), default=_plain)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"params {params!r} cannot be stored as JSON: {exc}") from None


def _plain(value: Any) -> Any:
    """JSON fallback for numpy scalars and arrays (anything with .tolist())."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} value {value!r} is not JSON-serialisable")
