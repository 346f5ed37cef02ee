"""The live market: history plus streamed events, as one :class:`~liqmap.frames.MarketData`, bar by bar.

The book moves in closed bars (1 minute by default).  A bar enters the market
only when it is complete:

* its last-price candle is the stream's closed kline, or, when that kline
  was missed, the REST klines;
* its mark-price candle is built from the 1-second mark prices when the feed
  was up for the whole bar and no second is missing (gaps of at most
  ``max_tick_gap_ms``), else it comes from the REST mark-price klines;
* open interest at each bar's end is the last poll taken in the bar (polls
  carry the exchange's own time stamp), so the book gets a snapshot on every
  bar boundary and settles what is behind it; where polls are missing for
  more than one history interval, the 5-minute history fills the hole
  (:meth:`LiveMarket.fill_open_interest`);
* funding: the rate the mark-price stream showed before a settlement (the
  one applied) is added when its next funding time moves on; what settled
  between the backfill and the first tick is read from REST
  (:meth:`LiveMarket.fill_funding`).  A rate for bars the book already holds
  is not added (the book cannot take it), and the health line says so.

So after any fault the data equal what a whole build over the same span
reads, and the book never moves past a hole.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

import numpy as np

from ..frames import MS_PER_HOUR, Candles, DataError, Funding, MarketData, OpenInterest, format_ms
from .events import Bar, Liquidation, MarkTick, OpenInterestPoll, Trade
from ..net import TransientError
from .health import Health

#: Extra data time after a bar's end before it is taken without its closed kline (then from REST).
GRACE_MS = 3_000


@dataclass(frozen=True)
class GapSource:
    """Where missed data come from (a venue's REST API): async callables over ``[start_ms, end_ms)``."""

    klines: Callable[[int, int, bool], Awaitable[Candles]]  # (start, end, mark) -> bars
    open_interest: Callable[[int, int], Awaitable[OpenInterest]]
    funding: Callable[[int, int], Awaitable[Funding]] | None = None
    trades: Callable[[int, int], Awaitable[list[Trade]]] | None = None  # (first id, last id) -> trades, inclusive


@dataclass(frozen=True)
class StreamRoles:
    """The stream names (as the feed tags them) of each role, for the health lines."""

    trades: str
    mark: str
    klines: str
    liquidations: str
    open_interest: str = "openInterest (REST poll)"


class LiveMarket:
    """Accumulates one symbol's live data on top of its history (see the module docstring)."""

    def __init__(self, history: MarketData, roles: StreamRoles, health: Health, gaps: GapSource | None = None,
                 keep_ms: int | None = None, max_tick_gap_ms: int = 2_000, recent_liquidations: int = 20,
                 polls_at_bar_ends: bool = True):
        if history.open_interest is None or not len(history.open_interest):
            raise DataError(f"live: the history of {history.symbol} has no open interest to start the book from")
        self.history = history
        self.roles, self.health, self.gaps = roles, health, gaps
        self.interval_ms = history.candles.interval_ms
        self.keep_ms = keep_ms
        self.max_tick_gap_ms = max_tick_gap_ms
        self.has_mark = history.mark_candles is not None
        self._candles = history.candles
        self._mark = history.mark_candles
        self._oi = history.open_interest
        self._rows: list[tuple] = []  # appended bars: (time, o, h, l, c, volume, taker buy volume)
        self._mark_rows: list[tuple] = []  # (time, o, h, l, c)
        self._polls: list[tuple[int, float]] = []  # taken, not yet at a bar end
        self._oi_points: list[tuple[int, float]] = []  # for the book, after the history's
        self.polls_at_bar_ends = polls_at_bar_ends
        self.next_bar = int(history.candles.time[-1]) + self.interval_ms
        self._bars: dict[int, Bar] = {}
        self._ticks: dict[int, list[tuple[int, float]]] = {}
        self._outages: list[tuple[int, int]] = []  # data-time spans the feed may have missed
        self._outage_from: int | None = -(2**62)  # until the first event, everything before is unseen
        self.data_time: int = self.next_bar - 1
        self.price: float = float(history.candles.close[-1])
        self.mark: float | None = None
        self.funding_rate: float | None = None
        self._last_trade_id: int | None = None
        self._trade_gaps: list[tuple[int, int]] = []  # ids missed, to be read from REST
        self._held_trades: list[Trade] = []  # trades after a gap, held until it is filled
        self.trades_taken = 0  # trades passed on (to the recorder), in id order
        self._funding = history.funding
        self._next_funding_ms: int | None = None
        self.funding_due = False
        self.liquidations: deque[Liquidation] = deque(maxlen=recent_liquidations)
        self._liq_seen: deque[tuple] = deque(maxlen=256)
        self._dirty = True
        self._market: MarketData | None = None

    # ------------------------------------------------------------ events
    def on_event(self, stream: str, event) -> object | None:
        """Take one parsed event; returns it when it is new (for the recorder), None for a duplicate."""
        if isinstance(event, OpenInterestPoll):
            return self.on_poll(event)
        t = event.event_time if isinstance(event, Bar) else event.time
        if self._outage_from is not None:
            self._outages.append((self._outage_from, t))
            self._outage_from = None
        self.data_time = max(self.data_time, t)
        if isinstance(event, MarkTick):
            return self._on_tick(event)
        if isinstance(event, Trade):
            return self._on_trade(event)
        if isinstance(event, Bar):
            if event.closed and event.time >= self.next_bar and event.time not in self._bars:
                self._bars[event.time] = event
            self.price = event.close
            return event if event.closed else None
        if isinstance(event, Liquidation):
            key = (event.time, event.side, event.price, event.size)
            if key in self._liq_seen:
                return None
            self._liq_seen.append(key)
            self.liquidations.append(event)
            return event
        raise TypeError(f"live: unexpected event {event!r}")

    def on_disconnect(self) -> None:
        """No connection is up: everything from the newest data time on may be missed."""
        if self._outage_from is None:
            self._outage_from = self.data_time

    def _on_tick(self, tick: MarkTick):
        bar = tick.time - tick.time % self.interval_ms
        ticks = self._ticks.setdefault(bar, [])
        if ticks and tick.time <= ticks[-1][0]:
            return None  # a duplicate (two connections during a rotation)
        ticks.append((tick.time, tick.mark))
        if self._next_funding_ms is None:
            self.funding_due = True  # what settled since the backfill: from REST
        elif tick.next_funding_ms > self._next_funding_ms and self.funding_rate is not None:
            self._add_funding([self._next_funding_ms], [self.funding_rate])  # the rate shown is the one applied
        self.mark, self.funding_rate = tick.mark, tick.funding_rate
        self._next_funding_ms = tick.next_funding_ms
        return tick

    def _add_funding(self, times: list[int], rates: list[float]) -> int:
        """Append settled rates newer than those held, unless the book already holds bars after them."""
        held = self._funding
        last = int(held.time[-1]) if held is not None and len(held) else -(2**62)
        pairs = [(t, r) for t, r in zip(times, rates) if t > last]
        late = [t for t, _ in pairs if t < self.next_bar - self.interval_ms]
        if late:
            self.health.fault(self.roles.mark, f"funding settled at {format_ms(late[0])} is known only after the "
                                               "book moved past it; the book keeps the previous rate there")
        pairs = [(t, r) for t, r in pairs if t not in late]
        if not pairs:
            return 0
        t, r = (np.array(x) for x in zip(*pairs))
        self._funding = Funding(time=t, rate=r, interval_ms=8 * MS_PER_HOUR) if held is None else Funding(
            time=np.concatenate([held.time, t]), rate=np.concatenate([held.rate, r]), interval_ms=held.interval_ms)
        self._dirty = True
        return len(pairs)

    def _on_trade(self, trade: Trade):
        """A new trade, or None for a duplicate or one held behind a gap in the ids (see :meth:`fill_trades`)."""
        last = self._last_trade_id
        self.price = trade.price
        if last is not None and trade.trade_id >= 0:
            if trade.trade_id <= last:
                return None
            if trade.trade_id > last + 1:
                if self.gaps is None or self.gaps.trades is None:
                    self.health.gap_backfilled(self.roles.trades, f"trade ids jump {last} -> {trade.trade_id} "
                                               f"({trade.trade_id - last - 1} missed; the bars' volumes come from "
                                               "the klines)")
                else:
                    self._trade_gaps.append((last + 1, trade.trade_id - 1))
        self._last_trade_id = trade.trade_id
        if self._trade_gaps:
            self._held_trades.append(trade)
            return None
        self.trades_taken += 1
        return trade

    @property
    def trade_gap(self) -> bool:
        """Trade ids are missing and the trades after them are held (:meth:`fill_trades` reads them)."""
        return bool(self._trade_gaps)

    async def fill_trades(self) -> list[Trade]:
        """Read the missed trade ids from REST; returns them and the held trades, in id order, for the
        recorder.  Trades keep being held until every gap is read (a gap stays listed while it is read); if
        REST fails, the health line names the ids lost and the held trades are released anyway."""
        fetched: list[Trade] = []
        while self._trade_gaps:
            first, last = self._trade_gaps[0]
            try:
                got = await self.gaps.trades(first, last)  # type: ignore[union-attr, misc]
            except (TransientError, DataError) as exc:
                self.health.fault(self.roles.trades, f"trade ids {first} .. {last} not backfilled ({exc})")
            else:
                fetched.extend(got)
                self.health.gap_backfilled(self.roles.trades, f"trade ids jump {first - 1} -> {last + 1}: "
                                           f"{len(got)} trade(s) backfilled from REST")
            self._trade_gaps.pop(0)
        trades = sorted(fetched + self._held_trades, key=lambda t: t.trade_id)
        self._held_trades = []
        self.trades_taken += len(trades)
        return trades

    def _last_oi(self) -> int:
        return self._oi_points[-1][0] if self._oi_points else int(self._oi.time[-1])

    def on_poll(self, poll: OpenInterestPoll):
        last = max(self._polls[-1][0] if self._polls else -1, self._last_oi())
        if poll.time <= last:
            return None
        if self.polls_at_bar_ends:
            self._polls.append((poll.time, poll.oi))
        else:  # replayed snapshots: they are the history's own points
            self._oi_points.append((poll.time, poll.oi))
            self._dirty = True
        return poll

    def _bar_end_point(self, end: int) -> None:
        """The open interest at a bar's end: the last poll taken at or before it."""
        taken = [p for p in self._polls if p[0] <= end]
        if not taken:
            return
        self._polls = self._polls[len(taken):]
        if end > self._last_oi():
            self._oi_points.append((end, taken[-1][1]))

    async def fill_open_interest(self, until_ms: int) -> int:
        """Fill a hole in the open interest longer than one history interval from the history endpoint."""
        last = max(self._polls[-1][0] if self._polls else -1, self._last_oi())
        if self.gaps is None or until_ms - last <= self._oi.interval_ms:
            return 0
        hist = await self.gaps.open_interest(self._last_oi() + 1, until_ms)
        hist = hist.slice_time(self._last_oi() + 1)  # bars may have moved on while it was read
        if not len(hist):
            return 0
        self._oi_points.extend(zip(hist.time.tolist(), hist.oi.tolist()))
        self._polls = [p for p in self._polls if p[0] > int(hist.time[-1])]
        self._dirty = True
        self.health.gap_backfilled(self.roles.open_interest, f"{len(hist)} open-interest point(s) "
                                   f"{format_ms(int(hist.time[0]))} .. {format_ms(int(hist.time[-1]))} from history")
        return len(hist)

    async def fill_funding(self) -> int:
        """Read settled funding rates newer than the ones held (after a settlement); returns how many."""
        if not self.funding_due or self.gaps is None or self.gaps.funding is None:
            return 0
        held = self._funding
        since = int(held.time[-1]) + 1 if held is not None and len(held) else self.next_bar - self.interval_ms
        new = await self.gaps.funding(since, self.data_time + 1)
        self.funding_due = False
        return self._add_funding(new.time.tolist(), new.rate.tolist())

    # ------------------------------------------------------------ bars
    def _ready(self, bar: int) -> bool:
        return bar in self._bars or self.data_time >= bar + self.interval_ms + GRACE_MS

    def _ticks_complete(self, bar: int) -> bool:
        end = bar + self.interval_ms
        if self._outage_from is not None and self._outage_from < end:
            return False
        if any(lo < end and hi > bar for lo, hi in self._outages):
            return False
        ticks = self._ticks.get(bar)
        if not ticks:
            return False
        times = np.array([bar] + [t for t, _ in ticks] + [end])
        return bool(np.diff(times).max() <= self.max_tick_gap_ms)

    async def advance(self) -> int:
        """Append every complete bar (REST for what the streams missed); returns how many were added."""
        added = 0
        while self._ready(self.next_bar):
            run = []
            bar = self.next_bar
            while self._ready(bar):
                run.append(bar)
                bar += self.interval_ms
            rest_bars = await self._from_rest([b for b in run if b not in self._bars], False)
            rest_mark = await self._from_rest([b for b in run if not self._ticks_complete(b)], True) \
                if self.has_mark else {}
            for b in run:
                row = self._bar_row(b, rest_bars)
                mark = self._mark_row(b, rest_mark) if self.has_mark else ()
                if row is None or mark is None:
                    self._trim()
                    return added  # the exchange has not got it yet either: try again later
                self._rows.append(row)
                if self.has_mark:
                    self._mark_rows.append(mark)
                if self.polls_at_bar_ends:
                    self._bar_end_point(b + self.interval_ms)
                self._bars.pop(b, None)
                self._ticks.pop(b, None)
                self.next_bar = b + self.interval_ms
                added += 1
            self._outages = [(lo, hi) for lo, hi in self._outages if hi > self.next_bar]
            self._dirty = True
        self._trim()
        return added

    async def _from_rest(self, bars: list[int], mark: bool) -> dict[int, tuple]:
        if not bars:
            return {}
        stream = self.roles.mark if mark else self.roles.klines
        if self.gaps is None:
            return {}
        candles = await self.gaps.klines(min(bars), max(bars) + self.interval_ms, mark)
        got = {int(t): i for i, t in enumerate(candles.time)}
        rows = {}
        for b in bars:
            i = got.get(b)
            if i is not None:
                rows[b] = (b, candles.open[i], candles.high[i], candles.low[i], candles.close[i],
                           candles.volume[i], candles.taker_buy_volume[i])
        what = "mark-price bar(s) with missing seconds" if mark else "missed bar(s)"
        if rows:
            self.health.gap_backfilled(stream, f"{len(rows)} {what} {format_ms(min(rows))} .. "
                                       f"{format_ms(max(rows))} backfilled from REST")
        return rows

    def _bar_row(self, bar: int, fetched: dict) -> tuple | None:
        b = self._bars.get(bar)
        if b is not None:
            return (bar, b.open, b.high, b.low, b.close, b.volume, b.taker_buy_volume)
        return fetched.get(bar)

    def _mark_row(self, bar: int, fetched: dict) -> tuple | None:
        if bar in fetched:
            return fetched[bar][:5]
        ticks = self._ticks.get(bar)
        if not ticks or not self._ticks_complete(bar):
            return None
        marks = [m for _, m in ticks]
        return (bar, marks[0], max(marks), min(marks), marks[-1])

    def _trim(self) -> None:
        """Forget ticks and bars the book has passed."""
        for store in (self._ticks, self._bars):
            for key in [k for k in store if k < self.next_bar]:
                del store[key]

    # ------------------------------------------------------------ the market the book reads
    def market(self) -> MarketData:
        """History and the bars appended so far (cut to ``keep_ms`` before the newest bar)."""
        if not self._dirty and self._market is not None:
            return self._market
        candles = _append_bars(self._candles, self._rows, "last")
        mark = _append_bars(self._mark, self._mark_rows, "mark") if self._mark is not None else None
        oi = self._oi
        if self._oi_points:
            t, v = zip(*self._oi_points)
            oi = OpenInterest(time=np.concatenate([oi.time, t]), oi=np.concatenate([oi.oi, v]),
                              oi_value=np.concatenate([oi.oi_value, np.full(len(t), np.nan)]),
                              interval_ms=oi.interval_ms)
        self._candles, self._mark, self._oi = candles, mark, oi
        self._rows, self._mark_rows, self._oi_points = [], [], []
        if self.keep_ms is not None:
            cut = int(candles.time[-1]) + self.interval_ms - self.keep_ms
            self._candles, self._oi = candles.slice_time(cut), _oi_from(oi, cut)
            self._mark = mark.slice_time(cut) if mark is not None else None
        self._market = replace(self.history, candles=self._candles, mark_candles=self._mark,
                               open_interest=self._oi, funding=self._funding, trades=None)
        self._dirty = False
        return self._market


def _oi_from(oi: OpenInterest, cut: int) -> OpenInterest:
    """Snapshots from the last one at or before ``cut`` on (the book needs the level at its start)."""
    i = max(int(np.searchsorted(oi.time, cut, side="right")) - 1, 0)
    return oi._take(slice(i, None))


def _append_bars(candles: Candles, rows: list[tuple], kind: str) -> Candles:
    if not rows:
        return candles
    cols = list(zip(*rows))
    nan = [math.nan] * len(rows)
    volume = cols[5] if kind == "last" else nan
    taker = cols[6] if kind == "last" else nan
    return Candles(time=np.concatenate([candles.time, np.array(cols[0], np.int64)]),
                   open=np.concatenate([candles.open, cols[1]]), high=np.concatenate([candles.high, cols[2]]),
                   low=np.concatenate([candles.low, cols[3]]), close=np.concatenate([candles.close, cols[4]]),
                   volume=np.concatenate([candles.volume, volume]),
                   taker_buy_volume=np.concatenate([candles.taker_buy_volume, taker]),
                   interval_ms=candles.interval_ms, price_kind=candles.price_kind)
