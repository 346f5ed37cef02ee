"""``liqmap validate --events``: recorded liquidation events against the map's top quarter of bins."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from liqmap import api
from liqmap.cli import main
from liqmap.frames import LiquidationEvents
from liqmap.sources.cache import FORCE_ORDERS, Store

T = 1_772_323_200_000  # 2026-03-01T00:00Z
H = 4 * 3_600_000


@pytest.fixture(scope="module")
def setup():
    """The bundled sample's map as of T (7-day window; the data loaded as the command loads them: the window
    and two days before it) and the traded range of the 4 hours after T."""
    market = api.load_market("BTCUSDT", "sample", start=T - 9 * 86_400_000, end=T + 2 * H)
    m = api.build_maps(market=market, as_of=T, window="7d", views=["all"], now=T)[0]
    bars = market.candles.slice_time(T, T + H)
    lo, hi = float(bars.low.min()), float(bars.high.max())
    in_range = np.flatnonzero((m.price_high > lo) & (m.price_low < hi))
    return m, in_range


def centre(m, i):
    return float((m.price_low[i] + m.price_high[i]) / 2)


def test_events_score_against_the_top_quarter(setup, tmp_path, capsys):
    m, in_range = setup
    k = math.ceil(in_range.size / 4)
    by_long = in_range[np.argsort(-m.long[in_range], kind="stable")]
    top_long, low_long = by_long[0], by_long[-1]
    assert m.long[low_long] < m.long[by_long[k - 1]]  # the last-ranked bin is outside the top quarter
    top_short = in_range[np.argmax(m.short[in_range])]
    # a long liquidation of $300 in the map's strongest long bin, one of $100 in its weakest; a short of $50
    prices = [centre(m, top_long), centre(m, low_long), centre(m, top_short)]
    sizes = [300 / prices[0], 100 / prices[1], 50 / prices[2]]
    events = LiquidationEvents(time=[T + 60_000, T + 120_000, T + 180_000], is_long=[True, True, False],
                               price=prices, size=sizes, usd=[300.0, 100.0, 50.0], venue="binance")
    Store(tmp_path, "binance").write("BTCUSDT", FORCE_ORDERS, "2026-03-01", events)
    code = main(["validate", "--events", str(tmp_path), "--source", "sample", "--from", "2026-03-01T00:00",
                 "--to", "2026-03-01T04:00", "--window", "7d", "--views", "all", "--format", "json"])
    out = capsys.readouterr().out
    assert code == 0, out
    scores = {s["side"]: s for s in json.loads(out)["scores"]}
    assert scores["long"]["windows"] == 1 and scores["long"]["events"] == 2
    assert scores["long"]["realized_usd"] == 400.0 and scores["long"]["top_quarter_usd"] == 300.0
    assert scores["long"]["share"] == 0.75
    assert scores["long"]["chance"] == pytest.approx(k / in_range.size)
    assert scores["long"]["map_usd_in_range"] == pytest.approx(m.long[in_range].sum(), rel=1e-9)
    assert scores["long"]["uniform_usd_in_range"] == pytest.approx(m.long.sum() * in_range.size / m.long.size,
                                                                   rel=1e-9)
    assert scores["short"]["share"] == 1.0 and scores["short"]["realized_usd"] == 50.0


def test_events_mode_names_what_is_missing(tmp_path, capsys):
    assert main(["validate", "--events", str(tmp_path)]) == 1
    assert "no recorded BTCUSDT liquidations (binance/BTCUSDT/forceOrders/ is empty or missing" in \
        capsys.readouterr().err
    assert main(["validate"]) == 1
    assert "give --data DIR (the hourly study) or --events DIR" in capsys.readouterr().err
