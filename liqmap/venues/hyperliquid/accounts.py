"""Accounts' positions from ``clearinghouseState``: the address list, a resumable fetch, the parse.

The fetch appends each account's answer to a JSON-lines file as it arrives,
so an interrupted run resumes where it stopped (addresses already in the
file are not asked again); an address that fails is reported and left for
the next run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from ...analysis.measured import MeasuredPosition
from ...frames import DataError
from ...net import TransientError
from .info import InfoClient

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def read_addresses(path: Path) -> list[str]:
    """One address per line (a CSV export's first column will do); '#' starts a comment; repeats kept once."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"addresses file {path}: cannot read it ({exc})") from None
    out: dict[str, None] = {}
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        first = re.split(r"[,;\s]", text, maxsplit=1)[0].strip().strip('"')
        if number == 1 and not first.lower().startswith("0x"):
            continue  # a header row
        if not _ADDRESS.fullmatch(first):
            raise DataError(f"addresses file {path}, line {number}: {first!r} is not an address (0x and 40 hex digits)")
        out[first.lower()] = None
    if not out:
        raise DataError(f"addresses file {path}: no addresses in it")
    return list(out)


def load_done(cache: Path) -> dict[str, dict]:
    """Address -> state already fetched into ``cache`` (a torn last line from an interruption is ignored)."""
    done: dict[str, dict] = {}
    if not cache.exists():
        return done
    for line in cache.read_text().splitlines():
        try:
            record = json.loads(line)
            done[record["address"]] = record["state"]
        except (ValueError, KeyError, TypeError):
            continue
    return done


def fetch_states(client: InfoClient, addresses: list[str], cache: Path,
                 progress: Callable[[int, int, str], None] | None = None) -> tuple[dict[str, dict], dict[str, str]]:
    """States of ``addresses`` (from ``cache`` where there, else fetched and appended), and the failures."""
    cache = Path(cache)
    done = load_done(cache)
    failures: dict[str, str] = {}
    todo = [a for a in addresses if a not in done]
    with cache.open("a") as out:
        for k, address in enumerate(todo, 1):
            try:
                state = client.clearinghouse_state(address)
            except (TransientError, DataError) as exc:
                failures[address] = str(exc)
            else:
                done[address] = state
                out.write(json.dumps({"address": address, "state": state}) + "\n")
                out.flush()
            if progress is not None:
                progress(k, len(todo), address)
    return {a: done[a] for a in addresses if a in done}, failures


def _number(raw: dict, key: str, where: str, nullable: bool = False) -> float | None:
    value = raw.get(key)
    if value is None and nullable:
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DataError(f"{where}: field {key!r} must be a number, got {value!r}") from None


def parse_positions(address: str, state: dict) -> list[MeasuredPosition]:
    """The account's positions, with the account's equity (``marginSummary.accountValue``)."""
    summary = state.get("marginSummary") or {}
    equity = _number(summary, "accountValue", f"clearinghouseState {address}: marginSummary")
    out = []
    for k, item in enumerate(state["assetPositions"]):
        where = f"clearinghouseState {address}: assetPositions[{k}].position"
        raw = item.get("position") if isinstance(item, dict) else None
        if not isinstance(raw, dict):
            raise DataError(f"{where}: missing")
        leverage = raw.get("leverage") or {}
        kind = leverage.get("type")
        if kind not in ("isolated", "cross"):
            raise DataError(f"{where}: leverage.type must be isolated or cross, got {kind!r}")
        out.append(MeasuredPosition(
            address=address, coin=str(raw.get("coin")), size=_number(raw, "szi", where) or 0.0,
            entry=_number(raw, "entryPx", where, nullable=True) or 0.0,
            value=_number(raw, "positionValue", where) or 0.0, margin_type=kind,
            leverage=_number(leverage, "value", where) or 0.0,
            liquidation_price=_number(raw, "liquidationPx", where, nullable=True),
            margin_used=_number(raw, "marginUsed", where) or 0.0, account_value=equity or 0.0))
    return out
