"""Market-data sources: I/O only, producing the frames of ``liqmap.frames``.

- ``vision``: readers for Binance Vision USD-M files (aggTrades, klines,
  markPriceKlines, metrics, fundingRate), CSV or zip, memoised as Parquet.
- ``layout``: finding Vision files in a folder by their published names.
- ``cache``: the local Parquet store (one file per symbol, kind and period),
  queried with DuckDB; the bundled sample uses the same format.
- ``loader``: ``load_market`` over the sample, the cache or a folder.
- ``download``: fetching Vision files into the store (checksums, resume, retries).
- ``tables``: the frame <-> Arrow conversion the cache and the store share.
"""
