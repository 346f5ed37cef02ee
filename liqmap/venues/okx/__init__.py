"""OKX USDT-margined swaps: the margin rule and shipped position tiers (data readers come later)."""

from __future__ import annotations

from pathlib import Path

from ..base import Venue
from .margin import RULE


class OkxVenue(Venue):
    name = "okx"
    title = "OKX USDT-margined swaps: margin rule and tiers (sizes in contracts)"
    margin = RULE
    tiers_dir = Path(__file__).resolve().parent / "tiers"


OKX = OkxVenue()
