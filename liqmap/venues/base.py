"""The adapter interface every venue implements, and the margin rule it carries.

Nothing here does I/O at import time: the model imports this module (through
the registry) for margin rules, and readers are imported inside methods.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

import numpy as np


class VenueError(ValueError):
    """An unknown venue, or something a venue does not have; the message lists what exists."""


@dataclass(frozen=True)
class MarginRule:
    """How one venue turns a margin tier into an isolated-margin liquidation price.

    ``factor(s, leverage, mmr, cum_over_notional, taker_fee)`` returns LP / EP
    for side sign ``s`` (+1 long, -1 short) with numpy broadcasting.
    ``cap_inclusive`` fixes the tier bounds: False means tier n covers
    ``floor <= size < cap`` (Binance), True ``floor < size <= cap``
    (Bybit's risk limit, OKX's maximum size).
    """

    formula: str  # the long/short formulas, for docs and the CLI
    source: str  # where the venue publishes it
    factor: Callable[..., np.ndarray]
    uses_deduction: bool  # whether tiers carry a maintenance amount (cum / MM deduction)
    needs_taker_fee: bool = False
    cap_inclusive: bool = False


@dataclass(frozen=True)
class SymbolInfo:
    """What a venue publishes about one contract, where liqmap knows it (None = not known)."""

    symbol: str
    contract_size: float | None  # base units per contract (1 for Binance's linear USDT-M contracts)
    tick: float | None  # price increment
    max_leverage: tuple[tuple[str, float], ...]  # (date in force, first tier's max leverage), oldest first


class Source(Protocol):
    """Market data of one venue in one place, in store kinds (see ``liqmap.sources.cache.KINDS``)."""

    label: str

    def symbols(self) -> list[str]: ...

    def kinds(self, symbol: str) -> list[str]: ...

    def read(self, symbol: str, kind: str, start_ms: int | None, end_ms: int | None): ...

    def time_range(self, symbol: str, kind: str) -> tuple[int, int] | None:
        """(first time, the moment just after the data: its last bar's end), or None."""


class Venue:
    """One venue's adapter: subclass it (or instantiate it with overrides) and register it.

    Attributes a venue sets:

    * ``name``: the registry key and the ``exchange`` field of every output;
    * ``title``: one line for ``liqmap venues``;
    * ``margin``: its :class:`MarginRule`, and ``tiers_dir``: the folder of its
      shipped, dated tier tables (JSON, schema in docs/liqprice.md);
    * ``kinds``: the store kinds its historical reader produces (empty: no reader yet);
    * ``open_interest_interval_ms`` / ``funding_interval_ms``: the venue's
      sampling intervals, used when the data is too short to show them, and
      ``open_interest_label``: what its open interest is (for the data notes);
    * ``download_url``: the bulk-download host, where the venue has one;
    * ``tick_sizes``: known price increments by symbol, and ``contract_size``;
    * ``book_defaults``: model parameters (``BookParams`` fields) this venue's books start
      from, e.g. a leverage prior from measured positions; ``--param`` still overrides them.
    """

    name: str = ""
    title: str = ""
    margin: MarginRule | None = None
    tiers_dir: Path | None = None
    kinds: tuple[str, ...] = ()
    open_interest_interval_ms: int | None = None
    open_interest_label: str = ""  # what its open interest is, for the data notes
    funding_interval_ms: int | None = None
    download_url: str | None = None
    contract_size: float | None = None
    tick_sizes: Mapping[str, float] = MappingProxyType({})
    book_defaults: Mapping[str, object] = MappingProxyType({})

    def open_folder(self, folder: Path) -> Source:
        """The venue's historical files below ``folder`` as a :class:`Source`."""
        raise VenueError(f"venue {self.name!r} has no reader for files yet (it provides margin rules only)")

    def symbol_name(self, symbol: str) -> str:
        """liqmap's name (``BTCUSDT``) of ``symbol`` given as liqmap or the venue names it
        (``BTC-USDT-SWAP``, ``BTC/USDT``); the name data is stored and maps are labelled under."""
        from ..model.margin import normalize_symbol

        return normalize_symbol(symbol)

    def check_symbol(self, symbol: str) -> str:
        """liqmap's name of ``symbol`` (:meth:`symbol_name`); a venue that serves only the symbols it knows
        (contract sizes, its own names) raises :class:`VenueError` listing them."""
        return self.symbol_name(symbol)

    def rest_client(self, base_url: str | None = None):
        """The venue's paced public REST client (``liqmap data backfill --venue``; see
        :func:`liqmap.venues.binance.rest.backfill` for what it answers)."""
        raise VenueError(f"venue {self.name!r} has no REST backfill yet")

    def live_stream(self):
        """The venue's stream module (its ``live_venue`` and ``DEFAULT_WS_URL``), where it has live feeds."""
        return None

    def live_history(self, client):
        """``history(store, symbol, interval, start_ms, end_ms)`` a live book starts from where the REST
        backfill is not all of it (None: what the backfill stored, see :mod:`liqmap.live.session`)."""
        return None

    def open_live(self, symbol: str, store, options, *, rest_url: str | None = None, ws_url: str | None = None,
                  **settings):
        """A ready live loop for ``symbol`` (REST backfill into ``store``, then the venue's streams):
        ``(LiveLoop, notes)``; see :func:`liqmap.live.session.open_streaming`."""
        stream = self.live_stream()
        if stream is None:
            raise VenueError(f"venue {self.name!r} has no live feed yet (`liqmap venues` shows what each venue "
                             "provides)")
        from ..live.session import open_streaming

        client = self.rest_client(rest_url)
        return open_streaming(self.name, client, stream.live_venue, self.check_symbol(symbol), store, options,
                              ws_url=ws_url or stream.DEFAULT_WS_URL, history=self.live_history(client), **settings)

    def tier_files(self) -> list[Path]:
        """The shipped tier tables (JSON), one per symbol and date."""
        return sorted(self.tiers_dir.glob("*.json")) if self.tiers_dir is not None and self.tiers_dir.is_dir() else []

    def symbols(self) -> list[str]:
        """Symbols the venue's shipped metadata and tier tables describe."""
        from ..model.margin import shipped_tables

        with_tiers = {symbol for (venue, symbol) in shipped_tables() if venue == self.name}
        return sorted(with_tiers | set(self.tick_sizes))

    def symbol_info(self, symbol: str) -> SymbolInfo:
        """Contract size, tick and max leverage by date (from the tier tables) of ``symbol``."""
        from ..model.margin import normalize_symbol, shipped_tables

        symbol = normalize_symbol(symbol)
        tables = shipped_tables().get((self.name, symbol), ())
        if not tables and symbol not in self.tick_sizes:
            raise VenueError(f"venue {self.name!r} knows nothing about {symbol}; it knows: {', '.join(self.symbols()) or 'no symbols'}")
        contract = tables[-1].contract_size if tables and tables[-1].size_unit == "contracts" else self.contract_size
        return SymbolInfo(
            symbol,
            contract,
            self.tick_sizes.get(symbol),
            tuple((t.date, t.brackets[0].max_leverage) for t in tables),
        )
