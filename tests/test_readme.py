"""The README's Python examples run as written."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_block(heading: str) -> str:
    """The first python code block under the README heading ``heading``."""
    text = README.read_text()
    section = text[text.index(f"\n{heading}\n"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_live_python_example_replays_the_sample():
    from liqmap.live.loop import compute_maps

    names: dict = {}
    exec(compile(readme_block("### Python API: live"), "README.md (Python API: live)", "exec"), names)
    loop, u, m, updates = names["loop"], names["u"], names["m"], names["updates"]
    assert loop.updates == len(updates) >= 5 and updates[-1] is u
    # the sample's hourly bars: each update is as of the end of a replayed bar, later ones later
    times = [x.data_time for x in updates]
    assert times == sorted(times) and all(t % 3_600_000 == 0 for t in times)
    assert m.as_of_ms == u.data_time == u.market.end_ms and m.view == "all"
    assert len(names["frame"]) == m.long.size and names["closes"].tolist() == u.market.candles.close[-3:].tolist()
    assert {r["name"] for r in names["health"]} == {"replay"}
    # the live book equals a whole build over the same data: the replayed sample from the loop's first bar
    # (the market the loop hands out is cut to window + warm-up; the book keeps what it took before)
    sample, first, start = loop.venue.feed.market, loop.market.history.start_ms, loop.venue.feed.start_ms
    same = replace(sample.slice_time(first, u.data_time), funding=sample.funding.slice_time(first, start),
                   trades=None, liquidations=None, mark_candles=None)
    whole = compute_maps(same, u.data_time, 7 * 86_400_000, ("all",))[0]
    np.testing.assert_allclose(m.long, whole.long, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(m.short, whole.short, rtol=1e-9, atol=1e-6)
