"""Downloading Binance Vision USD-M files into the local store.

Each file is fetched once: its ``.zip.CHECKSUM`` (``<sha256>  <file name>``)
is read first, the zip is streamed to a ``.part`` file (an interrupted
download resumes with an HTTP Range request), verified, parsed into the
store (one Parquet file per symbol, kind and day) and deleted.  Files the
store already holds are skipped; days Binance has not published (HTTP 404)
are reported as missing, not as errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from ...net import TransientError, raise_for_transient, with_retries
from ...sources.cache import Store, file_sha256
from . import BINANCE
from .layout import KINDS, VisionFile, import_file

DEFAULT_BASE_URL = BINANCE.download_url
#: Published as one file per month; the others as one per day.
MONTHLY_KINDS = ("fundingRate",)


class MissingFile(Exception):
    """The server has no such file (HTTP 404)."""


class ChecksumMismatch(TransientError):
    """The downloaded bytes do not hash to the published checksum (worth another download)."""


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
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(f"unknown kind {unknown[0]!r}; choose from {', '.join(KINDS)}")
    days = [first_day + timedelta(days=i) for i in range((last_day - first_day).days + 1)]
    months = sorted({d.strftime("%Y-%m") for d in days})
    files = []
    for kind in kinds:
        takes_interval = kind in ("klines", "markPriceKlines")
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
    progress: bool = True,
) -> FetchReport:
    """Download, verify and store every planned file the store does not hold yet."""
    import httpx

    report = FetchReport()
    todo: list[RemoteFile] = []
    for remote in plan(symbol, first_day, last_day, kinds, interval):
        (report.skipped if store.has(symbol, remote.store_kind, remote.period) else todo).append(remote)
    with httpx.Client(base_url=base_url.rstrip("/") + "/", timeout=60, follow_redirects=True) as client, _Progress(progress, len(todo)) as bar:
        for remote in todo:
            bar.start(remote.name)
            try:
                path = _download_verified(client, remote, store.root / "downloads", retries, backoff_s, bar)
                import_file(store, VisionFile(path, remote.symbol, remote.kind, remote.period, remote.interval),
                                  origin=f"{base_url.rstrip('/')}/{remote.url_path}")
                path.unlink()
                report.stored.append(remote)
            except MissingFile:
                report.missing.append(remote)
            except (TransientError, httpx.HTTPError, OSError, ValueError) as exc:
                report.failed.append((remote, str(exc)))
            bar.done()
    return report


def _download_verified(client, remote: RemoteFile, folder: Path, retries: int, backoff_s: float, bar) -> Path:
    """The verified zip on disk; network failures are retried with exponential backoff."""
    target = folder / remote.url_path
    part = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)

    def attempt() -> Path:
        expected = _checksum(client, remote)
        _download(client, remote.url_path, part, bar)
        digest = file_sha256(part)
        if digest != expected:
            part.unlink()
            raise ChecksumMismatch(f"checksum mismatch: published {expected}, downloaded {digest}")
        part.replace(target)
        return target

    return with_retries(attempt, what=remote.name, retries=retries, backoff_s=backoff_s)


def _get_checked(response, what: str):
    if response.status_code == 404:
        raise MissingFile(what)
    raise_for_transient(response, what)
    response.raise_for_status()


def _checksum(client, remote: RemoteFile) -> str:
    response = client.get(remote.url_path + ".CHECKSUM")
    _get_checked(response, remote.url_path + ".CHECKSUM")
    fields = response.text.split()
    if len(fields) != 2 or len(fields[0]) != 64 or fields[1] != remote.name:
        raise ValueError(f"{remote.name}.CHECKSUM: expected '<sha256>  {remote.name}', got {response.text.strip()!r}")
    return fields[0].lower()


def _download(client, url_path: str, part: Path, bar) -> None:
    """Stream into ``part``, resuming from its current size when the server honours Range."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with client.stream("GET", url_path, headers=headers) as response:
        if response.status_code == 416:  # nothing left to fetch: the part is complete
            return
        _get_checked(response, url_path)
        resumed = response.status_code == 206
        total = int(response.headers.get("content-length", 0)) + (have if resumed else 0)
        bar.bytes(have if resumed else 0, total or None)
        with open(part, "ab" if resumed else "wb") as out:
            for chunk in response.iter_raw():
                out.write(chunk)
                bar.advance(len(chunk))


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
