"""Frames <-> Arrow tables: the one conversion the parsed-file cache and the store share.

A frame's numpy columns become table columns under their field names; its
scalar fields (``interval_ms``, ``price_kind``, ``source``) and the frame
class name travel in the schema metadata, so a Parquet file written from a
frame reads back as the same frame without any side file.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, fields

import numpy as np
import pyarrow as pa

from .. import frames as _frames
from ..frames import DataError

#: Schema-metadata key holding the frame class and its scalar fields.
META_KEY = b"liqmap.frame"
#: Frame classes a table may hold.
FRAME_CLASSES = ("Candles", "OpenInterest", "Funding", "Trades", "Liquidations", "LiquidationEvents", "MarkPrices")


def frame_to_table(frame, extra: dict | None = None) -> pa.Table:
    """The frame as an Arrow table; ``extra`` (JSON-able) is kept beside the scalars."""
    columns, scalars = {}, {}
    for f in fields(frame):
        value = getattr(frame, f.name)
        if isinstance(value, np.ndarray):
            columns[f.name] = value
        else:
            scalars[f.name] = value
    meta = {"class": type(frame).__name__, "scalars": scalars, "extra": extra or {}}
    return pa.table(columns).replace_schema_metadata({META_KEY: json.dumps(meta).encode()})


def frame_meta(schema_metadata: dict | None) -> dict:
    """The decoded metadata a table written by :func:`frame_to_table` carries."""
    raw = (schema_metadata or {}).get(META_KEY)
    if raw is None:
        raise DataError("table has no liqmap frame metadata (not written by liqmap)")
    meta = json.loads(raw)
    if meta.get("class") not in FRAME_CLASSES:
        raise DataError(f"table metadata names an unknown frame class {meta.get('class')!r}")
    return meta


def table_to_frame(table: pa.Table, meta: dict | None = None):
    """Rebuild the frame; ``meta`` overrides the table's own metadata (DuckDB drops it)."""
    meta = meta or frame_meta(table.schema.metadata)
    cls = getattr(_frames, meta["class"])
    kwargs = dict(meta["scalars"])
    for f in fields(cls):
        if f.name in kwargs or (f.name not in table.column_names and f.default is not MISSING):
            continue  # a scalar written before it existed takes its default (e.g. Funding.interval_ms)
        kwargs[f.name] = column_to_numpy(table.column(f.name))
    return cls(**kwargs)


_NUMPY_TYPES = {pa.int64(): np.int64, pa.float64(): np.float64, pa.timestamp("s"): np.int64}


def column_to_numpy(column: pa.ChunkedArray) -> np.ndarray:
    """A null-free Arrow column as numpy, straight from its buffers.

    pyarrow's own ``to_numpy`` imports pandas (about 0.2 s), which would
    dominate a warm read of a cached file.
    """
    if column.null_count:
        raise DataError(f"column of type {column.type} has {column.null_count} missing values")
    dtype: type
    if pa.types.is_boolean(column.type):
        dtype = np.bool_
    elif column.type in _NUMPY_TYPES:
        dtype = _NUMPY_TYPES[column.type]
    else:
        return np.asarray(column.to_pylist(), dtype=object)
    parts = [_chunk_to_numpy(chunk, dtype) for chunk in column.chunks]
    if not parts:
        return np.empty(0, dtype)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _chunk_to_numpy(chunk: pa.Array, dtype) -> np.ndarray:
    start, stop = chunk.offset, chunk.offset + len(chunk)
    data = chunk.buffers()[1]
    if dtype is np.bool_:
        bits = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")
        return bits[start:stop].astype(np.bool_)
    return np.frombuffer(data, dtype)[start:stop]


def concat_frames(frames: list):
    """Frames of one class and the same scalar fields, joined in order of their first time."""
    if not frames:
        raise DataError("no data to join")
    scalar_names = [f.name for f in fields(frames[0]) if not isinstance(getattr(frames[0], f.name), np.ndarray)]
    first = frames[0]
    for other in frames[1:]:
        for name in scalar_names:
            if getattr(other, name) != getattr(first, name):
                raise DataError(
                    f"cannot join {type(first).__name__} with different {name}: "
                    f"{getattr(first, name)!r} and {getattr(other, name)!r}"
                )
    filled = [f for f in frames if len(f)]
    if len(filled) <= 1:
        return filled[0] if filled else first
    filled.sort(key=lambda f: int(f.time[0]))
    kwargs = {}
    for f in fields(first):
        value = getattr(first, f.name)
        kwargs[f.name] = np.concatenate([getattr(x, f.name) for x in filled]) if isinstance(value, np.ndarray) else value
    return type(first)(**kwargs)
