"""Numbers for people: times, bandwidths, sizes and counts in human units.

Tables, reports and KPI cards use these; JSON and Parquet keep raw numbers. Each
function takes the raw value in the unit its name says (ns, GB/s, bytes) and returns
a short string with the unit chosen by magnitude.
"""

from __future__ import annotations

import math

_TIME_UNITS = ((1e9, "s"), (1e6, "ms"), (1e3, "us"), (1.0, "ns"))
_SIZE_UNITS = ((1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"))


def _sig(value: float, digits: int = 4) -> str:
    """``value`` with ``digits`` significant digits, thousands separators, no exponent."""
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _not_finite(value: float | None) -> str | None:
    if value is None:
        return "-"
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return None


def format_ns(value_ns: float | None) -> str:
    """A duration in nanoseconds as ns, us, ms or s, e.g. 1_520_000 -> ``1.52 ms``."""
    special = _not_finite(value_ns)
    if special is not None:
        return special
    magnitude = abs(value_ns)
    for scale, unit in _TIME_UNITS:
        if magnitude >= scale or scale == 1.0:
            return f"{_sig(value_ns / scale)} {unit}"
    raise AssertionError("unreachable")


def format_gbs(value_gbs: float | None) -> str:
    """A bandwidth in GB/s (1 GB/s = 1 byte/ns), e.g. 51.2 -> ``51.2 GB/s``."""
    special = _not_finite(value_gbs)
    if special is not None:
        return special
    if abs(value_gbs) >= 1000:
        return f"{_sig(value_gbs / 1000)} TB/s"
    return f"{_sig(value_gbs)} GB/s"


def format_bytes(value_bytes: float | None) -> str:
    """A size in bytes as B, KiB, MiB, GiB or TiB, e.g. 1_048_576 -> ``1 MiB``."""
    special = _not_finite(value_bytes)
    if special is not None:
        return special
    for scale, unit in _SIZE_UNITS:
        if abs(value_bytes) >= scale:
            return f"{_sig(value_bytes / scale)} {unit}"
    return f"{_sig(value_bytes)} B"


def format_count(value: float | None) -> str:
    """A count or plain number: thousands separators, 4 significant digits below 1000."""
    special = _not_finite(value)
    if special is not None:
        return special
    if float(value).is_integer() or abs(value) >= 1000:
        return f"{value:,.0f}"
    return _sig(value)


def format_value(value: float | None, unit: str) -> str:
    """``value`` in the human form of ``unit`` (a metric unit or a column suffix).

    Known units: ``ns``, ``gbs``, ``bytes``, ``ratio`` (as percent), ``tflops``;
    anything else is a plain number followed by the unit.
    """
    special = _not_finite(value)
    if special is not None:
        return special
    if unit == "ns":
        return format_ns(value)
    if unit == "gbs":
        return format_gbs(value)
    if unit == "bytes":
        return format_bytes(value)
    if unit == "ratio":
        return f"{_sig(100 * value)} %"
    if unit in ("count", ""):
        return format_count(value)
    return f"{format_count(value)} {unit}"


def format_column(name: str, value: float | None) -> str:
    """A table cell for column ``name``, its unit taken from the name's suffix
    (``*_ns``, ``*_gbs``, ``bytes``/``*_bytes``); other numbers are plain counts."""
    if name.endswith("_ns"):
        return format_ns(value)
    if name.endswith("_gbs"):
        return format_gbs(value)
    if name == "bytes" or name.endswith("_bytes"):
        return format_bytes(value)
    return format_count(value)
