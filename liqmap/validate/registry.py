"""The pre-registered test month: scored once per model configuration, and every scoring recorded.

A test month read again and again while the model changes stops being a test.
The registry is a JSON-lines file (one line per scoring of the test month:
when, which configuration, what it scored); scoring the month again for a
configuration already recorded is refused unless forced, and a forced
scoring is recorded as such.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..frames import DataError

#: The month held out from every choice of the defaults, fixed before the registry began.
TEST_MONTH = "2026-03"
DEFAULT_PATH = "reports/test_registry.jsonl"


class AlreadyScored(ValueError):
    """The test month was already scored for this configuration (and the caller did not force it)."""


def config_settings(choice) -> dict:
    """Every model setting of a ``ModelChoice``: all BookParams fields, the view and the window (what an entry
    records, so that each line says exactly which model was scored)."""
    from ..model.params import BookParams

    settings = asdict(choice.params or BookParams())
    settings.update(view=choice.view, window_ms=choice.window_ms)
    return json.loads(json.dumps(settings, sort_keys=True, default=str))


def config_hash(choice) -> str:
    """Twelve hex digits identifying every model setting of a ``ModelChoice`` (all BookParams fields, view, window).
    A setting added to the model changes every hash: the model it names is not the one scored before."""
    from ..model.params import BookParams

    settings = {"params": asdict(choice.params or BookParams()), "view": choice.view, "window_ms": choice.window_ms}
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def covers_test_month(time_ms: np.ndarray) -> bool:
    """Whether any of the scored hours falls in ``TEST_MONTH``."""
    from .metrics import month_keys

    return bool(np.any(month_keys(time_ms) == TEST_MONTH))


@dataclass(frozen=True)
class Registry:
    path: Path
    force: bool = False

    def entries(self) -> list[dict]:
        if not self.path.is_file():
            return []
        out = []
        for number, line in enumerate(self.path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{self.path}: line {number} column {exc.colno} is not JSON ({exc.msg})") from None
            if not isinstance(entry, dict) or "config_hash" not in entry:
                raise DataError(f"{self.path}: line {number} is not a registry entry (no config_hash)")
            out.append(entry)
        return out

    def check(self, digest: str) -> None:
        """Refuse (``AlreadyScored``) if the test month was scored for ``digest`` before, unless forced."""
        earlier = [e for e in self.entries() if e["config_hash"] == digest and e.get("month") == TEST_MONTH]
        if earlier and not self.force:
            raise AlreadyScored(
                f"the test month {TEST_MONTH} was already scored for configuration {digest} "
                f"({len(earlier)} time(s), first {earlier[0].get('scored_at', '?')}, recorded in {self.path}); "
                "score other months, change the configuration, or pass --force-test-month (recorded as forced)"
            )

    def record(self, digest: str, settings: dict, figures: dict) -> dict:
        """Append one entry for a scoring of the test month; returns it."""
        entry = {
            "month": TEST_MONTH, "config_hash": digest, "forced": self.force,
            "scored_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "period": figures["period"], "hours": figures["hours"], "settings": settings,
            "spearman_both": {name: s["both"]["spearman"] for name, s in figures["scores"].items()},
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as out:
            out.write(json.dumps(entry, default=_plain) + "\n")
        return entry


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
