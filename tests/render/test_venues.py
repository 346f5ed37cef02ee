"""Per-venue hover lines of a Multi map's bins."""

import numpy as np
import pytest

from liqmap.analysis.mapping import MapSettings, read_map
from liqmap.render.venues import liq_ratio_segments, venue_hover


def _map(extras):
    edges = np.array([99.0, 100.0, 101.0])
    m = read_map(symbol="BTCUSDT", exchange="all", as_of_ms=0, window_ms=1, view="all", price=100.0, atr=1.0,
                 edges=edges, long=np.array([3000.0, 0.0]), short=np.array([0.0, 2_500_000.0]), model={"name": "multi"},
                 now_ms=0, settings=MapSettings())
    return m.__class__(**{**m.__dict__, "extras": extras})


def test_one_line_per_venue_with_a_book():
    m = _map({"venues": {"a": {"bins": {"long": [1000.0, 0.0], "short": [0.0, 2_000_000.0]}},
                         "b": {"bins": {"long": [2000.0, 0.0], "short": [0.0, 500_000.0]}},
                         "c": {"status": "missing", "bins": None}}})
    lines = venue_hover(m)
    assert lines[0] == "<br>a: long $1.00k · short $0<br>b: long $2.00k · short $0"
    assert lines[1] == "<br>a: long $0 · short $2.00M<br>b: long $0 · short $500k"


def test_single_venue_map_adds_nothing():
    assert venue_hover(_map({})).tolist() == ["", ""]


def test_liq_ratio_bars_stack_by_venue():
    # the ±1 % band holds long 3,000 below (bin centre 99.5) and short 2,500,000 above (100.5): total 2,503,000
    band = lambda lo, sh: [{"pct": p, "long_below": lo, "short_above": sh} for p in (0.5, 1, 2, 5)]  # noqa: E731
    m = _map({"venues": {"a": {"bins": {"long": [1000.0, 0.0], "short": [0.0, 2e6]}, "liq_ratio": band(1000.0, 2e6)},
                         "b": {"bins": {"long": [2000.0, 0.0], "short": [0.0, 5e5]}, "liq_ratio": band(2000.0, 5e5)},
                         "c": {"status": "missing", "bins": None, "liq_ratio": []}}})
    total = 2_503_000
    got = [(v, s, b[1], w[1]) for v, s, b, w in liq_ratio_segments(m)]  # the ±1 % band
    assert got == [("a", "long", 0.0, pytest.approx(1000 / total)),
                   ("b", "long", pytest.approx(1000 / total), pytest.approx(2000 / total)),
                   ("a", "short", pytest.approx(3000 / total), pytest.approx(2e6 / total)),
                   ("b", "short", pytest.approx(2_003_000 / total), pytest.approx(5e5 / total))]
    assert liq_ratio_segments(_map({})) == []
