"""Numbers for people: times, bandwidths, sizes and counts in human units.

Tables, reports and KPI cards use these; JSON and Parquet keep raw numbers. Each
function takes the raw value in the unit its name says (ns, GB/s, bytes) and returns
a short string with the unit chosen by magnitude. The CLI writes in the TEXT notation
(ASCII), the dashboard in the SCREEN one (µs, fixed significant digits, TFLOP/s).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

_SIZE_UNITS = ((1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"))
_SI_PREFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


@dataclass(frozen=True)
class Notation:
    """How numbers are written for one medium. The unit is chosen by magnitude either way;
    these are the typographic choices of a terminal (TEXT) or a web page (SCREEN)."""

    micro: str = "us"  # the microsecond prefix: ASCII in terminals, "µ" on screens
    fixed_digits: bool = False  # keep trailing zeros: "2.500 s" rather than "2.5 s"
    missing: str | None = None  # None and NaN as this text; None: "-" and "nan"
    percent_decimals: int | None = None  # ratios as "1.34%"; None: 4 digits, "1.344 %"
    tera_gbs: bool = True  # 1,000 GB/s and more as TB/s
    si_numbers: bool = False  # plain numbers of 1,000 and more with k, M, G, T: "51.99 k"
    labels: Mapping[str, str] = field(default_factory=dict)  # unit -> its written form


# Terminal tables and reports (`kernbench report`, `runs`, `compare`).
TEXT = Notation()
# The dashboard: KPI cards, table cells, captions.
SCREEN = Notation(
    micro="µs",
    fixed_digits=True,
    missing="n/a",
    percent_decimals=2,
    tera_gbs=False,
    si_numbers=True,
    labels={"tflops": "TFLOP/s"},
)


def _time_units(notation: Notation) -> tuple[tuple[float, str], ...]:
    return ((1e9, "s"), (1e6, "ms"), (1e3, notation.micro), (1.0, "ns"))


def _sig(value: float, digits: int = 4, notation: Notation = TEXT) -> str:
    """``value`` with ``digits`` significant digits, thousands separators, no exponent
    (trailing zeros kept only with ``notation.fixed_digits``)."""
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    text = f"{value:,.{decimals}f}"
    if "." in text and not notation.fixed_digits:
        text = text.rstrip("0").rstrip(".")
    return text


def _not_finite(value: float | None, notation: Notation = TEXT) -> str | None:
    if value is None or (notation.missing is not None and math.isnan(value)):
        return "-" if notation.missing is None else notation.missing
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return None


def format_ns(value_ns: float | None, notation: Notation = TEXT) -> str:
    """A duration in nanoseconds as ns, us, ms or s, e.g. 1_520_000 -> ``1.52 ms``."""
    special = _not_finite(value_ns, notation)
    if special is not None:
        return special
    magnitude = abs(value_ns)
    for scale, unit in _time_units(notation):
        if magnitude >= scale or scale == 1.0:
            return f"{_sig(value_ns / scale, notation=notation)} {unit}"
    raise AssertionError("unreachable")


def format_gbs(value_gbs: float | None, notation: Notation = TEXT) -> str:
    """A bandwidth in GB/s (1 GB/s = 1 byte/ns), e.g. 51.2 -> ``51.2 GB/s``."""
    special = _not_finite(value_gbs, notation)
    if special is not None:
        return special
    if notation.tera_gbs and abs(value_gbs) >= 1000:
        return f"{_sig(value_gbs / 1000, notation=notation)} TB/s"
    return f"{_sig(value_gbs, notation=notation)} GB/s"


def format_bytes(value_bytes: float | None, notation: Notation = TEXT) -> str:
    """A size in bytes as B, KiB, MiB, GiB or TiB, e.g. 1_048_576 -> ``1 MiB``."""
    special = _not_finite(value_bytes, notation)
    if special is not None:
        return special
    for scale, unit in _SIZE_UNITS:
        if abs(value_bytes) >= scale:
            return f"{_sig(value_bytes / scale, notation=notation)} {unit}"
    return f"{_sig(value_bytes, notation=notation)} B"


def _plain(value: float, notation: Notation) -> str:
    """A number of no known unit: with an SI prefix from 1,000 on when the notation
    wants one ("16.91 M"), else with thousands separators."""
    if notation.si_numbers:
        for factor, prefix in _SI_PREFIXES:
            if abs(value) >= factor:
                return f"{value / factor:.4g} {prefix}"
        return _sig(value, notation=notation)
    if float(value).is_integer() or abs(value) >= 1000:
        return f"{value:,.0f}"
    return _sig(value, notation=notation)


def format_count(value: float | None, notation: Notation = TEXT) -> str:
    """A count or plain number: thousands separators, 4 significant digits below 1000
    (an SI prefix for a fraction of 1,000 or more with ``notation.si_numbers``)."""
    special = _not_finite(value, notation)
    if special is not None:
        return special
    if float(value).is_integer():
        return f"{value:,.0f}"
    return _plain(value, notation)


def format_value(value: float | None, unit: str | None, notation: Notation = TEXT) -> str:
    """``value`` in the human form of ``unit`` (a metric unit or a column suffix).

    Known units: ``ns``, ``gbs`` (and ``*gbs``), ``bytes``, ``ratio`` (as percent),
    ``count``; units the notation labels (``tflops`` as ``TFLOP/s`` on screens); anything
    else is a number followed by the unit.
    """
    special = _not_finite(value, notation)
    if special is not None:
        return special
    unit = unit or ""
    if unit == "ns":
        return format_ns(value, notation)
    if unit.endswith("gbs"):
        return format_gbs(value, notation)
    if unit == "bytes":
        return format_bytes(value, notation)
    if unit == "ratio":
        if notation.percent_decimals is not None:
            return f"{value:.{notation.percent_decimals}%}"
        return f"{_sig(100 * value, notation=notation)} %"
    if unit in notation.labels:
        return f"{_sig(value, notation=notation)} {notation.labels[unit]}"
    if unit in ("count", ""):
        return format_count(value, notation)
    shown = _plain(value, notation) if notation.si_numbers else format_count(value, notation)
    return f"{shown} {unit}"


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
