"""The alert evaluator: rules applied to each update, each alert delivered at least once, under one key.

* An update is evaluated once: one whose as-of time is not after the last
  evaluated one is skipped (``is_new``).
* Each rule is a transition with a memory (see ``rules.evaluate``):
  ``cluster_near`` alerts when a cluster comes near and stays silent while
  it remains near (matched across updates by overlapping price range);
  ``cluster_swept``, ``new_cluster`` and ``liqratio_flip`` compare with the
  previous update, so each event happens once.
* Every alert has a key ``symbol|rule|kind|price anchor|as-of ms``.  New
  alerts go to an outbox (saved with the evaluation, before any delivery);
  ``deliver`` hands each to every sink that still owes it and marks the key
  delivered only once all of them succeeded, saving after each alert.  A
  sink that fails keeps its alerts for a later ``deliver`` (after a rest, at
  an update or the end of the run, or the next run with the same state
  file), so nothing is lost; an alert
  interrupted mid-delivery is sent again, under the same key, which is what
  a receiver de-duplicates on.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .delivery import DeliveryError, TerminalSink
from .rules import Alert, Rule, Snapshot, evaluate
from .state import KEEP_KEYS, MAX_PENDING, Pending, StateFile, WatchState


@dataclass(frozen=True)
class Delivery:
    """What one ``AlertEngine.deliver`` did: (alert, sink) deliveries made and sinks that failed."""

    delivered: int
    failures: int


#: A sink that failed is not tried again for this long, doubling with each failure in a row up to REST_MAX_S.
REST_S = 5.0
REST_MAX_S = 60.0


def _warn(message: str) -> None:
    print(f"liqmap watch: warning: {message}", file=sys.stderr, flush=True)


class AlertEngine:
    """Evaluates ``rules`` on each update and delivers the alerts to ``sinks``.

    With ``state_path`` everything it remembers (and the outbox) lives in that
    file, locked for this engine until ``close()``; ``notes`` says what opening
    it found (a file set aside, a rule's memory reset).
    """

    def __init__(self, rules: list[Rule], state_path=None, sinks: Sequence = (),
                 report: Callable[[str], None] = _warn, now_ms: int | None = None, rest_s: float = REST_S,
                 clock: Callable[[], float] = time.monotonic):
        self.rules = list(rules)
        self.sinks = list(sinks)
        self.report = report
        self.rest_s = rest_s
        self.clock = clock
        self._rest: dict[str, tuple[float, float]] = {}  # failed sink -> (clock time it may be tried, its rest)
        self._file = StateFile(state_path, self.rules, now_ms) if state_path else None
        self.state = self._file.state if self._file else WatchState()
        self.notes = list(self._file.notes) if self._file else []

    def __enter__(self) -> "AlertEngine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release the state file for another watcher."""
        if self._file:
            self._file.close()

    @property
    def views(self) -> list[str]:
        """The leverage views the rules read, in first-use order."""
        return list(dict.fromkeys(rule.view for rule in self.rules))

    @property
    def last_as_of_ms(self) -> int | None:
        return self.state.last_as_of_ms

    @property
    def pending(self) -> int:
        """Alerts some sink has not confirmed yet."""
        return len(self.state.outbox)

    def is_new(self, as_of_ms: int) -> bool:
        """Whether an update at ``as_of_ms`` is later than the last evaluated one."""
        return self.state.last_as_of_ms is None or as_of_ms > self.state.last_as_of_ms

    def update(self, snapshots: dict[str, Snapshot], path_low: float, path_high: float) -> list[Alert]:
        """The new alerts of one update (one snapshot per view the rules read), queued for delivery.

        ``path_low``/``path_high`` bound the traded price since the previous
        update.  An update that is not new gives nothing.
        """
        as_of = next(iter(snapshots.values())).as_of_ms
        if not self.is_new(as_of):
            return []
        state = self.state
        seen = set(state.delivered) | {p.alert.key for p in state.outbox}
        alerts = []
        for rule in self.rules:
            current = snapshots[rule.view]
            findings, state.memory[rule.name] = evaluate(rule, current, state.memory.get(rule.name), path_low,
                                                         path_high)
            for finding in findings:
                anchor = "-" if finding.anchor is None else f"{finding.anchor:.2f}"
                key = f"{current.symbol}|{rule.name}|{rule.when}|{anchor}|{as_of}"
                if key not in seen:
                    seen.add(key)
                    alerts.append(Alert(key, rule.name, rule.when, current.symbol, rule.view, as_of,
                                        finding.message, finding.data))
        state.last_as_of_ms = as_of
        owed = [sink.name for sink in self.sinks]
        if owed:
            state.outbox.extend(Pending(alert, list(owed)) for alert in alerts)
        else:
            state.delivered.extend(alert.key for alert in alerts)
        if len(state.outbox) > MAX_PENDING:
            dropped = state.outbox[:-MAX_PENDING]
            del state.outbox[:-MAX_PENDING]
            self.report(f"the outbox holds at most {MAX_PENDING:,} undelivered alerts: dropped the {len(dropped):,} "
                        f"oldest ({dropped[0].alert.key} .. {dropped[-1].alert.key})")
        del state.delivered[:-KEEP_KEYS]
        self._save()
        return alerts

    def deliver(self, final: bool = False) -> Delivery:
        """Hand every alert in the outbox to each sink that still owes it, oldest first.

        A sink that fails is reported and rests: it is not tried again for
        ``rest_s`` seconds, doubling with each failure in a row up to
        ``REST_MAX_S`` (a dead receiver then costs a try a minute, not a try
        per update); its alerts wait, in order.  The other sinks go on.
        ``final`` tries resting sinks too (the last chance of a run).  Alerts
        owed to a sink this engine does not have (the sink was removed
        between runs) are dropped from it, with a report.
        """
        state = self.state
        by_name = {sink.name: sink for sink in self.sinks}
        gone = sorted({name for p in state.outbox for name in p.owed} - set(by_name))
        for name in gone:
            count = sum(name in p.owed for p in state.outbox)
            self.report(f"{count} alert(s) owed to {name} are dropped: that sink is not configured in this run")
        for pending in state.outbox:
            pending.owed = [name for name in pending.owed if name in by_name]
        state.outbox[:] = [p for p in state.outbox if p.owed]
        if gone:
            self._save()
        now = self.clock()
        resting = {name for name, (until, _) in self._rest.items() if until > now and not final}
        failed: set[str] = set()
        delivered = 0
        for pending in list(state.outbox):
            progress = False
            for name in list(pending.owed):
                if name in failed or name in resting:
                    continue
                try:
                    by_name[name].deliver(pending.alert)
                except (DeliveryError, OSError) as exc:  # OSError: a full disk, a closed terminal
                    if isinstance(exc, BrokenPipeError) and name == TerminalSink.name:
                        raise  # stdout's reader went away (| head): the run ends there, quietly
                    failed.add(name)
                    rest = min(2 * self._rest[name][1], REST_MAX_S) if name in self._rest else self.rest_s
                    self._rest[name] = (self.clock() + rest, rest)
                    waiting = sum(name in p.owed for p in state.outbox)
                    self.report(f"{exc}; {waiting} alert(s) wait for {name} (retried at the first update after "
                                f"{rest:g}s{', or by the next run with this state file' if self._file else ''})")
                else:
                    self._rest.pop(name, None)
                    pending.owed.remove(name)
                    delivered += 1
                    progress = True
            if not pending.owed:
                state.outbox.remove(pending)
                state.delivered.append(pending.alert.key)
            if progress:
                self._save(durable=False)  # losing a delivery mark only repeats the alert, under its key
        del state.delivered[:-KEEP_KEYS]
        return Delivery(delivered, len(failed))

    def _save(self, durable: bool = True) -> None:
        if self._file:
            self._file.save(durable)
