"""liqmap: where leveraged crypto-futures positions will be force-liquidated.

The public API (everything the CLI, the server and the tests call)::

    import liqmap
    m = liqmap.build_map("BTCUSDT")            # bundled sample, last data, 30-day window
    m.price, m.clusters[0], m.to_frame()
    h = liqmap.build_heatmap("BTCUSDT", resolution="1h")
    liqmap.liquidation_price("binance", "BTCUSDT", "long", entry=100_000, leverage=100, notional=10_000)

Names are imported lazily so that ``import liqmap`` stays cheap.
"""

__version__ = "0.1.0"

_API = {
    "build_map": ".api",
    "build_maps": ".api",
    "build_heatmap": ".api",
    "build_setups": ".api",
    "quote_liquidation": ".model.margin",
    "build_book": ".api",
    "book_state": ".api",
    "BookState": ".model.state",
    "PositionBook": ".model.positions",
    "extend_book": ".model.build",
    "load_market": ".api",
    "list_venues": ".api",
    "BookParams": ".model.params",
    "liquidation_price": ".model.margin",
    "LiqMap": ".analysis.results",
    "Heatmap": ".analysis.results",
    "Cluster": ".analysis.results",
    "MarketData": ".frames",
    "Candles": ".frames",
    "OpenInterest": ".frames",
    "Funding": ".frames",
    "Trades": ".frames",
    "DataError": ".frames",
    "MapSettings": ".analysis.mapping",
    "VIEWS": ".model.leverage",
    "check_view": ".model.leverage",
    "FlowParams": ".analysis.flow",
    "compute_flow": ".analysis.flow",
    "SetupParams": ".analysis.setups",
    "LiveOptions": ".live.loop",
    "open_replay": ".live.session",
    "cache_root": ".sources.cache",
}

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name):
    if name in _API:
        import importlib

        value = getattr(importlib.import_module(_API[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'liqmap' has no attribute {name!r}")
