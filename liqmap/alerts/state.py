"""The watch's state file: the last evaluated update, each rule's memory, delivered keys and the outbox.

* One watcher per file: opening takes an exclusive lock on ``FILE.lock``
  (held until close), so a second watcher is refused instead of interleaving
  its writes with the first one's.
* Saves are atomic: written to a temporary file with a name unique to the
  process and thread (flushed to disk when losing it could lose an alert),
  then renamed over the file.
* A file that is not a usable liqmap alert state (not JSON, another
  program's, a newer version, wrong types, a last update in the future, which
  would silently skip every update until then) is set aside, renamed
  ``FILE.bad-<UTC time>``, and the watch starts afresh and says so.  A file
  it cannot read or write is an error, before anything is evaluated.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..frames import MS_PER_HOUR, format_ms
from .rules import Alert, Rule, is_ms_time, memory_fits

FORMAT = "liqmap-alert-state"
VERSION = 2
#: How many delivered keys the file remembers (the newest).
KEEP_KEYS = 10_000
#: How many undelivered alerts the outbox holds; past this the oldest are dropped, and the watch says so.
MAX_PENDING = 10_000
#: A state file of KEEP_KEYS keys and a full outbox is a few megabytes; a larger file is not one of ours.
MAX_BYTES = 64 * 2**20
#: A last update later than the clock by more than this is in the future (exchange data runs a little ahead).
FUTURE_SLACK_MS = MS_PER_HOUR


class StateError(ValueError):
    """A state file the watch cannot use (held by another watcher, unreadable, unwritable)."""


class _Invalid(Exception):
    """The file's content is not a usable state: it is set aside."""


@dataclass
class Pending:
    """An alert in the outbox and the sinks (by name) that have not confirmed it yet."""

    alert: Alert
    owed: list[str]


@dataclass
class WatchState:
    """What a watch remembers between updates (and, with a state file, between runs)."""

    last_as_of_ms: int | None = None
    memory: dict[str, object] = field(default_factory=dict)  # rule name -> what it kept from the last update
    delivered: list[str] = field(default_factory=list)  # keys every sink confirmed, oldest first
    outbox: list[Pending] = field(default_factory=list)  # alerts some sink still owes, oldest first

    def to_json(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "last_as_of_ms": self.last_as_of_ms, "memory": self.memory,
                "delivered": self.delivered[-KEEP_KEYS:],
                "outbox": [{"alert": asdict(p.alert), "owed": p.owed} for p in self.outbox]}


def describe_ms(ms: object) -> str:
    """``format_ms`` where it can print the time, the raw number elsewhere."""
    return format_ms(ms) if is_ms_time(ms) else f"{ms} ms"


def parse_state(data, rules: list[Rule], now_ms: int) -> tuple[WatchState, list[str]]:
    """A state from a state file's JSON, checked against ``rules``; notes say what was reset.

    Raises ``_Invalid`` with the reason when the content cannot be used at all.
    """
    if not isinstance(data, dict):
        raise _Invalid("it is not a JSON object")
    if data.get("format") != FORMAT:
        # Version 1 had no format field and no outbox.
        if set(data) != {"last_as_of_ms", "memory", "delivered"}:
            raise _Invalid(f"it is not a liqmap alert state (no \"format\": \"{FORMAT}\")")
    elif data.get("version") != VERSION or set(data) != {"format", "version", "last_as_of_ms", "memory",
                                                          "delivered", "outbox"}:
        raise _Invalid(f"it is version {data.get('version')!r} or has other fields; this liqmap reads "
                       f"version {VERSION} with fields format, version, last_as_of_ms, memory, delivered, outbox")
    last = data["last_as_of_ms"]
    if last is not None and not is_ms_time(last):
        raise _Invalid(f"last_as_of_ms must be a time in ms or null, not {last!r}")
    if last is not None and last > now_ms + FUTURE_SLACK_MS:
        raise _Invalid(f"its last update {describe_ms(last)} is in the future (now {describe_ms(now_ms)}): every "
                       f"update until then would be skipped")
    memory, delivered = data["memory"], data["delivered"]
    if not isinstance(memory, dict):
        raise _Invalid("memory must be an object of rule name -> memory")
    if not isinstance(delivered, list) or not all(isinstance(key, str) for key in delivered):
        raise _Invalid("delivered must be a list of alert keys")
    entries = data.get("outbox", [])
    if not isinstance(entries, list):
        raise _Invalid("outbox must be a list")
    outbox = []
    for entry in entries:
        if not isinstance(entry, dict) or set(entry) != {"alert", "owed"} or not isinstance(entry["owed"], list) \
                or not all(isinstance(name, str) for name in entry["owed"]):
            raise _Invalid("each outbox entry must be an object with an alert and the sinks it is owed to")
        try:
            outbox.append(Pending(Alert.from_record(entry["alert"]), list(entry["owed"])))
        except ValueError as exc:
            raise _Invalid(f"outbox: {exc}") from None
    notes = []
    kept: dict[str, object] = {}
    for rule in rules:
        if rule.name in memory and not memory_fits(rule, memory[rule.name]):
            notes.append(f"rule {rule.name!r}: its memory in the state file does not fit a {rule.when} rule; "
                         f"it starts again from a baseline")
        elif rule.name in memory:
            kept[rule.name] = memory[rule.name]
    return WatchState(last, kept, delivered[-KEEP_KEYS:], outbox[-MAX_PENDING:]), notes


class StateFile:
    """A state file opened for one watcher: locked, loaded (or set aside and started afresh), saved atomically."""

    def __init__(self, path, rules: list[Rule], now_ms: int | None = None):
        self.path = Path(path)
        self.notes: list[str] = []
        self._lock: int | None = self._take_lock()
        try:
            self.state = self._load(rules, int(time.time() * 1000) if now_ms is None else now_ms)
            self.save()  # an unwritable file is an error now, not after the first update
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> "StateFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _take_lock(self) -> int:
        import fcntl

        lock_path = self.path.with_name(self.path.name + ".lock")
        if self.path.parent.exists() and not self.path.parent.is_dir():
            raise StateError(f"alert state file {self.path}: {self.path.parent} is not a folder")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StateError(f"cannot create the lock file {lock_path} for the alert state: "
                             f"{exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise StateError(f"alert state file {self.path} is in use by another watcher (process {holder}, lock "
                             f"{lock_path}); stop it, or give this watch its own --state") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return fd

    def _load(self, rules: list[Rule], now_ms: int) -> WatchState:
        if not self.path.exists():
            return WatchState()
        if not self.path.is_file():
            raise StateError(f"alert state file {self.path} is not a regular file")
        if not os.access(self.path, os.W_OK):
            raise StateError(f"alert state file {self.path} is not writable")
        try:
            with self.path.open("rb") as handle:
                raw = handle.read(MAX_BYTES + 1)
        except OSError as exc:
            raise StateError(f"cannot read the alert state file {self.path}: {exc.strerror or exc}") from None
        try:
            if len(raw) > MAX_BYTES:
                raise _Invalid(f"it is larger than a state file gets ({MAX_BYTES:,} bytes)")
            try:
                data = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError) as exc:
                raise _Invalid(f"it is not JSON ({_first_line(exc)})") from None
            state, self.notes = parse_state(data, rules, now_ms)
            return state
        except _Invalid as exc:
            aside = self._set_aside()
            self.notes = [f"alert state file {self.path} was set aside as {aside.name}: {exc}; "
                          f"starting with a fresh state"]
            return WatchState()

    def _set_aside(self) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        aside = self.path.with_name(f"{self.path.name}.bad-{stamp}")
        counter = 1
        while aside.exists():
            counter += 1
            aside = self.path.with_name(f"{self.path.name}.bad-{stamp}-{counter}")
        try:
            os.replace(self.path, aside)
        except OSError as exc:
            raise StateError(f"alert state file {self.path} is unusable and cannot be set aside: "
                             f"{exc.strerror or exc}") from None
        return aside

    def save(self, durable: bool = True) -> None:
        """Write ``self.state`` atomically; a failure is a ``StateError`` naming the file.

        ``durable`` flushes the data to disk before the rename, so not even a
        power cut can lose it; a save whose loss would only mean a repeat
        (a delivery mark: the alert is sent again under its key) skips that.
        """
        text = json.dumps(self.state.to_json())
        temporary = None
        try:
            fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.",
                                             suffix=".tmp")
            os.chmod(temporary, self.path.stat().st_mode & 0o7777 if self.path.exists() else 0o644)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                if durable:
                    handle.flush()
                    os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except OSError as exc:
            if temporary is not None and os.path.exists(temporary):
                os.unlink(temporary)
            raise StateError(f"cannot write the alert state file {self.path}: {exc.strerror or exc}") from None

    def close(self) -> None:
        """Release the lock (the lock file stays: removing it would let two watchers lock different files)."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
