"""Order-flow confirmation: CVD and toxic order flow (VPIN).

The map says where liquidation fuel sits; flow says whether the tape is
pushing towards it.  Two indicators, both from taker volume:

* **CVD**, cumulative volume delta: the running sum of taker-buy minus
  taker-sell volume (base units), anchored at zero at the start of the
  window (``Flow.anchor_ms``).
* **TOF**, toxic order flow, as VPIN (Easley, Lopez de Prado & O'Hara 2012):
  the tape is cut into equal-volume buckets of ``V`` base units (default: the
  trailing average daily volume / 50, using only volume known before each
  UTC day starts); a trade or bar that straddles a bucket edge is split
  pro rata.  VPIN = sum |buy - sell| / sum volume over the last 50 buckets.
  Its absolute level means little, so it is reported with its empirical
  percentile among all earlier VPIN values and with the sign of the window's
  order imbalance.

Taker side, best source first (``Flow.method`` says which was used):
``trades`` (aggTrades carry the exact taker side), ``taker_volume`` (kline
taker-buy volume), ``bvc`` (bulk volume classification: buy share =
Phi(r / sigma) per bar, r the bar's log return, sigma the trailing standard
deviation of r; known to mislead, Andersen & Bondarenko 2013).

Pure numpy, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..frames import MS_PER_DAY, MS_PER_HOUR, DataError, MarketData, format_ms
from ..options import MAX_FLOW_BUCKETS, BudgetError, in_range
from .results import format_window as format_ms_span

#: CVD points one flow report may list.
MAX_SERIES_POINTS = 100_000

METHOD_TEXT = {
    "trades": "exact taker side from aggregate trades",
    "taker_volume": "kline taker-buy volume",
    "bvc": "bulk volume classification (buy share = Phi(return / trailing sigma)); less reliable",
}


@dataclass(frozen=True)
class FlowParams:
    """Flow settings with their defaults.

    ``bucket_volume`` fixes V (base units) instead of deriving it from the
    trailing ``adv_days`` average daily volume / ``buckets_per_day``.
    """

    buckets_per_day: int = 50
    vpin_window: int = 50
    adv_days: float = 7.0
    bucket_volume: float | None = None
    bvc_sigma_bars: int = 100

    def __post_init__(self):
        """Refuse settings outside their bounds, naming the bound (how many buckets a fixed V makes is
        checked against the data, in ``bucket_edges``)."""
        set_ = object.__setattr__
        set_(self, "buckets_per_day", in_range("buckets_per_day", self.buckets_per_day, 1, 10_000, integer=True))
        set_(self, "vpin_window", in_range("vpin_window", self.vpin_window, 1, 10_000, integer=True))
        set_(self, "adv_days", in_range("adv_days", self.adv_days, 0, 365, low_open=True, unit="(days)"))
        set_(self, "bvc_sigma_bars", in_range("bvc_sigma_bars", self.bvc_sigma_bars, 2, 100_000, integer=True))
        if self.bucket_volume is not None:
            set_(self, "bucket_volume", in_range("bucket_volume", self.bucket_volume, 0, 1e15, low_open=True,
                                                 unit="(base units)"))


@dataclass(frozen=True)
class SignedVolume:
    """Taker volume split into buy and sell per unit (a trade or a bar).

    ``time`` is when the unit starts (trade time, bar open), ``known_ms`` when
    its volume is known (trade time, bar end).
    """

    time: np.ndarray
    known_ms: np.ndarray
    buy: np.ndarray
    sell: np.ndarray
    method: str

    @property
    def volume(self) -> np.ndarray:
        return self.buy + self.sell


@dataclass(frozen=True)
class Flow:
    """CVD and VPIN for one symbol over ``[anchor_ms, end_ms)``.

    ``cvd_time``/``cvd`` are the CVD after each unit of the window (at the
    moment the unit's volume is known).  ``bucket_end_ms``, ``bucket_buy``,
    ``bucket_volume`` and ``vpin`` describe every complete bucket of the
    loaded history (``vpin`` is NaN until ``vpin_window`` buckets exist).
    """

    symbol: str
    method: str
    anchor_ms: int
    end_ms: int
    cvd_time: np.ndarray
    cvd: np.ndarray
    bucket_end_ms: np.ndarray
    bucket_buy: np.ndarray
    bucket_volume: np.ndarray
    vpin: np.ndarray
    params: FlowParams
    notes: tuple[str, ...] = ()

    @property
    def cvd_last(self) -> float:
        return float(self.cvd[-1]) if self.cvd.size else 0.0

    @property
    def vpin_last(self) -> float | None:
        """VPIN of the last complete window of buckets ending before ``end_ms``; None if too few."""
        return float(self.vpin[-1]) if self.vpin.size and np.isfinite(self.vpin[-1]) else None

    @property
    def vpin_percentile(self) -> float | None:
        """Share (in %) of all VPIN values so far that are <= the last one."""
        history = self.vpin[np.isfinite(self.vpin)]
        if self.vpin_last is None:
            return None
        return float((history <= self.vpin_last).mean() * 100.0)

    @property
    def imbalance(self) -> str | None:
        """'buy', 'sell' or 'balanced': the sign of buy - sell over the last VPIN window."""
        if self.vpin_last is None:
            return None
        window = slice(-self.params.vpin_window, None)
        net = float(np.sum(2 * self.bucket_buy[window] - self.bucket_volume[window]))
        return "buy" if net > 0 else "sell" if net < 0 else "balanced"

    def cvd_at(self, times_ms) -> np.ndarray:
        """CVD as known at each time (0 before the first unit of the window)."""
        index = np.searchsorted(self.cvd_time, np.asarray(times_ms, dtype=np.int64), side="right") - 1
        return np.where(index >= 0, self.cvd[np.maximum(index, 0)] if self.cvd.size else 0.0, 0.0)

    def summary(self) -> dict:
        """The indicators setups and the CLI report: CVD and TOF with their provenance."""
        return {
            "cvd": {
                "value": self.cvd_last,
                "anchor": format_ms(self.anchor_ms),
                "units": "base",
                "method": self.method,
            },
            "tof": {
                "vpin": self.vpin_last,
                "percentile": self.vpin_percentile,
                "imbalance": self.imbalance,
                "bucket_volume": float(self.bucket_volume[-1]) if self.bucket_volume.size else None,
                "buckets": int(self.bucket_volume.size),
                "window_buckets": self.params.vpin_window,
                "method": self.method,
            },
        }

    def to_dict(self, step_ms: int = MS_PER_HOUR) -> dict:
        """Summary plus the CVD sampled every ``step_ms`` from the anchor (at most ``MAX_SERIES_POINTS``)."""
        points = (self.end_ms - self.anchor_ms) // step_ms
        if points > MAX_SERIES_POINTS:
            raise BudgetError(f"a CVD point every {format_ms_span(step_ms)} over the window is {points:,} points, "
                              f"over the {MAX_SERIES_POINTS:,}-point budget; use a longer step")
        times = np.arange(self.anchor_ms + step_ms, self.end_ms + 1, step_ms, dtype=np.int64)
        return {
            "symbol": self.symbol,
            "window": {"start": format_ms(self.anchor_ms), "end": format_ms(self.end_ms)},
            "method": self.method,
            "method_text": METHOD_TEXT[self.method],
            **self.summary(),
            "cvd_series": [[format_ms(int(t)), float(v)] for t, v in zip(times, self.cvd_at(times))],
            "notes": list(self.notes),
        }


def signed_volume(market: MarketData, params: FlowParams = FlowParams()) -> SignedVolume:
    """Taker buy/sell volume per unit from the best source the market data has."""
    trades = market.trades
    if trades is not None and len(trades):
        bad = np.flatnonzero(~(trades.quantity >= 0))
        if bad.size:
            i = int(bad[0])
            raise DataError(f"trades: row {i} ({format_ms(trades.time[i])}) has invalid quantity {float(trades.quantity[i])!r}")
        sold = trades.is_buyer_maker
        return SignedVolume(trades.time, trades.time, np.where(sold, 0.0, trades.quantity),
                            np.where(sold, trades.quantity, 0.0), "trades")
    candles = market.candles
    _check_volume(candles)
    known = candles.time + candles.interval_ms
    if candles.has_taker_volume:
        return SignedVolume(candles.time, known, candles.taker_buy_volume,
                            candles.volume - candles.taker_buy_volume, "taker_volume")
    share = bvc_buy_share(candles.open, candles.close, params.bvc_sigma_bars)
    return SignedVolume(candles.time, known, candles.volume * share, candles.volume * (1 - share), "bvc")


def _check_volume(candles) -> None:
    bad = np.flatnonzero(~(candles.volume >= 0))
    if bad.size:
        i = int(bad[0])
        raise DataError(f"candles: row {i} ({format_ms(candles.time[i])}) has invalid volume {float(candles.volume[i])!r}")
    taker = candles.taker_buy_volume
    bad = np.flatnonzero((taker < 0) | (taker > candles.volume * (1 + 1e-9)))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"candles: row {i} ({format_ms(candles.time[i])}) has taker_buy_volume {float(taker[i])!r} "
            f"outside [0, volume={float(candles.volume[i])!r}]"
        )


def normal_cdf(x: np.ndarray) -> np.ndarray:
    """Phi(x), vectorised (Abramowitz & Stegun 7.1.26 erf, absolute error < 1.5e-7)."""
    x = np.asarray(x, dtype=np.float64)
    z = np.abs(x) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-z * z)
    return 0.5 * (1.0 + np.sign(x) * erf)


def bvc_buy_share(open_: np.ndarray, close: np.ndarray, sigma_bars: int) -> np.ndarray:
    """Bulk volume classification: buy share Phi(r_t / sigma_t) per bar.

    r_t = ln(close_t / close_{t-1}) (the first bar uses its open); sigma_t is
    the population std of r over the last ``sigma_bars`` bars up to and
    including t, all known when bar t closes.  Where sigma is 0 or undefined
    (the first bar) the share is 0.5.
    """
    previous = np.concatenate((open_[:1], close[:-1]))
    r = np.log(close / previous)
    sums = np.concatenate(([0.0], np.cumsum(r)))
    squares = np.concatenate(([0.0], np.cumsum(r * r)))
    idx = np.arange(1, r.size + 1)
    lo = np.maximum(idx - sigma_bars, 0)
    count = idx - lo
    mean = (sums[idx] - sums[lo]) / count
    variance = np.maximum((squares[idx] - squares[lo]) / count - mean * mean, 0.0)
    sigma = np.sqrt(variance)
    scaled = np.divide(r, sigma, out=np.zeros_like(r), where=(sigma > 0) & (count > 1))
    return normal_cdf(scaled)


def bucket_edges(units: SignedVolume, params: FlowParams) -> tuple[np.ndarray, list[str]]:
    """Cumulative-volume positions of the bucket edges (edge 0 first), and notes.

    With a fixed ``bucket_volume`` the buckets start at the first unit.  Else
    each UTC day d gets V_d = (volume known in [d - adv_days, d)) scaled to one
    day / buckets_per_day; days with less than one day of history before them
    are warm-up and not bucketed.  A bucket clock that ticks 1/V_d per unit of
    volume inside day d places the edges where it crosses an integer.
    """
    cum = np.concatenate(([0.0], np.cumsum(units.volume)))
    if params.bucket_volume is not None:
        buckets = cum[-1] / params.bucket_volume
        if buckets > MAX_FLOW_BUCKETS:
            raise BudgetError(
                f"bucket_volume {params.bucket_volume:g} cuts the {cum[-1]:,.0f} units of volume in the history "
                f"into {buckets:,.4g} buckets, over the {MAX_FLOW_BUCKETS:,}-bucket budget; use a bucket volume of "
                f"at least {cum[-1] / MAX_FLOW_BUCKETS:.3g}"
            )
        count = int(np.floor(buckets * (1 + 1e-12)))
        return np.arange(count + 1) * params.bucket_volume, [f"bucket volume fixed at {params.bucket_volume:g}"]
    first_day = int(units.time[0] // MS_PER_DAY)
    day_of_unit = units.time // MS_PER_DAY - first_day
    days = int(day_of_unit[-1]) + 1
    day_start = (first_day + np.arange(days + 1)) * MS_PER_DAY
    data_start = int(units.time[0])
    trailing_start = np.maximum(day_start - int(params.adv_days * MS_PER_DAY), data_start)
    known_cum = cum[np.searchsorted(units.known_ms, day_start, side="right")]
    known_from = cum[np.searchsorted(units.known_ms, trailing_start, side="right")]
    span = (day_start - trailing_start).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        size = (known_cum - known_from) * (MS_PER_DAY / span) / params.buckets_per_day
    usable = ((span >= MS_PER_DAY) & (size > 0))[:-1]  # day_start has one entry past the last day
    if not usable.any():
        return np.zeros(0), ["VPIN needs more than one day of history before its first bucket; none computed"]
    first = int(np.argmax(usable))
    sizes = _carry_forward(size[first:-1])
    day_cum = cum[np.searchsorted(day_of_unit, np.arange(first, days + 1), side="left")]
    day_volume = np.diff(day_cum)
    clock = np.concatenate(([0.0], np.cumsum(day_volume / sizes)))
    ticks = np.arange(1, int(np.floor(clock[-1] * (1 + 1e-12))) + 1)
    day = np.searchsorted(clock, ticks, side="left") - 1
    edges = day_cum[day] + (ticks - clock[day]) * sizes[day]
    notes = [f"bucket volume = trailing {params.adv_days:g}-day average daily volume / {params.buckets_per_day}, "
             f"set per UTC day from earlier data; buckets start {format_ms(day_start[first])}"]
    return np.concatenate(([day_cum[0]], edges)), notes


def _carry_forward(values: np.ndarray) -> np.ndarray:
    """Replace non-positive or NaN entries by the last valid one before them (the first is valid)."""
    valid = values > 0
    last_valid = np.maximum.accumulate(np.where(valid, np.arange(values.size), 0))
    return values[last_valid]


def compute_flow(
    market: MarketData,
    start_ms: int | None = None,
    end_ms: int | None = None,
    params: FlowParams = FlowParams(),
) -> Flow:
    """CVD anchored at ``start_ms`` (default: one day before the end) and VPIN up to ``end_ms``.

    Only volume known at ``end_ms`` is used (a bar counts once it has
    closed); everything the market holds before the window serves as VPIN
    history (bucket sizes and the percentile).
    """
    end = market.end_ms if end_ms is None else int(end_ms)
    units = signed_volume(market.slice_time(None, end), params)
    known = units.known_ms <= end
    units = SignedVolume(units.time[known], units.known_ms[known], units.buy[known], units.sell[known], units.method)
    if units.time.size == 0:
        raise DataError(f"{market.symbol}: no trades or candles closed before {format_ms(end)}")
    anchor = end - MS_PER_DAY if start_ms is None else int(start_ms)
    if anchor >= end:
        raise ValueError(f"flow window start {format_ms(anchor)} is not before its end {format_ms(end)}")

    edges, notes = bucket_edges(units, params)
    cum = np.concatenate(([0.0], np.cumsum(units.volume)))
    buy_cum = np.concatenate(([0.0], np.cumsum(units.buy)))
    bucket_buy = np.diff(np.interp(edges, cum, buy_cum))
    bucket_volume = np.diff(edges)
    holder = np.clip(np.searchsorted(cum, edges[1:], side="left") - 1, 0, units.time.size - 1)
    vpin = rolling_vpin(bucket_buy, bucket_volume, params.vpin_window)

    in_window = units.time >= anchor
    cvd = np.cumsum(units.buy[in_window] - units.sell[in_window])
    notes = [f"taker side: {METHOD_TEXT[units.method]}", *notes]
    if units.method == "trades" and units.time[0] > anchor:
        notes.append(f"trades start at {format_ms(units.time[0])}, after the window start")
    return Flow(
        symbol=market.symbol,
        method=units.method,
        anchor_ms=anchor,
        end_ms=end,
        cvd_time=units.known_ms[in_window],
        cvd=cvd,
        bucket_end_ms=units.known_ms[holder],
        bucket_buy=bucket_buy,
        bucket_volume=bucket_volume,
        vpin=vpin,
        params=params,
        notes=tuple(notes),
    )


def rolling_vpin(bucket_buy: np.ndarray, bucket_volume: np.ndarray, window: int) -> np.ndarray:
    """sum |2*buy - volume| / sum volume over each trailing ``window`` buckets (NaN before)."""
    out = np.full(bucket_volume.size, np.nan)
    if bucket_volume.size < window:
        return out
    imbalance = np.concatenate(([0.0], np.cumsum(np.abs(2 * bucket_buy - bucket_volume))))
    volume = np.concatenate(([0.0], np.cumsum(bucket_volume)))
    out[window - 1:] = (imbalance[window:] - imbalance[:-window]) / (volume[window:] - volume[:-window])
    return out
