"""Walk-forward on the real development data: no look-ahead, the command end to end, bad input."""

from __future__ import annotations

import gzip
import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

from liqmap.cli import main
from liqmap.frames import MS_PER_HOUR, DataError
from liqmap.timeutil import parse_time
from liqmap.validate.dataset import PANEL, load_dataset
from liqmap.validate.tuning import choice_from_settings, tune
from liqmap.validate.walkforward import predict

START, END = parse_time("2025-12-06"), parse_time("2025-12-20")
H = parse_time("2025-12-12T12:00")


@pytest.fixture(scope="module")
def data(shared_data):
    return load_dataset(shared_data)


def test_dataset_joins_the_panel_and_says_what_it_assumed(data):
    h = data.hours
    assert (np.diff(h.time) == MS_PER_HOUR).all()
    assert len(h) == 2826 and int((~h.scorable).sum()) == 5  # the README's 5 missing panel hours
    missing = h.time[~h.scorable][0]
    assert missing == parse_time("2025-12-27T18:00")
    assert any("bridged" in n for n in data.notes)
    # the first panel row, 2025-12-04 06:00: spot opens at 92979.25 there, but the hour is the perpetual's
    # (Binance Vision: 92932.4, high 93333.0, volume 5104.689 BTC); longs liquidated 42620.5427 USD
    first = int(np.searchsorted(h.time, parse_time("2025-12-04T06:00")))
    assert (h.open[first], h.high[first]) == (92932.4, 93333.0) and h.long_usd[first] == pytest.approx(42620.5427)
    c = data.market.candles
    assert c.volume[int(np.searchsorted(c.time, h.time[first]))] == 5104.689
    # the perpetual's last bar (multi-venue file) is 2026-03-05 10:00; the next hour is the panel's spot bar
    last = int(np.searchsorted(h.time, parse_time("2026-03-05T10:00")))
    assert h.close[last] == 73399.9 and h.open[last + 1] == 73388.91
    assert np.isnan(c.volume[int(np.searchsorted(c.time, h.time[last + 1]))])
    # a missing panel hour gets the perpetual's true bar (still not scored): 2026-01-14 21:00, low 97328.5
    gap = int(np.searchsorted(h.time, parse_time("2026-01-14T21:00")))
    assert h.low[gap] == 97328.5 and not h.scorable[gap]
    assert any("perpetual's hourly bars" in n and "for 2189 of 2826 hours" in n for n in data.notes)
    # funding: the hourly-equivalent 4.4913e-06 at 2025-12-01 00:00 is 3.59304e-05 per 8 hours
    assert data.market.funding.rate[0] == pytest.approx(4.4913e-06 * 8)


def _plant(data, after_ms: int, factor: float):
    """The same data with prices, OI, funding and realized liquidations changed from ``after_ms`` on."""
    m = data.market
    c = m.candles
    later = c.time >= after_ms
    candles = replace(c, **{k: np.where(later, getattr(c, k) * factor, getattr(c, k)) for k in ("high", "low", "close")},
                      open=np.where(c.time > after_ms, c.open * factor, c.open))
    oi = m.open_interest
    open_interest = replace(oi, oi=np.where(oi.time > after_ms, oi.oi * 3, oi.oi))
    funding = replace(m.funding, rate=np.where(m.funding.time > after_ms, m.funding.rate * 50, m.funding.rate))
    h = data.hours
    hl = h.time >= after_ms
    hours = replace(
        h, high=np.where(h.time > after_ms, h.high * factor, h.high), low=np.where(h.time > after_ms, h.low * factor, h.low),
        open=np.where(h.time > after_ms, h.open * factor, h.open), close=np.where(hl, h.close * factor, h.close),
        long_usd=np.where(hl, h.long_usd * 100, h.long_usd), short_usd=np.where(hl, h.short_usd * 100, h.short_usd),
        oi_open_usd=np.where(h.time > after_ms, h.oi_open_usd * 3, h.oi_open_usd),
    )
    market = replace(m, candles=candles, open_interest=open_interest, funding=funding)
    return replace(data, market=market, hours=hours)


def test_prediction_for_an_hour_ignores_everything_at_or_after_it(data):
    base = predict(data, START, END)
    planted = predict(_plant(data, H, 1.25), START, END)
    upto = base.hours.time <= H
    assert planted.hours.time.tolist() == base.hours.time.tolist()
    # equal up to float round-off of the running sums (1e-11 USD seen), far below a cent
    for name, (long, short) in base.by_predictor.items():
        p_long, p_short = planted.by_predictor[name]
        np.testing.assert_allclose(p_long[upto], long[upto], rtol=1e-9, atol=1e-3, err_msg=name)
        np.testing.assert_allclose(p_short[upto], short[upto], rtol=1e-9, atol=1e-3, err_msg=name)
    # the planted future does reach the hours after h (the test can see a change)
    assert not np.allclose(planted.by_predictor["map"][0][~upto], base.by_predictor["map"][0][~upto])


def test_a_change_just_before_the_hour_does_move_its_prediction(data):
    base = predict(data, START, END)
    earlier = predict(_plant(data, H - 6 * MS_PER_HOUR, 1.0), START, END)  # OI tripled from 6 hours before h
    at_h = int(np.searchsorted(base.hours.time, H))
    assert base.by_predictor["map"][0][at_h] + base.by_predictor["map"][1][at_h] > 0
    assert not np.isclose(earlier.by_predictor["map"][0][at_h] + earlier.by_predictor["map"][1][at_h],
                          base.by_predictor["map"][0][at_h] + base.by_predictor["map"][1][at_h], rtol=1e-6)


def test_tuning_keeps_the_best_trial_and_needs_a_real_gain(data):
    result = tune(data, START, END, space={"entry_anchors": ("ohlc", "close", "hlc3")}, rounds=1)
    values = [v for _, v in result.trials]
    assert result.baseline_objective == values[0]
    assert result.objective == max(values) or result.objective == values[0]
    assert result.objective >= result.baseline_objective


def test_config_mapping_and_its_errors():
    choice = choice_from_settings({"leverage_median": 5, "window": "7d", "view": "high"})
    assert choice.params.leverage_median == 5 and choice.window_ms == 7 * 86_400_000 and choice.view == "high"
    with pytest.raises(ValueError, match="unknown model parameter"):
        choice_from_settings({"leverage_mean": 5}, source="my.yaml")


def test_command_end_to_end_on_a_week(shared_data, tmp_path, capsys):
    code = main(["validate", "--data", str(shared_data), "--from", "2025-12-20", "--to", "2025-12-27",
                 "--reps", "50", "--report", str(tmp_path)])
    assert code == 0
    figures = json.loads((tmp_path / "figures.json").read_text())
    assert figures["period"] == {"from": "2025-12-20T00:00:00Z", "to": "2025-12-27T00:00:00Z"}
    assert figures["hours"] == 7 * 24
    for name in ("map", "move", "uniform"):
        for side in ("long", "short", "both"):
            scores = figures["scores"][name][side]
            for key in ("spearman", "top_decile_share", "top_decile_hit_rate", "auc_10m", "scale"):
                assert key in scores
            assert -1 <= scores["spearman"] <= 1 and 0 <= scores["top_decile_share"] <= 1
    # the move baseline does not depend on the model: its pooled Spearman on this week is fixed by the data
    assert figures["scores"]["move"]["both"]["spearman"] > 0.5
    for png in ("scatter.png", "months.png", "calibration.png"):
        assert (tmp_path / png).stat().st_size > 5_000
    text = (tmp_path / "report.md").read_text()
    assert "Does the map beat the baselines?" in text and "claims" in text
    assert "map" in capsys.readouterr().out


def test_command_rejects_a_tuning_period_that_overlaps_the_scored_one(shared_data, capsys):
    code = main(["validate", "--data", str(shared_data), "--from", "2026-01-01",
                 "--tune-from", "2025-12-05", "--tune-to", "2026-01-10"])
    assert code == 1
    assert "tuning period must end" in capsys.readouterr().err


def test_bad_panel_value_is_named_by_file_row_and_column(shared_data, tmp_path):
    folder = tmp_path / "data"
    (folder / PANEL).parent.mkdir(parents=True)
    with gzip.open(shared_data / PANEL, "rt") as source:
        lines = source.read().splitlines()
    header = lines[0].split(",")
    row = lines[3].split(",")
    row[header.index("price_low")] = "oops"
    lines[3] = ",".join(row)
    with gzip.open(folder / PANEL, "wt") as target:
        target.write("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"row 4 column 'price_low' has invalid value 'oops'"):
        load_dataset(folder)
    shutil.rmtree(folder)
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(folder)


def test_a_bridged_hour_is_named_as_not_scored(shared_data, tmp_path, capsys):
    # the panel has no row for 2026-02-07T11:00Z: it is bridged and the 7 days score 167 hours
    code = main(["validate", "--data", str(shared_data), "--from", "2026-02-01", "--to", "2026-02-08", "--reps", "50",
                 "--no-claims", "--no-first-touch", "--report", str(tmp_path)])
    assert code == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        "hourly nowcast (given each hour's range), 2026-02-01T00:00:00Z .. 2026-02-08T00:00:00Z  (167 hours scored; "
        "1 missing from the panel, bridged and not scored: 2026-02-07T11:00:00Z)")
    figures = json.loads((tmp_path / "figures.json").read_text())
    assert (figures["hours"], figures["unscored_hours"]) == (167, ["2026-02-07T11:00:00Z"])
