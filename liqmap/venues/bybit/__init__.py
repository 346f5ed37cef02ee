"""Bybit linear perpetuals: the margin rule and shipped risk-limit tiers (data readers come later)."""

from __future__ import annotations

from pathlib import Path

from ..base import Venue
from .margin import RULE


class BybitVenue(Venue):
    name = "bybit"
    title = "Bybit linear (USDT) perpetuals: margin rule and tiers"
    margin = RULE
    tiers_dir = Path(__file__).resolve().parent / "tiers"
    contract_size = 1.0


BYBIT = BybitVenue()
