"""Record the golden outputs: what a user sees today, kept so a refactor cannot change it by accident.

    .venv/bin/python tests/golden/record.py          # rewrite the files beside this script

``tests/test_golden.py`` recomputes each output and compares it with these files.  Rerun this
script only for a change meant to move the outputs, and say in the change which moved and by how much.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
#: A fixed clock, so the map's age and staleness do not depend on when the test runs.
NOW = "2026-03-06T00:00:00Z"
VIEWS = ("all", "high", "medium", "low", "optical")
HEATMAP = dict(start="2026-02-01", end="2026-03-01", resolution="1h")
VALIDATE = dict(start="2026-02-01", end="2026-02-15")


def map_outputs() -> dict:
    import liqmap

    maps = liqmap.build_maps("BTCUSDT", views=VIEWS, now=NOW)
    return {"maps": [m.to_dict() for m in maps]}


def heatmap_outputs() -> dict:
    """Row and column sums of the heatmap cells (the whole grid would be megabytes)."""
    import liqmap

    h = liqmap.build_heatmap("BTCUSDT", **HEATMAP)
    out = {"time": h.time.tolist(), "price_low": h.price_low.tolist()}
    for side in ("long", "short"):
        cells = np.asarray(getattr(h, side), dtype=np.float64)
        out[f"{side}_row_sums"] = cells.sum(axis=1).tolist()
        out[f"{side}_column_sums"] = cells.sum(axis=0).tolist()
    return out


def validate_outputs(data_dir: Path) -> dict:
    from liqmap.timeutil import parse_time
    from liqmap.validate.dataset import load_dataset
    from liqmap.validate.study import run_study

    study = run_study(load_dataset(data_dir), parse_time(VALIDATE["start"]), parse_time(VALIDATE["end"]),
                      reps=50, claims=False)
    return {"scores": study.figures["scores"], "hours": study.figures["hours"]}


def main() -> int:
    data_dir = HERE.parents[2] / "shared" / "data"
    outputs = {"map_sample.json": map_outputs(), "heatmap_sample.json": heatmap_outputs(),
               "validate_feb.json": validate_outputs(data_dir)}
    for name, value in outputs.items():
        (HERE / name).write_text(json.dumps(value, indent=1, sort_keys=True) + "\n")
        print(f"wrote {HERE / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
