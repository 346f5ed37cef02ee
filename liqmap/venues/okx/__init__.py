"""OKX USDT-margined swaps: public REST history (``rest``), the live streams (``stream``), the margin rule
(``margin``) and shipped position tiers (``tiers/``, sizes in contracts)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

from ...frames import MS_PER_HOUR, MS_PER_MINUTE
from ...sources.cache import CANDLES, FUNDING, MARK_CANDLES, OPEN_INTEREST
from ..base import SymbolInfo, Venue
from .margin import RULE
from .rest import CONTRACT_VALUES


class OkxVenue(Venue):
    name = "okx"
    title = "OKX USDT-margined swaps: v5 REST backfill, live streams, margin rule and tiers (sizes in contracts)"
    margin = RULE
    tiers_dir = Path(__file__).resolve().parent / "tiers"
    kinds = (CANDLES, MARK_CANDLES, OPEN_INTEREST, FUNDING)  # through `liqmap data backfill --venue okx`
    open_interest_interval_ms = 5 * MS_PER_MINUTE  # rubik open-interest-history period=5m
    open_interest_label = "rubik open-interest-history (5m, contracts x ctVal)"
    funding_interval_ms = 8 * MS_PER_HOUR  # rates are expressed per 8 hours, as Binance's
    #: tickSz of each swap liqmap knows (GET /api/v5/public/instruments?instType=SWAP; liqmap's BTCUSDT is BTC-USDT-SWAP)
    tick_sizes = MappingProxyType({"BTCUSDT": 0.1, "ETHUSDT": 0.01, "SOLUSDT": 0.01, "DOGEUSDT": 0.00001})

    def symbol_info(self, symbol: str) -> SymbolInfo:
        """As every venue's, with the contract value (``ctVal``) of the swaps liqmap knows."""
        info = super().symbol_info(symbol)
        return replace(info, contract_size=info.contract_size or CONTRACT_VALUES.get(info.symbol))

    def check_symbol(self, symbol: str) -> str:
        return self.symbol_info(symbol).symbol  # an unknown one is a VenueError listing OKX's

    def rest_client(self, base_url: str | None = None):
        from .rest import DEFAULT_REST_URL, OkxClient

        return OkxClient(base_url or DEFAULT_REST_URL)

    def live_stream(self):
        from . import stream

        return stream


OKX = OkxVenue()
