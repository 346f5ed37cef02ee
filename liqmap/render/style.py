"""What every picture of a map shares: palettes, number formats, cluster colouring, hover text.

The static (matplotlib), interactive (plotly) and table (rich) renderers all
take their colours and wording from here, so a cluster looks and reads the
same in a PNG, on the web page and in the terminal.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..analysis.results import Cluster, Heatmap, LiqMap, LiqRatioBand, format_window
from ..frames import MS_PER_HOUR, MS_PER_MINUTE, Liquidations, format_ms

#: Z-score guide lines drawn on every map: the lower bounds of mild, notable and major.
Z_GUIDES = (1.0, 1.5, 2.5)
Z_GUIDE_NAMES = ("mild", "notable", "major")

#: How a LiqMap is laid out.  "map": price across, strength rising from the price axis, with the
#: cumulative curves (the way liquidation maps are usually read); "profile": price up the side, in
#: line with the heatmap's price axis.
LAYOUTS = ("map", "profile")
#: How many of the map's top-ranked clusters get a label (the nearest magnets always get one too).
LABELLED_CLUSTERS = 8
#: A Multi map's bars are stacked by venue, in the map's venue order from the bottom: the first venue
#: in the bar's colour, each next one that colour mixed with this share of white.
VENUE_SHADES = (0.0, 0.5, 0.72, 0.86)
#: Leader lines from a cluster to its label: a neutral grey, so they never read as bars.
LEADER_COLOR = "#6f6f6f"
#: Opacity of the short part of a bar in the "map" layout: solid = long, light = short.
SHORT_PART_ALPHA = 0.6


@dataclass(frozen=True)
class Palette:
    """Colours of one palette.

    ``clusters`` only tell clusters apart (they never mean direction), so they
    avoid the red and green that ``long`` and ``short`` liquidations own.
    """

    name: str
    clusters: tuple[str, ...]
    noise: str
    long: str
    short: str
    price: str

    def cluster_color(self, cluster_id: int) -> str:
        """Cluster ``id`` (1, 2, ...)'s colour: the palette's own first, then generated ones, never repeated."""
        k = int(cluster_id) - 1
        if k < len(self.clusters):
            return self.clusters[k]
        return _extra_colors(self, k - len(self.clusters) + 1)[-1]


@lru_cache(maxsize=8)
def _extra_colors_cached(pal: Palette, n: int) -> tuple[str, ...]:
    # the direction colours' hues and plain red and green: a cluster must not look like a direction
    hues_to_avoid = [colorsys.rgb_to_hls(*_rgb(c))[0] for c in (pal.long, pal.short)] + [0.0, 1 / 3]
    taken = {c.lower() for c in (*pal.clusters, pal.noise, pal.long, pal.short, pal.price)}
    out: list[str] = []
    j = 0
    while len(out) < n:
        # golden-ratio hue steps spread any number of colours evenly; three lightness and two
        # saturation levels multiply the distinct ones; hues near the direction colours are skipped
        hue = (0.58 + j * 0.618033988749895) % 1.0
        light, sat = (0.42, 0.58, 0.33)[j % 3], (0.70, 0.50)[(j // 3) % 2]
        j += 1
        if min(min(abs(hue - h), 1 - abs(hue - h)) for h in hues_to_avoid) < 0.07:
            continue
        rgb = colorsys.hls_to_rgb(hue, light, sat)
        color = "#{:02x}{:02x}{:02x}".format(*(round(v * 255) for v in rgb))
        # while candidates are plenty, also keep clear of colours close to one already used
        if j < 400 and min(math.dist(rgb, _rgb(c)) for c in taken) < 0.16:
            continue
        if color not in taken:
            taken.add(color)
            out.append(color)
    return tuple(out)


def _extra_colors(pal: Palette, n: int) -> tuple[str, ...]:
    """The first ``n`` generated cluster colours of a palette (computed in blocks of 64, cached)."""
    return _extra_colors_cached(pal, -(-n // 64) * 64)[:n]


def _rgb(color: str) -> tuple[float, float, float]:
    value = color.lstrip("#")
    r, g, b = (int(value[i:i + 2], 16) / 255 for i in (0, 2, 4))
    return r, g, b


PALETTES = {
    "default": Palette(
        name="default",
        clusters=("#1f77b4", "#ff7f0e", "#9467bd", "#17becf", "#8c564b", "#e377c2", "#bcbd22", "#393b79"),
        noise="#b9bec7",
        long="#d62728",
        short="#2ca02c",
        price="#111111",
    ),
    # Paul Tol's "muted" set without its green and rose, and Okabe-Ito's
    # vermillion / bluish green for direction: safe for the common colour-vision deficiencies.
    "colorblind": Palette(
        name="colorblind",
        clusters=("#332288", "#88CCEE", "#DDCC77", "#AA4499", "#0077BB", "#882255", "#999933"),
        noise="#c8c8c8",
        long="#D55E00",
        short="#009E73",
        price="#000000",
    ),
}

#: Heatmap colour scales and what each says on the colour bar.
HEATMAP_SCALES = {
    "log": "outstanding liquidation notional per cell, USDT (log scale)",
    "z": "Z-score of the cell within its time row (non-empty cells)",
}
#: Filled cells' colours, dark to bright: matplotlib's "magma" (perceptually uniform, readable with
#: colour-vision deficiencies) from 0.2 up, so the weakest filled cell is deep purple and black,
#: the backdrop of empty cells, means only "nothing outstanding".
HEATMAP_COLORS = ("#3b0f70", "#641a80", "#8c2981", "#b73779", "#de4968", "#f7705c", "#fe9f6d", "#fecf92", "#fcfdbf")
#: The same colours as a plotly colour scale.
HEATMAP_COLORSCALE = [[k / (len(HEATMAP_COLORS) - 1), c] for k, c in enumerate(HEATMAP_COLORS)]
#: What empty cells show: nothing outstanding.
HEATMAP_EMPTY = "#000004"
PRICE_PATH = "#00e5ff"
#: Filled cells below this percentile are drawn in the darkest colour.
HEATMAP_FLOOR_PERCENTILE = 20
#: On the log scale the colours span at most this many powers of ten.
HEATMAP_LOG_DECADES = 3.0
#: The heatmap's price axis takes in every price bin that is, at some time, at least this share of the
#: strongest cell, however far from the price path: the strongest levels are never off the picture.
HEATMAP_VIEW_LEVEL_SHARE = 0.5
#: Around the price path (and those levels) the price axis adds this share of the path's range each way.
HEATMAP_VIEW_PAD = 0.35
#: Realized liquidation hours at or above this quantile (per side) are marked on the price path.
REALIZED_MARK_QUANTILE = 0.95

#: A LiqRatio side narrower than this share of its bar has no room for its amount.
MIN_LABELLED_SHARE = 0.16

CLUSTER_LEGEND = "bar colours tell clusters apart; they never mean direction · grey = noise (Z < 1)"
LIQRATIO_LEGEND = "red = long liquidations below price · green = short liquidations above"


def check_layout(name: str) -> str:
    """The layout name, or a ValueError naming the choices."""
    if name not in LAYOUTS:
        raise ValueError(f"layout {name!r} is unknown; choose one of {', '.join(LAYOUTS)}")
    return name


def palette(name: str) -> Palette:
    try:
        return PALETTES[name]
    except KeyError:
        raise ValueError(f"palette {name!r} is unknown; choose one of {', '.join(PALETTES)}") from None


def price_decimals(step: float) -> int:
    """Decimals that show a price to the resolution ``step`` (a bin width or tick), no more."""
    if not np.isfinite(step) or step <= 0:
        return 2
    return int(min(8, max(0, -math.floor(math.log10(step) + 1e-9))))


def format_price(value: float, decimals: int) -> str:
    """Thousands separators and a fixed number of decimals: ``91,234.5``."""
    return f"{value:,.{decimals}f}"


def format_usd(value: float) -> str:
    """Compact notional for labels: ``$1.23B``, ``$45.6M``, ``$789k``, ``$512``."""
    sign = "-" if value < 0 else ""
    size = abs(float(value))
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if size >= scale:
            digits = 3 - len(str(int(size // scale)))
            return f"{sign}${size / scale:.{max(digits, 0)}f}{unit}"
    return f"{sign}${size:.0f}"


def format_ratio(band: LiqRatioBand) -> str:
    """A LiqRatio band's long/short ratio: ``1.07``, ``1,336``, ``∞`` (nothing above), ``—`` (empty band)."""
    if band.ratio is None:
        return "∞" if band.long_below > 0 else "—"
    return f"{band.ratio:,.0f}" if band.ratio >= 100 else f"{band.ratio:.2f}"


def format_age(seconds: float) -> str:
    """``3d 4h``, ``2h 05m``, ``12m``: how old a map is, for people."""
    seconds = max(0.0, float(seconds))
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {mins:02d}m"
    return f"{mins}m"


def map_decimals(m: LiqMap) -> int:
    """Price decimals for a map: the resolution of its bins."""
    widths = m.price_high - m.price_low
    return price_decimals(float(np.median(widths)) if widths.size else 0.0)


def bin_cluster_ids(m: LiqMap) -> np.ndarray:
    """The id of the cluster each bin belongs to (by bin centre), 0 for bins in no cluster."""
    centres = (m.price_low + m.price_high) / 2
    ids = np.zeros(centres.size, dtype=np.int64)
    if not m.clusters:
        return ids
    lows = np.array([c.price_low for c in m.clusters])
    highs = np.array([c.price_high for c in m.clusters])
    cluster_ids = np.array([c.id for c in m.clusters], dtype=np.int64)
    order = np.argsort(lows)
    lows, highs, cluster_ids = lows[order], highs[order], cluster_ids[order]
    # The last cluster starting at or below each centre; inside it if the centre is below its top.
    k = np.searchsorted(lows, centres, side="right") - 1
    inside = (k >= 0) & (centres <= highs[np.clip(k, 0, None)])
    ids[inside] = cluster_ids[k[inside]]
    return ids


def bin_colors(m: LiqMap, pal: Palette) -> list[str]:
    """One colour per bin: its cluster's colour, or the noise grey."""
    ids = bin_cluster_ids(m)
    return [pal.cluster_color(i) if i else pal.noise for i in ids.tolist()]


def labelled_clusters(m: LiqMap) -> list[Cluster]:
    """The clusters that get a label: the top-ranked ``LABELLED_CLUSTERS`` and the nearest magnet each way."""
    keep = {c.id for c in m.clusters[:LABELLED_CLUSTERS]} | {m.nearest_above, m.nearest_below}
    return [c for c in m.clusters if c.id in keep]


def cluster_label(c: Cluster, sep: str = " · ") -> str:
    """``#3 $1.66B · Z 2.7 · +2.4%``: id, notional, Z (its peak bin's) and distance from price;
    ``sep`` goes between the notional and the Z (a line break makes a narrow two-line label)."""
    return f"#{c.id} {format_usd(c.notional)}{sep}Z {c.z:.1f} · {c.distance_pct:+.1f}%"


def cumulative_liquidations(m: LiqMap) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The two cumulative curves: ``(long_x, long_y, short_x, short_y)``.

    ``long_y`` at ``long_x`` is the long notional that price would liquidate on
    its way down from the current price to ``long_x`` (bins starting below price,
    nearest first, each reached at its lower edge); ``short_y`` likewise upward
    to each upper edge.  Both start at (price, 0); the bin holding the price
    counts in both, its longs below and its shorts above.
    """
    below = np.flatnonzero(m.price_low < m.price)[::-1]
    above = np.flatnonzero(m.price_high > m.price)
    start_x, start_y = np.array([m.price]), np.zeros(1)
    return (
        np.concatenate((start_x, m.price_low[below])), np.concatenate((start_y, np.cumsum(m.long[below]))),
        np.concatenate((start_x, m.price_high[above])), np.concatenate((start_y, np.cumsum(m.short[above]))),
    )


def label_slots(x: np.ndarray, width: float, lo: float, hi: float,
                clearance: float) -> tuple[np.ndarray, np.ndarray]:
    """Labels of one ``width`` along the top, in the order of the sorted ``x`` and as near it as they can be:
    ``(centres, rows)``, rows counted upward from 0.

    One row when they fit side by side; else label i goes in row i % k with centres at least
    ``width / 2 + clearance`` apart, so the leader line up to each label passes between the boxes of
    the rows below it.  Leader lines that keep this order never cross.  When even that does not fit,
    the centres share the room evenly and take as many rows as keep the boxes of a row apart.
    """
    n = x.size
    low, high = lo + width / 2, hi - width / 2
    room = max(high - low, 0.0)
    if n <= 1 or (n - 1) * (width + clearance) <= room:
        step, k = width + clearance, 1
    else:
        step = min(width / 2 + clearance, room / (n - 1))
        k = max(2, math.ceil((width + clearance) / step))
    return spread_labels(x, step, low, high), np.arange(n) % k


def zero_notional_z(m: LiqMap) -> float:
    """The Z-score an empty bin would have: where bars start, so bar length is proportional to notional.

    Z is linear in a bin's notional, ``z = (x - mean) / std``; the intercept is
    read back from the map itself (least squares over its bins).  When the map
    is flat the baseline is 0.
    """
    total = m.total
    if total.size < 2 or np.ptp(total) == 0:
        return 0.0
    slope, intercept = np.polyfit(total, m.z, 1)
    if not np.isfinite(intercept) or slope <= 0:
        return float(min(0.0, np.min(m.z)))
    return float(min(intercept, np.min(m.z)))


def cluster_hover(c: Cluster, decimals: int) -> str:
    """The cluster's story in a few lines: range, notional, Z, long/short, distance."""
    return (
        f"cluster #{c.id}<br>"
        f"range {format_price(c.price_low, decimals)} – {format_price(c.price_high, decimals)}<br>"
        f"notional {format_usd(c.notional)} · Z {c.z:.2f} ({c.band})<br>"
        f"long {format_usd(c.long)} · short {format_usd(c.short)}<br>"
        f"distance {c.distance_pct:+.2f}% · {format_distance_atr(c, 2)} ATR ({c.reach})"
    )


def format_distance_atr(c: Cluster, digits: int) -> str:
    """A cluster's distance in ATR, or "—" when the map has no ATR."""
    return f"{c.distance_atr:.{digits}f}" if math.isfinite(c.distance_atr) else "—"


def map_venues(m: LiqMap) -> list[str]:
    """The venues a Multi map holds a book for, in the map's order; [] for a single-venue map."""
    return [name for name, part in m.extras.get("venues", {}).items() if part.get("bins")]


def venue_shade(color: str, k: int) -> str:
    """The colour of venue ``k``'s part of a bar whose colour is ``color`` (see ``VENUE_SHADES``)."""
    white = VENUE_SHADES[min(k, len(VENUE_SHADES) - 1)]
    return "#{:02x}{:02x}{:02x}".format(*(round((v + (1 - v) * white) * 255) for v in _rgb(color)))


def map_title(m: LiqMap) -> str:
    """Symbol, exchange (``Multi (binance + hyperliquid)`` for a Multi map), view and window."""
    venues = map_venues(m)
    where = f"Multi ({' + '.join(venues)})" if venues else m.exchange
    return f"{m.symbol} · {where} · liquidation map · view {m.view} · window {window_text(m.window_ms)}"


def window_text(ms: int) -> str:
    """A window for people: ``30d`` when a unit divides it, else ``23h 59m`` rather than ``86399000ms``."""
    exact = format_window(ms)
    return format_age(ms / 1000) if exact.endswith("ms") and ms >= MS_PER_MINUTE else exact


def format_atr(m: LiqMap, decimals: int) -> str:
    """The map's ATR, or "—" when the data before the as-of time is too short for it."""
    return format_price(m.atr, decimals) if math.isfinite(m.atr) else "—"


def map_subtitle(m: LiqMap) -> str:
    """As-of time, price, ATR, model and age: what the reader needs to trust the picture."""
    decimals = map_decimals(m)
    as_of = m.as_of.replace("T", " ").replace("Z", " UTC")
    stale = "  ⚠ STALE" if m.stale else ""
    return (
        f"as of {as_of} · price {format_price(m.price, decimals + 1)} · ATR {format_atr(m, decimals)} · "
        f"model {m.model.get('name', '?')} · age {format_age(m.age_s)}{stale}"
    )



def heatmap_cells(h: Heatmap, scale: str = "log") -> np.ndarray:
    """The value drawn in each (time, price) cell; NaN where nothing is outstanding.

    "log": log10 of the cell's notional.  "z": the cell's Z-score against the
    non-empty cells of its own row (population std), so each moment's
    strongest levels stand out whatever the book's size.
    """
    if scale not in HEATMAP_SCALES:
        raise ValueError(f"heatmap scale {scale!r} is unknown; choose one of {', '.join(HEATMAP_SCALES)}")
    total = h.total
    filled = total > 0
    if scale == "log":
        return np.where(filled, np.log10(np.where(filled, total, 1.0)), np.nan)
    count = filled.sum(axis=1, keepdims=True)
    mean = np.where(filled, total, 0.0).sum(axis=1, keepdims=True) / np.maximum(count, 1)
    var = np.where(filled, (total - mean) ** 2, 0.0).sum(axis=1, keepdims=True) / np.maximum(count, 1)
    std = np.sqrt(var)
    z = np.divide(total - mean, std, out=np.zeros_like(total), where=std > 0)
    return np.where(filled, z, np.nan)


def heatmap_range(cells: np.ndarray, scale: str = "log") -> tuple[float, float]:
    """Colour limits: the weakest fifth of the filled cells (on a log scale, also anything more than
    ``HEATMAP_LOG_DECADES`` below the strongest) share the darkest colour, so levels stand out."""
    finite = cells[np.isfinite(cells)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = float(np.percentile(finite, HEATMAP_FLOOR_PERCENTILE)), float(finite.max())
    if scale == "log":
        low = max(low, high - HEATMAP_LOG_DECADES)
    return (low, high) if high > low else (low - 0.5, high + 0.5)


def heatmap_price_view(h: Heatmap) -> tuple[float, float]:
    """The price axis of a heatmap picture: the price path padded by ``HEATMAP_VIEW_PAD`` of its range
    (5 % of price when flat), widened to every bin whose strongest cell reaches ``HEATMAP_VIEW_LEVEL_SHARE``
    of the heatmap's strongest, within the price grid."""
    low, high = float(np.nanmin(h.price)), float(np.nanmax(h.price))
    pad = (high - low) * HEATMAP_VIEW_PAD or high * 0.05
    low, high = low - pad, high + pad
    peak = h.total.max(axis=0) if h.total.size else np.zeros(0)
    if peak.size and peak.max() > 0:
        strong = np.flatnonzero(peak >= HEATMAP_VIEW_LEVEL_SHARE * peak.max())
        low, high = min(low, float(h.price_low[strong[0]])), max(high, float(h.price_high[strong[-1]]))
    return max(float(h.price_low[0]), low), min(float(h.price_high[-1]), high)


def heatmap_step_ms(h: Heatmap) -> int:
    """The spacing of the heatmap's rows (one hour when there is a single row)."""
    return int(np.median(np.diff(h.time))) if h.time.size > 1 else MS_PER_HOUR


def heatmap_time_edges(h: Heatmap) -> np.ndarray:
    """Row t covers ``(time[t] - step, time[t]]``: the book *as of* the row's end."""
    return np.append(h.time[0] - heatmap_step_ms(h), h.time)


def realized_in_span(h: Heatmap, liquidations: Liquidations | None) -> Liquidations | None:
    """The realized liquidation bars inside the heatmap's span, or None when there are none."""
    if liquidations is None or h.time.size == 0:
        return None
    edges = heatmap_time_edges(h)
    inside = liquidations.slice_time(int(edges[0]), int(edges[-1]))
    return inside if len(inside) else None


def large_realized(h: Heatmap, realized: Liquidations) -> dict:
    """Per side, the largest realized hours placed on the price path: time (bar middle), price, usd, marker size."""
    middle = realized.time + realized.interval_ms // 2
    price = np.interp(middle, h.time, h.price)
    marks = {}
    for side, usd in (("long", realized.long_usd), ("short", realized.short_usd)):
        positive = usd[usd > 0]
        cut = np.quantile(positive, REALIZED_MARK_QUANTILE) if positive.size else np.inf
        pick = usd >= cut
        size = 20 + 180 * np.sqrt(usd[pick] / usd.max()) if pick.any() else np.zeros(0)
        marks[side] = {"time": middle[pick], "price": price[pick], "usd": usd[pick], "size": size}
    return marks


def heatmap_title(h: Heatmap) -> str:
    return f"{h.symbol} · {h.exchange} · liquidation heatmap · view {h.view}"


def heatmap_subtitle(h: Heatmap) -> str:
    """Span, row spacing, grid and model: what each cell means."""
    width = float(np.median(h.price_high - h.price_low)) if h.price_low.size else 0.0
    span = f"{format_ms(h.time[0])} → {format_ms(h.time[-1])}".replace("T", " ").replace(":00Z", "")
    return (
        f"{span} UTC · a column every {format_window(heatmap_step_ms(h))} · {h.price_low.size} price bins of "
        f"{format_price(width, price_decimals(width))} · model {h.model.get('name', '?')} · "
        "each column is the book as of its right edge"
    )


def spread_labels(values: np.ndarray, gap: float, lo: float, hi: float) -> np.ndarray:
    """Sorted positions moved the least needed so neighbours are ``gap`` apart, kept within [lo, hi].

    Pushing up from the bottom then down from the top is a running max / min
    of ``value - k * gap``: vectorised, and exact when everything fits.
    """
    k = np.arange(values.size) * gap
    up = np.maximum.accumulate(np.maximum(values, lo) - k) + k
    down = np.minimum.accumulate((np.minimum(up, hi) - k)[::-1])[::-1] + k
    return down if down.size == 0 or down[0] >= lo else lo + k
