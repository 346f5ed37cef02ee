#!/usr/bin/env python3
"""Coordinate search of the leverage prior and the window on the ex-ante first-touch test.

The hourly nowcast cannot tell leverage 3x from 35x or a 3-day from a 90-day
window; the first-touch test can (docs/validation.md).  The objective is the
sum of its walk-forward log-loss leads (distance - map, 24 h and 7 d): how
much knowing "the map put a cluster here" sharpens the forecast of reaching
it.  A change is kept only if it gains at least 0.005.  Scored on the tuning
months only (January-February 2026; December trains the forecasts).

Usage:  python scripts/first_touch_search.py [--data ../shared/data] [--from 2026-01-01] [--to 2026-03-01]
"""

from __future__ import annotations

import argparse
import json

from liqmap.options import to_ms
from liqmap.validate.dataset import load_dataset
from liqmap.validate.firsttouch import study_first_touch
from liqmap.validate.tuning import choice_from_settings

GRID = {"leverage_median": [3.0, 5.0, 10.0, 20.0, 35.0, 50.0, 75.0], "leverage_sigma": [0.6, 0.9, 1.2],
        "leverage_spread": [0.0, 0.67, 1.0], "window": ["3d", "30d", "90d"]}
#: The defaults before this search.
START = {"leverage_median": 5.0, "leverage_sigma": 0.9, "leverage_spread": 0.0, "window": "30d"}
MIN_GAIN = 0.005


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--from", dest="start", default="2026-01-01")
    parser.add_argument("--to", dest="end", default="2026-03-01")
    args = parser.parse_args()
    data = load_dataset(args.data)
    start, end = to_ms(args.start, "--from"), to_ms(args.end, "--to")
    seen: dict[str, float] = {}

    def score(settings: dict) -> float:
        key = json.dumps(settings, sort_keys=True)
        if key not in seen:
            ft = study_first_touch(data, start, end, choice_from_settings(dict(settings), source="search"),
                                   reps=200)["horizons"]
            day, week = ft["24h"], ft["168h"]
            seen[key] = day["log_loss_lead"] + week["log_loss_lead"]
            print(key, f"objective {seen[key]:+.4f} clusters {day['clusters']}",
                  f"24h lead {day['log_loss_lead']:+.4f} {[round(x, 4) for x in day['log_loss_lead_ci']]}",
                  f"7d lead {week['log_loss_lead']:+.4f} {[round(x, 4) for x in week['log_loss_lead_ci']]}",
                  f"reached 7d {week['reach_rate']:.3f} placebo {week['placebo_rate']:.3f}", flush=True)
        return seen[key]

    current, best = dict(START), score(START)
    for _ in range(3):
        changed = False
        for name, values in GRID.items():
            for value in values:
                trial = dict(current, **{name: value})
                value_score = score(trial)
                if value_score > best + MIN_GAIN:
                    best, current, changed = value_score, trial, True
        print("chosen", json.dumps(current), f"{best:+.4f}", flush=True)
        if not changed:
            break


if __name__ == "__main__":
    main()
