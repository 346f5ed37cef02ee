"""Everything that differs between venues, one package per venue, and the registry naming them.

A venue package holds its historical file formats and layouts, download
endpoints, symbol metadata, margin rule and dated tier tables; the rest of
liqmap is venue-neutral and learns the venue from the data it reads
(``MarketData.exchange``).  A venue is an instance of
:class:`~liqmap.venues.base.Venue` added with :func:`register`; see
docs/venues.md for how to add one.

    >>> from liqmap import venues
    >>> venues.get("binance").margin.cap_inclusive
    False
"""

from __future__ import annotations

from .base import MarginRule, Source, SymbolInfo, Venue, VenueError
from .binance import BINANCE
from .bybit import BYBIT
from .hyperliquid import HYPERLIQUID
from .okx import OKX

__all__ = ["MarginRule", "Source", "SymbolInfo", "Venue", "VenueError", "get", "names", "all_venues", "register", "unregister",
           "generation"]

_REGISTRY: dict[str, Venue] = {}
_generation = 0


def register(venue: Venue, *, replace: bool = False) -> Venue:
    """Add ``venue`` under ``venue.name`` (lower case); a taken name is refused unless ``replace``."""
    name = venue.name
    if not name or name != name.lower() or not name.isidentifier():
        raise VenueError(f"a venue name must be a lower-case identifier like 'binance', not {name!r}")
    if name in _REGISTRY and not replace and _REGISTRY[name] is not venue:
        raise VenueError(f"a venue named {name!r} is already registered")
    _REGISTRY[name] = venue
    _forget_tables()
    return venue


def unregister(name: str) -> None:
    """Remove a venue (tests add and remove their own)."""
    _REGISTRY.pop(name, None)
    _forget_tables()


def get(name: str) -> Venue:
    """The venue registered as ``name`` (case-insensitive), or an error listing the registered ones."""
    venue = _REGISTRY.get(str(name).lower())
    if venue is None and str(name).lower() == "all":  # accepted where the Multi map is drawn, before this
        raise VenueError(f"venue 'all' (the Multi map) is drawn by liqmap map, liqmap live and the dashboard's map; "
                         f"this takes one venue: {', '.join(names())}")
    if venue is None:
        raise VenueError(f"unknown venue {name!r}; registered venues: {', '.join(names())}")
    return venue


def names() -> list[str]:
    return sorted(_REGISTRY)


def all_venues() -> list[Venue]:
    return [_REGISTRY[n] for n in names()]


def generation() -> int:
    """A number that changes whenever the registry does (what the tier tables are cached on)."""
    return _generation


def _forget_tables() -> None:
    global _generation
    _generation += 1


for _venue in (BINANCE, BYBIT, HYPERLIQUID, OKX):
    register(_venue)
