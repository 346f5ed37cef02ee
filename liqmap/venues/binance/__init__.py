"""Binance USDⓈ-M futures: Binance Vision bulk files (``vision``, ``layout``), their downloader
(``download``), the margin rule (``margin``) and dated tier tables (``tiers/``)."""

from __future__ import annotations

from pathlib import Path

from ...frames import MS_PER_HOUR, MS_PER_MINUTE
from ...sources.cache import CANDLES, FUNDING, MARK_CANDLES, OPEN_INTEREST, TRADES
from ..base import Source, Venue
from .margin import RULE


class BinanceVenue(Venue):
    name = "binance"
    title = "Binance USDⓈ-M perpetuals: Binance Vision files, downloader, margin rule and dated tiers"
    margin = RULE
    tiers_dir = Path(__file__).resolve().parent / "tiers"
    kinds = (TRADES, CANDLES, MARK_CANDLES, OPEN_INTEREST, FUNDING)  # Binance Vision publishes no liquidations
    open_interest_interval_ms = 5 * MS_PER_MINUTE  # the metrics files' snapshot step
    open_interest_label = "metrics (sum_open_interest)"
    funding_interval_ms = 8 * MS_PER_HOUR  # the reader expresses every rate per 8 hours
    download_url = "https://data.binance.vision"
    contract_size = 1.0  # USDⓈ-M linear contracts: quantities are in base units

    def rest_client(self, base_url: str | None = None):
        from .rest import DEFAULT_REST_URL, RestClient

        return RestClient(base_url or DEFAULT_REST_URL)

    def live_stream(self):
        from . import stream

        return stream

    def open_folder(self, folder: Path) -> Source:
        from .layout import VisionFolder

        return VisionFolder(folder)


BINANCE = BinanceVenue()
