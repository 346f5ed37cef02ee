"""A position book that updates in place: appended data in, the immutable ``PositionBook`` out.

``BookState`` takes candles, open-interest snapshots, trades and funding as
they arrive and keeps only what the next update can change:

- **Settled** candles lie before the last open-interest snapshot that falls on
  a candle boundary.  Their openings, their levels and their survival factor
  are final and never recomputed.
- The **tail** (the candles after it) is provisional: OI has not yet said what
  they opened, so each update recomputes the tail's stages from the tail's raw
  data alone (a late OI snapshot recomputes only this tail).
- Settled levels are kept in flat arrays, in **chunks** of one opening candle
  each with the highest alive long and lowest alive short price: a new candle
  searches only the chunks it can reach, and only the new candles are searched
  (a crossing, once found, never changes; its netting is kept until settled).

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

from dataclasses import fields

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
#: Death step of a level dropped for its decay.
DROPPED = -1
#: Notes kept at most (each update may word a provisional note differently).
_MAX_NOTES = 64


class _Store:
    """Settled alive levels in flat arrays, in chunks of one opening candle (in opening order).

    Dead and dropped levels stay in the arrays as garbage until a compaction
    (when garbage outweighs the alive), so removal is O(1) amortised.
    """

    #: Garbage rows tolerated before compacting, at least.
    COMPACT_AT = 65_536
    LEVEL = (("price", np.float64), ("contracts", np.float64), ("is_long", np.bool_), ("cohort", np.int16),
             ("chunk", np.int64), ("death", np.int64))
    CHUNK = (("step", np.int64), ("open_time", np.int64), ("open_end", np.int64), ("start", np.int64),
             ("stop", np.int64), ("top_long", np.float64), ("low_short", np.float64))

    def __init__(self):
        self.lv = {name: np.zeros(0, dtype) for name, dtype in self.LEVEL}
        self.ch = {name: np.zeros(0, dtype) for name, dtype in self.CHUNK}
        self.n = 0  # level rows used
        self.first = 0  # first chunk row still in the window
        self.alive = 0

    @property
    def chunks(self) -> int:
        return self.ch["step"].size

    def add(self, step_time: np.ndarray, step_end: np.ndarray, base: int, **levels: np.ndarray) -> None:
        """Append alive levels, sorted by opening step; ``step_time``/``step_end`` are indexed from ``base``."""
        size = levels["price"].size
        if size == 0:
            return
        if self.n + size > self.lv["price"].size:
            capacity = max(2 * (self.n + size), 1024)
            for name, _ in self.LEVEL:
                grown = np.zeros(capacity, self.lv[name].dtype)
                grown[:self.n] = self.lv[name][:self.n]
                self.lv[name] = grown
        steps = levels["step"]
        starts = np.flatnonzero(np.concatenate(([True], steps[1:] != steps[:-1])))
        chunk_steps = steps[starts]
        rows = self.chunks + np.arange(starts.size)
        at = slice(self.n, self.n + size)
        for name in ("price", "contracts", "is_long", "cohort"):
            self.lv[name][at] = levels[name]
        self.lv["chunk"][at] = np.repeat(rows, np.diff(np.append(starts, size)))
        self.lv["death"][at] = NEVER
        new = dict(step=chunk_steps, open_time=step_time[chunk_steps - base], open_end=step_end[chunk_steps - base],
                   start=self.n + starts, stop=self.n + np.append(starts[1:], size),
                   top_long=np.zeros(starts.size), low_short=np.zeros(starts.size))
        for name, _ in self.CHUNK:
            self.ch[name] = np.concatenate((self.ch[name], new[name]))
        self.n += size
        self.alive += size
        self.refresh(rows)

    def reaching(self, low: float, high: float) -> np.ndarray:
        """Chunk rows with an alive long at or above ``low`` or an alive short at or below ``high``."""
        top, bottom = self.ch["top_long"][self.first:], self.ch["low_short"][self.first:]
        return self.first + np.flatnonzero((top >= low) | (bottom <= high))

    def levels_of(self, rows: np.ndarray) -> np.ndarray:
        """Level rows of the given chunk rows (their ranges, concatenated)."""
        starts, stops = self.ch["start"][rows], self.ch["stop"][rows]
        lengths = stops - starts
        offsets = np.cumsum(lengths) - lengths
        return np.repeat(starts - offsets, lengths) + np.arange(int(lengths.sum()))

    def refresh(self, rows: np.ndarray) -> None:
        """Recompute the reach (highest alive long, lowest alive short) of the given chunk rows."""
        rows = np.unique(rows)
        if rows.size == 0:
            return
        idx = self.levels_of(rows)
        alive = self.lv["death"][idx] == NEVER
        longs = alive & self.lv["is_long"][idx]
        shorts = alive & ~self.lv["is_long"][idx]
        price = self.lv["price"][idx]
        lengths = self.ch["stop"][rows] - self.ch["start"][rows]
        offsets = np.cumsum(lengths) - lengths
        nonempty = lengths > 0
        top = np.full(rows.size, -np.inf)
        bottom = np.full(rows.size, np.inf)
        if idx.size:
            top[nonempty] = np.maximum.reduceat(np.where(longs, price, -np.inf), offsets[nonempty])
            bottom[nonempty] = np.minimum.reduceat(np.where(shorts, price, np.inf), offsets[nonempty])
        self.ch["top_long"][rows] = top
        self.ch["low_short"][rows] = bottom

    def kill(self, idx: np.ndarray, death) -> None:
        self.lv["death"][idx] = death
        self.alive -= idx.size

    def expire_before(self, open_time_limit: int) -> None:
        """Chunks opened before the limit leave (their levels become garbage)."""
        first = int(np.searchsorted(self.ch["open_time"], open_time_limit, side="left"))
        if first > self.first:
            lo, hi = int(self.ch["start"][self.first]), int(self.ch["start"][first]) if first < self.chunks else self.n
            self.alive -= int(np.count_nonzero(self.lv["death"][lo:hi] == NEVER))
            self.first = first

    def tidy(self) -> None:
        """Compact once garbage outweighs the alive levels (amortised O(1) per removal)."""
        if self.n - self.alive > max(self.alive, self.COMPACT_AT):
            self.compact()

    def compact(self) -> None:
        """Keep only the alive levels of the chunks still in the window; chunk rows start again at 0."""
        lo = int(self.ch["start"][self.first]) if self.first < self.chunks else self.n
        keep = lo + np.flatnonzero(self.lv["death"][lo:self.n] == NEVER)
        for name, _ in self.LEVEL:
            self.lv[name] = self.lv[name][keep]
        self.lv["chunk"] -= self.first
        for name, _ in self.CHUNK:
            self.ch[name] = self.ch[name][self.first:]
        counts = np.bincount(self.lv["chunk"], minlength=self.chunks)
        self.ch["stop"] = np.cumsum(counts)
        self.ch["start"] = self.ch["stop"] - counts
        self.n = self.alive = keep.size
        self.first = 0

    def held(self) -> dict[str, np.ndarray]:
        """The alive levels (with their opening step)."""
        lo = int(self.ch["start"][self.first]) if self.first < self.chunks else self.n
        idx = lo + np.flatnonzero(self.lv["death"][lo:self.n] == NEVER)
        out = {name: self.lv[name][idx] for name in ("price", "contracts", "is_long", "cohort")}
        out["step"] = self.ch["step"][self.lv["chunk"][idx]]
        return out


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

    >>> state = BookState("BTCUSDT", "binance", window_ms=30 * MS_PER_DAY)
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
        self._store = _Store()
        self._tail_start = 0  # absolute index of the first unsettled candle
        self._tail_levels: Levels | None = None  # levels opened in the tail (open/death absolute)
        #: old levels swept in the tail, what they net: death step, contracts held, ln S at opening
        self._dying = {"d": np.zeros(0, np.int64), "weight": np.zeros(0), "log_open": np.zeros(0)}
        # raw data of the tail (and the context it needs: the OI snapshot and funding before it)
        self._candles: Candles | None = None
        self._span_candles: Candles | None = None  # settled candles the opening prior still reads the volume of
        self._mark: Candles | None = None
        self._oi: OpenInterest | None = None
        self._funding: Funding | None = None
        self._trades: Trades | None = None
        self._use_trades: bool | None = None
        self._faded_until = np.full(self._rates.size, np.iinfo(np.int64).min)  # per cohort: openings dropped
        self._notes: dict[str, None] = {}
        self._last: dict[str, int] = {}  # per data kind: the last time appended
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
        """Levels held alive: settled plus the tail's."""
        tail = 0 if self._tail_levels is None else int(np.count_nonzero(self._tail_levels.death_step == NEVER))
        return self._store.alive + tail

    def book(self) -> PositionBook:
        """The book as an immutable value, over the candles the state still holds.

        It holds the levels alive at its end (a level swept before it has
        left), so it answers ``snapshot``/``coverage`` at its end like
        ``build_book``'s; use a whole build for earlier moments.
        """
        if self._oi is None:
            raise DataError(f"{self.symbol}: no open-interest data; the position book needs OI snapshots")
        st = self._steps
        n, base = st.stop, st.base
        held = self._store.held()
        tail = self._tail_levels
        alive = tail.death_step == NEVER if tail is not None else np.zeros(0, bool)

        def join(name: str, tail_name: str) -> np.ndarray:
            return held[name] if tail is None else np.concatenate((held[name], getattr(tail, tail_name)[alive]))

        levels = Levels(join("price", "price"), join("contracts", "contracts"), join("is_long", "is_long"),
                        join("cohort", "cohort").astype(np.int16), join("step", "open_step") - base,
                        np.full(held["price"].size + int(alive.sum()), n - base, np.int64))
        return PositionBook(
            symbol=self.symbol, params=self.params, step_time=st.column("time").copy(),
            step_end=st.column("end").copy(), close=st.column("close").copy(), levels=levels,
            log_survival=st.column("log_s").copy(), oi_at_end=st.column("oi_at_end").copy(),
            opened=st.column("opened").copy(), closed=st.column("closed").copy(), notes=tuple(self._notes),
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
        if funding is not None and len(funding) and self._tail_start < self.steps:
            first, settled = int(funding.time[0]), int(self._steps.get("time", self._tail_start))
            if first < settled:
                raise DataError(f"{self.symbol}: funding at {format_ms(first)} arrives after the book settled the "
                                f"candles up to {format_ms(settled)}")
        if candles is not None and len(candles):
            held = [last_step] if last_step is not None else []
            check_candle_gaps(np.concatenate((held, candles.time)).astype(np.int64), candles.interval_ms, self.params,
                              [])
        use_trades = self._use_trades or (trades is not None and len(trades) > 0)
        update = None
        if raw["candles"] is not None and len(raw["candles"]):
            update = self._recompute_tail(raw["candles"], raw["mark"], raw["oi"], raw["funding"], raw["trades"],
                                          use_trades)
        # nothing above changed the state; from here on nothing can fail
        self._use_trades = use_trades
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
                        funding: Funding | None, trades: Trades | None, use_trades: bool) -> tuple:
        """The tail's stages from its raw data: steps, levels, the new candles' sweeps of settled levels, ln S."""
        c = self._tail_start
        notes: list[str] = []
        market = MarketData(self.symbol, self.exchange, candles, mark_candles=mark, open_interest=oi,
                            funding=funding, trades=trades)
        path = price_path(market, notes)
        m = len(candles)
        if oi is not None and len(oi):
            opened, closed, oi_at_end = opens_and_closes(candles, oi, self.params, notes, self._span_candles)
            step, price, buy, sell = entries(market, opened, self.params, notes, use_trades)
        else:  # nothing is known to have opened yet
            opened, closed, oi_at_end = np.zeros(m), np.zeros(m), np.full(m, np.nan)
            step, price, buy, sell = np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0)
        new = cohort_levels((step, price, buy, sell), self.params, self.exchange, self.symbol, candles.time[step],
                            notes)
        death = np.empty(new.price.size, np.int64)
        longs = new.is_long
        death[longs] = first_at_or_below(min_table(path.low), new.open_step[longs] + 1, new.price[longs])
        death[~longs] = first_at_or_below(min_table(-path.high), new.open_step[~longs] + 1, -new.price[~longs])
        step_time, step_end = candles.time, candles.time + candles.interval_ms
        prev_end = int(self._steps.get("end", c - 1)) if c > self._steps.base else 0
        end_before = np.concatenate(([prev_end], step_end))  # end of the candle before each tail candle
        # settled levels swept by the candles new since the last update (earlier ones were searched then)
        fresh = self.steps - c
        swept_idx, swept_rel = np.zeros(0, np.int64), np.zeros(0, np.int64)
        if fresh < m:
            low, high = path.low[fresh:], path.high[fresh:]
            store = self._store
            idx = store.levels_of(store.reaching(float(low.min()), float(high.max())))
            idx = idx[store.lv["death"][idx] == NEVER]
            is_long = store.lv["is_long"][idx]
            rel = np.empty(idx.size, np.int64)
            rel[is_long] = first_at_or_below(min_table(low), np.zeros(int(is_long.sum()), np.intp),
                                             store.lv["price"][idx[is_long]])
            rel[~is_long] = first_at_or_below(min_table(-high), np.zeros(int((~is_long).sum()), np.intp),
                                              -store.lv["price"][idx[~is_long]])
            hit = rel < low.size
            swept_idx, swept_rel = idx[hit], rel[hit] + fresh
        swept = self._swept_netting(swept_idx, c + swept_rel, step_time[swept_rel], end_before[swept_rel])
        # ln S over the tail: the model's liquidations of what it held, old and new
        start_log = float(self._steps.get("log_s", c - 1)) if c > self._steps.base else 0.0
        dying = np.flatnonzero(death < m)
        o, d = new.open_step[dying], death[dying]
        old_d = np.concatenate((self._dying["d"], swept["d"])) - c
        old_weight = np.concatenate((self._dying["weight"], swept["weight"]))
        old_log = np.concatenate((self._dying["log_open"], swept["log_open"]))
        weight = netting_weight(new.contracts[dying], self._rates[new.cohort[dying]], step_time[o], step_end[o],
                                step_time[d], end_before[d], self.window_ms)
        log_s, converged = survival_log(closed, oi_at_end, np.concatenate((d, old_d)),
                                        np.concatenate((o, np.full(old_d.size, -1))),
                                        np.concatenate((weight, old_weight)),
                                        np.concatenate((np.zeros(d.size), old_log)), start_log,
                                        self.params.close_iterations)
        notes.append(CLOSES_NOTE)
        steps = dict(time=step_time, end=step_end, close=path.close, log_s=log_s, oi_at_end=oi_at_end,
                     opened=opened, closed=closed)
        tail_levels = Levels(new.price, new.contracts, new.is_long, new.cohort, new.open_step + c,
                             np.where(death < m, death + c, NEVER))
        return steps, tail_levels, swept_idx, swept, notes, converged

    def _swept_netting(self, idx: np.ndarray, death: np.ndarray, death_time: np.ndarray,
                       before_death_end: np.ndarray) -> dict[str, np.ndarray]:
        """What settled levels swept in the tail net: death step, contracts held then, ln S at opening."""
        store = self._store
        row = store.lv["chunk"][idx]
        weight = netting_weight(store.lv["contracts"][idx], self._rates[store.lv["cohort"][idx]],
                                store.ch["open_time"][row], store.ch["open_end"][row], death_time, before_death_end,
                                self.window_ms)
        return {"d": death, "weight": weight, "log_open": self._steps.get("log_s", store.ch["step"][row])}

    def _commit(self, steps: dict, tail_levels: Levels, swept_idx: np.ndarray, swept: dict, notes: list[str],
                converged: bool) -> None:
        self._steps.replace_from(self._tail_start, **steps)
        self._tail_levels = tail_levels
        store = self._store
        rows = store.lv["chunk"][swept_idx]
        store.kill(swept_idx, swept["d"])
        store.refresh(rows)
        self._dying = {k: np.concatenate((self._dying[k], swept[k])) for k in self._dying}
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
        # tail levels that opened before the new start are final: alive ones join the store, swept ones net
        tail = self._tail_levels
        assert tail is not None
        final = tail.open_step < c_new
        order = np.flatnonzero(final & (tail.death_step == NEVER))
        order = order[np.argsort(tail.open_step[order], kind="stable")]
        st = self._steps
        self._store.add(st.column("time"), st.column("end"), st.base, price=tail.price[order],
                        contracts=tail.contracts[order], is_long=tail.is_long[order], cohort=tail.cohort[order],
                        step=tail.open_step[order])
        swept = np.flatnonzero(final & (tail.death_step != NEVER) & (tail.death_step >= c_new))
        o, d = tail.open_step[swept], tail.death_step[swept]
        weight = netting_weight(tail.contracts[swept], self._rates[tail.cohort[swept]], st.get("time", o),
                                st.get("end", o), st.get("time", d), st.get("end", d - 1), self.window_ms)
        keep = self._dying["d"] >= c_new
        self._dying = {"d": np.concatenate((self._dying["d"][keep], d)),
                       "weight": np.concatenate((self._dying["weight"][keep], weight)),
                       "log_open": np.concatenate((self._dying["log_open"][keep], st.get("log_s", o)))}
        self._tail_levels = Levels(*(getattr(tail, f.name)[~final] for f in fields(Levels)))
        self._tail_start = c_new
        self._drop_faded(int(st.get("end", c_new - 1)))
        if self.window_ms is not None:
            self._store.expire_before(at - self.window_ms)
            store = self._store
            first_step = int(store.ch["step"][store.first]) if store.first < store.chunks else c_new
            self._steps.drop_before(min(first_step, c_new - 1))
        self._store.tidy()
        # the raw data the next tail needs: candles from the new start, the OI snapshot at it, funding before it
        # the OI and the candles' volume before the new start that the opening prior still reads (oi_prior_span_ms)
        since = _kept_from(oi.time, at - self.params.oi_prior_span_ms, at)
        self._oi = oi.slice_time(since, None)
        if self._candles is not None:
            held = _after(self._span_candles, self._candles.slice_time(None, at), "candles", None)
            if self.params.oi_shrinkage and held is not None:  # from the candle holding ``since`` on
                self._span_candles = held.slice_time(since - held.interval_ms + 1, None)
            self._candles = self._candles.slice_time(at, None)
        self._mark = self._mark.slice_time(at, None) if self._mark is not None else None
        self._trades = self._trades.slice_time(at, None) if self._trades is not None else None
        if self._funding is not None and len(self._funding):
            keep_from = max(int(np.searchsorted(self._funding.time, at, side="right")) - 1, 0)
            self._funding = self._funding.slice_time(int(self._funding.time[keep_from]), None)

    def _drop_faded(self, now_end: int) -> None:
        """Levels whose decay is below e^-DECAY_CUTOFF of their opening weight leave."""
        store = self._store
        open_end = store.ch["open_end"]
        for cohort in np.flatnonzero(self._rates > 0):
            cutoff = now_end - DECAY_CUTOFF / self._rates[cohort]
            lo = max(int(np.searchsorted(open_end, self._faded_until[cohort], side="left")), store.first)
            hi = int(np.searchsorted(open_end, cutoff, side="left"))
            if hi > lo:
                rows = np.arange(lo, hi)
                idx = store.levels_of(rows)
                idx = idx[(store.lv["cohort"][idx] == cohort) & (store.lv["death"][idx] == NEVER)]
                store.kill(idx, DROPPED)
                store.refresh(rows)
            self._faded_until[cohort] = max(int(self._faded_until[cohort]), int(np.ceil(cutoff)))


def _kept_from(time: np.ndarray, since: int, at: int) -> int:
    """The last snapshot time at or before ``since`` (the first held if none), and never after ``at``."""
    k = max(int(np.searchsorted(time, since, side="right")) - 1, 0)
    return min(int(time[k]), at)


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
