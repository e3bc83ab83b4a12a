"""The engine timeline of a whole run as one server-rendered PNG (numpy + Pillow).

A browser needs seconds to set up a plotly chart (its JavaScript bundle alone), so the
Run page's first view of a large run is this picture: one panel per engine, a row of
pixels per PE, one pixel column per time bucket of traces.queries.engine_busy_buckets
(colour = busy fraction of the bucket, idle buckets grey), the critical path as a strip
above in its component colours (dashboard.path_figures), a time axis in human units
(traces.units) and a colour legend.

The PNG describes its own geometry in a text chunk (key TIMELINE_GEOMETRY_KEY, JSON):
start_ns, end_ns, n_buckets, plot_left_px (the x of bucket 0), and per panel its engine,
top_px, row_px and pes; per path lane its where and top_px. Pixel column
``plot_left_px + i`` shows bucket i, [start_ns + i*w, start_ns + (i+1)*w) with
w = (end_ns - start_ns) / n_buckets.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont, PngImagePlugin
from plotly.colors import hex_to_rgb, sequential

from dashboard.figures import ENGINE_COLORS, engine_busy_grids
from dashboard.path_figures import path_color
from traces import units

TIMELINE_GEOMETRY_KEY = "kernbench-timeline"
# Pixel layout: labels left of the plot, one column per bucket, a margin on the right
# (the last tick label); IMAGE_BUCKETS makes the whole PNG IMAGE_WIDTH_PX wide.
IMAGE_WIDTH_PX = 1200
PLOT_LEFT_PX = 120
PLOT_RIGHT_MARGIN_PX = 40
IMAGE_BUCKETS = IMAGE_WIDTH_PX - PLOT_LEFT_PX - PLOT_RIGHT_MARGIN_PX
# Each engine panel is about PANEL_TARGET_PX tall: rows of PANEL_TARGET_PX // n_pes px,
# between 1 and MAX_ROW_PX.
PANEL_TARGET_PX = 160
MAX_ROW_PX = 16
PANEL_GAP_PX = 22
PATH_LANE_PX = 12
PATH_BAR_PX = 8
TOP_PX = 34  # legend line
AXIS_PX = 44  # ticks, labels and the axis title below the last panel
FONT_PX = 12
N_TICKS = 8
BACKGROUND = (255, 255, 255)
IDLE_RGB = (236, 236, 236)
TEXT_RGB = (40, 40, 40)
GRID_RGB = (120, 120, 120)
# Labels are drawn in DejaVu Sans where installed (it has "µ"), else in Pillow's own
# font, whose glyphs stop at ASCII: tick labels then write microseconds as "us".
FONT_FILE = "DejaVuSans.ttf"


def busy_colors(fraction: np.ndarray) -> np.ndarray:
    """RGB (uint8, shape + (3,)) of busy fractions: Viridis for (0, 1] (as the plotly
    heat map), IDLE_RGB for 0 (an engine that did nothing in that bucket)."""
    stops = np.array([hex_to_rgb(c) for c in sequential.Viridis], dtype=float)
    at = np.linspace(0.0, 1.0, len(stops))
    u = np.clip(np.nan_to_num(fraction, nan=0.0), 0.0, 1.0)
    rgb = np.stack([np.interp(u, at, stops[:, k]) for k in range(3)], axis=-1)
    rgb[u <= 0.0] = IDLE_RGB
    return np.rint(rgb).astype(np.uint8)


def nice_ticks(start: float, end: float, n: int = N_TICKS) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) inside [start, end],
    about `n` of them."""
    span = end - start
    if not span > 0:
        return [start]
    raw = span / n
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(start / step) * step
    return [first + k * step for k in range(int((end - first) / step + 1e-9) + 1)]


def _fonts(size_px: int) -> tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, ...]:
    """(font of `size_px`, a smaller one, the notation of tick labels in them)."""
    try:
        fonts = (ImageFont.truetype(FONT_FILE, size_px), ImageFont.truetype(FONT_FILE, size_px - 2))
        return (*fonts, units.Notation(micro="µs"))
    except OSError:
        fonts = (ImageFont.load_default(size=size_px), ImageFont.load_default(size=size_px - 2))
        return (*fonts, units.TEXT)


def timeline_png(
    buckets: pd.DataFrame,
    pes: Sequence[int],
    start_ns: float,
    end_ns: float,
    n_buckets: int = IMAGE_BUCKETS,
    segments: pd.DataFrame | None = None,
) -> bytes:
    """The timeline as PNG bytes.

    `buckets`: traces.queries.engine_busy_buckets rows for [start_ns, end_ns) in
    `n_buckets` buckets, PEs `pes` (rows without a bucket are idle); `segments`: the
    critical path (columns of dashboard.data.critical_path: start_ns, end_ns, component,
    where), clipped to the window, or None for no strip. The plot is n_buckets px wide."""
    if not end_ns > start_ns or n_buckets < 1:
        raise ValueError(
            f"timeline image needs end_ns > start_ns and n_buckets >= 1, got "
            f"[{start_ns}, {end_ns}) in {n_buckets} buckets"
        )
    grids = engine_busy_grids(buckets, pes, n_buckets)
    width_ns = (end_ns - start_ns) / n_buckets
    row_px = max(1, min(MAX_ROW_PX, PANEL_TARGET_PX // max(1, len(pes))))
    panel_px = row_px * len(pes)

    inside = pd.DataFrame(columns=["start_ns", "end_ns", "component", "where"])
    if segments is not None and not segments.empty:
        inside = segments[(segments["end_ns"] > start_ns) & (segments["start_ns"] < end_ns)]
        inside = inside.assign(
            start_ns=inside["start_ns"].clip(lower=start_ns),
            end_ns=inside["end_ns"].clip(upper=end_ns),
        ).sort_values("start_ns", kind="stable")
    lanes = sorted(set(inside["where"]), key=lambda w: (w != "host", w))
    strip_px = PATH_LANE_PX * len(lanes) + PANEL_GAP_PX if lanes else 0

    height = TOP_PX + strip_px + len(grids) * (panel_px + PANEL_GAP_PX) + AXIS_PX
    width = PLOT_LEFT_PX + n_buckets + PLOT_RIGHT_MARGIN_PX
    pixels = np.full((height, width, 3), BACKGROUND, dtype=np.uint8)
    geometry: dict = {"start_ns": float(start_ns), "end_ns": float(end_ns),
                      "n_buckets": n_buckets, "plot_left_px": PLOT_LEFT_PX,
                      "panels": [], "path_lanes": []}  # fmt: skip

    # Engine panels: the busy fractions, each PE row repeated row_px times.
    top = TOP_PX + strip_px + PANEL_GAP_PX // 2
    panel_tops = {}
    for engine, z in grids.items():
        block = np.repeat(busy_colors(z), row_px, axis=0)
        pixels[top : top + panel_px, PLOT_LEFT_PX : PLOT_LEFT_PX + n_buckets] = block
        panel_tops[engine] = top
        geometry["panels"].append({"engine": engine, "top_px": top, "row_px": row_px,
                                   "pes": [int(g) for g in pes]})  # fmt: skip
        top += panel_px + PANEL_GAP_PX
    axis_y = top - PANEL_GAP_PX + 2

    image = Image.fromarray(pixels, "RGB")
    draw = ImageDraw.Draw(image)
    font, small, notation = _fonts(FONT_PX)

    def x_of(t_ns: float) -> float:
        return PLOT_LEFT_PX + (t_ns - start_ns) / width_ns

    # Critical path: a bar per segment on its place's lane, a thin line following it.
    if lanes:
        strip_top = TOP_PX + PANEL_GAP_PX // 2
        lane_top = {w: strip_top + i * PATH_LANE_PX for i, w in enumerate(lanes)}
        geometry["path_lanes"] = [{"where": w, "top_px": lane_top[w]} for w in lanes]
        draw.text((4, strip_top - 12), "critical path", fill=TEXT_RGB, font=small)
        for w in lanes:
            draw.text((8, lane_top[w]), w[-16:], fill=TEXT_RGB, font=small)
        pad = (PATH_LANE_PX - PATH_BAR_PX) // 2
        others: dict[str, str] = {}
        previous: tuple[float, float] | None = None
        rows = zip(inside["start_ns"], inside["end_ns"], inside["component"], inside["where"],
                   strict=True)  # fmt: skip
        for s, e, component, w in rows:
            y_mid = lane_top[w] + PATH_LANE_PX / 2
            if previous is not None and previous[1] != y_mid:
                draw.line([(x_of(s), previous[1]), (x_of(s), y_mid)], fill=(34, 34, 34))
            previous = (x_of(e), y_mid)
            x0 = math.floor(x_of(s))  # at least one pixel column per segment
            x1 = max(x0, math.ceil(x_of(e)) - 1)
            color = hex_to_rgb(path_color(str(component), others))
            draw.rectangle([x0, lane_top[w] + pad, x1, lane_top[w] + pad + PATH_BAR_PX - 1],
                           fill=tuple(color))  # fmt: skip

    # Panel labels: the engine, and the first and last PE of its rows.
    for engine, panel_top in panel_tops.items():
        color = tuple(hex_to_rgb(ENGINE_COLORS.get(engine, "#888888")))
        draw.text((4, panel_top - 14), engine, fill=color, font=font)
        if len(pes) > 1 and panel_px >= 2 * FONT_PX:
            draw.text((PLOT_LEFT_PX - 6, panel_top), f"PE {pes[0]}", fill=TEXT_RGB,
                      font=small, anchor="ra")  # fmt: skip
            draw.text((PLOT_LEFT_PX - 6, panel_top + panel_px), f"PE {pes[-1]}",
                      fill=TEXT_RGB, font=small, anchor="rd")  # fmt: skip
        elif len(pes) == 1:
            draw.text((PLOT_LEFT_PX - 6, panel_top), f"PE {pes[0]}", fill=TEXT_RGB,
                      font=small, anchor="ra")  # fmt: skip

    # Time axis: round ticks in human units.
    draw.line([(PLOT_LEFT_PX, axis_y), (PLOT_LEFT_PX + n_buckets, axis_y)], fill=GRID_RGB)
    for tick in nice_ticks(start_ns, end_ns):
        x = x_of(tick)
        draw.line([(x, axis_y), (x, axis_y + 4)], fill=GRID_RGB)
        draw.text((x, axis_y + 6), units.format_ns(tick, notation), fill=TEXT_RGB,
                  font=small, anchor="ma")  # fmt: skip
    draw.text((PLOT_LEFT_PX + n_buckets / 2, axis_y + 22),
              f"simulated time ({units.format_ns(width_ns, notation)} per pixel column)",
              fill=TEXT_RGB, font=small, anchor="ma")  # fmt: skip

    # Legend: busy fraction colour ramp, idle, and the path's components.
    x = 4
    title = "busy per bucket:"
    draw.text((x, 16), title, fill=TEXT_RGB, font=font, anchor="lm")
    x += int(draw.textlength(title, font=font)) + 8
    draw.text((x, 16), "0%", fill=TEXT_RGB, font=small, anchor="lm")
    x += int(draw.textlength("0%", font=small)) + 4
    ramp = busy_colors(np.linspace(0.0, 1.0, 101)[1:])
    for i, rgb in enumerate(ramp):
        draw.line([(x + i, 10), (x + i, 22)], fill=tuple(int(c) for c in rgb))
    x += len(ramp) + 4
    draw.text((x, 16), "100%", fill=TEXT_RGB, font=small, anchor="lm")
    x += int(draw.textlength("100%", font=small)) + 16
    draw.rectangle([x, 10, x + 12, 22], fill=IDLE_RGB, outline=GRID_RGB)
    draw.text((x + 16, 16), "idle", fill=TEXT_RGB, font=small, anchor="lm")
    x += 50
    if lanes:
        others = {}
        for component in dict.fromkeys(inside["component"]):
            color = tuple(hex_to_rgb(path_color(str(component), others)))
            label = f"path: {component}"
            draw.rectangle([x, 12, x + 16, 20], fill=color)
            draw.text((x + 20, 16), label, fill=TEXT_RGB, font=small, anchor="lm")
            x += 28 + int(draw.textlength(label, font=small))
            if x > width - 80:
                break

    info = PngImagePlugin.PngInfo()
    info.add_text(TIMELINE_GEOMETRY_KEY, json.dumps(geometry))
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info, optimize=False)
    return out.getvalue()


def read_geometry(png: bytes) -> tuple[np.ndarray, dict]:
    """(RGB pixels as a (height, width, 3) uint8 array, the geometry dict) of a PNG made
    by timeline_png."""
    with Image.open(io.BytesIO(png)) as image:
        geometry = json.loads(image.text[TIMELINE_GEOMETRY_KEY])
        return np.asarray(image.convert("RGB")), geometry
