"""Reading exchange answers and frames: fields, numbers and timestamps, with errors that say where.

Every venue's REST and stream parsers share these, so a missing field or a value that
is not a number reads the same whichever venue sent it.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..frames import DataError


def json_object(text: str | bytes) -> dict:
    """A stream frame decoded as a JSON object (every venue's frames are one)."""
    try:
        message = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(message, dict):
        raise DataError(f"expected a JSON object, got {type(message).__name__}")
    return message


def looks_like(message: dict) -> str:
    """Which venue a frame looks like, for the error when a frame reaches another venue's parser
    (a wrong URL or a proxy mixing streams)."""
    if "stream" in message or "e" in message:
        return "a Binance frame"
    if "topic" in message or "op" in message:
        return "a Bybit frame"
    if "arg" in message or "event" in message:
        return "an OKX frame"
    if "channel" in message:
        return "a Hyperliquid frame"
    return "unknown shape"


def as_object(item: Any, where: str) -> dict:
    """``item`` if it is a JSON object, else a DataError saying where and what came instead."""
    if not isinstance(item, dict):
        raise DataError(f"{where}: expected an object, got {str(item)[:80]}")
    return item


def as_number(value: Any, where: str) -> float:
    """A finite number (venues send them as JSON numbers or as strings)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{where}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise DataError(f"{where}: {value!r} is not a finite number")
    return number


def as_timestamp(value: Any, where: str) -> int:
    """An integer epoch timestamp, given as a JSON integer or a string of digits."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise DataError(f"{where}: {value!r} is not an integer timestamp")
    try:
        return int(value)
    except ValueError:
        raise DataError(f"{where}: {value!r} is not an integer timestamp") from None


def field(data: dict, name: str, where: str) -> Any:
    """``data[name]``, or a DataError naming the missing field and where."""
    try:
        return data[name]
    except KeyError:
        raise DataError(f"{where}: field {name!r} is missing") from None


def number_field(data: dict, name: str, where: str) -> float:
    return as_number(field(data, name, where), f"{where}, field {name!r}")


def time_field(data: dict, name: str, where: str) -> int:
    return as_timestamp(field(data, name, where), f"{where}, field {name!r}")


def time_series(rows: list, what: str, time_name: str, value_name: str) -> tuple[list[int], list[float]]:
    """Rows of objects -> their timestamps and numbers as two lists (funding and open-interest answers),
    an error naming the row and the field."""
    times, values = [], []
    for i, row in enumerate(rows):
        where = f"{what} row {i}"
        as_object(row, where)
        times.append(time_field(row, time_name, where))
        values.append(number_field(row, value_name, where))
    return times, values
