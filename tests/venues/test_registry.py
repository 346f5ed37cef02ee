"""The venue registry, and a venue defined only here working end to end.

``testvenue`` has its own file format (one ``<SYMBOL>.tsv`` per symbol: hours
since the epoch, price, volume, open interest, ';'-separated) and its own
margin rule, LP = EP (1 - s/L)(1 + s MMR).  It is registered from this file;
no module of liqmap names it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import liqmap
from liqmap import venues
from liqmap.cli import main
from liqmap.frames import MS_PER_HOUR, Candles, DataError, OpenInterest
from liqmap.sources.cache import CANDLES, OPEN_INTEREST
from liqmap.venues.base import MarginRule, Venue, VenueError

SYMBOL = "TSTUSDT"
FIRST_HOUR = 490_896  # 2026-01-01 00:00 UTC
#: One cohort, no decay or tilt, an even side split, entries at the close: levels a hand can place.
PARAMS = {"leverages": [10.0], "leverage_median": 10.0, "leverage_sigma": 1.0, "leverage_spread": 0.0, "oi_shrinkage": 0.0,
          "maker_leveraged_share": 0.0,
          "entry_anchors": "close", "side_split": "even", "decay_half_life_10x": None, "funding_tilt": 0.0,
          "oi_reconcile": True}


class TsvFolder:
    """The test venue's files below a folder, as a liqmap Source."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.label = f"the test folder {folder}"
        self.files = {p.stem: p for p in folder.glob("*.tsv")}

    def symbols(self) -> list[str]:
        return sorted(self.files)

    def kinds(self, symbol: str) -> list[str]:
        return [f"{CANDLES}-1h", OPEN_INTEREST] if symbol in self.files else []

    def _rows(self, symbol: str) -> np.ndarray:
        return np.loadtxt(self.files[symbol], delimiter=";", comments="#", ndmin=2)

    def read(self, symbol, kind, start_ms, end_ms):
        rows = self._rows(symbol)
        time = rows[:, 0].astype(np.int64) * MS_PER_HOUR
        if kind == OPEN_INTEREST:
            frame = OpenInterest(time=time, oi=rows[:, 3], oi_value=rows[:, 3] * rows[:, 1])  # interval from the data
        else:
            price = rows[:, 1]
            frame = Candles(time=time, open=price, high=price, low=price, close=price, volume=rows[:, 2],
                            taker_buy_volume=np.full(len(rows), np.nan), interval_ms=MS_PER_HOUR)
        return frame.slice_time(start_ms, end_ms)

    def time_range(self, symbol, kind):
        rows = self._rows(symbol)
        return int(rows[0, 0]) * MS_PER_HOUR, int(rows[-1, 0]) * MS_PER_HOUR


def own_factor(s, leverage, mmr, cum_over_notional, taker_fee):
    return (1.0 - s / leverage) * (1.0 + s * mmr)


class TsvVenue(Venue):
    name = "testvenue"
    title = "a venue of the test suite"
    margin = MarginRule("long EP(1 - 1/L)(1 + MMR); short EP(1 + 1/L)(1 - MMR)", "the test suite", own_factor,
                        uses_deduction=False)
    kinds = (CANDLES, OPEN_INTEREST)

    def __init__(self, tiers_dir: Path):
        self.tiers_dir = tiers_dir

    def open_folder(self, folder: Path):
        return TsvFolder(folder)


@pytest.fixture
def testvenue(tmp_path):
    """Registered for one test: a tier table (MMR 1 %, up to 20x) and 72 flat hours at 100 in which OI
    steps from 1,000 to 1,100 once (100 contracts open in hour 23)."""
    tiers = tmp_path / "tiers"
    tiers.mkdir()
    (tiers / f"{SYMBOL}_2020-01-01.json").write_text(json.dumps({
        "exchange": "testvenue", "symbol": SYMBOL, "date": "2020-01-01", "source": "the test suite",
        "tiers": [{"cap": 1e9, "max_leverage": 20, "mmr": 0.01}]}))
    data = tmp_path / "data"
    data.mkdir()
    lines = ["# testvenue export: hour;price;volume;open_interest"]
    lines += [f"{FIRST_HOUR + h};100;10;{1000 if h < 24 else 1100}" for h in range(72)]
    (data / f"{SYMBOL}.tsv").write_text("\n".join(lines) + "\n")
    venue = venues.register(TsvVenue(tiers))
    yield data
    venues.unregister(venue.name)


def _placed(m) -> tuple[float, float, float, float]:
    """(long notional, its mean bin centre, short notional, its mean bin centre)."""
    centre = (m.price_low + m.price_high) / 2
    return (float(m.long.sum()), float((m.long * centre).sum() / m.long.sum()),
            float(m.short.sum()), float((m.short * centre).sum() / m.short.sum()))


# 50 contracts a side (even split of 100) at entry 100, 10x, MMR 1 %: long LP = 100 * 0.9 * 1.01 = 90.9,
# short LP = 100 * 1.1 * 0.99 = 108.9; the book holds 100 of the 1,100 contracts open, so it is scaled by 11
# to hold the OI (oi_reconcile, model.calibration): 550 a side -> 550 * 90.9 = 49,995 USDT long, 550 * 108.9 = 59,895 short
EXPECTED = (49_995.0, 90.9, 59_895.0, 108.9)


def test_the_registry_lists_looks_up_and_refuses():
    assert venues.names() == ["binance", "bybit", "hyperliquid", "okx"]
    assert venues.get("Binance") is venues.get("binance")
    with pytest.raises(VenueError, match=r"unknown venue 'kraken'; registered venues: binance, bybit, hyperliquid, okx"):
        venues.get("kraken")
    with pytest.raises(VenueError, match="already registered"):
        venues.register(type("Other", (Venue,), {"name": "binance"})())
    with pytest.raises(VenueError, match="lower-case identifier"):
        venues.register(type("Bad", (Venue,), {"name": "Bad Venue"})())


def test_a_venue_of_the_test_suite_through_build_map(testvenue):
    assert "testvenue" in venues.names()
    market = liqmap.load_market(SYMBOL, str(testvenue), venue="testvenue")
    assert market.exchange == "testvenue" and market.open_interest.interval_ms == MS_PER_HOUR  # inferred
    assert "open interest: 1h snapshots" in market.notes
    m = liqmap.build_map(SYMBOL, source=str(testvenue), venue="testvenue", window="3d", params=PARAMS)
    assert m.exchange == "testvenue"
    for got, want in zip(_placed(m), EXPECTED):
        assert got == pytest.approx(want, abs=0.06)  # centres: bins are 0.1 wide
    assert liqmap.liquidation_price("testvenue", SYMBOL, "long", 100, 10, 1_000) == pytest.approx(90.9, rel=1e-12)
    with pytest.raises(DataError, match=f"no testvenue data for ETHUSDT in the test folder {testvenue}; it holds: {SYMBOL}"):
        liqmap.load_market("ETHUSDT", str(testvenue), venue="testvenue")


def test_a_venue_of_the_test_suite_through_the_cli(testvenue, capsys):
    argv = ["map", SYMBOL, "--venue", "testvenue", "--source", str(testvenue), "--window", "3d", "--format", "json"]
    argv += [f"--param={k}={json.dumps(v)}" for k, v in PARAMS.items()]
    assert main(argv) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["exchange"] == "testvenue" and payload["symbol"] == SYMBOL
    long = sum(b["long"] for b in payload["bins"])
    short = sum(b["short"] for b in payload["bins"])
    assert (long, short) == pytest.approx((EXPECTED[0], EXPECTED[2]))
    assert main(["venues", "--format", "json"]) == 0
    listed = {v["name"]: v for v in json.loads(capsys.readouterr().out)["venues"]}
    assert listed["testvenue"]["kinds"] == ["klines", "metrics"]
    assert listed["testvenue"]["symbols"][0]["tiers"][0]["date"] == "2020-01-01"


def test_a_venue_of_the_test_suite_through_the_server(testvenue):
    from fastapi.testclient import TestClient

    from liqmap.server.app import create_app

    client = TestClient(create_app(str(testvenue), symbols=(SYMBOL,)), base_url="http://127.0.0.1:8000")
    response = client.get("/api/map", params={"symbol": SYMBOL, "venue": "testvenue", "window": "3d"})
    assert response.status_code == 200
    body = response.json()
    want = liqmap.build_map(SYMBOL, source=str(testvenue), venue="testvenue", window="3d")
    assert body["exchange"] == "testvenue"
    assert [b["long"] for b in body["bins"]] == pytest.approx(want.long.tolist())
    assert [b["short"] for b in body["bins"]] == pytest.approx(want.short.tolist())
    missing = client.get("/api/map", params={"symbol": SYMBOL, "venue": "nowhere"})
    assert missing.status_code == 404
    assert missing.json()["error"] == "unknown venue 'nowhere'; registered venues: binance, bybit, hyperliquid, okx, testvenue"


def test_symbol_metadata_and_venues_without_a_reader(tmp_path):
    info = venues.get("binance").symbol_info("btc-usdt")
    assert (info.symbol, info.contract_size, info.tick) == ("BTCUSDT", 1.0, None)
    assert info.max_leverage == (("2021-03-18", 125.0), ("2023-11-28", 125.0), ("2024-01-01", 125.0),
                                 ("2025-08-19", 150.0))
    assert venues.get("okx").symbol_info("ARB-USDT-SWAP").contract_size == 10  # OKX ctVal, from its tier table
    with pytest.raises(VenueError, match="venue 'bybit' knows nothing about XRPUSDT; it knows: BTCUSDT, DOGEUSDT, "
                                         "ETHUSDT, SOLUSDT"):
        venues.get("bybit").symbol_info("XRPUSDT")
    with pytest.raises(DataError, match="venue 'bybit' has no reader for files yet"):
        liqmap.load_market("BTCUSDT", str(tmp_path), venue="bybit")


def test_every_venue_takes_liqmaps_name_and_its_own():
    from liqmap import venues

    assert venues.get("hyperliquid").symbol_name("btc") == venues.get("hyperliquid").symbol_name("BTCUSDT") == "BTCUSDT"
    assert venues.get("okx").symbol_name("BTC-USDT-SWAP") == venues.get("okx").symbol_name("btcusdt") == "BTCUSDT"
    assert venues.get("binance").symbol_name("BTC/USDT") == "BTCUSDT"


def test_commands_take_the_venues_own_symbol_names(capsys):
    from liqmap.cli import main

    assert main(["map", "BTC", "--venue", "hyperliquid", "--format", "json"]) == 0
    own = json.loads(capsys.readouterr().out)
    assert main(["map", "BTCUSDT", "--venue", "hyperliquid", "--format", "json"]) == 0
    liqmaps = json.loads(capsys.readouterr().out)
    own.pop("age_s"), liqmaps.pop("age_s")  # read against the clock
    assert own == liqmaps and own["symbol"] == "BTCUSDT"
    args = ["--side", "long", "--entry", "100000", "--leverage", "10", "--notional", "10000"]
    assert main(["liqprice", "--venue", "hyperliquid", "--symbol", "BTC", *args]) == 0
    assert capsys.readouterr().out.splitlines()[:2] == [
        "hyperliquid BTCUSDT isolated long 10x at 100,000.00, notional 10,000.00 USDT",
        "liquidation price  91,139.24  (-8.86% from entry)"]
    assert main(["map", "BTC-USDT-SWAP", "--venue", "okx"]) == 1  # named as BTCUSDT in the error
    assert capsys.readouterr().err == "liqmap map: error: no okx data for BTCUSDT in the bundled sample; it holds: no symbols\n"
