"""The values the analysis hands to renderers, the server, setups and alerts.

Small frozen dataclasses holding numpy arrays.  Every result is an estimate:
``model`` records the estimator's name, version, parameters and the notes
(fallbacks, assumptions) that produced it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..frames import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, format_ms

#: Z-score bands users think in (lower bound inclusive).
Z_BANDS = (("noise", -np.inf), ("mild", 1.0), ("notable", 1.5), ("major", 2.5))
#: Reach bands by distance in ATR (upper bound inclusive).
REACH_BANDS = (("actionable", 1.0), ("near", 2.0), ("speculative", 3.0), ("distant", np.inf))


def _freeze_arrays(obj) -> None:
    """Make a result's arrays read-only: results are values, shared by the CLI, server and alerts."""
    for value in vars(obj).values():
        if isinstance(value, np.ndarray):
            value.setflags(write=False)


def json_safe(value):
    """The value with NaN/infinity as None and numpy scalars/arrays as plain Python (JSON has neither)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def z_band(z: float) -> str:
    """'noise' (< 1), 'mild' (1-1.5), 'notable' (1.5-2.5) or 'major' (>= 2.5)."""
    name = "noise"
    for band, lower in Z_BANDS:
        if z >= lower:
            name = band
    return name


def reach_band(distance_atr: float) -> str:
    """'actionable' (<= 1 ATR), 'near' (1-2), 'speculative' (2-3) or 'distant' (> 3)."""
    for band, upper in REACH_BANDS:
        if distance_atr <= upper:
            return band
    return "distant"


@dataclass(frozen=True)
class Cluster:
    """A contiguous group of map bins that stands out from the profile.

    ``z`` is the Z-score of the cluster's peak bin; ``notional`` the sum of its
    bins (quote units).  ``distance_pct`` is signed (+ above price) and
    measured from the current price to the peak bin's centre;
    ``distance_atr`` is its absolute value in ATR units.
    """

    id: int
    price_low: float
    price_high: float
    peak: float
    notional: float
    z: float
    long: float
    short: float
    distance_pct: float
    distance_atr: float
    reach: str

    @property
    def band(self) -> str:
        return z_band(self.z)

    @property
    def side(self) -> str:
        """'above' or 'below' the price the map was made at."""
        return "above" if self.distance_pct > 0 else "below"

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "price_low": self.price_low,
            "price_high": self.price_high,
            "peak": self.peak,
            "notional": self.notional,
            "z": self.z,
            "band": self.band,
            "long": self.long,
            "short": self.short,
            "distance_pct": self.distance_pct,
            "distance_atr": self.distance_atr,
            "reach": self.reach,
        }


@dataclass(frozen=True)
class LiqRatioBand:
    """Long liquidation notional below price vs short notional above, within ``±pct``%."""

    pct: float
    long_below: float
    short_above: float

    @property
    def ratio(self) -> float | None:
        """long_below / short_above; None when there is nothing above."""
        return self.long_below / self.short_above if self.short_above > 0 else None

    @property
    def long_share(self) -> float | None:
        total = self.long_below + self.short_above
        return self.long_below / total if total > 0 else None

    def to_dict(self) -> dict:
        return {
            "pct": self.pct,
            "long_below": self.long_below,
            "short_above": self.short_above,
            "ratio": self.ratio,
            "long_share": self.long_share,
        }


@dataclass(frozen=True)
class LiqMap:
    """A liquidation map as of one moment, for one leverage view.

    Bins are ``[price_low[i], price_high[i])``; ``long``/``short``/``total``
    are outstanding liquidation notionals (quote units) in the bin, after the
    view's filter or weighting.  ``z`` is the Z-score of ``total`` against
    ``z_population`` (documented in ``model``).
    """

    symbol: str
    exchange: str
    as_of_ms: int
    window_ms: int
    view: str
    price: float
    atr: float
    price_low: np.ndarray
    price_high: np.ndarray
    long: np.ndarray
    short: np.ndarray
    z: np.ndarray
    clusters: tuple[Cluster, ...]
    liq_ratio: tuple[LiqRatioBand, ...]
    model: dict
    age_s: float
    stale: bool
    nearest_above: int | None = None
    nearest_below: int | None = None
    extras: dict = field(default_factory=dict)

    def __post_init__(self):
        _freeze_arrays(self)

    @property
    def total(self) -> np.ndarray:
        return self.long + self.short

    @property
    def as_of(self) -> str:
        return format_ms(self.as_of_ms)

    def cluster(self, cluster_id: int) -> Cluster:
        for c in self.clusters:
            if c.id == cluster_id:
                return c
        raise KeyError(f"no cluster with id {cluster_id}")

    def to_frame(self):
        """The bins as a pandas DataFrame (one row per bin)."""
        import pandas as pd

        return pd.DataFrame(
            {
                "price_low": self.price_low,
                "price_high": self.price_high,
                "long": self.long,
                "short": self.short,
                "total": self.total,
                "z": self.z,
            }
        )

    def clusters_frame(self):
        import pandas as pd

        columns = list(Cluster.__dataclass_fields__) + ["band"]
        return pd.DataFrame([c.to_dict() for c in self.clusters], columns=columns)

    def to_dict(self) -> dict:
        """The documented JSON shape (see README, 'Map JSON schema'), JSON-safe.

        In peer-compatible mode the peer's own per-tier bins are added as ``peer_levels``; a Multi map
        (``venue="all"``) adds each venue's part as ``venues``.
        """
        total = self.total
        payload = {
            "symbol": self.symbol,
            "exchange": self.exchange,
            "as_of": self.as_of,
            "window": format_window(self.window_ms),
            "view": self.view,
            "price": self.price,
            "atr": self.atr,
            "age_s": self.age_s,
            "stale": self.stale,
            "bins": [
                {
                    "price_low": float(self.price_low[i]),
                    "price_high": float(self.price_high[i]),
                    "long": float(self.long[i]),
                    "short": float(self.short[i]),
                    "total": float(total[i]),
                    "z": float(self.z[i]),
                }
                for i in range(self.price_low.size)
            ],
            "clusters": [c.to_dict() for c in self.clusters],
            "liq_ratio": [b.to_dict() for b in self.liq_ratio],
            "nearest": {"above": self.nearest_above, "below": self.nearest_below},
            "model": self.model,
        }
        peer = self.extras.get("peer_levels")
        if peer is not None:
            payload["peer_levels"] = peer.to_records()
        if "venues" in self.extras:  # a Multi map: each venue's part (liqmap.analysis.multi.venue_breakdown)
            payload["venues"] = self.extras["venues"]
        return json_safe(payload)


@dataclass(frozen=True)
class Heatmap:
    """Outstanding liquidation notional over time × price.

    Row ``t`` is the book as of ``time[t]`` (the end of that step), binned on
    ``price_low``/``price_high``; ``price`` is the close at that moment.
    """

    symbol: str
    exchange: str
    view: str
    time: np.ndarray  # int64 ms, as-of moments
    price: np.ndarray  # close at each as-of moment
    price_low: np.ndarray
    price_high: np.ndarray
    long: np.ndarray  # (len(time), len(price_low))
    short: np.ndarray
    model: dict

    def __post_init__(self):
        _freeze_arrays(self)

    @property
    def total(self) -> np.ndarray:
        return self.long + self.short

    def to_frame(self):
        """Long format: one row per (time, bin) cell with non-zero notional."""
        import pandas as pd

        t_idx, b_idx = np.nonzero(self.total)
        return pd.DataFrame(
            {
                "time": self.time[t_idx],
                "price_low": self.price_low[b_idx],
                "price_high": self.price_high[b_idx],
                "long": self.long[t_idx, b_idx],
                "short": self.short[t_idx, b_idx],
            }
        )


_WINDOW_UNITS = (("d", MS_PER_DAY), ("h", MS_PER_HOUR), ("m", MS_PER_MINUTE))


def format_window(ms: int) -> str:
    """'30d', '24h', '90m': the largest unit that divides the span exactly."""
    for unit, size in _WINDOW_UNITS:
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"
