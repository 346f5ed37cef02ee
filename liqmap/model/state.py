"""A position book that updates in place: appended data in, the immutable ``PositionBook`` out.

``BookState`` takes candles, open-interest snapshots, trades and funding as
they arrive and keeps only what the next update can change:

- **Settled** candles lie before the last open-interest snapshot that falls on
  a candle boundary.  Their openings, their levels and their survival factor
  are final and never recomputed.
- The **tail** (the candles after it) is provisional: OI has not yet said what
  they opened, so each update recomputes the tail's stages from the tail's raw
  data alone (a late OI snapshot recomputes only this tail).
- Settled levels are kept in **chunks**, one per opening candle, each with
  the highest alive long and lowest alive short price: a new candle searches
  only the chunks it can reach.

Levels leave the state when they are swept (once the sweep is settled),
when their opening leaves the window, or when their decay has taken them
below ``e^-DECAY_CUTOFF`` of their opening weight, so memory is bounded by
the window, not by history.  An update costs O(new data + tail + chunks
reached); the window's chunks are scanned as one array.

After every update ``book()`` equals ``build_book`` over the same data with
the same window (to round-off, and to the e^-30 of dropped faded levels):
the closes of a candle are netted against the liquidations of the positions
the model held at that candle (opened within the window before it), so the
survival factor of a settled candle does not depend on later data.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from ..frames import Candles, DataError, Funding, MarketData, OpenInterest, Trades, format_ms, sampling_interval
from .closes import CLOSES_NOTE, netting_weight, survival_log
from .cohorts import cohort_levels
from .deaths import check_candle_gaps, first_at_or_below, min_table, price_path
from .decay import DECAY_CUTOFF, cohort_rates
from .openings import entries, opens_and_closes
from .params import BookParams
from .positions import Levels, PositionBook

#: Death step of a level no candle has reached yet.
NEVER = np.iinfo(np.int64).max
#: Notes kept at most (each update may word a provisional note differently).
_MAX_NOTES = 64


@dataclass
class _Chunk:
    """The settled levels of one opening candle."""

    step: int  # absolute candle index it opened in
    price: np.ndarray
    contracts: np.ndarray
    is_long: np.ndarray
    cohort: np.ndarray
    death: np.ndarray  # absolute candle index, or NEVER

    def keep(self, mask: np.ndarray) -> None:
        for name in ("price", "contracts", "is_long", "cohort", "death"):
            setattr(self, name, getattr(self, name)[mask])

    def reach(self, tail_start: int) -> tuple[float, float]:
        """Highest long and lowest short price still alive at ``tail_start`` (what a candle can reach)."""
        pending = self.death >= tail_start
        longs, shorts = pending & self.is_long, pending & ~self.is_long
        return (float(self.price[longs].max()) if longs.any() else -np.inf,
                float(self.price[shorts].min()) if shorts.any() else np.inf)


class _Steps:
    """Per-candle columns from absolute index ``base`` on: rewritable from any row, trimmable at the front.

    The columns live in buffers with spare room at the end, so rewriting the
    tail costs the tail's length, not the history's (amortised).
    """

    NAMES = ("time", "end", "close", "log_s", "oi_at_end", "opened", "closed")

    def __init__(self):
        self.base = 0  # absolute index of the first row held
        self._lo = self._hi = 0  # rows held are buffer[_lo:_hi]
        self._buf = {n: np.zeros(64, np.int64 if n in ("time", "end") else np.float64) for n in self.NAMES}

    @property
    def stop(self) -> int:
        return self.base + self._hi - self._lo

    def column(self, name: str) -> np.ndarray:
        return self._buf[name][self._lo:self._hi]

    def get(self, name: str, index):
        return self._buf[name][np.asarray(index) - self.base + self._lo]

    def replace_from(self, start: int, **values: np.ndarray) -> None:
        """Rows from absolute ``start`` on become ``values``."""
        at = start - self.base + self._lo
        size = values["time"].size
        if at + size > self._buf["time"].size:
            capacity = max(2 * (at - self._lo + size), 64)
            for name in self.NAMES:
                grown = np.zeros(capacity, self._buf[name].dtype)
                grown[:at - self._lo] = self._buf[name][self._lo:at]
                self._buf[name] = grown
            at -= self._lo
            self._lo = 0
        for name in self.NAMES:
            self._buf[name][at:at + size] = values[name]
        self._hi = at + size

    def drop_before(self, start: int) -> None:
        if start <= self.base:
            return
        self._lo += start - self.base
        self.base = start
        if self._lo > self._buf["time"].size // 2:  # compact: the held rows move to the front
            for name in self.NAMES:
                self._buf[name][:self._hi - self._lo] = self._buf[name][self._lo:self._hi].copy()
            self._hi -= self._lo
            self._lo = 0


class BookState:
    """The position book of one market, updated in place (see the module docstring).

    >>> state = BookState("BTCUSDT", "binance", window_ms=30 * 86_400_000)
    >>> state.append(candles=c, open_interest=oi)      # any parts, in time order
    >>> state.book().snapshot(state.end_ms, edges, window_ms=state.window_ms)
    """

    def __init__(self, symbol: str, exchange: str, params: BookParams | None = None, window_ms: int | None = None):
        if window_ms is not None and window_ms <= 0:
            raise ValueError(f"window_ms must be positive, not {window_ms}")
        self.symbol, self.exchange = symbol, exchange
        self.params = params or BookParams()
        self.window_ms = window_ms
        self._rates = cohort_rates(self.params.decay_half_life_10x, self.params.leverages)
        self._steps = _Steps()
        self._chunks: list[_Chunk] = []
        self._reach = np.zeros((0, 2))  # per chunk: highest pending long, lowest pending short
        self._tail_start = 0  # absolute index of the first unsettled candle
        self._tail_levels: Levels | None = None  # levels opened in the tail (open/death absolute)
        # raw data of the tail (and the context it needs: the OI snapshot and funding before it)
        self._candles: Candles | None = None
        self._mark: Candles | None = None
        self._oi: OpenInterest | None = None
        self._funding: Funding | None = None
        self._trades: Trades | None = None
        self._use_trades: bool | None = None
        self._decayed = np.zeros(self._rates.size, np.int64)  # per cohort: chunks already passed for decay
        self._notes: dict[str, None] = {}
        self._last: dict[str, int] = {}  # per data kind: the last time appended
        self._path_low = self._path_high = np.zeros(0)  # the tail's price path (what it reached)
        self.converged = True

    # ------------------------------------------------------------------ reading
    @property
    def steps(self) -> int:
        """Candles seen so far."""
        return self._steps.stop

    @property
    def end_ms(self) -> int | None:
        """End of the last candle (the moment the book describes), None before any."""
        return int(self._steps.column("end")[-1]) if self._steps.column("end").size else None

    @property
    def level_count(self) -> int:
        """Levels held: settled chunks plus the tail's."""
        tail = 0 if self._tail_levels is None else self._tail_levels.price.size
        return sum(c.price.size for c in self._chunks) + tail

    def book(self) -> PositionBook:
        """The book as an immutable value, over the candles the state still holds.

        It answers ``snapshot``/``coverage`` at its end (and at any time within
        the held candles for the levels still held); use it like ``build_book``'s.
        """
        if self._oi is None:
            raise DataError(f"{self.symbol}: no open-interest data; the position book needs OI snapshots")
        st = self._steps
        n, base = st.stop, st.base
        parts = [Levels(c.price, c.contracts, c.is_long, c.cohort, np.full(c.price.size, c.step, np.int64),
                        c.death) for c in self._chunks]
        if self._tail_levels is not None:
            parts.append(self._tail_levels)
        lv = Levels(*(np.concatenate([getattr(p, f.name) for p in parts]) if parts else np.zeros(0)
                      for f in fields(Levels)))
        death = np.where(lv.death_step == NEVER, n, lv.death_step)
        keep = death >= base  # (settled deaths have left already)
        levels = Levels(lv.price[keep], lv.contracts[keep], lv.is_long[keep].astype(bool),
                        lv.cohort[keep].astype(np.int16), lv.open_step[keep].astype(np.int64) - base,
                        death[keep].astype(np.int64) - base)
        return PositionBook(
            symbol=self.symbol, params=self.params, step_time=st.column("time").copy(), step_end=st.column("end").copy(),
            close=st.column("close").copy(), levels=levels, log_survival=st.column("log_s").copy(),
            oi_at_end=st.column("oi_at_end").copy(), opened=st.column("opened").copy(), closed=st.column("closed").copy(),
            notes=tuple(self._notes),
        )

    # ------------------------------------------------------------------ updating
    def extend(self, market: MarketData) -> None:
        """Append the rows of ``market`` that are newer than what the state holds, kind by kind."""
        if (market.symbol, market.exchange) != (self.symbol, self.exchange):
            raise DataError(f"the book state is {self.exchange} {self.symbol}, the data {market.exchange} "
                            f"{market.symbol}")

        def newer(frame, kind):
            last = self._last.get(kind)
            return frame if frame is None or last is None else frame.slice_time(last + 1, None)

        self.append(candles=newer(market.candles, "candles"), open_interest=newer(market.open_interest, "oi"),
                    trades=newer(market.trades, "trades"), funding=newer(market.funding, "funding"),
                    mark_candles=newer(market.mark_candles, "mark"))

    def append(self, candles: Candles | None = None, open_interest: OpenInterest | None = None,
               trades: Trades | None = None, funding: Funding | None = None,
               mark_candles: Candles | None = None) -> None:
        """Add data that follows what the state holds (each kind in time order), and update the book.

        Open interest may lag the candles: candles after the last snapshot
        stay provisional until it arrives.  Nothing changes when an error is raised.
        """
        last_step = int(self._steps.column("time")[-1]) if self.steps > self._steps.base else None
        raw = dict(candles=_after(self._candles, candles, "candles", last_step),
                   mark=_after(self._mark, mark_candles, "mark-price candles", None),
                   oi=_after(self._oi, open_interest, "open interest", None),
                   funding=_after(self._funding, funding, "funding", None),
                   trades=_after(self._trades, trades, "trades", None))
        if self._use_trades is None and trades is not None and len(trades):
            self._use_trades = True
        if raw["funding"] is not None and funding is not None and len(funding) and self._tail_start < self.steps:
            first = int(funding.time[0])
            if first < int(self._steps.get("time", self._tail_start)):
                raise DataError(f"{self.symbol}: funding at {format_ms(first)} arrives after the book settled the "
                                f"candles up to {format_ms(int(self._steps.get('time', self._tail_start)))}")
        if candles is not None and len(candles):
            held = [last_step] if last_step is not None else []
            check_candle_gaps(np.concatenate((held, candles.time)).astype(np.int64), candles.interval_ms, self.params,
                              [])
        update = self._recompute_tail(**raw) if raw["candles"] is not None and len(raw["candles"]) else None
        self._candles, self._mark, self._oi = raw["candles"], raw["mark"], raw["oi"]
        self._funding, self._trades = raw["funding"], raw["trades"]
        for kind, frame in (("candles", candles), ("mark", mark_candles), ("oi", open_interest),
                            ("funding", funding), ("trades", trades)):
            if frame is not None and len(frame):
                self._last[kind] = int(frame.time[-1])
        if update is not None:
            self._commit(*update)
            self._settle()

    def _recompute_tail(self, candles: Candles, mark: Candles | None, oi: OpenInterest | None,
                        funding: Funding | None, trades: Trades | None) -> tuple:
        """The tail's stages from its raw data: steps, levels, deaths of everything the tail reaches, and ln S."""
        c = self._tail_start
        notes: list[str] = []
        market = MarketData(self.symbol, self.exchange, candles, mark_candles=mark, open_interest=oi,
                            funding=funding, trades=trades)
        path = price_path(market, notes)
        m = len(candles)
        if oi is not None and len(oi):
            opened, closed, oi_at_end = opens_and_closes(candles, oi, self.params, notes)
            step, price, buy, sell = entries(market, opened, self.params, notes, self._use_trades or False)
        else:  # nothing is known to have opened yet
            opened, closed, oi_at_end = np.zeros(m), np.zeros(m), np.full(m, np.nan)
            step, price, buy, sell = np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0)
        new = cohort_levels((step, price, buy, sell), self.params, self.exchange, self.symbol, candles.time[step],
                            notes)
        low_table, high_table = min_table(path.low), min_table(-path.high)
        death = np.empty(new.price.size, np.int64)
        longs = new.is_long
        death[longs] = first_at_or_below(low_table, new.open_step[longs] + 1, new.price[longs])
        death[~longs] = first_at_or_below(high_table, new.open_step[~longs] + 1, -new.price[~longs])
        # settled chunks the tail's path reaches, and their pending levels' deaths in it
        reached = np.flatnonzero((self._reach[:, 0] >= path.low.min()) | (self._reach[:, 1] <= path.high.max()))
        pending = [np.flatnonzero(self._chunks[k].death >= c) for k in reached]
        old = _gather([self._chunks[k] for k in reached], pending)
        rel = np.empty(old["price"].size, np.int64)
        longs = old["is_long"]
        rel[longs] = first_at_or_below(low_table, np.zeros(int(longs.sum()), np.intp), old["price"][longs])
        rel[~longs] = first_at_or_below(high_table, np.zeros(int((~longs).sum()), np.intp), -old["price"][~longs])
        old_death = np.where(rel < m, c + rel, NEVER)
        old_deaths = (reached, pending, old_death)
        # ln S over the tail: the model's liquidations of what it held, old and new
        step_time, step_end = candles.time, candles.time + candles.interval_ms
        start_log = float(self._steps.get("log_s", c - 1)) if c > self._steps.base else 0.0
        prev_end = int(self._steps.get("end", c - 1)) if c > self._steps.base else 0
        end_before = np.concatenate(([prev_end], step_end))  # end of the candle before each tail candle
        d_parts, o_parts, w_parts, log_parts = [], [], [], []
        dying = np.flatnonzero(death < m)
        o, d = new.open_step[dying], death[dying]
        d_parts.append(d)
        o_parts.append(o)
        w_parts.append(netting_weight(new.contracts[dying], self._rates[new.cohort[dying]], step_time[o], step_end[o],
                                      step_time[d], end_before[d], self.window_ms))
        log_parts.append(np.zeros(d.size))
        hit = np.flatnonzero(rel < m)
        o = old["step"][hit]
        d_parts.append(rel[hit])
        o_parts.append(np.full(hit.size, -1))
        w_parts.append(netting_weight(old["contracts"][hit], self._rates[old["cohort"][hit]], self._steps.get("time", o),
                                      self._steps.get("end", o), step_time[rel[hit]], end_before[rel[hit]],
                                      self.window_ms))
        log_parts.append(self._steps.get("log_s", o))
        log_s, converged = survival_log(closed, oi_at_end, np.concatenate(d_parts), np.concatenate(o_parts),
                                        np.concatenate(w_parts), np.concatenate(log_parts), start_log,
                                        self.params.close_iterations)
        notes.append(CLOSES_NOTE)
        steps = dict(time=step_time, end=step_end, close=path.close, log_s=log_s, oi_at_end=oi_at_end,
                     opened=opened, closed=closed)
        tail_levels = Levels(new.price, new.contracts, new.is_long, new.cohort, new.open_step + c,
                             np.where(death < m, death + c, NEVER))
        return steps, tail_levels, old_deaths, path, notes, converged

    def _commit(self, steps: dict, tail_levels: Levels, old_deaths: tuple, path: Candles, notes: list[str],
                converged: bool) -> None:
        c = self._tail_start
        self._steps.replace_from(c, **steps)
        self._path_low, self._path_high = path.low, path.high
        self._tail_levels = tail_levels
        reached, pending, absolute = old_deaths
        start = 0
        for k, rows in zip(reached, pending):
            self._chunks[k].death[rows] = absolute[start:start + rows.size]
            start += rows.size
        self.converged = converged
        for note in notes:
            if len(self._notes) < _MAX_NOTES:
                self._notes.setdefault(note, None)

    def _settle(self) -> None:
        """Move the tail start to the last candle boundary the OI has closed; drop what left the book."""
        c, n = self._tail_start, self.steps
        oi = self._oi
        if oi is None or not len(oi):
            return
        boundary = np.append(self._steps.get("time", np.arange(c, n)), self._steps.get("end", n - 1))
        ok = np.isin(boundary, oi.time) & (boundary <= oi.time[-1])
        ok[0] = False  # settling needs a candle past the current start
        if not ok.any():
            return
        c_new = c + int(np.flatnonzero(ok)[-1])
        at = int(boundary[c_new - c])
        # tail levels that opened before the new start become chunks; the rest are recomputed next time
        tail = self._tail_levels
        assert tail is not None
        settled = tail.open_step < c_new
        order = np.flatnonzero(settled)
        order = order[np.argsort(tail.open_step[order], kind="stable")]
        steps = tail.open_step[order]
        cuts = np.flatnonzero(np.diff(steps)) + 1
        new_chunks = [_Chunk(int(steps[pick[0]]), tail.price[order[pick]], tail.contracts[order[pick]],
                             tail.is_long[order[pick]], tail.cohort[order[pick]], tail.death_step[order[pick]].copy())
                      for pick in np.split(np.arange(order.size), cuts) if pick.size]
        self._tail_levels = Levels(*(getattr(tail, f.name)[~settled] for f in fields(Levels)))
        self._chunks.extend(new_chunks)
        self._tail_start = c_new
        # settled deaths leave; every chunk the tail reached may have lost levels
        first_new = len(self._chunks) - len(new_chunks)
        touched = set(np.flatnonzero((self._reach[:, 0] >= self._path_low.min())
                                     | (self._reach[:, 1] <= self._path_high.max())).tolist())
        touched.update(range(first_new, len(self._chunks)))
        self._reach = np.concatenate((self._reach, np.zeros((len(new_chunks), 2))))
        for k in touched:
            chunk = self._chunks[k]
            chunk.keep(chunk.death >= c_new)
        self._drop_decayed(c_new)
        for k in touched:
            self._reach[k] = self._chunks[k].reach(c_new)
        self._drop_outside_window(at)
        # the raw data the next tail needs: candles from the new start, the OI snapshot at it, funding before it
        self._candles = self._candles.slice_time(at, None) if self._candles is not None else None
        self._mark = self._mark.slice_time(at, None) if self._mark is not None else None
        self._oi = oi.slice_time(at, None)
        self._trades = self._trades.slice_time(at, None) if self._trades is not None else None
        if self._funding is not None and len(self._funding):
            keep_from = max(int(np.searchsorted(self._funding.time, at, side="right")) - 1, 0)
            self._funding = self._funding.slice_time(int(self._funding.time[keep_from]), None)

    def _drop_decayed(self, c_new: int) -> None:
        """Levels whose decay is below e^-DECAY_CUTOFF of their opening weight leave (each chunk once per cohort)."""
        if not self._chunks or c_new <= self._steps.base:
            return
        now_end = int(self._steps.get("end", c_new - 1))
        for cohort in np.flatnonzero(self._rates > 0):
            oldest_kept = now_end - DECAY_CUTOFF / self._rates[cohort]
            k = int(self._decayed[cohort])
            while k < len(self._chunks) and self._steps.get("end", self._chunks[k].step) < oldest_kept:
                chunk = self._chunks[k]
                chunk.keep(chunk.cohort != cohort)
                self._reach[k] = chunk.reach(c_new)
                k += 1
            self._decayed[cohort] = k

    def _drop_outside_window(self, at: int) -> None:
        """Chunks opened before ``at - window`` can neither be shown nor netted again."""
        if self.window_ms is None:
            return
        first_kept = 0
        while first_kept < len(self._chunks) and \
                self._steps.get("time", self._chunks[first_kept].step) < at - self.window_ms:
            first_kept += 1
        if first_kept:
            del self._chunks[:first_kept]
            self._reach = self._reach[first_kept:]
            self._decayed = np.maximum(self._decayed - first_kept, 0)
        keep_from = self._chunks[0].step if self._chunks else self._tail_start
        self._steps.drop_before(min(keep_from, self._tail_start - 1))


def _gather(chunks: list[_Chunk], rows: list[np.ndarray]) -> dict[str, np.ndarray]:
    """The given rows of several chunks as one set of arrays (with each level's opening step)."""
    out = {name: np.concatenate([getattr(ch, name)[r] for ch, r in zip(chunks, rows)] or [np.zeros(0, dtype)])
           for name, dtype in (("price", float), ("contracts", float), ("is_long", bool), ("cohort", np.int16))}
    out["step"] = np.repeat(np.array([ch.step for ch in chunks], np.int64), [r.size for r in rows])
    return out


def _after(held, new, what: str, last_settled):
    """``held`` followed by ``new`` (frames of one kind), refusing data that goes back in time.

    Trades may share a millisecond; other kinds must be strictly later.
    """
    if new is None or not len(new):
        return held
    last = int(held.time[-1]) if held is not None and len(held) else last_settled
    first = int(new.time[0])
    if last is not None and (first < last or (first == last and what != "trades")):
        raise DataError(f"{what}: new data starts at {format_ms(first)}, not after the last held at {format_ms(last)}")
    if held is None or not len(held):
        return new
    joined = {f.name: (np.concatenate((getattr(held, f.name), getattr(new, f.name)))
                       if isinstance(getattr(held, f.name), np.ndarray) else getattr(held, f.name))
              for f in fields(held)}
    if "interval_ms" in joined and not isinstance(held, Candles):
        # a sampling step once known stays; parts of one row each know none
        joined["interval_ms"] = held.interval_ms or new.interval_ms or sampling_interval(joined["time"])
    return type(held)(**joined)
