"""Static pictures (PNG, SVG) with matplotlib's Agg backend.

Figures are built with ``matplotlib.figure.Figure`` directly, never pyplot, so
rendering holds no global state and is safe inside the web server's threads.
matplotlib is imported inside the functions: importing liqmap stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import numpy as np

from ..analysis.results import Heatmap, LiqMap
from ..frames import Liquidations
from . import style

#: File types ``save_*`` functions write, chosen by the path's suffix.
IMAGE_SUFFIXES = (".png", ".svg", ".pdf")
#: Width of a label's characters, in units of its font size: an upper bound for DejaVu Sans's digits,
#: "$", "·" and letters, so placed labels never touch (checked against rendered extents in the tests).
_LABEL_CHAR_EM = 0.64
_LABEL_FONT_PT = 8.5


def load_matplotlib() -> None:
    """Import what drawing a LiqMap needs: the largest fixed cost of a picture (about 0.3 s),
    which ``liqmap map --png`` pays in a second process while the map is computed
    (:mod:`liqmap.render.background`)."""
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.collections  # noqa: F401
    import matplotlib.figure  # noqa: F401


def save_liqmap_png(
    m: LiqMap,
    path,
    *,
    layout: str = "map",
    palette: str = "default",
    width_px: int = 1400,
    height_px: int | None = None,
    dpi: int = 110,
) -> Path:
    """Draw the LiqMap and write it to ``path`` (``.png``; ``.svg``/``.pdf`` also work).

    ``layout="map"`` (default): price across, bars rising from the price axis
    to each bin's Z (notional on the outer left scale), the current price a
    vertical line, the cumulative long (left of price) and short (right of
    price) liquidation curves on the right axis in USD.  ``layout="profile"``:
    price up the side, lining up with the heatmap.  Either way bars carry
    their cluster's colour (grey for noise), labelled clusters a text label,
    and a LiqRatio panel sits beside.  Returns the path written.
    """
    fig = liqmap_figure(m, layout=layout, palette=palette, width_px=width_px, height_px=height_px, dpi=dpi)
    return _save(fig, path, dpi)


def liqmap_figure(m: LiqMap, *, layout: str = "map", palette: str = "default", width_px: int = 1400,
                  height_px: int | None = None, dpi: int = 110):
    """The LiqMap as a matplotlib ``Figure`` (see :func:`save_liqmap_png`).

    Axes are placed at fixed positions rather than by a layout engine: it
    would measure every text several times, the largest cost of a picture.
    """
    from matplotlib.figure import Figure

    style.check_layout(layout)
    if m.price_low.size == 0:
        raise ValueError(f"the {m.symbol} map as of {m.as_of} has no price bins to draw")
    pal = style.palette(palette)
    height_px = height_px or round(width_px * 0.64)
    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)

    def rect(left_px: float, top_px: float, right_px: float, bottom_px: float) -> tuple[float, float, float, float]:
        """An axes rectangle from margins in pixels (left, top, right, bottom)."""
        return (left_px / width_px, bottom_px / height_px, 1 - (left_px + right_px) / width_px,
                1 - (top_px + bottom_px) / height_px)

    side_px = max(300.0, width_px * 0.25)  # the LiqRatio and notes column
    # map: two scales on the left, the cumulative one on the right; profile: the notional scale on top
    left_px, top_px, right_px = (150.0, 86.0, side_px + 95) if layout == "map" else (95.0, 112.0, side_px + 40)
    ax_map = fig.add_axes(rect(left_px, top_px, right_px, 62))
    ax_ratio = fig.add_axes(rect(width_px - side_px + 55, 100, 75, height_px * 0.56))
    ax_notes = fig.add_axes(rect(width_px - side_px + 5, height_px * 0.5, 10, 30))
    fig.text(10 / width_px, 1 - 8 / height_px, f"{style.map_title(m)}\n{style.map_subtitle(m)}", fontsize=11,
             ha="left", va="top")
    if layout == "map":
        _draw_price_across(ax_map, m, pal)
    else:
        _draw_map_bars(ax_map, m, pal)
    _draw_liq_ratio(ax_ratio, m, pal)
    _draw_notes(ax_notes, m, pal, layout)
    return fig


def _draw_price_across(ax, m: LiqMap, pal: style.Palette) -> None:
    """Price on x, bars rising from the price axis to each bin's Z, the cumulative curves on a right axis."""
    from matplotlib.collections import PolyCollection
    from matplotlib.colors import to_rgba_array
    from matplotlib.ticker import FuncFormatter

    decimals = style.map_decimals(m)
    z0 = style.zero_notional_z(m)
    total = m.total
    share_long = np.divide(m.long, total, out=np.zeros_like(total), where=total > 0)
    # a gap of 4 % each side between bars; none where a bin is under 5 px, whose bars would snap to
    # the pixel grid as uneven slivers (a tall one could look thinner than its neighbours)
    bin_px = float(np.median(m.price_high - m.price_low)) / (m.price_high[-1] - m.price_low[0]) \
        * ax.get_position().width * ax.figure.bbox.width
    inset = (m.price_high - m.price_low) * (0.04 if bin_px >= 5 else 0.0)
    left, right = m.price_low + inset, m.price_high - inset
    colors = style.bin_colors(m, pal)
    venues = style.map_venues(m)
    if venues:
        # a Multi map: each bar stacked by venue, the first venue in the bar's colour, the next ones paler
        shares = [np.divide(np.add(m.extras["venues"][v]["bins"]["long"], m.extras["venues"][v]["bins"]["short"]),
                            total, out=np.zeros_like(total), where=total > 0) for v in venues]
        edges = z0 + (m.z - z0) * np.cumsum([np.zeros_like(total), *shares], axis=0)
        verts = np.concatenate([_rectangles(left, right, edges[k], edges[k + 1]) for k in range(len(venues))])
        faces = np.concatenate([to_rgba_array([style.venue_shade(c, k) for c in colors]) for k in range(len(venues))])
    else:
        # solid long part below, light short part above
        split = z0 + (m.z - z0) * share_long
        solid = to_rgba_array(colors)
        light = solid.copy()
        light[:, 3] = style.SHORT_PART_ALPHA
        verts = np.concatenate((_rectangles(left, right, np.full(left.size, z0), split),
                                _rectangles(left, right, split, m.z)))
        faces = np.concatenate((solid, light))
    # one collection of rectangles for all bars; an (n, 4, 2) array is what PolyCollection handles
    # fastest, though its stubs ask for a sequence
    ax.add_collection(PolyCollection(cast(Any, verts), facecolors=faces, linewidths=0))

    z_max = max(float(np.max(m.z)), max(style.Z_GUIDES))
    ax.set_xlim(float(m.price_low[0]), float(m.price_high[-1]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: style.format_price(v, decimals)))
    ax.set_xlabel(f"price ({m.symbol})")
    ax.set_ylabel("Z-score of bin notional", fontsize=9)
    ax.grid(axis="x", color="#ececec", linewidth=0.6)
    ax.set_axisbelow(True)
    for z, name in zip(style.Z_GUIDES, style.Z_GUIDE_NAMES):
        ax.axhline(z, color="#777777", linestyle=(0, (4, 3)), linewidth=0.7)
        ax.text(0.003, z, f"{name} {z:g}", transform=ax.get_yaxis_transform(), fontsize=7.5, color="#444444",
                va="bottom", ha="left")
    ax.axvline(m.price, color=pal.price, linewidth=1.3)

    top = _label_price_across(ax, m, pal, z0, z_max)
    ax.set_ylim(z0, top)
    ax.text(m.price, 1.0, f" price {style.format_price(m.price, decimals + 1)} ", transform=ax.get_xaxis_transform(),
            ha="center", va="bottom", fontsize=9, fontweight="bold",
            bbox=dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor=pal.price, linewidth=0.8))
    _notional_scale(ax, m, z0, "y")
    _cumulative_curves(ax, m, pal)


def _rectangles(left: np.ndarray, right: np.ndarray, bottom: np.ndarray, top: np.ndarray) -> np.ndarray:
    """Vertices (n, 4, 2) of axis-aligned rectangles."""
    return np.stack((np.stack((left, bottom), -1), np.stack((left, top), -1), np.stack((right, top), -1),
                     np.stack((right, bottom), -1)), axis=1)


def _label_price_across(ax, m: LiqMap, pal: style.Palette, z0: float, z_max: float) -> float:
    """Two-line labels in rows above the bars, in price order, each joined to its cluster's peak by a
    leader line (up from the peak, across to its label, up between the boxes below): no two lines
    cross.  Returns the y limit."""
    clusters = sorted(style.labelled_clusters(m), key=lambda c: c.peak)
    fig = ax.figure
    axes_px = ax.get_position().width * fig.bbox.width
    x_lo, x_hi = ax.get_xlim()
    per_px = (x_hi - x_lo) / axes_px
    font_px = _LABEL_FONT_PT * fig.dpi / 72
    texts = [style.cluster_label(c, "\n") for c in clusters]
    chars = max((len(line) for t in texts for line in t.split("\n")), default=0)
    width = (chars * _LABEL_CHAR_EM * font_px + 14) * per_px
    centres, rows = style.label_slots(np.array([c.peak for c in clusters]), width, x_lo, x_hi, 8 * per_px)
    n_rows = int(rows.max()) + 1 if rows.size else 0
    axes_h_px = ax.get_position().height * fig.bbox.height
    row_px = font_px * 3.3  # two lines and the box
    fan_px = 30.0  # the band where leader lines go across from the peaks to their labels
    bars_share = 1 - (n_rows * row_px + 10 + (fan_px if n_rows else 0)) / axes_h_px  # the share the bars keep
    top = z0 + (z_max - z0) / max(bars_share, 0.4) * 1.01
    per_y = (top - z0) / axes_h_px
    row_y = [top - (6 + (n_rows - 1 - row + 0.5) * row_px) * per_y for row in range(n_rows)]
    knee, base = z_max + 3 * per_y, (row_y[0] - (row_px / 2 - 2) * per_y) if n_rows else top
    labels = []
    for c, text, x, row in zip(clusters, texts, centres, rows):
        path = [(c.peak, float(m.z[_bin_at(m, c.peak)])), (c.peak, knee), (x, base), (x, row_y[row])]
        labels.append((text, path, pal.cluster_color(c.id), style.LEADER_COLOR))
    _leader_labels(ax, labels, ha="center")
    return top


def _leader_labels(ax, labels: list, ha: str) -> None:
    """Boxed labels ``(text, path, box colour, line colour)``, each at its path's last point, joined to what
    it names by the path: thin lines in one collection drawn under the boxes, which hide the part inside
    them (the look of an annotation's arrow, at a fraction of its drawing cost)."""
    from matplotlib.collections import LineCollection

    if not labels:
        return
    ax.add_collection(LineCollection([path for _, path, *_ in labels], colors=[line for *_, line in labels],
                                     linewidths=0.8, zorder=2.9))
    for text, path, box, _ in labels:
        x, y = path[-1]
        ax.text(x, y, text, ha=ha, va="center", fontsize=_LABEL_FONT_PT, color="#222222", zorder=3,
                linespacing=1.15,
                bbox=dict(boxstyle="round,pad=0.25", facecolor="white", edgecolor=box, linewidth=1.3))


def _bin_at(m: LiqMap, price: float) -> int:
    return int(np.clip(np.searchsorted(m.price_low, price, side="right") - 1, 0, m.price_low.size - 1))


def _cumulative_curves(ax, m: LiqMap, pal: style.Palette) -> None:
    """Cumulative long (from price down) and short (from price up) liquidations on a right axis in USD."""
    from matplotlib.ticker import FuncFormatter

    long_x, long_y, short_x, short_y = style.cumulative_liquidations(m)
    right = ax.twinx()
    right.plot(long_x, long_y, color=pal.long, linewidth=1.6, label="cumulative long liquidations (price falling)")
    right.plot(short_x, short_y, color=pal.short, linewidth=1.6, label="cumulative short liquidations (price rising)")
    peak = max(float(long_y[-1]), float(short_y[-1]), 1.0)
    right.set_ylim(0, peak * 1.6)  # the curves stay under the label rows
    right.yaxis.set_major_formatter(FuncFormatter(lambda v, _: style.format_usd(v)))
    right.set_ylabel("cumulative liquidations from price (USD)", fontsize=9)


def _draw_map_bars(ax, m: LiqMap, pal: style.Palette) -> None:
    """The profile layout: price on y, one horizontal bar per bin from an empty bin's Z to the bin's Z."""
    from matplotlib.ticker import FuncFormatter

    decimals = style.map_decimals(m)
    centres = (m.price_low + m.price_high) / 2
    heights = (m.price_high - m.price_low) * 0.92
    z0 = style.zero_notional_z(m)
    ax.barh(centres, m.z - z0, left=z0, height=heights, color=style.bin_colors(m, pal), linewidth=0)

    z_max = max(float(np.max(m.z)), max(style.Z_GUIDES)) if m.z.size else max(style.Z_GUIDES)
    ax.set_xlim(z0, z_max + (z_max - z0) * 0.45)  # room on the right for cluster labels
    ax.set_ylim(float(m.price_low[0]), float(m.price_high[-1]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: style.format_price(v, decimals)))
    ax.set_ylabel(f"price ({m.symbol})")
    ax.set_xlabel(f"Z-score of bin notional against the {_z_population(m)}; bars start at an empty bin", fontsize=9)
    ax.grid(axis="y", color="#e6e6e6", linewidth=0.6)
    ax.set_axisbelow(True)

    for z, name in zip(style.Z_GUIDES, style.Z_GUIDE_NAMES):
        ax.axvline(z, color="#555555", linestyle=(0, (4, 3)), linewidth=0.8)
        ax.text(z, 1.0, f" {name} {z:g}", transform=ax.get_xaxis_transform(), fontsize=8, color="#444444",
                rotation=90, va="top", ha="right")

    ax.axhline(m.price, color=pal.price, linewidth=1.2)
    _notional_scale(ax, m, z0, "x")
    _label_clusters(ax, m, pal, f"price {style.format_price(m.price, decimals + 1)}")


def _z_population(m: LiqMap) -> str:
    """The population the map's Z-scores were taken against, as the map's model records it."""
    return str(m.model.get("reading", {}).get("z_population", "map's bins"))


def _notional_scale(ax, m: LiqMap, z0: float, axis: str) -> None:
    """A second scale in notional along the Z axis, so the absolute size sits beside every Z.

    ``axis="x"`` (profile): on top; ``axis="y"`` (map): to the left of the Z scale.
    """
    from matplotlib.ticker import FuncFormatter

    total = m.total
    if total.size < 2 or np.ptp(total) == 0:
        return
    z_per_usd = float((np.max(m.z) - z0) / np.max(total))
    functions = (lambda z: (z - z0) / z_per_usd, lambda x: z0 + x * z_per_usd)
    if axis == "x":
        scale = ax.secondary_xaxis("top", functions=functions)
        scale.set_xlabel("outstanding liquidation notional per bin", fontsize=9)
        scale.xaxis.set_major_formatter(FuncFormatter(lambda v, _: style.format_usd(v)))
    else:
        scale = ax.secondary_yaxis(-0.075, functions=functions)
        scale.set_ylabel("notional per bin (USD)", fontsize=9)
        scale.yaxis.set_major_formatter(FuncFormatter(lambda v, _: style.format_usd(v)))


def _label_clusters(ax, m: LiqMap, pal: style.Palette, price_text: str) -> None:
    """``#id $notional · Z · distance`` right of the bars in price order, with the price's own label among
    them (so no label hides it), each joined to its bar's end by a leader line that runs across from the
    bar and then to its label: no two lines cross."""
    clusters = style.labelled_clusters(m)
    y_lo, y_hi = ax.get_ylim()
    min_gap = (y_hi - y_lo) * 0.045
    items: list[tuple[float, float | None, str, str, str]] = [
        (c.peak, c.z, style.cluster_label(c), pal.cluster_color(c.id), style.LEADER_COLOR) for c in clusters]
    items.append((m.price, None, price_text, pal.price, pal.price))
    items.sort(key=lambda item: item[0])
    placed = style.spread_labels(np.array([item[0] for item in items]), min_gap, y_lo + min_gap / 2,
                                 y_hi - min_gap / 2)
    x_lo, x_text = ax.get_xlim()
    knee = float(np.max(m.z)) + (x_text - x_lo) * 0.01
    labels = []
    for (price, z, text, box, line), y in zip(items, placed):
        start = [(z, price)] if z is not None else []
        labels.append((text, [*start, (knee, price), (x_text, y)], box, line))
    _leader_labels(ax, labels, ha="right")


def _draw_liq_ratio(ax, m: LiqMap, pal: style.Palette) -> None:
    """One bar per band: red share = long notional below price, green = short notional above."""
    ax.set_title("LiqRatio: long below vs short above", fontsize=10, loc="left", pad=16)
    bands = m.liq_ratio
    ys = np.arange(len(bands))[::-1]
    for y, band in zip(ys, bands):
        share = band.long_share
        if share is None:
            ax.barh(y, 1.0, color="#eeeeee")
            ax.text(0.5, y, "nothing in band", ha="center", va="center", fontsize=8, color="#666666")
            continue
        ax.barh(y, share, color=pal.long)
        ax.barh(y, 1 - share, left=share, color=pal.short)
        if share >= style.MIN_LABELLED_SHARE:
            ax.text(0.02, y, style.format_usd(band.long_below), ha="left", va="center", fontsize=8, color="white",
                    fontweight="bold")
        if 1 - share >= style.MIN_LABELLED_SHARE:
            ax.text(0.98, y, style.format_usd(band.short_above), ha="right", va="center", fontsize=8, color="white",
                    fontweight="bold")
        ax.text(1.03, y, style.format_ratio(band), ha="left", va="center", fontsize=8.5)
    ax.axvline(0.5, color="white", linewidth=1, linestyle=(0, (2, 2)))
    ax.set_yticks(ys, [f"±{b.pct:g}%" for b in bands], fontsize=9)
    ax.set_xlim(0, 1)
    ax.set_xticks([])
    ax.text(1.03, len(bands) - 0.45, "ratio", ha="left", va="bottom", fontsize=8, color="#444444")
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_xlabel(style.LIQRATIO_LEGEND.replace(" · ", "\n"), fontsize=8, color="#444444")


def _draw_notes(ax, m: LiqMap, pal: style.Palette, layout: str) -> None:
    """The key, as short sentences in the colours they describe, and the nearest magnets.

    Plain texts rather than a legend box: the labels on the chart already show
    each cluster's colour, and a legend is the costliest artist to lay out.
    """
    import textwrap

    from matplotlib.patches import Rectangle

    ax.axis("off")
    decimals = style.map_decimals(m)
    notes = [(style.CLUSTER_LEGEND.replace(" · ", "; "), "#333333")]
    venues = style.map_venues(m)
    if layout == "map" and not venues:
        notes.append(("solid part of a bar = longs, light part = shorts", "#333333"))
    if layout == "map":
        notes += [("━ cumulative long liquidations as price falls (right axis)", pal.long),
                  ("━ cumulative short liquidations as price rises (right axis)", pal.short)]
    notes.append((f"Z against the {_z_population(m)}", "#555555"))
    for label, cid in (("nearest above", m.nearest_above), ("nearest below", m.nearest_below)):
        if cid is not None:
            c = m.cluster(cid)
            notes.append((f"{label}: #{c.id} at {style.format_price(c.peak, decimals)} "
                          f"({c.distance_pct:+.2f}%, {style.format_distance_atr(c, 1)} ATR)", pal.cluster_color(c.id)))
    if layout == "map" and venues:  # last: the venue key follows it
        notes.append(("bars stacked by venue, bottom to top, each venue in a shade of the bar's colour:", "#333333"))
    width_chars = max(30, int(ax.get_position().width * ax.figure.bbox.width / (8.5 * ax.figure.dpi / 72 * 0.58)))
    line_px = 8.5 * ax.figure.dpi / 72 * 1.45
    y = 1.0
    step = line_px / (ax.get_position().height * ax.figure.bbox.height)
    for text, color in notes:
        wrapped = textwrap.fill(text, width_chars, subsequent_indent="  ")
        ax.text(0.0, y, wrapped, transform=ax.transAxes, fontsize=8.5, va="top", color=color)
        y -= step * (wrapped.count("\n") + 1.4)
    if venues and layout == "map":
        # the venue key: one swatch per venue in each shade of a bar
        swatch = 14 / (ax.get_position().width * ax.figure.bbox.width)
        for k, v in enumerate(venues):
            ax.add_patch(Rectangle((0.0, y - step * 0.95), swatch, step * 0.9, transform=ax.transAxes,
                                   facecolor=style.venue_shade(pal.cluster_color(1), k), linewidth=0))
            ax.text(swatch * 1.5, y, v, transform=ax.transAxes, fontsize=8.5, va="top", color="#333333")
            y -= step * 1.2


def check_image_path(path) -> Path:
    """``path`` as a Path if a picture can be written there: a known suffix, an existing folder."""
    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ValueError(f"cannot write {path}: the file name must end in one of {', '.join(IMAGE_SUFFIXES)}")
    if path.parent and not path.parent.exists():
        raise FileNotFoundError(f"cannot write {path}: folder {path.parent} does not exist")
    return path


def _save(fig, path, dpi: int) -> Path:
    path = check_image_path(path)
    # zlib level 1: a PNG 5 % larger, encoded in two thirds of the time of the default level 6
    fig.savefig(path, dpi=dpi, **({"pil_kwargs": {"compress_level": 1}} if path.suffix.lower() == ".png" else {}))
    return path


def save_heatmap_png(
    h: Heatmap,
    path,
    *,
    liquidations: Liquidations | None = None,
    scale: str = "log",
    palette: str = "default",
    width_px: int = 1400,
    height_px: int | None = None,
    dpi: int = 110,
) -> Path:
    """Draw the heatmap (time × price) with the price path and write it to ``path``.

    ``scale`` is "log" (log10 of notional) or "z" (Z-score within each time
    row); the colour bar says which.  ``liquidations`` (realized, optional)
    are drawn on the price path and as bars under the heatmap, so estimate
    and reality can be compared by eye.
    """
    fig = heatmap_figure(h, liquidations=liquidations, scale=scale, palette=palette, width_px=width_px,
                         height_px=height_px, dpi=dpi)
    return _save(fig, path, dpi)


def heatmap_figure(h: Heatmap, *, liquidations: Liquidations | None = None, scale: str = "log",
                   palette: str = "default", width_px: int = 1400, height_px: int | None = None, dpi: int = 110):
    """The heatmap as a matplotlib ``Figure`` (see :func:`save_heatmap_png`)."""
    from matplotlib.colors import LinearSegmentedColormap
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    pal = style.palette(palette)
    cells = style.heatmap_cells(h, scale)
    realized = style.realized_in_span(h, liquidations)
    height_px = height_px or round(width_px * 0.6)
    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi, layout="constrained")
    if realized is not None:
        ax, ax_liq = fig.subplots(2, 1, sharex=True, height_ratios=(4, 1))
    else:
        ax, ax_liq = fig.subplots(1, 1), None
    fig.suptitle(f"{style.heatmap_title(h)}\n{style.heatmap_subtitle(h)}", fontsize=11, x=0.01, ha="left")

    time_edges = style.heatmap_time_edges(h).astype("datetime64[ms]")
    price_edges = np.append(h.price_low, h.price_high[-1])
    vmin, vmax = style.heatmap_range(cells, scale)
    cmap = LinearSegmentedColormap.from_list("liqmap-heat", style.HEATMAP_COLORS)
    mesh = ax.pcolormesh(time_edges, price_edges, np.ma.masked_invalid(cells).T, cmap=cmap,
                         vmin=vmin, vmax=vmax, shading="flat", rasterized=True)
    ax.set_facecolor(style.HEATMAP_EMPTY)  # darker than any filled cell: empty cells read as "nothing"
    ax.plot(h.time.astype("datetime64[ms]"), h.price, color=style.PRICE_PATH, linewidth=1.1, label="price (close)")
    decimals = style.price_decimals(float(np.median(h.price_high - h.price_low)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: style.format_price(v, decimals)))
    ax.set_ylabel(f"price ({h.symbol})")
    ax.set_ylim(*style.heatmap_price_view(h))
    bar = fig.colorbar(mesh, ax=ax if ax_liq is None else [ax, ax_liq], pad=0.01, fraction=0.04)
    bar.set_label(style.HEATMAP_SCALES[scale], fontsize=9)
    if scale == "log":
        from matplotlib.ticker import MultipleLocator

        bar.ax.yaxis.set_major_locator(MultipleLocator(1.0 if vmax - vmin > 2 else 0.5))
        bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: style.format_usd(10**v)))

    if realized is not None:
        _draw_realized(ax, ax_liq, h, realized, pal)
    ax.legend(loc="upper left", fontsize=8, framealpha=0.85)
    return fig


def _draw_realized(ax, ax_liq, h: Heatmap, realized: Liquidations, pal: style.Palette) -> None:
    """Realized liquidations: bars per bar-interval under the map, and the largest as marks on the price path."""
    from matplotlib.ticker import FuncFormatter

    starts = realized.time.astype("datetime64[ms]")
    width = np.timedelta64(int(realized.interval_ms), "ms")
    ax_liq.bar(starts, realized.short_usd, width=width, align="edge", color=pal.short, label="shorts liquidated")
    ax_liq.bar(starts, -realized.long_usd, width=width, align="edge", color=pal.long, label="longs liquidated")
    ax_liq.axhline(0, color="#333333", linewidth=0.6)
    ax_liq.yaxis.set_major_formatter(FuncFormatter(lambda v, _: style.format_usd(abs(v))))
    ax_liq.set_ylabel("realized", fontsize=9)
    ax_liq.set_title(f"realized liquidations ({realized.source or 'source unknown'}): up = shorts liquidated, "
                     "down = longs liquidated", fontsize=8, loc="left")
    ax_liq.grid(axis="y", color="#e6e6e6", linewidth=0.6)

    marks = style.large_realized(h, realized)
    for side, color, marker in (("long", pal.long, "v"), ("short", pal.short, "^")):
        at = marks[side]
        if at["time"].size:
            ax.scatter(at["time"].astype("datetime64[ms]"), at["price"], s=at["size"], marker=marker, color=color,
                       edgecolors="white", linewidths=0.6, zorder=3, label=f"{side}s liquidated (largest hours)")
