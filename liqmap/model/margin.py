"""Exact isolated-margin liquidation prices from dated tier (bracket) snapshots, for any venue.

A liquidation is triggered when the *mark price* reaches the liquidation price
(LP).  Every venue computes LP from entry price EP, leverage L and the
maintenance-margin rate (MMR) of the bracket (risk-limit tier) the position
falls in; the formula is the venue's :class:`~liqmap.venues.base.MarginRule`
(``liqmap/venues/<venue>/margin.py``), this module holds the venue-neutral
machinery: reading and checking snapshots, picking the one in force, finding
the bracket and broadcasting over positions.

For a fixed notional LP/EP does not depend on EP, so the position book calls
:func:`liq_price_factor` once per (leverage, notional) grid and multiplies by
its entry prices.  Brackets change over time and need an API key to read live,
so dated public snapshots ship with each venue (``liqmap/venues/<venue>/tiers/``,
one JSON file per symbol and date; schema in ``docs/liqprice.md``).  The dates
they switch on are approximate, and Binance can scale one user's caps with
``notionalCoef``, which public data cannot see.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .. import venues
from ..frames import format_ms
from ..timeutil import parse_time
from ..venues.base import MarginRule

SIDES = {"long": 1.0, "short": -1.0}


def margin_venues() -> list[str]:
    """Registered venues that have a margin rule."""
    return [v.name for v in venues.all_venues() if v.margin is not None]


def check_exchange(exchange: str) -> MarginRule:
    """The margin rule of a registered venue, or an error listing the venues that have one."""
    name = str(exchange).lower()
    if name in venues.names() and venues.get(name).margin is not None:
        return venues.get(name).margin  # type: ignore[return-value]
    raise ValueError(f"unknown exchange {exchange!r}; available: {', '.join(margin_venues())}")


@dataclass(frozen=True)
class Bracket:
    """One bracket: positions of size from floor to cap (notional, or contracts for OKX).

    Whether a size equal to ``cap`` still belongs to it is the venue's
    (:attr:`MarginRule.cap_inclusive`): Binance counts floor <= N < cap.
    """

    number: int  # 1-based, as the exchanges number them
    floor: float
    cap: float
    max_leverage: float
    mmr: float
    maintenance_amount: float  # Binance "cum", Bybit "MM deduction"; 0 on OKX


@dataclass(frozen=True)
class BracketTable:
    """A dated snapshot of one symbol's brackets on one exchange."""

    exchange: str
    symbol: str
    date_ms: int  # in force from this moment (UTC)
    source: str
    brackets: tuple[Bracket, ...]
    size_unit: str = "quote"  # "quote": bracket bounds are notional; "contracts": contract counts
    contract_size: float = 1.0  # base units per contract when size_unit == "contracts"
    taker_fee: float = 0.0
    origin: str = ""  # the file it came from, for messages

    @property
    def date(self) -> str:
        """The day the snapshot came into force, ISO text."""
        return format_ms(self.date_ms)[:10]

    @property
    def label(self) -> str:
        return f"{self.exchange} {self.symbol} brackets of {self.date}"

    @property
    def caps(self) -> np.ndarray:
        return np.array([b.cap for b in self.brackets])

    @property
    def rule(self) -> MarginRule:
        return check_exchange(self.exchange)

    def bounds_text(self, bracket: Bracket) -> str:
        """``[floor, cap)`` or ``(floor, cap]`` as the venue counts it."""
        if self.rule.cap_inclusive:
            return f"({bracket.floor:,.0f}, {bracket.cap:,.0f}]"
        return f"[{bracket.floor:,.0f}, {bracket.cap:,.0f})"

    def position_size(self, notional, entry=None):
        """The quantity brackets are keyed on: notional, or contracts (needs the entry price)."""
        if self.size_unit == "quote":
            return notional
        if entry is None:
            raise ValueError(
                f"{self.label} are in contracts of {self.contract_size:g} {self.symbol} base units; "
                "give the entry price so the notional can be turned into contracts"
            )
        return np.asarray(notional, dtype=np.float64) / (np.asarray(entry, dtype=np.float64) * self.contract_size)

    def bracket_index(self, size) -> np.ndarray:
        """0-based bracket of each size: [cap(n-1), cap(n)), or (cap(n-1), cap(n)] where the venue includes caps."""
        size = np.asarray(size, dtype=np.float64)
        if np.any(~np.isfinite(size) | (size <= 0)):
            bad = size[~np.isfinite(size) | (size <= 0)].flat[0]
            raise ValueError(f"position size must be a positive number, got {float(bad):g}")
        index = np.searchsorted(self.caps, size, side="left" if self.rule.cap_inclusive else "right")
        if np.any(index >= len(self.brackets)):
            largest = size.max()
            raise ValueError(
                f"position size {largest:,.2f} {self._unit_name} exceeds the largest bracket of the "
                f"{self.label} (cap {self.brackets[-1].cap:,.2f})"
            )
        return index

    @property
    def _unit_name(self) -> str:
        return "USDT notional" if self.size_unit == "quote" else "contracts"


# --------------------------------------------------------------------------- loading


def _field(raw: dict, key: str, where: str, kind=(int, float)):
    if key not in raw:
        raise ValueError(f"{where}: missing field {key!r}")
    value = raw[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        expected = "a number" if kind == (int, float) else "text"
        raise ValueError(f"{where}: field {key!r} must be {expected}, got {value!r}")
    if kind == (int, float) and not math.isfinite(value):
        raise ValueError(f"{where}: field {key!r} must be finite, got {value!r}")
    return value


def parse_bracket_table(raw, origin: str) -> BracketTable:
    """Check and build one snapshot from its JSON object; errors name the file and field."""
    if not isinstance(raw, dict):
        raise ValueError(f"brackets file {origin}: top level must be a JSON object, got {type(raw).__name__}")
    where = f"brackets file {origin}"
    exchange = _field(raw, "exchange", where, str).lower()
    if exchange not in margin_venues():
        raise ValueError(f"{where}: field 'exchange' is {exchange!r}; known exchanges: {', '.join(margin_venues())}")
    rule = check_exchange(exchange)
    symbol = normalize_symbol(_field(raw, "symbol", where, str))
    date_text = _field(raw, "date", where, str)
    try:
        date_ms = parse_time(date_text, "date")
    except ValueError as exc:
        raise ValueError(f"{where}: field 'date': {exc}") from None
    source = _field(raw, "source", where, str)
    size_unit = raw.get("size_unit", "quote")
    if size_unit not in ("quote", "contracts"):
        raise ValueError(f"{where}: field 'size_unit' must be 'quote' or 'contracts', got {size_unit!r}")
    contract_size = 1.0
    if size_unit == "contracts":
        contract_size = float(_field(raw, "contract_size", where))
        if contract_size <= 0:
            raise ValueError(f"{where}: field 'contract_size' must be positive, got {contract_size!r}")
    taker_fee = 0.0
    if rule.needs_taker_fee:
        taker_fee = float(_field(raw, "taker_fee", where))
        if not 0 <= taker_fee < 0.01:
            raise ValueError(f"{where}: field 'taker_fee' must be a fraction in [0, 0.01), got {taker_fee!r}")
    if "tiers" not in raw:
        raise ValueError(f"{where}: missing field 'tiers'")
    tiers = raw["tiers"]
    if not isinstance(tiers, list) or not tiers:
        raise ValueError(f"{where}: field 'tiers' must be a non-empty list of brackets")

    brackets: list[Bracket] = []
    floor, prev_mmr, cum = 0.0, 0.0, 0.0
    for i, tier in enumerate(tiers):
        at = f"{where}: tiers[{i}]"
        if not isinstance(tier, dict):
            raise ValueError(f"{at} must be an object with cap, max_leverage and mmr")
        cap = float(_field(tier, "cap", at))
        max_leverage = float(_field(tier, "max_leverage", at))
        mmr = float(_field(tier, "mmr", at))
        if cap <= floor:
            raise ValueError(f"{at}: cap {cap:,.2f} must be larger than the previous cap {floor:,.2f}")
        if max_leverage < 1:
            raise ValueError(f"{at}: max_leverage must be at least 1, got {max_leverage:g}")
        if not 0 <= mmr < 1:
            raise ValueError(f"{at}: mmr must be a fraction in [0, 1), got {mmr!r}")
        if rule.uses_deduction:
            # rounded to 1e-8 so 1,300 + 1,000,000 * 0.015 prints as 16,300, not 16,300.000000000002
            cum = round(cum + floor * (mmr - prev_mmr), 8) if brackets else 0.0
            if "maintenance_amount" in tier:
                stated = float(_field(tier, "maintenance_amount", at))
                if abs(stated - cum) > 0.01 + 1e-9 * abs(cum):
                    raise ValueError(
                        f"{at}: maintenance_amount {stated:,.4f} disagrees with the value implied by the "
                        f"brackets, cum(n-1) + cap(n-1) * (mmr(n) - mmr(n-1)) = {cum:,.4f}"
                    )
        brackets.append(Bracket(i + 1, floor, cap, max_leverage, mmr, cum))
        floor, prev_mmr = cap, mmr
    return BracketTable(
        exchange, symbol, date_ms, source, tuple(brackets), size_unit, contract_size, taker_fee, origin
    )


def load_bracket_file(path) -> BracketTable:
    """Read one user or shipped snapshot file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"brackets file {path} does not exist") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"brackets file {path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    return parse_bracket_table(raw, str(path))


def folder_tables(folder, exchange: str, symbol: str) -> tuple[BracketTable, ...]:
    """The dated snapshots of ``exchange`` ``symbol`` among the bracket files (``*.json``) of ``folder``, oldest
    first: a folder gives each symbol of a many-symbol run its own tables, as the shipped ones do."""
    tables = [load_bracket_file(path) for path in sorted(Path(folder).glob("*.json"))]
    mine = sorted((t for t in tables if (t.exchange, t.symbol) == (exchange, symbol)), key=lambda t: t.date_ms)
    if not mine:
        held = sorted({f"{t.exchange} {t.symbol}" for t in tables})
        raise ValueError(f"brackets folder {folder} holds no {exchange} {symbol} file; it holds: "
                         f"{', '.join(held) or 'no bracket files'}")
    return tuple(mine)


def shipped_tables() -> dict[tuple[str, str], tuple[BracketTable, ...]]:
    """All shipped snapshots of the registered venues by (venue, symbol), oldest first."""
    return _shipped_tables(venues.generation())


@lru_cache(maxsize=2)
def _shipped_tables(generation: int) -> dict[tuple[str, str], tuple[BracketTable, ...]]:
    """Read once per registry state (``generation``)."""
    tables: dict[tuple[str, str], list[BracketTable]] = {}
    for venue in venues.all_venues():
        for path in venue.tier_files():
            table = load_bracket_file(path)
            if table.exchange != venue.name:
                raise ValueError(f"brackets file {path} names {table.exchange!r} but ships with the {venue.name} venue")
            tables.setdefault((table.exchange, table.symbol), []).append(table)
    out = {}
    for key, found in tables.items():
        found.sort(key=lambda t: t.date_ms)
        dates = [t.date_ms for t in found]
        if len(set(dates)) != len(dates):
            raise ValueError(f"two shipped {key[0]} {key[1]} bracket snapshots share a date: {found[0].date}")
        out[key] = tuple(found)
    return out


def normalize_symbol(symbol: str) -> str:
    """'btc-usdt-swap', 'BTC/USDT' and 'BTCUSDT' all name the USDT perpetual BTCUSDT."""
    text = str(symbol).upper().replace("-", "").replace("/", "").replace("_", "").replace(":USDT", "")
    return text[: -len("SWAP")] if text.endswith("SWAP") else text


def bracket_table(exchange: str, symbol: str, as_of=None, brackets=None) -> BracketTable:
    """The snapshot to use: the user's (a file path or a table), else the shipped one in force at ``as_of``.

    ``as_of`` is epoch ms or ISO text; the snapshot in force is the latest dated
    on or before it, and the newest when ``as_of`` is None.
    """
    check_exchange(exchange)
    name = str(exchange).lower()
    symbol = venues.get(name).symbol_name(symbol)
    if brackets is not None and not isinstance(brackets, BracketTable) and Path(brackets).is_dir():
        return table_in_force(folder_tables(brackets, name, symbol), as_of)
    if brackets is not None:
        table = brackets if isinstance(brackets, BracketTable) else load_bracket_file(brackets)
        if (table.exchange, table.symbol) != (name, symbol):
            raise ValueError(
                f"{table.origin or 'the brackets given'} hold {table.exchange} {table.symbol}, "
                f"not {name} {symbol}"
            )
        return table
    shipped = shipped_tables()
    found = shipped.get((name, symbol))
    if not found:
        known = sorted(s for (e, s) in shipped if e == name)
        raise ValueError(
            f"no shipped {name} brackets for {symbol}; shipped {name} symbols: "
            f"{', '.join(known) or 'none'} (pass your own with a brackets file)"
        )
    return table_in_force(found, as_of)


def tables_in_force(exchange: str, symbol: str, times_ms, brackets=None) -> tuple[tuple[BracketTable, ...], np.ndarray]:
    """The snapshots in force at each of ``times_ms``: (tables, index of each time's table).

    A user's table (``brackets``) applies at every time; otherwise each time
    gets the latest shipped snapshot dated on or before it.
    """
    times = np.asarray(times_ms, dtype=np.int64)
    folder = brackets is not None and not isinstance(brackets, BracketTable) and Path(brackets).is_dir()
    if brackets is not None and not folder:
        return (bracket_table(exchange, symbol, None, brackets),), np.zeros(times.size, np.intp)
    newest = bracket_table(exchange, symbol, None, brackets)  # validates exchange and symbol, with the helpful errors
    snapshots = folder_tables(brackets, newest.exchange, newest.symbol) if folder else \
        shipped_tables()[(newest.exchange, newest.symbol)]
    if times.size:
        table_in_force(snapshots, int(times.min()))  # the oldest time needs a snapshot too
    dates = np.array([t.date_ms for t in snapshots])
    position = np.searchsorted(dates, times, side="right") - 1
    used, index = np.unique(position, return_inverse=True)
    return tuple(snapshots[int(k)] for k in used), index.reshape(times.shape).astype(np.intp)


def table_in_force(snapshots, as_of=None) -> BracketTable:
    """The latest of one symbol's snapshots (sorted oldest first) dated on or before ``as_of``; None = newest."""
    if as_of is None:
        return snapshots[-1]
    as_of_ms = parse_time(as_of, "as-of") if isinstance(as_of, str) else int(as_of)
    dates = np.array([t.date_ms for t in snapshots])
    position = int(np.searchsorted(dates, as_of_ms, side="right")) - 1
    if position < 0:
        first = snapshots[0]
        raise ValueError(
            f"no {first.exchange} {first.symbol} brackets in force at {format_ms(as_of_ms)}; the oldest "
            f"snapshot is of {first.date} (pass your own with a brackets file)"
        )
    return snapshots[position]


# --------------------------------------------------------------------------- prices


def _factor(table: BracketTable, side: str, leverage, notional, entry=None) -> tuple[np.ndarray, np.ndarray]:
    """(LP/EP, 0-based bracket index), broadcast over leverage and notional."""
    if side not in SIDES:
        raise ValueError(f"side must be 'long' or 'short', got {side!r}")
    rule = table.rule
    leverage = np.asarray(leverage, dtype=np.float64)
    notional = np.asarray(notional, dtype=np.float64)
    if np.any(~np.isfinite(leverage) | (leverage < 1)):
        bad = leverage[~np.isfinite(leverage) | (leverage < 1)].flat[0]
        raise ValueError(f"leverage must be at least 1, got {float(bad):g}")
    if np.any(~np.isfinite(notional) | (notional <= 0)):
        bad = notional[~np.isfinite(notional) | (notional <= 0)].flat[0]
        raise ValueError(f"notional must be a positive number, got {float(bad):g}")
    index = table.bracket_index(table.position_size(notional, entry))
    max_leverage = np.array([b.max_leverage for b in table.brackets])[index]
    too_high = leverage > max_leverage
    if np.any(too_high):
        lev, idx = np.broadcast_arrays(leverage, index)
        first = tuple(np.argwhere(np.broadcast_to(too_high, lev.shape))[0])
        b = table.brackets[int(idx[first])]
        raise ValueError(
            f"leverage {lev[first]:g}x is above the {b.max_leverage:g}x maximum of bracket {b.number} "
            f"(size {table.bounds_text(b)} {table._unit_name}, MMR {b.mmr:.2%}) of the {table.label}"
        )
    mmr = np.array([b.mmr for b in table.brackets])[index]
    cum = np.array([b.maintenance_amount for b in table.brackets])[index]
    factor = np.asarray(rule.factor(SIDES[side], leverage, mmr, cum / notional, table.taker_fee), dtype=np.float64)
    # A long whose liquidation price falls at or below zero cannot be liquidated; 0 says so.
    return np.maximum(factor, 0.0), index


def liq_price_factor(
    exchange: str,
    symbol: str,
    side: str,
    leverage,
    notional,
    as_of_ms: int | None = None,
    brackets=None,
    entry=None,
) -> np.ndarray:
    """LP / EP for arrays of leverage and notional (numpy broadcasting, no loop over positions).

    ``entry`` is needed only for tables keyed on contracts (OKX), where the
    bracket depends on the quantity N / EP.  A factor of 0 marks a long that
    cannot be liquidated.  Leverage above a bracket's maximum is an error.
    """
    table = bracket_table(exchange, symbol, as_of_ms, brackets)
    return _factor(table, side, leverage, notional, entry)[0]


@dataclass(frozen=True)
class LiquidationQuote:
    """A liquidation price with what it was computed from (what ``liqmap liqprice`` prints)."""

    exchange: str
    symbol: str
    side: str
    entry: float
    leverage: float
    notional: float
    price: float  # 0.0 when the position cannot be liquidated
    naive_price: float  # EP (1 -/+ 1/L), the margin-free textbook level
    bracket: Bracket
    table: BracketTable

    @property
    def distance_pct(self) -> float:
        """Signed distance of the liquidation price from entry, in percent."""
        return (self.price / self.entry - 1.0) * 100.0

    @property
    def naive_distance_pct(self) -> float:
        return (self.naive_price / self.entry - 1.0) * 100.0

    def to_dict(self) -> dict:
        """The quote as JSON-ready values (``liqmap liqprice --format json`` and ``/api/liqprice``)."""
        b, t = self.bracket, self.table
        return {
            "exchange": self.exchange,
            "symbol": self.symbol,
            "side": self.side,
            "entry": self.entry,
            "leverage": self.leverage,
            "notional": self.notional,
            "liquidation_price": self.price,
            "distance_pct": self.distance_pct,
            "naive_price": self.naive_price,
            "naive_distance_pct": self.naive_distance_pct,
            "bracket": {
                "number": b.number,
                "floor": b.floor,
                "cap": b.cap,
                "size_unit": t.size_unit,
                "mmr": b.mmr,
                "max_leverage": b.max_leverage,
                "maintenance_amount": b.maintenance_amount,
            },
            "taker_fee": t.taker_fee,
            "brackets_date": t.date,
            "brackets_source": t.source,
            "brackets_file": t.origin,
        }


def quote_liquidation(
    exchange: str, symbol: str, side: str, entry: float, leverage: float, notional: float, brackets=None, as_of=None
) -> LiquidationQuote:
    """The liquidation price of one isolated position, with the bracket used."""
    entry = float(entry)
    if not math.isfinite(entry) or entry <= 0:
        raise ValueError(f"entry price must be a positive number, got {entry!r}")
    table = bracket_table(exchange, symbol, as_of, brackets)
    factor, index = _factor(table, side, leverage, notional, entry)
    naive = entry * (1.0 - SIDES.get(side, 0.0) / float(leverage))
    return LiquidationQuote(
        table.exchange,
        table.symbol,
        side,
        entry,
        float(leverage),
        float(notional),
        float(entry * factor),
        max(naive, 0.0),
        table.brackets[int(index)],
        table,
    )


def liquidation_price(
    exchange: str, symbol: str, side: str, entry: float, leverage: float, notional: float, brackets=None, as_of=None
) -> float:
    """The exchange's liquidation price (mark price) of one isolated position.

    >>> round(liquidation_price("binance", "BTCUSDT", "long", entry=100_000, leverage=100,
    ...                         notional=10_000, as_of="2021-06-01"), 2)
    99397.59
    """
    return quote_liquidation(exchange, symbol, side, entry, leverage, notional, brackets, as_of).price
