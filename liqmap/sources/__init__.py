"""Market-data sources, venue-neutral: I/O only, producing the frames of ``liqmap.frames``.

- ``cache``: the local Parquet store (one file per symbol, kind and period),
  queried with DuckDB; the bundled sample uses the same format.
- ``loader``: ``load_market`` over the sample, the cache or a folder.
- ``tables``: the frame <-> Arrow conversion the cache and the store share.

Venue file formats, layouts and downloaders live in ``liqmap.venues``.
"""
