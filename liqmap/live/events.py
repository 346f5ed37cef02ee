"""Venue-neutral live events: what a venue's stream parsers produce and the live loop consumes.

Each is a small frozen value; times are epoch milliseconds UTC, prices in quote
currency, sizes in base units.  :class:`Liquidation` is the documented
liquidation event schema (``docs/live.md``) that the recorder stores and that
other venues' feeds (Bybit ``allLiquidation``, OKX ``liquidation-orders``) map
onto too.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Sides of a liquidated position.
SIDES = ("long", "short")


@dataclass(frozen=True, slots=True)
class Trade:
    """One aggregate trade; ``is_buyer_maker`` True means the taker sold."""

    time: int
    price: float
    quantity: float
    is_buyer_maker: bool
    trade_id: int = -1


@dataclass(frozen=True, slots=True)
class MarkTick:
    """The mark price at ``time`` (Binance pushes one a second), with index and funding."""

    time: int
    mark: float
    index: float
    funding_rate: float
    next_funding_ms: int


@dataclass(frozen=True, slots=True)
class Bar:
    """A last-price candle ``[time, time + interval_ms)``; ``closed`` once the bar is final."""

    time: int
    interval_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    taker_buy_volume: float
    closed: bool
    event_time: int


@dataclass(frozen=True, slots=True)
class Liquidation:
    """A realized forced liquidation.

    ``side`` is the side of the liquidated *position* (``"long"`` when the
    exchange force-sold), ``price`` the average fill price (the order price
    when nothing filled yet), ``size`` in base units, ``usd`` = price x size.
    """

    time: int
    symbol: str
    side: str
    price: float
    size: float
    usd: float
    venue: str


@dataclass(frozen=True, slots=True)
class OpenInterestPoll:
    """Open interest in base units at ``time`` (the exchange's own stamp)."""

    time: int
    oi: float


Event = Trade | MarkTick | Bar | Liquidation | OpenInterestPoll
