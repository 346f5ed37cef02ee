"""The alert evaluator: rules applied to each update, each event delivered once.

De-duplication, persisted in a JSON state file so a restarted watch does not
repeat itself:

* an update is evaluated once: one whose as-of time is not after the last
  evaluated one is ignored;
* each rule is a transition with a memory (see ``rules.evaluate``):
  ``cluster_near`` alerts when a cluster comes near and stays silent while
  it remains near (matched across updates by overlapping price range);
  ``cluster_swept``, ``new_cluster`` and ``liqratio_flip`` compare with the
  previous update, so each event happens once;
* every alert has a key (rule, kind, price anchor, as-of time); keys already
  delivered are never delivered again.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..frames import format_ms
from .rules import Rule, Snapshot, evaluate

#: How many delivered keys the state file remembers.
KEEP_KEYS = 10_000


@dataclass(frozen=True)
class Alert:
    """One event to deliver."""

    key: str
    rule: str
    kind: str
    symbol: str
    view: str
    as_of_ms: int
    message: str
    data: dict

    def to_dict(self) -> dict:
        return {"key": self.key, "rule": self.rule, "kind": self.kind, "symbol": self.symbol, "view": self.view,
                "as_of": format_ms(self.as_of_ms), "message": self.message, "data": self.data}

    def text(self) -> str:
        return f"[{format_ms(self.as_of_ms)}] {self.symbol} {self.rule} ({self.kind}, {self.view}): {self.message}"


class AlertEngine:
    """Evaluates ``rules`` on each update; remembers what it saw in ``state_path`` (if given)."""

    def __init__(self, rules: list[Rule], state_path=None):
        self.rules = list(rules)
        self.state_path = Path(state_path) if state_path else None
        self.last_as_of_ms: int | None = None
        self.memory: dict[str, object] = {}  # rule name -> what the rule kept from the last update
        self.delivered: list[str] = []
        if self.state_path and self.state_path.exists():
            self._load()

    @property
    def views(self) -> list[str]:
        """The leverage views the rules read, in first-use order."""
        return list(dict.fromkeys(rule.view for rule in self.rules))

    def update(self, snapshots: dict[str, Snapshot], path_low: float, path_high: float) -> list[Alert]:
        """Alerts for one update (one snapshot per view the rules read).

        ``path_low``/``path_high`` bound the traded price since the previous update.
        """
        as_of = next(iter(snapshots.values())).as_of_ms
        if self.last_as_of_ms is not None and as_of <= self.last_as_of_ms:
            return []
        seen = set(self.delivered)
        alerts = []
        for rule in self.rules:
            current = snapshots[rule.view]
            findings, self.memory[rule.name] = evaluate(rule, current, self.memory.get(rule.name), path_low,
                                                        path_high)
            for finding in findings:
                anchor = "-" if finding.anchor is None else f"{finding.anchor:.2f}"
                key = f"{rule.name}|{rule.when}|{anchor}|{as_of}"
                if key not in seen:
                    seen.add(key)
                    alerts.append(Alert(key, rule.name, rule.when, current.symbol, rule.view, as_of,
                                        finding.message, finding.data))
        self.last_as_of_ms = as_of
        self.delivered = (self.delivered + [a.key for a in alerts])[-KEEP_KEYS:]
        self._save()
        return alerts

    def _save(self) -> None:
        if not self.state_path:
            return
        state = {"last_as_of_ms": self.last_as_of_ms, "memory": self.memory, "delivered": self.delivered}
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.state_path.with_name(self.state_path.name + ".tmp")
        temporary.write_text(json.dumps(state), encoding="utf-8")
        os.replace(temporary, self.state_path)

    def _load(self) -> None:
        assert self.state_path is not None  # only called when there is a state file
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
            self.last_as_of_ms = state["last_as_of_ms"]
            self.memory = dict(state["memory"])
            self.delivered = list(state["delivered"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"alert state file {self.state_path} is unreadable ({exc!r}); "
                             f"delete it to start afresh") from None
