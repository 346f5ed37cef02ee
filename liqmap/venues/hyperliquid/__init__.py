"""Hyperliquid perpetuals: the margin rule (``margin``), shipped margin tiers (``tiers/``), coin names
(``symbols``), the reader of hourly multi-venue exports (``hourly``), ``POST /info`` history (``rest``)
and the live streams (``stream``).

Hyperliquid funds every hour and publishes no historical open interest and no
public liquidation stream: a historical book rests on open interest recorded by
others (the hourly export), see docs/venues.md.
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

from ...frames import MS_PER_HOUR
from ...sources.cache import CANDLES, FUNDING, OPEN_INTEREST
from ..base import Source, Venue
from .margin import RULE


class HyperliquidVenue(Venue):
    name = "hyperliquid"
    title = ("Hyperliquid perpetuals: hourly exports, POST /info backfill (candles, funding), live streams, "
             "margin rule and tiers")
    margin = RULE
    tiers_dir = Path(__file__).resolve().parent / "tiers"
    kinds = (CANDLES, OPEN_INTEREST, FUNDING)
    open_interest_interval_ms = MS_PER_HOUR  # the hourly export's step (the API has no history)
    open_interest_label = "hourly open interest recorded from metaAndAssetCtxs (oi_usd = coins x mark)"
    funding_interval_ms = MS_PER_HOUR  # Hyperliquid settles funding every hour
    contract_size = 1.0  # sizes are in coins
    symbols_source = "Hyperliquid names the perpetual by its coin: BTC is liqmap's BTCUSDT"
    # Measured on public account snapshots (docs/measured.md): leverage set at 20-40x by value, but
    # notional / equity has a median of 2.5-3x, and 67-98 % of BTC value is cross-margined, where the
    # account's equity, not the set leverage, places the liquidation.  Cohorts stop at BTC's maximum, 40x.
    book_defaults = MappingProxyType({"leverages": (1.0, 2.0, 3.0, 5.0, 10.0, 15.0, 20.0, 25.0, 40.0),
                                      "leverage_median": 3.0})

    def open_folder(self, folder: Path) -> Source:
        from .hourly import HourlyFolder

        return HourlyFolder(folder)

    def symbol_name(self, symbol: str) -> str:
        """'BTC', 'btc' and 'BTCUSDT' -> 'BTCUSDT' (liqmap's name; the API takes the coin)."""
        from .symbols import coin_of, symbol_of

        return symbol_of(coin_of(super().symbol_name(symbol)))

    def rest_client(self, base_url: str | None = None):
        from .rest import DEFAULT_INFO_URL, HyperliquidClient

        return HyperliquidClient(base_url or DEFAULT_INFO_URL)

    def live_stream(self):
        from . import stream

        return stream

    def live_history(self, client):
        """Candles and funding from the backfill, open interest from what is recorded (see
        :func:`~liqmap.venues.hyperliquid.stream.live_history`)."""
        from .stream import live_history

        def history(store, symbol, interval, start_ms, end_ms):
            return live_history(client, store, symbol, interval, start_ms, end_ms)

        return history


HYPERLIQUID = HyperliquidVenue()
