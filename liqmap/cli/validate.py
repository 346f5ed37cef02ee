"""``liqmap validate``: walk-forward test of the map against realized liquidations."""

from __future__ import annotations

from . import UserError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "validate",
        help="score the map against realized liquidations (walk-forward, with baselines)",
        description=(
            "For each hour h of the period, build the map from data known before h and compare the notional "
            "it puts between the hour's open and low (longs) / open and high (shorts) with the liquidations "
            "realized in that hour, beside the 'move' and 'uniform' baselines.  Data before --from is warm-up only."
        ),
    )
    p.add_argument("--data", required=True, metavar="DIR", help="data folder with the layout of shared/data")
    p.add_argument("--from", dest="start", metavar="DATE", help="first hour scored (default: start of the data)")
    p.add_argument("--to", dest="end", metavar="DATE", help="end of the period, exclusive (default: end of the data)")
    p.add_argument("--config", metavar="FILE", help="YAML/JSON model settings (BookParams fields, view, window)")
    p.add_argument("--tune-from", metavar="DATE", help="tune the model on [--tune-from, --tune-to) first")
    p.add_argument("--tune-to", metavar="DATE", help="end of the tuning period (exclusive; must not overlap the scored one)")
    p.add_argument("--report", metavar="DIR", help="write report.md, PNG plots and figures.json here")
    p.add_argument("--reps", type=int, default=500, help="bootstrap resamples (default 500)")
    p.add_argument("--no-claims", action="store_true", help="skip the study of the guide's claims")
    p.set_defaults(run=run)


def _load_config(path: str):
    from pathlib import Path

    import yaml

    from ..validate.tuning import choice_from_settings

    file = Path(path)
    if not file.is_file():
        raise UserError(f"config file {path} does not exist")
    try:
        settings = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"config file {path} is not valid YAML/JSON: {exc}") from None
    return choice_from_settings(settings, source=str(path))


def run(args) -> int:
    from ..timeutil import parse_time
    from ..validate.dataset import load_dataset
    from ..validate.study import run_study
    from ..validate.walkforward import ModelChoice

    start = parse_time(args.start, "--from") if args.start else None
    end = parse_time(args.end, "--to") if args.end else None
    if start is not None and end is not None and end <= start:
        raise UserError("--to must be after --from")
    tune_period = None
    if args.tune_from or args.tune_to:
        if not (args.tune_from and args.tune_to):
            raise UserError("give both --tune-from and --tune-to")
        tune_period = (parse_time(args.tune_from, "--tune-from"), parse_time(args.tune_to, "--tune-to"))
        if start is None or tune_period[1] > start:
            raise UserError("the tuning period must end at or before --from (the scored period stays untouched)")
    if args.reps < 50:
        raise UserError("--reps must be at least 50")
    choice = _load_config(args.config) if args.config else ModelChoice()
    data = load_dataset(args.data)
    study = run_study(data, start, end, choice=choice, tune_period=tune_period, reps=args.reps,
                      claims=not args.no_claims)
    _print_summary(study.figures)
    if args.report:
        from ..validate.report import write_report

        print(f"report: {write_report(study, args.report)}")
    return 0


def _print_summary(f: dict) -> None:
    print(f"period {f['period']['from']} .. {f['period']['to']}  ({f['hours']} hours)")
    print(f"{'predictor':<12} {'side':<6} {'spearman':>9} {'top10%share':>11} {'hit':>6} {'auc>10M':>8}")
    for name, sides in f["scores"].items():
        for side, s in sides.items():
            print(f"{name:<12} {side:<6} {s['spearman']:>9.3f} {s['top_decile_share']:>11.3f} "
                  f"{s['top_decile_hit_rate']:>6.3f} {s['auc_10m']:>8.3f}")
