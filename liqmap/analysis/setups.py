"""Trade setups read off a liquidation map: Cluster Bounce, Cluster Sweep, Range Fade.

Each setup is a pure function of a ``LiqMap``, a ``MarketContext`` (ATR of
the style's timeframe, swing structure, momentum, CVD and TOF) and
``SetupParams``.  Every candidate is returned, fired or not, with the
conditions it met (``reasons``) and those it failed (``failed``), so a
trader sees why a setup is or is not on.

Shared filters: clusters with Z < ``min_z`` are skipped; no setup rests on
one signal (Bounce needs the map plus momentum and the LiqRatio, Sweep the
map plus CVD and TOF, Range Fade two clusters of similar strength).
Distances are measured from price to the cluster's peak, in % and in ATR of
the style's timeframe; both are reported and ``reach_rule`` decides which
one gates a setup.
"""

from __future__ import annotations

import math
from typing import Any
from dataclasses import asdict, dataclass, field

import numpy as np

from ..frames import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, Candles, format_ms
from .results import Cluster, LiqMap

REACH_RULES = ("pct", "atr", "both", "either")


@dataclass(frozen=True)
class Style:
    """What the guide pairs with a trading style: views, map window, ATR timeframe, flow window."""

    views: tuple[str, ...]
    window: str
    atr_interval_ms: int
    flow_window_ms: int


STYLES = {
    "scalp": Style(views=("high",), window="3d", atr_interval_ms=15 * MS_PER_MINUTE, flow_window_ms=4 * MS_PER_HOUR),
    "day": Style(views=("medium", "high"), window="14d", atr_interval_ms=MS_PER_HOUR, flow_window_ms=24 * MS_PER_HOUR),
    "swing": Style(views=("all", "low"), window="60d", atr_interval_ms=4 * MS_PER_HOUR,
                   flow_window_ms=7 * MS_PER_DAY),
}


@dataclass(frozen=True)
class SetupParams:
    """Every threshold of the setup rules, with the guide's defaults.

    Ranges are inclusive (low, high) distances from price to a cluster's peak,
    in % of price (``*_pct``) and in ATR of the style's timeframe (``*_atr``).
    Offsets and buffers are in % of price.
    """

    min_z: float = 1.0
    reach_rule: str = "pct"
    bounce_pct: tuple[float, float] = (1.0, 2.0)
    bounce_atr: tuple[float, float] = (1.0, 2.0)
    bounce_entry_offset_pct: float = 0.2
    bounce_target: str = "midpoint"
    bounce_min_rr: float = 1.5
    ratio_band_pct: float = 1.0
    sweep_pct: tuple[float, float] = (0.5, 1.5)
    sweep_atr: tuple[float, float] = (0.5, 1.5)
    sweep_min_z: float = 1.5
    sweep_min_rr: float = 2.0
    fade_max_z_gap: float = 0.5
    fade_entry_offset_pct: float = 0.2
    fade_min_rr: float = 1.5
    stop_buffer_pct: float = 0.1
    momentum_bars: int = 3
    swing_bars: int = 12
    atr_period: int = 14

    def __post_init__(self):
        if self.reach_rule not in REACH_RULES:
            raise ValueError(f"reach_rule must be one of {', '.join(REACH_RULES)}, not {self.reach_rule!r}")
        if self.bounce_target not in ("midpoint", "price"):
            raise ValueError(f"bounce_target must be 'midpoint' or 'price', not {self.bounce_target!r}")
        for name in ("bounce_pct", "bounce_atr", "sweep_pct", "sweep_atr"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ValueError(f"{name} must be (low, high) with 0 <= low <= high, not {(low, high)}")
            object.__setattr__(self, name, (float(low), float(high)))
        if self.momentum_bars < 1 or self.swing_bars < 1 or self.atr_period < 1:
            raise ValueError("momentum_bars, swing_bars and atr_period must be >= 1")

    def with_overrides(self, **changes) -> "SetupParams":
        unknown = set(changes) - set(self.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown setup parameter(s): {', '.join(sorted(unknown))}")
        return SetupParams(**{**asdict(self), **changes})


@dataclass(frozen=True)
class MarketContext:
    """What setups need beside the map, as known at the map's as-of time.

    ``momentum_pct``: close change over the last ``momentum_bars`` bars of
    the style's timeframe; ``swing_low``/``swing_high``: extremes of the last
    ``swing_bars`` bars; ``cvd``: CVD since the flow window's anchor;
    ``tof_imbalance``: 'buy'/'sell'/'balanced' over the last VPIN window
    (None where VPIN is unavailable).
    """

    atr: float
    atr_interval_ms: int
    momentum_pct: float
    swing_low: float
    swing_high: float
    cvd: float | None = None
    tof_vpin: float | None = None
    tof_percentile: float | None = None
    tof_imbalance: str | None = None
    flow_method: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def momentum(self) -> str:
        return "up" if self.momentum_pct > 0 else "down" if self.momentum_pct < 0 else "flat"

    def indicators(self) -> dict:
        """The ``indicators`` object of the setups JSON."""
        return {
            "atr": {"value": self.atr, "timeframe": f"{self.atr_interval_ms // MS_PER_MINUTE}m"},
            "momentum_pct": self.momentum_pct,
            "swing_low": self.swing_low,
            "swing_high": self.swing_high,
            "cvd": {"value": self.cvd, "method": self.flow_method},
            "tof": {"vpin": self.tof_vpin, "percentile": self.tof_percentile, "imbalance": self.tof_imbalance,
                    "method": self.flow_method},
        }


@dataclass(frozen=True)
class Setup:
    """One candidate trade; ``fired`` only if every condition held."""

    kind: str
    direction: str
    entry: float | None
    stop: float | None
    target: float | None
    risk_reward: float | None
    cluster_id: int | None
    fired: bool
    reasons: tuple[str, ...]
    failed: tuple[str, ...]
    entry_type: str
    view: str
    distance_pct: float | None = None
    distance_atr: float | None = None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["reasons"], data["failed"] = list(self.reasons), list(self.failed)
        return data


@dataclass
class _Checks:
    """Conditions of one candidate, in the order they are tested."""

    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def add(self, ok: bool, text: str) -> None:
        (self.passed if ok else self.failed).append(text)


def market_context(candles: Candles, as_of_ms: int, style: Style, params: SetupParams = SetupParams(),
                   flow=None) -> MarketContext:
    """ATR, momentum and swing structure on the style's timeframe from bars closed at ``as_of_ms``.

    If the candles are coarser than the style's timeframe, their own
    interval is used and a note says so.  ``flow`` is a ``Flow`` (or None).
    """
    from .indicators import atr, resample

    notes = []
    interval = style.atr_interval_ms
    if candles.interval_ms > interval or interval % candles.interval_ms:
        notes.append(f"ATR on {candles.interval_ms // MS_PER_MINUTE}-minute bars: the data has no "
                     f"{interval // MS_PER_MINUTE}-minute candles")
        interval = candles.interval_ms
    closed = candles.slice_time(None, as_of_ms - candles.interval_ms + 1)
    bars = resample(closed, interval)
    if len(bars) == 0:
        raise ValueError(f"no candles closed before {format_ms(as_of_ms)}")
    atr_values = atr(closed, params.atr_period, interval)
    ref = bars.close[-1 - params.momentum_bars] if len(bars) > params.momentum_bars else bars.open[0]
    recent = slice(-params.swing_bars, None)
    context: dict[str, Any] = dict(
        atr=float(atr_values[-1]),
        atr_interval_ms=interval,
        momentum_pct=float((bars.close[-1] / ref - 1) * 100),
        swing_low=float(bars.low[recent].min()),
        swing_high=float(bars.high[recent].max()),
    )
    if flow is not None:
        context.update(cvd=flow.cvd_last, tof_vpin=flow.vpin_last, tof_percentile=flow.vpin_percentile,
                       tof_imbalance=flow.imbalance, flow_method=flow.method)
        notes.extend(flow.notes)
    return MarketContext(**context, notes=tuple(notes))


def find_setups(liqmap: LiqMap, context: MarketContext, params: SetupParams = SetupParams()) -> list[Setup]:
    """Every Bounce and Sweep candidate per cluster with Z >= min_z, and the Range Fade legs."""
    clusters = [c for c in liqmap.clusters if c.z >= params.min_z]
    found = []
    for cluster in clusters:
        found.append(_bounce(liqmap, cluster, clusters, context, params))
        found.append(_sweep(liqmap, cluster, context, params))
    found.extend(_range_fade(liqmap, clusters, context, params))
    return found


def _distance(price: float, cluster: Cluster, atr: float) -> tuple[float, float]:
    """Signed % (+ above price) and absolute ATR distance from price to the cluster's peak."""
    pct = (cluster.peak - price) / price * 100.0
    in_atr = abs(cluster.peak - price) / atr if atr > 0 else math.nan
    return pct, in_atr


def _reach_check(checks: _Checks, pct: float, in_atr: float, pct_range, atr_range, params: SetupParams) -> None:
    """Record whether the distance is in range under the configured rule; both measures are shown."""
    pct = abs(pct)
    pct_ok = pct_range[0] <= pct <= pct_range[1]
    atr_ok = atr_range[0] <= in_atr <= atr_range[1]
    ok = {"pct": pct_ok, "atr": atr_ok, "both": pct_ok and atr_ok, "either": pct_ok or atr_ok}[params.reach_rule]
    checks.add(ok, f"distance {pct:.2f}% (range {pct_range[0]:g}-{pct_range[1]:g}%: {'in' if pct_ok else 'out'}) "
                   f"and {in_atr:.2f} ATR (range {atr_range[0]:g}-{atr_range[1]:g}: {'in' if atr_ok else 'out'}); "
                   f"rule '{params.reach_rule}'")


def _outside_check(checks: _Checks, price: float, cluster: Cluster) -> None:
    inside = cluster.price_low <= price <= cluster.price_high
    checks.add(not inside, f"price {price:,.2f} {'inside' if inside else 'outside'} cluster "
                           f"{cluster.price_low:,.2f}-{cluster.price_high:,.2f}")


def _momentum_check(checks: _Checks, context: MarketContext, toward: str, what: str) -> None:
    checks.add(context.momentum == toward,
               f"momentum {context.momentum_pct:+.2f}% ({context.momentum}), {what} needs {toward}")


def _risk_reward(entry: float, stop: float, target: float) -> float | None:
    risk = abs(entry - stop)
    return abs(target - entry) / risk if risk > 0 else None


def _rr_check(checks: _Checks, rr: float | None, minimum: float) -> None:
    checks.add(rr is not None and rr >= minimum,
               f"risk/reward {'n/a' if rr is None else f'{rr:.2f}'} (minimum {minimum:g})")


def _make(kind, direction, entry, stop, target, cluster, checks, entry_type, liqmap, pct=None, in_atr=None) -> Setup:
    rr = None if entry is None else _risk_reward(entry, stop, target)
    return Setup(kind=kind, direction=direction, entry=entry, stop=stop, target=target, risk_reward=rr,
                 cluster_id=None if cluster is None else cluster.id, fired=not checks.failed,
                 reasons=tuple(checks.passed), failed=tuple(checks.failed), entry_type=entry_type,
                 view=liqmap.view, distance_pct=pct, distance_atr=in_atr)


def _bounce(liqmap: LiqMap, cluster: Cluster, clusters, context: MarketContext, params: SetupParams) -> Setup:
    """Price approaching a cluster it has not reached: fade the move from just before its edge."""
    price = liqmap.price
    above = cluster.peak > price
    direction = "short" if above else "long"
    sign = 1.0 if above else -1.0  # towards the cluster
    offset = params.bounce_entry_offset_pct / 100.0
    entry = cluster.price_low * (1 - offset) if above else cluster.price_high * (1 + offset)
    stop = cluster.price_high * (1 + params.stop_buffer_pct / 100) if above else \
        cluster.price_low * (1 - params.stop_buffer_pct / 100)
    opposite = [c for c in clusters if (c.peak - price) * sign < 0]
    if params.bounce_target == "midpoint" and opposite:
        magnet = min(opposite, key=lambda c: abs(c.peak - price))
        target = (entry + magnet.peak) / 2
        target_text = f"target midway to cluster {magnet.id} at {magnet.peak:,.2f}"
    else:
        target = price
        target_text = "target back at the current price"
    pct, in_atr = _distance(price, cluster, context.atr)
    checks = _Checks()
    checks.add(True, f"cluster {cluster.id} Z {cluster.z:.2f} {cluster.side} price; {target_text}")
    _reach_check(checks, pct, in_atr, params.bounce_pct, params.bounce_atr, params)
    _outside_check(checks, price, cluster)
    _momentum_check(checks, context, "up" if above else "down", "approach")
    low, high = min(price, entry, target), max(price, entry, target)
    blockers = [c for c in clusters if c.id != cluster.id and low <= c.peak <= high and c.notional > cluster.notional]
    checks.add(not blockers, "no larger cluster between price, entry and target" if not blockers else
               "larger cluster in the way: " + ", ".join(f"{c.id} at {c.peak:,.2f}" for c in blockers))
    band = _ratio_band(liqmap, params.ratio_band_pct)
    if band is None or band.long_share is None:
        checks.add(False, f"LiqRatio ±{params.ratio_band_pct:g}%: no liquidation notional in the band")
    else:
        # A bounce away from the cluster wants the fuel on the side the trade goes to.
        wanted = band.long_share > 0.5 if above else band.long_share < 0.5
        checks.add(wanted, f"LiqRatio ±{band.pct:g}%: long share {band.long_share:.0%} "
                           f"({'confirms' if wanted else 'does not confirm'} a {direction} bounce)")
    _rr_check(checks, _risk_reward(entry, stop, target), params.bounce_min_rr)
    return _make("cluster_bounce", direction, entry, stop, target, cluster, checks, "limit", liqmap, pct, in_atr)


def _ratio_band(liqmap: LiqMap, pct: float):
    for band in liqmap.liq_ratio:
        if math.isclose(band.pct, pct):
            return band
    available = ", ".join(f"{b.pct:g}" for b in liqmap.liq_ratio)
    raise ValueError(f"ratio_band_pct {pct:g} is not one of the map's LiqRatio bands ({available})")


def _sweep(liqmap: LiqMap, cluster: Cluster, context: MarketContext, params: SetupParams) -> Setup:
    """Momentum and flow heading into a nearby strong cluster: ride the move to its edge."""
    price = liqmap.price
    above = cluster.peak > price
    direction = "long" if above else "short"
    buffer = params.stop_buffer_pct / 100
    target = cluster.price_low if above else cluster.price_high
    stop = context.swing_low * (1 - buffer) if above else context.swing_high * (1 + buffer)
    pct, in_atr = _distance(price, cluster, context.atr)
    checks = _Checks()
    checks.add(True, f"cluster {cluster.id} {cluster.side} price; stop beyond the swing "
                     f"{'low' if above else 'high'} {stop:,.2f}")
    _reach_check(checks, pct, in_atr, params.sweep_pct, params.sweep_atr, params)
    _outside_check(checks, price, cluster)
    checks.add(cluster.z > params.sweep_min_z, f"Z {cluster.z:.2f} (needs > {params.sweep_min_z:g})")
    _momentum_check(checks, context, "up" if above else "down", "a sweep")
    wanted = "buy" if above else "sell"
    if context.cvd is None:
        checks.add(False, "CVD unavailable")
    else:
        checks.add((context.cvd > 0) == above and context.cvd != 0,
                   f"CVD {context.cvd:+,.2f} ({'agrees' if (context.cvd > 0) == above else 'disagrees'} "
                   f"with {direction})")
    checks.add(context.tof_imbalance == wanted,
               f"TOF imbalance {context.tof_imbalance or 'unavailable'} (needs {wanted}-side)"
               + (f", VPIN {context.tof_vpin:.3f} at percentile {context.tof_percentile:.0f}"
                  if context.tof_vpin is not None else ""))
    risk_ok = (stop < price) if above else (stop > price)
    checks.add(risk_ok, f"stop on the losing side of entry ({stop:,.2f} vs {price:,.2f})")
    rr = _risk_reward(price, stop, target) if risk_ok else None
    _rr_check(checks, rr, params.sweep_min_rr)
    return _make("cluster_sweep", direction, price, stop, target, cluster, checks, "market", liqmap, pct, in_atr)


def _range_fade(liqmap: LiqMap, clusters, context: MarketContext, params: SetupParams) -> list[Setup]:
    """A long cluster below and a short cluster above of similar Z: fade each edge to the midpoint."""
    price = liqmap.price
    below = [c for c in clusters if c.peak < price and c.long >= c.short]
    above = [c for c in clusters if c.peak > price and c.short >= c.long]
    if not below or not above:
        checks = _Checks()
        checks.add(bool(below), "long-dominated cluster below price" + ("" if below else ": none with Z >= "
                                                                         f"{params.min_z:g}"))
        checks.add(bool(above), "short-dominated cluster above price" + ("" if above else ": none with Z >= "
                                                                          f"{params.min_z:g}"))
        return [_make("range_fade", "both", None, None, None, None, checks, "limit", liqmap)]
    lower = max(below, key=lambda c: c.peak)
    upper = min(above, key=lambda c: c.peak)
    mid = (lower.price_high + upper.price_low) / 2
    offset, buffer = params.fade_entry_offset_pct / 100, params.stop_buffer_pct / 100
    legs = (
        ("long", lower, lower.price_high * (1 + offset), lower.price_low * (1 - buffer)),
        ("short", upper, upper.price_low * (1 - offset), upper.price_high * (1 + buffer)),
    )
    setups = []
    for direction, cluster, entry, stop in legs:
        checks = _Checks()
        checks.add(True, f"range: long cluster {lower.id} at {lower.peak:,.2f} (Z {lower.z:.2f}) below, "
                         f"short cluster {upper.id} at {upper.peak:,.2f} (Z {upper.z:.2f}) above; "
                         f"target the midpoint {mid:,.2f}")
        gap = abs(lower.z - upper.z)
        checks.add(gap <= params.fade_max_z_gap, f"Z gap {gap:.2f} (similar if <= {params.fade_max_z_gap:g})")
        between = lower.price_high < price < upper.price_low
        checks.add(between, f"price {price:,.2f} {'between' if between else 'not between'} the clusters")
        _rr_check(checks, _risk_reward(entry, stop, mid), params.fade_min_rr)
        pct, in_atr = _distance(price, cluster, context.atr)
        setups.append(_make("range_fade", direction, entry, stop, mid, cluster, checks, "limit", liqmap, pct, in_atr))
    return setups


def style_profile(style: str) -> Style:
    """The views, windows and flow span a trading style reads."""
    if style not in STYLES:
        raise ValueError(f"style must be one of {', '.join(STYLES)}, not {style!r}")
    return STYLES[style]


def setups_report(maps, market, style: str = "day", params: SetupParams = SetupParams(), flow_params=None) -> dict:
    """Setups found on ``maps`` (the style's views, one moment), as the documented JSON object."""
    from .flow import FlowParams, compute_flow

    profile = style_profile(style)
    as_of_ms = maps[0].as_of_ms
    flow = compute_flow(market, as_of_ms - profile.flow_window_ms, as_of_ms, flow_params or FlowParams())
    context = market_context(market.candles, as_of_ms, profile, params, flow)
    setups = [s for m in maps for s in find_setups(m, context, params)]
    setups.sort(key=lambda s: (not s.fired, len(s.failed), s.kind))
    return {
        "symbol": market.symbol,
        "as_of": format_ms(as_of_ms),
        "price": maps[0].price,
        "style": style,
        "views": list(profile.views),
        "window": profile.window,
        "setups": [s.to_dict() for s in setups],
        "indicators": context.indicators(),
        "params": asdict(params),
        "notes": list(context.notes),
        "clusters_skipped": {m.view: int(np.sum([c.z < params.min_z for c in m.clusters])) for m in maps},
    }
