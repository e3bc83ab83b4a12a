"""The writer API doing nothing, for untraced runs.

Its own module, free of pyarrow, so that the simulator (and `kernbench list`) can be
imported without the Parquet machinery that only a traced run needs.
"""

from collections.abc import Callable
from typing import Any


def _discard(*values: Any) -> None:
    """Appender of a NullWriter."""


def _no_key(*values: Any) -> int:
    """Key function of a NullWriter's keyed appender: every key is 0."""
    return 0


class NullWriter:
    """The writer API doing nothing: tracing switched off. `run_id` is None."""

    run_id = None

    def append(self, table: str, **columns: Any) -> None:
        pass

    def appender(self, table: str, keyed: tuple[str, ...] = ()) -> Callable[..., None]:
        return _discard

    def keyed_appender(
        self, table: str, keyed: tuple[str, ...], rider: str | None = None
    ) -> tuple[Callable[..., None], Callable[..., int]]:
        return _discard, _no_key

    def metric(self, name: str, value: float, unit: str, better: str) -> None:
        pass

    def discard(self) -> None:
        pass

    def finish(
        self,
        *,
        status: str = "ok",
        error: str | None = None,
        sim_end_ns: float | None,
        verified: bool | None = None,
        n_events: int | None,
        wall_s: float | None = None,
    ) -> None:
        pass

    def __enter__(self) -> "NullWriter":
        return self

    def __exit__(self, exc_type, exc, traceback) -> bool:
        return False
