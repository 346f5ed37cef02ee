"""Setups on hand-built maps: each fires where it must, and each single condition can stop it.

Every map is built at price 100,000 with an ATR of 700 (0.7%); the numbers in
the comments are the entry, stop, target and risk/reward a trader would compute.
"""

from __future__ import annotations

import numpy as np
import pytest

from liqmap.analysis.results import Cluster, LiqMap, LiqRatioBand
from liqmap.analysis.setups import STYLES, MarketContext, SetupParams, find_setups, market_context
from liqmap.frames import MS_PER_HOUR, Candles

PRICE = 100_000.0


def cluster(id, low, high, peak, z, notional, side):
    long, short = (notional, 0.0) if side == "long" else (0.0, notional)
    distance = (peak - PRICE) / PRICE * 100
    return Cluster(id=id, price_low=low, price_high=high, peak=peak, notional=notional, z=z, long=long, short=short,
                   distance_pct=distance, distance_atr=abs(peak - PRICE) / 700, reach="near")


def liqmap(clusters, long_below=5e6, short_above=15e6, price=PRICE):
    bands = tuple(LiqRatioBand(pct=p, long_below=long_below, short_above=short_above) for p in (0.5, 1.0, 2.0, 5.0))
    empty = np.zeros(1)
    return LiqMap(symbol="BTCUSDT", exchange="binance", as_of_ms=0, window_ms=86_400_000, view="all", price=price,
                  atr=700.0, price_low=empty, price_high=empty + 1, long=empty, short=empty, z=empty,
                  clusters=tuple(clusters), liq_ratio=bands, model={}, age_s=0.0, stale=False)


def context(momentum=-0.5, cvd=500.0, tof="buy", swing_low=99_700.0, swing_high=100_300.0, atr=700.0):
    return MarketContext(atr=atr, atr_interval_ms=MS_PER_HOUR, momentum_pct=momentum, swing_low=swing_low,
                         swing_high=swing_high, cvd=cvd, tof_vpin=0.3, tof_percentile=80.0, tof_imbalance=tof,
                         flow_method="taker_volume")


def pick(setups, kind, cluster_id=None, direction=None):
    found = [s for s in setups if s.kind == kind and (cluster_id is None or s.cluster_id == cluster_id)
             and (direction is None or s.direction == direction)]
    assert len(found) == 1, found
    return found[0]


def assert_only_failure(setup, word):
    assert not setup.fired
    assert len(setup.failed) == 1 and word in setup.failed[0], setup.failed


# ----------------------------------------------------------------- Cluster Bounce
# Long cluster A 98,300-98,700 (peak 98,500: 1.5% below, 2.14 ATR), short cluster B above at 102,000.
BOUNCE_A = cluster(1, 98_300, 98_700, 98_500, 2.0, 50e6, "long")
BOUNCE_B = cluster(2, 101_800, 102_200, 102_000, 1.2, 20e6, "short")


def test_bounce_fires_with_hand_computed_levels():
    setup = pick(find_setups(liqmap([BOUNCE_A, BOUNCE_B]), context(momentum=-0.5)), "cluster_bounce", 1)
    assert setup.fired, setup.failed
    assert setup.direction == "long" and setup.entry_type == "limit"
    assert setup.entry == pytest.approx(98_700 * 1.002)  # 0.2% before the cluster's upper edge: 98,897.4
    assert setup.stop == pytest.approx(98_300 * 0.999)  # 0.1% beyond its lower edge: 98,201.7
    assert setup.target == pytest.approx((98_897.4 + 102_000) / 2)  # midway to B: 100,448.7
    assert setup.risk_reward == pytest.approx(1551.3 / 695.7, rel=1e-4)  # 2.23
    assert setup.distance_pct == pytest.approx(-1.5) and setup.distance_atr == pytest.approx(1500 / 700)


def test_bounce_target_at_price_when_configured():
    params = SetupParams(bounce_target="price")
    setup = pick(find_setups(liqmap([BOUNCE_A, BOUNCE_B]), context(), params), "cluster_bounce", 1)
    assert setup.target == PRICE
    assert setup.risk_reward == pytest.approx((PRICE - 98_897.4) / 695.7, rel=1e-4)  # 1.59: still fires
    assert setup.fired


@pytest.mark.parametrize(
    "clusters, ctx, params, word",
    [
        # 2.14 ATR is outside the 1-2 ATR range when the ATR rule decides
        ([BOUNCE_A, BOUNCE_B], context(), SetupParams(reach_rule="atr"), "distance"),
        ([BOUNCE_A, BOUNCE_B], context(), SetupParams(bounce_pct=(1.6, 2.0)), "distance"),
        # price moving away from the cluster
        ([BOUNCE_A, BOUNCE_B], context(momentum=0.5), SetupParams(), "momentum"),
        # a larger cluster (60M) at 99,500, between the entry and the target
        ([BOUNCE_A, BOUNCE_B, cluster(3, 99_450, 99_550, 99_500, 1.1, 60e6, "long")], context(), SetupParams(),
         "larger cluster in the way"),
        ([BOUNCE_A, BOUNCE_B], context(), SetupParams(bounce_min_rr=2.5), "risk/reward"),
        # price inside a wide cluster (98,300-100,100); the R/R floor is lowered so only that fails
        ([cluster(1, 98_300, 100_100, 98_500, 2.0, 50e6, "long"), BOUNCE_B], context(),
         SetupParams(bounce_min_rr=0.3), "inside"),
    ],
)
def test_bounce_single_condition_failures(clusters, ctx, params, word):
    assert_only_failure(pick(find_setups(liqmap(clusters), ctx, params), "cluster_bounce", 1), word)


def test_bounce_needs_the_liqratio_to_confirm():
    # 15M of longs below vs 5M of shorts above within 1%: the fuel points down, not up.
    setup = pick(find_setups(liqmap([BOUNCE_A, BOUNCE_B], long_below=15e6, short_above=5e6), context()),
                 "cluster_bounce", 1)
    assert_only_failure(setup, "LiqRatio")


def test_either_reach_rule_accepts_what_one_measure_rejects():
    params = SetupParams(reach_rule="either", bounce_pct=(1.6, 2.0), bounce_atr=(2.0, 2.5))
    assert pick(find_setups(liqmap([BOUNCE_A, BOUNCE_B]), context(), params), "cluster_bounce", 1).fired
    params = SetupParams(reach_rule="both", bounce_pct=(1.6, 2.0), bounce_atr=(2.0, 2.5))
    assert not pick(find_setups(liqmap([BOUNCE_A, BOUNCE_B]), context(), params), "cluster_bounce", 1).fired


def test_clusters_below_min_z_are_skipped():
    weak = cluster(1, 98_300, 98_700, 98_500, 0.9, 50e6, "long")
    assert [s for s in find_setups(liqmap([weak, BOUNCE_B]), context()) if s.cluster_id == 1] == []


# ----------------------------------------------------------------- Cluster Sweep
# Short cluster S 100,900-101,200 (peak 101,000: 1% above), momentum up, CVD and TOF buying.
SWEEP_S = cluster(1, 100_900, 101_200, 101_000, 2.0, 40e6, "short")


def sweep_context(**changes):
    return context(**{"momentum": 0.4, "cvd": 500.0, "tof": "buy", "swing_low": 99_700.0, **changes})


def test_sweep_fires_with_hand_computed_levels():
    setup = pick(find_setups(liqmap([SWEEP_S]), sweep_context()), "cluster_sweep", 1)
    assert setup.fired, setup.failed
    assert setup.direction == "long" and setup.entry_type == "market"
    assert setup.entry == PRICE
    assert setup.target == 100_900  # the cluster's near edge
    assert setup.stop == pytest.approx(99_700 * 0.999)  # below the swing low: 99,600.3
    assert setup.risk_reward == pytest.approx(900 / 399.7, rel=1e-4)  # 2.25


@pytest.mark.parametrize(
    "clusters, ctx, params, word",
    [
        ([SWEEP_S], sweep_context(), SetupParams(sweep_pct=(1.2, 1.5)), "distance"),
        ([cluster(1, 100_900, 101_200, 101_000, 1.4, 40e6, "short")], sweep_context(), SetupParams(), "Z 1.40"),
        ([SWEEP_S], sweep_context(momentum=-0.1), SetupParams(), "momentum"),
        ([SWEEP_S], sweep_context(cvd=-500.0), SetupParams(), "CVD"),
        ([SWEEP_S], sweep_context(tof="sell"), SetupParams(), "TOF"),
        ([SWEEP_S], sweep_context(tof=None), SetupParams(), "TOF imbalance unavailable"),
        # swing low 99,500: stop 99,400.5, risk 599.5 for 900 of reward: R/R 1.50 < 2
        ([SWEEP_S], sweep_context(swing_low=99_500.0), SetupParams(), "risk/reward"),
    ],
)
def test_sweep_single_condition_failures(clusters, ctx, params, word):
    assert_only_failure(pick(find_setups(liqmap(clusters), ctx, params), "cluster_sweep", 1), word)


def test_downward_sweep_is_a_short_to_the_cluster_top():
    below = cluster(1, 98_800, 99_100, 99_000, 2.0, 40e6, "long")
    ctx = context(momentum=-0.4, cvd=-300.0, tof="sell", swing_high=100_300.0)
    setup = pick(find_setups(liqmap([below]), ctx), "cluster_sweep", 1)
    assert setup.fired, setup.failed
    assert setup.direction == "short" and setup.target == 99_100
    assert setup.stop == pytest.approx(100_300 * 1.001)
    assert setup.risk_reward == pytest.approx(900 / 400.3, rel=1e-4)


# ----------------------------------------------------------------- Range Fade
# Long cluster L 98,800-99,000 (Z 2.0) below, short cluster U 101,000-101,200 (Z 2.2) above.
FADE_L = cluster(1, 98_800, 99_000, 98_900, 2.0, 30e6, "long")
FADE_U = cluster(2, 101_000, 101_200, 101_100, 2.2, 30e6, "short")


def test_range_fade_fires_both_legs():
    setups = find_setups(liqmap([FADE_L, FADE_U]), context())
    long_leg = pick(setups, "range_fade", direction="long")
    short_leg = pick(setups, "range_fade", direction="short")
    assert long_leg.fired and short_leg.fired, (long_leg.failed, short_leg.failed)
    assert long_leg.target == short_leg.target == 100_000  # midpoint of 99,000 and 101,000
    assert long_leg.entry == pytest.approx(99_198) and long_leg.stop == pytest.approx(98_701.2)
    assert long_leg.risk_reward == pytest.approx(802 / 496.8, rel=1e-4)  # 1.61
    assert short_leg.entry == pytest.approx(100_798) and short_leg.stop == pytest.approx(101_301.2)
    assert short_leg.risk_reward == pytest.approx(798 / 503.2, rel=1e-4)  # 1.59
    assert (long_leg.cluster_id, short_leg.cluster_id) == (1, 2)


def test_range_fade_needs_similar_z():
    upper = cluster(2, 101_000, 101_200, 101_100, 2.8, 30e6, "short")
    for leg in ("long", "short"):
        assert_only_failure(pick(find_setups(liqmap([FADE_L, upper]), context()), "range_fade", direction=leg),
                            "Z gap 0.80")


def test_range_fade_risk_reward_per_leg():
    # 1.61 passes a 1.6 floor, 1.59 does not.
    setups = find_setups(liqmap([FADE_L, FADE_U]), context(), SetupParams(fade_min_rr=1.6))
    assert pick(setups, "range_fade", direction="long").fired
    assert_only_failure(pick(setups, "range_fade", direction="short"), "risk/reward")


def test_range_fade_without_a_short_cluster_above_says_so():
    setup = pick(find_setups(liqmap([FADE_L]), context()), "range_fade")
    assert_only_failure(setup, "short-dominated cluster above price: none")
    assert setup.entry is None and setup.risk_reward is None


# ----------------------------------------------------------------- context from candles
def rising_candles(n=20):
    close = 100.0 + 10.0 * np.arange(n)
    return Candles(time=np.arange(n) * MS_PER_HOUR, open=close - 10, high=close + 1, low=close - 1, close=close,
                   volume=np.ones(n), taker_buy_volume=np.ones(n), interval_ms=MS_PER_HOUR)


def test_market_context_from_candles():
    # Closes rise 10 a bar with high = close + 1, low = close - 1: every true range is 11, so ATR = 11.
    candles = rising_candles()
    ctx = market_context(candles, 20 * MS_PER_HOUR, STYLES["day"], SetupParams(momentum_bars=3, swing_bars=5))
    assert ctx.atr == pytest.approx(11.0)
    assert ctx.momentum_pct == pytest.approx((290 / 260 - 1) * 100)
    assert (ctx.swing_low, ctx.swing_high) == (249.0, 291.0)  # closes 250..290 of the last 5 bars
    assert ctx.cvd is None and ctx.notes == ()
    # Only bars closed at the as-of time count: at 10h the last close is 190.
    ctx = market_context(candles, 10 * MS_PER_HOUR, STYLES["day"], SetupParams(momentum_bars=3, swing_bars=5))
    assert ctx.swing_high == 191.0


def test_scalp_on_hourly_data_says_it_used_hourly_atr():
    ctx = market_context(rising_candles(), 20 * MS_PER_HOUR, STYLES["scalp"])
    assert ctx.atr_interval_ms == MS_PER_HOUR
    assert "ATR on 60-minute bars" in ctx.notes[0]


def test_bad_params_are_rejected():
    with pytest.raises(ValueError, match="reach_rule"):
        SetupParams(reach_rule="sometimes")
    with pytest.raises(ValueError, match="unknown setup parameter"):
        SetupParams().with_overrides(min_zz=2)
    with pytest.raises(ValueError, match="bounce_pct"):
        SetupParams(bounce_pct=(2.0, 1.0))


# ----------------------------------------------------------------- the command on the bundled sample
def test_setups_command_json_on_the_sample(capsys):
    import json

    from liqmap.cli import main

    assert main(["setups", "BTCUSDT", "--style", "day", "--format", "json", "--as-of", "2026-02-05T21:00"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["views"] == ["medium", "high"] and report["window"] == "14d"
    assert set(report["indicators"]) >= {"atr", "cvd", "tof"}
    # The sample has hourly klines without taker volume: flow falls back to BVC and says so.
    assert report["indicators"]["cvd"]["method"] == "bvc"
    assert report["indicators"]["atr"]["timeframe"] == "60m"
    assert report["setups"]
    for s in report["setups"]:
        assert set(s) >= {"kind", "direction", "entry", "stop", "target", "risk_reward", "cluster_id", "fired",
                          "reasons", "failed"}
        assert s["fired"] == (not s["failed"])
        if s["risk_reward"] is not None:
            assert s["risk_reward"] == pytest.approx(abs(s["target"] - s["entry"]) / abs(s["entry"] - s["stop"]))


def test_setups_command_rejects_unknown_settings(capsys):
    from liqmap.cli import main

    assert main(["setups", "BTCUSDT", "--set", "min_zz=2"]) == 1
    assert "--set 'min_zz=2': expected NAME=VALUE" in capsys.readouterr().err
