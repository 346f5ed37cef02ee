"""Bybit linear (USDT) perpetuals: public REST history (``rest``), the public daily trade files (``trades``),
the live streams (``stream``), the margin rule (``margin``) and shipped risk-limit tiers (``tiers/``)."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

from ...frames import MS_PER_HOUR, MS_PER_MINUTE
from ...sources.cache import CANDLES, FUNDING, MARK_CANDLES, OPEN_INTEREST, TRADES
from ..base import Venue
from .margin import RULE


class BybitVenue(Venue):
    name = "bybit"
    title = "Bybit linear (USDT) perpetuals: v5 REST backfill, live streams, margin rule and risk-limit tiers"
    margin = RULE
    tiers_dir = Path(__file__).resolve().parent / "tiers"
    #: through `liqmap data backfill --venue bybit`, and the public daily trade files (`liqmap data fetch --venue bybit`)
    kinds = (TRADES, CANDLES, MARK_CANDLES, OPEN_INTEREST, FUNDING)
    open_interest_interval_ms = 5 * MS_PER_MINUTE  # /v5/market/open-interest intervalTime=5min
    open_interest_label = "/v5/market/open-interest (5min, base coin)"
    funding_interval_ms = 8 * MS_PER_HOUR  # rates are expressed per 8 hours, as Binance's
    contract_size = 1.0  # linear contracts: quantities are in base units
    #: Bybit's tickSize of each symbol liqmap knows (GET /v5/market/instruments-info, category=linear:
    #: priceFilter.tickSize; one base unit per contract)
    tick_sizes = MappingProxyType({"BTCUSDT": 0.1, "ETHUSDT": 0.01, "SOLUSDT": 0.01, "DOGEUSDT": 0.00001})

    def check_symbol(self, symbol: str) -> str:
        return self.symbol_info(symbol).symbol  # an unknown one is a VenueError listing Bybit's

    def rest_client(self, base_url: str | None = None):
        from .rest import DEFAULT_REST_URL, BybitClient

        return BybitClient(base_url or DEFAULT_REST_URL)

    def live_stream(self):
        from . import stream

        return stream


BYBIT = BybitVenue()
