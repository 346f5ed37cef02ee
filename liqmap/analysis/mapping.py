"""From binned long/short notional to the map traders read: Z-scores, clusters, LiqRatio, reach.

Pure numpy, no I/O.  ``MapSettings`` holds every reading choice with its
documented default; ``read_map`` turns a book snapshot into a ``LiqMap``.
"""

from __future__ import annotations

import math
from typing import Any
from dataclasses import asdict, dataclass

import numpy as np

from ..options import HEATMAP_MAX_BYTES, OptionError, check_heatmap, check_map_bins, distinct, in_range
from ..timeutil import MAX_SPAN_MS
from .results import Cluster, LiqMap, LiqRatioBand, reach_band
from ..frames import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE


#: Which bins the Z-score's mean and std are taken over.
Z_POPULATIONS = ("nonempty", "all")


@dataclass(frozen=True)
class MapSettings:
    """How a map is gridded and read.

    * grid: bins of ``bin_pct``% of price (rounded to a 1/2/2.5/5 step) over
      ``±span_pct``% around it;
    * Z-score population (``z_population``): the non-empty bins of this view's
      map (default) or all bins of the grid, by total notional (population
      standard deviation); a cluster's Z is its peak bin's;
    * clusters: runs of bins with Z >= ``cluster_floor_z`` grown down their
      slopes, split at valleys of the smoothed profile lower than
      ``valley_ratio`` of the smaller neighbouring peak; kept when the peak
      bin's Z >= ``cluster_min_z``;
    * ATR: Wilder ``atr_period`` on ``atr_interval_ms`` bars;
    * optical view: weight ``exp(-0.5 * (distance / (optical_atr_scale * ATR))**2)``
      times a recency half-life of ``optical_half_life_ms`` on each level;
    * staleness: a map older than ``stale_after_ms`` (against the wall clock) is stale.
    """

    bin_pct: float = 0.1
    span_pct: float = 20.0
    cluster_floor_z: float = 0.5
    cluster_min_z: float = 1.0
    valley_ratio: float = 0.5
    liq_ratio_bands: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0)
    atr_period: int = 14
    atr_interval_ms: int = MS_PER_HOUR
    optical_atr_scale: float = 4.0
    optical_half_life_ms: int = 3 * MS_PER_DAY
    stale_after_ms: int = 2 * MS_PER_HOUR
    z_population: str = "nonempty"

    def __post_init__(self):
        """Refuse settings no map can be read with, naming the bound (numbers finite, lists distinct)."""
        if self.z_population not in Z_POPULATIONS:
            raise OptionError(f"z_population must be one of {', '.join(Z_POPULATIONS)}, not {self.z_population!r}")
        set_ = object.__setattr__
        set_(self, "bin_pct", in_range("bin_pct", self.bin_pct, 0.01, 10, unit="(% of price per bin)"))
        set_(self, "span_pct", in_range("span_pct", self.span_pct, 0, 90, low_open=True,
                                        unit="(% around price; 100 would reach price 0)"))
        set_(self, "cluster_floor_z", in_range("cluster_floor_z", self.cluster_floor_z, 0, 10))
        set_(self, "cluster_min_z", in_range("cluster_min_z", self.cluster_min_z, 0, 10))
        set_(self, "valley_ratio", in_range("valley_ratio", self.valley_ratio, 0, 1))
        bands = distinct("liq_ratio_bands", (in_range("liq_ratio_bands", b, 0, 100, low_open=True,
                                                       unit="(% around price)") for b in self.liq_ratio_bands))
        if len(bands) > 20:
            raise OptionError(f"liq_ratio_bands has {len(bands)} bands; at most 20")
        set_(self, "liq_ratio_bands", bands)
        set_(self, "atr_period", in_range("atr_period", self.atr_period, 1, 1000, integer=True))
        set_(self, "atr_interval_ms", in_range("atr_interval_ms", self.atr_interval_ms, MS_PER_MINUTE, 7 * MS_PER_DAY,
                                               integer=True, unit="(1 minute .. 7 days)"))
        set_(self, "optical_atr_scale", in_range("optical_atr_scale", self.optical_atr_scale, 0, 100, low_open=True))
        set_(self, "optical_half_life_ms", in_range("optical_half_life_ms", self.optical_half_life_ms, MS_PER_MINUTE,
                                                    365 * MS_PER_DAY, integer=True, unit="(1 minute .. 365 days)"))
        set_(self, "stale_after_ms", in_range("stale_after_ms", self.stale_after_ms, 1, MAX_SPAN_MS, integer=True))

    def describe(self) -> dict:
        data = asdict(self)
        data["z_population"] = {
            "nonempty": "non-empty bins of this view's map, by total notional (population std)",
            "all": "every bin of this view's map grid, by total notional (population std)",
        }[self.z_population]
        data["atr"] = f"Wilder {self.atr_period} on {self.atr_interval_ms // MS_PER_MINUTE}-minute bars"
        return data


def nice_step(raw: float) -> float:
    """The 1/2/2.5/5 x 10^k step nearest (in log terms) to ``raw``."""
    if not raw > 0:
        raise ValueError(f"bin width must be positive, got {raw}")
    exponent = math.floor(math.log10(raw))
    candidates = [m * 10.0**e for e in (exponent - 1, exponent, exponent + 1) for m in (1, 2, 2.5, 5)]
    return min(candidates, key=lambda c: abs(math.log(c / raw)))


def price_grid(price: float, bin_pct: float = 0.1, span_pct: float = 20.0) -> np.ndarray:
    """Bin edges on a round step of about ``bin_pct``% of price, covering ``±span_pct``%."""
    step, lo, hi = _grid_range(price, bin_pct, span_pct)
    return _grid_edges(step, lo, hi)


def map_grid(price: float, settings: MapSettings) -> tuple[np.ndarray, tuple[int, int]]:
    """The grid a map's book is read on, and the bins ``[a, b)`` of it the map shows (``price_grid``).

    The reading grid reaches the widest LiqRatio band when that is wider than
    ``span_pct``, so a band counts every level within it, not only the charted ones.
    """
    widest = max(settings.span_pct, *settings.liq_ratio_bands)
    step, lo, hi = _grid_range(price, settings.bin_pct, widest)
    _, shown_lo, shown_hi = _grid_range(price, settings.bin_pct, settings.span_pct)
    return _grid_edges(step, lo, hi), (shown_lo - lo, shown_hi - lo)


def _grid_range(price: float, bin_pct: float, span_pct: float) -> tuple[float, int, int]:
    """The grid's step and its first and last edge as multiples of it."""
    if not (math.isfinite(price) and price > 0):
        raise ValueError(f"the price to centre the map on must be positive and finite, got {price!r}")
    step = nice_step(price * bin_pct / 100.0)
    lo = max(math.floor(price * (1 - span_pct / 100.0) / step), 0)
    hi = math.ceil(price * (1 + span_pct / 100.0) / step)
    check_map_bins(hi - lo, bin_pct, span_pct)
    return step, lo, hi


def _grid_edges(step: float, lo: int, hi: int) -> np.ndarray:
    decimals = max(0, -math.floor(math.log10(step)) + 2)
    return np.round(np.arange(lo, hi + 1) * step, decimals)


def mass_below(binned: np.ndarray, edges: np.ndarray, price: np.ndarray) -> np.ndarray:
    """Per row t, the mass of ``binned[t]`` below each of ``price[t]`` (shape (rows, k)).

    Mass is spread evenly in price within a bin, so a partly covered bin
    contributes its covered fraction; prices outside the grid are clipped.
    """
    binned = np.asarray(binned, dtype=np.float64)
    rows = np.arange(binned.shape[0])[:, None]
    cum = np.concatenate((np.zeros((binned.shape[0], 1)), np.cumsum(binned, axis=1)), axis=1)
    x = np.clip(price, edges[0], edges[-1])
    j = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, edges.size - 2)
    fraction = (x - edges[j]) / (edges[j + 1] - edges[j])
    return cum[rows, j] + binned[rows, j] * fraction


def rebin(binned: np.ndarray, edges: np.ndarray, onto: np.ndarray) -> np.ndarray:
    """Rows binned on ``edges`` spread over the grid ``onto`` (mass evenly within a bin, as ``mass_below``)."""
    return np.diff(mass_below(binned, edges, np.broadcast_to(onto, (np.shape(binned)[0], onto.size))), axis=1)


def heatmap_lattice(candles, settings: MapSettings) -> tuple[float, float, int]:
    """The default heatmap grid as (first edge, step, bins): a round step of about ``bin_pct`` of the
    median close, its edges multiples of the step, over the range +- ``span_pct``."""
    lo = float(candles.low.min()) * (1 - settings.span_pct / 100)
    hi = float(candles.high.max()) * (1 + settings.span_pct / 100)
    step = nice_step(float(np.median(candles.close)) * settings.bin_pct / 100)
    start = math.floor(lo / step) * step
    count = int(math.ceil((hi - start) / step))
    check_heatmap(1, count, 1, 0, HEATMAP_MAX_BYTES)
    return start, step, count


def lattice_edges(start: float, step: float, bins: int) -> np.ndarray:
    """The ``bins + 1`` edges ``start + k * step`` (the same floats wherever they are rebuilt)."""
    return start + np.arange(bins + 1) * step


def zscores(total: np.ndarray, population: str = "nonempty") -> tuple[np.ndarray, float, float]:
    """Z of every bin against the population's mean and (population) std.

    ``nonempty``: the bins holding any notional (empty price ranges would drag
    the mean to zero on a sparse map); ``all``: every bin of the grid.
    """
    values = total[total > 0] if population == "nonempty" else total
    if values.size < 2:
        return np.zeros_like(total), float(values.mean()) if values.size else 0.0, 0.0
    mean, std = float(values.mean()), float(values.std())
    if std == 0:
        return np.zeros_like(total), mean, 0.0
    return (total - mean) / std, mean, std


def find_clusters(total: np.ndarray, z: np.ndarray, settings: MapSettings) -> list[tuple[int, int]]:
    """Bin index ranges [a, b] (inclusive) of the clusters, before filtering by peak Z.

    Cores are runs of bins with Z >= ``cluster_floor_z``; each core grows down
    its slopes while the profile keeps falling (and is not empty), then is
    split at deep valleys of the smoothed profile.
    """
    strong = z >= settings.cluster_floor_z
    if not strong.any():
        return []
    smooth = np.convolve(total, [0.25, 0.5, 0.25], mode="same").tolist()
    edges = np.flatnonzero(np.diff(np.concatenate(([0], strong.astype(np.int8), [0])))).tolist()
    values = total.tolist()  # the walks below step bin by bin: Python floats, not numpy scalars
    last = len(values) - 1
    ranges: list[tuple[int, int]] = []
    for a, b in zip(edges[0::2], [e - 1 for e in edges[1::2]]):
        while a > 0 and 0 < values[a - 1] <= values[a]:
            a -= 1
        while b < last and 0 < values[b + 1] <= values[b]:
            b += 1
        if ranges and a <= ranges[-1][1]:
            a = ranges[-1][1] + 1  # slopes of neighbouring cores meet: split where the first ended
        ranges.extend(_split_at_valleys(smooth, a, b, settings.valley_ratio))
    return ranges


def _split_at_valleys(smooth: list[float], a: int, b: int, ratio: float) -> list[tuple[int, int]]:
    """Split the run [a, b] where the profile dips below ``ratio`` of both neighbouring peaks."""
    seg = smooth[a:b + 1]
    if len(seg) < 3:
        return [(a, b)]
    peaks = [0] if seg[0] > seg[1] else []
    peaks += [i for i in range(1, len(seg) - 1) if seg[i] >= seg[i - 1] and seg[i] > seg[i + 1]]
    if seg[-1] > seg[-2]:
        peaks.append(len(seg) - 1)
    cuts = []
    for left, right in zip(peaks[:-1], peaks[1:]):
        between = seg[left:right + 1]
        valley = left + between.index(min(between))  # the first lowest, as argmin
        if seg[valley] < ratio * min(seg[left], seg[right]):
            cuts.append(valley)
    starts = [a] + [a + c + 1 for c in cuts]
    ends = [a + c for c in cuts] + [b]
    return list(zip(starts, ends))


def optical_weights(centres, price, atr, settings: MapSettings) -> np.ndarray:
    """Proximity weight of each bin for the optical view: 1 at price, fading with distance in ATR.

    Broadcasts (rows of prices and ATRs against bin centres for a heatmap).
    Where the ATR is unknown the weight is 1.
    """
    atr = np.asarray(atr, dtype=np.float64)
    scale = np.where(atr > 0, settings.optical_atr_scale * atr, np.inf)
    return np.exp(-0.5 * (np.abs(centres - price) / scale) ** 2)


def liq_ratio_bands(centres, price: float, long, short, pcts) -> list[LiqRatioBand]:
    """Long notional in [price - pct %, price] against short notional in (price, price + pct %], per band."""
    bands = []
    for pct in pcts:
        in_below = (centres >= price * (1 - pct / 100)) & (centres <= price)
        in_above = (centres > price) & (centres <= price * (1 + pct / 100))
        bands.append(LiqRatioBand(pct=pct, long_below=float(long[in_below].sum()), short_above=float(short[in_above].sum())))
    return bands


def read_map(
    *,
    symbol: str,
    exchange: str,
    as_of_ms: int,
    window_ms: int,
    view: str,
    price: float,
    atr: float,
    edges: np.ndarray,
    long: np.ndarray,
    short: np.ndarray,
    model: dict,
    now_ms: int,
    settings: MapSettings,
    extras: dict | None = None,
    shown: tuple[int, int] | None = None,
) -> LiqMap:
    """Assemble a ``LiqMap`` from binned notional: Z, clusters, LiqRatio, nearest magnets, age.

    ``shown``: the bins ``[a, b)`` of ``edges`` the map holds (``map_grid``); the LiqRatio bands
    count all of them.
    """
    if view == "optical":
        weight = optical_weights((edges[:-1] + edges[1:]) / 2, price, atr, settings)
        long, short = long * weight, short * weight
    bands = liq_ratio_bands((edges[:-1] + edges[1:]) / 2, price, long, short, settings.liq_ratio_bands)
    if shown is not None:
        a, b = shown
        edges, long, short = edges[a:b + 1], long[a:b], short[a:b]
    low, high = edges[:-1], edges[1:]
    centres = (low + high) / 2
    total = long + short
    z, mean, std = zscores(total, settings.z_population)
    clusters: list[dict[str, Any]] = []
    for a, b in find_clusters(total, z, settings):
        peak_bin = a + int(np.argmax(total[a:b + 1]))
        if z[peak_bin] < settings.cluster_min_z:
            continue
        peak = float(centres[peak_bin])
        distance = (peak - price) / price * 100.0
        distance_atr = abs(peak - price) / atr if atr > 0 else float("nan")
        clusters.append(
            dict(
                price_low=float(low[a]),
                price_high=float(high[b]),
                peak=peak,
                notional=float(total[a:b + 1].sum()),
                z=float(z[peak_bin]),
                long=float(long[a:b + 1].sum()),
                short=float(short[a:b + 1].sum()),
                distance_pct=float(distance),
                distance_atr=float(distance_atr),
                reach=reach_band(distance_atr) if math.isfinite(distance_atr) else "unknown",
            )
        )
    clusters.sort(key=lambda c: (-c["z"], -c["notional"]))
    ranked = tuple(Cluster(id=i + 1, **c) for i, c in enumerate(clusters))
    above = [c for c in ranked if c.peak > price]
    below = [c for c in ranked if c.peak < price]
    age_s = (now_ms - as_of_ms) / 1000.0
    model = dict(model)
    model["reading"] = settings.describe()
    if not math.isfinite(atr):
        model["notes"] = [*model.get("notes", []), f"ATR: too little history before the as-of time for "
                          f"{model['reading']['atr']} (it needs {settings.atr_period} closed bars); distances in "
                          f"ATR and reach are unknown"]
    population = total.size if settings.z_population == "all" else int((total > 0).sum())
    model["z_stats"] = {"mean": mean, "std": std, "population": population}
    return LiqMap(
        symbol=symbol,
        exchange=exchange,
        as_of_ms=int(as_of_ms),
        window_ms=int(window_ms),
        view=view,
        price=float(price),
        atr=float(atr),
        price_low=low,
        price_high=high,
        long=long,
        short=short,
        z=z,
        clusters=ranked,
        liq_ratio=tuple(bands),
        model=model,
        age_s=age_s,
        stale=age_s * 1000 > settings.stale_after_ms,
        nearest_above=min(above, key=lambda c: c.peak).id if above else None,
        nearest_below=max(below, key=lambda c: c.peak).id if below else None,
        extras=extras or {},
    )
