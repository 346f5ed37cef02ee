"""Downloading Binance Vision USD-M files into the local store.

Each file is fetched once: its ``.zip.CHECKSUM`` (``<sha256>  <file name>``)
is read first, the zip is streamed to a ``.part`` file (an interrupted
download resumes with an HTTP Range request), verified, parsed into the
store (one Parquet file per symbol, kind and day) and deleted.  Files the
store already holds are skipped; days Binance has not published (HTTP 404
for the zip and its checksum) are reported as missing, not as errors.

Every other fault fails that one file with its reason and the run goes on:
server errors after the retries, a zip published without its checksum, a
checksum or CRC that does not match, rows of another day than the name's,
a file not done within its deadline.  Runs sharing one cache take a lock
per file, so concurrent fetches download each file once.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from ...frames import DataError
from ...net import TransientError, raise_for_transient, with_retries
from ...sources.cache import BAR_KINDS, FUNDING, Store, file_sha256
from . import BINANCE
from .layout import INTERVALS, KINDS, VisionFile, import_file

DEFAULT_BASE_URL = BINANCE.download_url
#: Published as one file per month; the others as one per day.
MONTHLY_KINDS = (FUNDING,)


class MissingFile(Exception):
    """The server has no such file (HTTP 404)."""


class ChecksumMismatch(TransientError):
    """The downloaded bytes do not hash to the published checksum (worth another download)."""


class FileFailed(Exception):
    """One file cannot be had this run (the reason is the message); the run goes on with the others."""


#: What ``fetch`` accepts as a symbol: the store's and the file names' symbols (``BTCUSDT``, ``1000PEPEUSDT``).
_SYMBOL = re.compile(r"^[A-Z0-9]{2,30}$")


@dataclass(frozen=True)
class RemoteFile:
    """One published file: where it lives on the server and what it holds."""

    symbol: str
    kind: str
    period: str
    interval: str | None = None

    @property
    def name(self) -> str:
        middle = self.interval if self.interval else self.kind
        return f"{self.symbol}-{middle}-{self.period}.zip"

    @property
    def url_path(self) -> str:
        cadence = "monthly" if self.kind in MONTHLY_KINDS else "daily"
        folder = f"{self.kind}/{self.symbol}" + (f"/{self.interval}" if self.interval else "")
        return f"data/futures/um/{cadence}/{folder}/{self.name}"

    @property
    def store_kind(self) -> str:
        return f"{self.kind}-{self.interval}" if self.interval else self.kind


@dataclass
class FetchReport:
    """What a fetch did, file by file."""

    stored: list[RemoteFile] = field(default_factory=list)
    skipped: list[RemoteFile] = field(default_factory=list)
    missing: list[RemoteFile] = field(default_factory=list)
    failed: list[tuple[RemoteFile, str]] = field(default_factory=list)


def plan(symbol: str, first_day: date, last_day: date, kinds=KINDS, interval: str = "1m") -> list[RemoteFile]:
    """The files covering ``first_day .. last_day`` (inclusive): daily kinds per day, monthly per month."""
    if last_day < first_day:
        raise ValueError(f"--to {last_day} is before --from {first_day}")
    if not _SYMBOL.match(symbol):
        raise ValueError(f"symbol {symbol!r} is not a Binance USD-M symbol (2-30 capital letters and digits, e.g. BTCUSDT)")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(f"unknown kind {unknown[0]!r}; choose from {', '.join(KINDS)}")
    if interval not in INTERVALS and any(k in BAR_KINDS for k in kinds):
        raise ValueError(f"interval {interval!r} is not a Binance kline interval; choose from {', '.join(INTERVALS)}")
    days = [first_day + timedelta(days=i) for i in range((last_day - first_day).days + 1)]
    months = sorted({d.strftime("%Y-%m") for d in days})
    files = []
    for kind in kinds:
        takes_interval = kind in BAR_KINDS
        periods = months if kind in MONTHLY_KINDS else [d.isoformat() for d in days]
        files += [RemoteFile(symbol, kind, p, interval if takes_interval else None) for p in periods]
    return files


def fetch(
    symbol: str,
    first_day: date,
    last_day: date,
    *,
    kinds=KINDS,
    interval: str = "1m",
    base_url: str = DEFAULT_BASE_URL,
    store: Store,
    retries: int = 3,
    backoff_s: float = 1.0,
    deadline_s: float = 900.0,
    progress: bool = True,
) -> FetchReport:
    """Download, verify and store every planned file the store does not hold yet.

    A file's faults fail that file (``report.failed``, with the reason) and
    the others are still fetched; ``deadline_s`` bounds each file's time,
    retries and download included (an unfinished ``.part`` resumes next run).
    """
    import httpx

    report = FetchReport()
    todo: list[RemoteFile] = []
    for remote in plan(symbol, first_day, last_day, kinds, interval):
        (report.skipped if store.has(symbol, remote.store_kind, remote.period) else todo).append(remote)
    folder = store.root / "downloads"
    timeout = httpx.Timeout(min(60.0, deadline_s))
    with httpx.Client(base_url=base_url.rstrip("/") + "/", timeout=timeout, follow_redirects=True) as client, \
            _Progress(progress, len(todo)) as bar:
        for remote in todo:
            bar.start(remote.name)
            try:
                with _file_lock(folder / (remote.url_path + ".lock")):
                    if store.has(symbol, remote.store_kind, remote.period):  # another run stored it meanwhile
                        report.skipped.append(remote)
                        continue
                    path = _download_verified(client, remote, folder, retries, backoff_s, deadline_s, bar)
                    try:
                        import_file(store, VisionFile(path, remote.symbol, remote.kind, remote.period, remote.interval),
                                    origin=f"{base_url.rstrip('/')}/{remote.url_path}")
                    finally:
                        path.unlink()
                report.stored.append(remote)
            except MissingFile:
                report.missing.append(remote)
            except (FileFailed, TransientError, httpx.HTTPError, DataError, OSError) as exc:
                report.failed.append((remote, str(exc)))
            finally:
                bar.done()
    return report


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed) so concurrent runs take turns on one file.

    The lock file stays (removing it would let a third run lock a new file
    while a second still waits on the old one).  Without ``fcntl`` (Windows)
    runs are not coordinated.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _download_verified(client, remote: RemoteFile, folder: Path, retries: int, backoff_s: float, deadline_s: float,
                       bar) -> Path:
    """The verified zip on disk; network failures are retried with exponential backoff within the deadline."""
    target = folder / remote.url_path
    part = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    give_up_at = time.monotonic() + deadline_s

    def attempt() -> Path:
        expected = _checksum(client, remote)
        _download(client, remote.url_path, part, bar, give_up_at, deadline_s)
        digest = file_sha256(part)
        if digest != expected:
            part.unlink()
            raise ChecksumMismatch(f"checksum mismatch: published {expected}, downloaded {digest}")
        part.replace(target)
        return target

    return with_retries(attempt, what=remote.name, retries=retries, backoff_s=backoff_s, deadline_s=deadline_s)


def _get_checked(response, what: str):
    if response.status_code == 404:
        raise MissingFile(what)
    raise_for_transient(response, what)
    response.raise_for_status()


def _checksum(client, remote: RemoteFile) -> str:
    response = client.get(remote.url_path + ".CHECKSUM")
    if response.status_code == 404:
        # not published at all, or published without its checksum (then it cannot be verified)
        zip_status = client.head(remote.url_path).status_code
        if zip_status == 404:
            raise MissingFile(remote.url_path)
        raise FileFailed(f"{remote.name}: published (HTTP {zip_status}) without its .CHECKSUM, so it cannot be "
                         "verified; not stored")
    _get_checked(response, remote.url_path + ".CHECKSUM")
    fields = response.text.split()
    if len(fields) != 2 or not re.fullmatch(r"[0-9a-fA-F]{64}", fields[0]) or fields[1] != remote.name:
        raise FileFailed(f"{remote.name}.CHECKSUM: expected '<sha256>  {remote.name}', got {response.text.strip()[:200]!r}")
    return fields[0].lower()


def _download(client, url_path: str, part: Path, bar, give_up_at: float, deadline_s: float) -> None:
    """Stream into ``part``, resuming from its current size when the server honours Range; stop at the deadline."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with client.stream("GET", url_path, headers=headers) as response:
        if response.status_code == 416:  # nothing left to fetch: the part is complete
            return
        _get_checked(response, url_path)
        resumed = response.status_code == 206
        total = int(response.headers.get("content-length", 0)) + (have if resumed else 0)
        got = have if resumed else 0
        bar.bytes(got, total or None)
        with open(part, "ab" if resumed else "wb") as out:
            for chunk in response.iter_raw():
                out.write(chunk)
                got += len(chunk)
                bar.advance(len(chunk))
                if time.monotonic() > give_up_at:
                    raise FileFailed(f"{part.name[:-5]}: not downloaded within the {deadline_s:g} s deadline "
                                     f"({got:,} of {total:,} bytes; the rest resumes next run)")


class _Progress:
    """A rich progress bar (files done, bytes of the current file), or nothing."""

    def __init__(self, enabled: bool, files: int):
        self.enabled, self.files = enabled, files

    def __enter__(self):
        if self.enabled:
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), transient=True)
            self._bar.__enter__()
            self._overall = self._bar.add_task(f"0/{self.files} files", total=self.files)
            self._file = self._bar.add_task("", total=None)
            self._count = 0
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self._bar.__exit__(*exc)

    def start(self, name: str) -> None:
        if self.enabled:
            self._bar.reset(self._file, description=name, total=None)

    def bytes(self, completed: int, total: int | None) -> None:
        if self.enabled:
            self._bar.update(self._file, completed=completed, total=total)

    def advance(self, n: int) -> None:
        if self.enabled:
            self._bar.advance(self._file, n)

    def done(self) -> None:
        if self.enabled:
            self._count += 1
            self._bar.update(self._overall, completed=self._count, description=f"{self._count}/{self.files} files")
