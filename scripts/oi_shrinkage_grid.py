#!/usr/bin/env python3
"""The OI shrinkage weight on the tuning months: nowcast and first-touch objective for each weight.

For each ``oi_shrinkage`` (the other settings at their defaults): the pooled
hourly nowcast Spearman on December-February and the first-touch objective of
scripts/first_touch_search.py (the sum of the 24 h and 7 d walk-forward
log-loss leads) on January-February, December training its forecasts.  The
test month is not read.

Usage:  python scripts/oi_shrinkage_grid.py [--data ../shared/data] [--weights 0,0.25,0.5,0.75]
"""

from __future__ import annotations

import argparse

from liqmap.options import to_ms
from liqmap.validate.dataset import load_dataset
from liqmap.validate.firsttouch import study_first_touch
from liqmap.validate.study import run_study
from liqmap.validate.tuning import choice_from_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--weights", default="0,0.25,0.5,0.75")
    parser.add_argument("--span", default=None, help="oi_prior_span_ms (default: the default span)")
    args = parser.parse_args()
    data = load_dataset(args.data)
    nowcast = to_ms("2025-12-01", "nowcast from"), to_ms("2026-03-01", "to")
    touch = to_ms("2026-01-01", "first touch from"), nowcast[1]
    for weight in (float(w) for w in args.weights.split(",")):
        settings = {"oi_shrinkage": weight} | ({"oi_prior_span_ms": int(args.span)} if args.span else {})
        choice = choice_from_settings(settings, source="grid")
        both = run_study(data, *nowcast, choice=choice, reps=50, claims=False,
                         first_touch=False).figures["scores"]["map"]["both"]
        ft = study_first_touch(data, *touch, choice, reps=200)["horizons"]
        day, week = ft["24h"], ft["168h"]
        print(f"oi_shrinkage {weight:g}: nowcast Dec-Feb {both['spearman']:.4f}; first touch Jan-Feb objective "
              f"{day['log_loss_lead'] + week['log_loss_lead']:+.4f} (24h {day['log_loss_lead']:+.4f}, "
              f"7d {week['log_loss_lead']:+.4f} {[round(x, 3) for x in week['log_loss_lead_ci']]}), "
              f"clusters {day['clusters']}, reached 7d {week['reach_rate']:.3f} placebo {week['placebo_rate']:.3f}",
              flush=True)


if __name__ == "__main__":
    main()
