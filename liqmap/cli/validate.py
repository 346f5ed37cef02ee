"""``liqmap validate``: walk-forward test of the map against realized liquidations."""

from __future__ import annotations

from contextlib import nullcontext

from . import UserError
from ..frames import MS_PER_DAY


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "validate",
        help="score the map against realized liquidations (walk-forward nowcast, with baselines)",
        description=(
            "Hourly nowcast: for each hour h of the period, build the map from data known before h and compare "
            "the notional it puts between the hour's open and low (longs) / open and high (shorts) with the "
            "liquidations realized in that hour, beside the 'move', 'uniform' and 'fitted' baselines (fitted: "
            "least squares on public data, trained on earlier months) and 'fitted+map'.  Every predictor knows "
            "the hour's own range, so this is a nowcast, not a forecast.  Data before --from is warm-up only.  "
            "Scoring the pre-registered test month is recorded in --registry, once per configuration."
        ),
    )
    p.add_argument("--data", metavar="DIR", help="data folder with the layout of shared/data (the hourly study)")
    p.add_argument("--events", metavar="DIR",
                   help="instead: score where the map puts its levels against single liquidation events recorded "
                        "by `liqmap live` in the cache folder DIR (see docs/live.md)")
    p.add_argument("--symbol", default="BTCUSDT", help="--events: the symbol (default BTCUSDT)")
    p.add_argument("--source", default="cache",
                   help="--events: where the market data for the maps are (sample, cache or a folder; default cache)")
    p.add_argument("--horizon", default="4h", metavar="SPAN", help="--events: window after each as-of time (4h)")
    p.add_argument("--step", default="4h", metavar="SPAN", help="--events: time between as-of times (4h)")
    p.add_argument("--views", default="all,high,medium,low,optical", help="--events: views scored (all five)")
    p.add_argument("--window", default="30d", metavar="SPAN", help="--events: map window (30d)")
    p.add_argument("--format", default="table", choices=("table", "json"), help="--events: output (table)")
    p.add_argument("--from", dest="start", metavar="DATE", help="first hour scored (default: start of the data)")
    p.add_argument("--to", dest="end", metavar="DATE", help="end of the period, exclusive (default: end of the data)")
    p.add_argument("--config", metavar="FILE", help="YAML/JSON model settings (BookParams fields, view, window)")
    p.add_argument("--predictions", metavar="backfill:STORE",
                   help="take the map's predictions from a backfill store (its heatmap cells of the view, hourly "
                        "moments over the scored hours) instead of building the book; the configuration is the "
                        "store's (a --config that differs is refused); no tuning, first-touch test or claims")
    p.add_argument("--tune-from", metavar="DATE", help="tune the model on [--tune-from, --tune-to) first")
    p.add_argument("--tune-to", metavar="DATE", help="end of the tuning period (exclusive; must not overlap the scored one)")
    p.add_argument("--workers", type=int, default=0, metavar="N",
                   help="tune on a Dask LocalCluster of N processes, one task per configuration and month of the "
                        "tuning period (default 0: in this process)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="tune on an existing Dask cluster instead, e.g. tcp://HOST:8786 (as liqmap backfill does)")
    p.add_argument("--report", metavar="DIR", help="write report.md, PNG plots and figures.json here")
    p.add_argument("--reps", type=int, default=500, help="bootstrap resamples (default 500)")
    p.add_argument("--no-claims", action="store_true", help="skip the study of the guide's claims")
    p.add_argument("--no-first-touch", action="store_true",
                   help="skip the ex-ante test of the clusters (which levels 0.5-20%% away price reaches, vs placebo)")
    p.add_argument("--registry", metavar="FILE", default=None,
                   help="test-month registry (JSON lines) appended to whenever the period covers the "
                        "pre-registered test month (default reports/test_registry.jsonl)")
    p.add_argument("--force-test-month", action="store_true",
                   help="score the test month again for a configuration already recorded (recorded as forced)")
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
    if args.events:
        return run_events(args)
    if not args.data:
        raise UserError("give --data DIR (the hourly study) or --events DIR (recorded liquidation events)")
    from pathlib import Path

    from ..timeutil import parse_time
    from ..validate.dataset import load_dataset
    from ..validate.registry import DEFAULT_PATH, AlreadyScored, Registry
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
    stored = _store(args.predictions, tune_period)
    if args.config:
        choice = _load_config(args.config)
    elif stored:
        from ..validate.stored import store_choice

        choice = store_choice(stored, "binance")  # the hourly study's market is Binance's
    else:
        choice = ModelChoice()
    data = load_dataset(args.data)
    registry = Registry(Path(args.registry or DEFAULT_PATH), force=args.force_test_month)
    if args.workers < 0:
        raise UserError(f"--workers must be 0 or more, not {args.workers}")
    on_cluster = tune_period is not None and (args.workers > 0 or args.scheduler is not None)
    with (_cluster(args) if on_cluster else nullcontext()) as client:
        evaluate = None
        if client is not None:
            from ..validate.tuning import on_dask

            assert tune_period is not None
            evaluate = on_dask(client, data, *tune_period)
        try:
            study = run_study(data, start, end, choice=choice, tune_period=tune_period, reps=args.reps,
                              claims=not args.no_claims, first_touch=not args.no_first_touch, registry=registry,
                              stored=stored, tune_evaluate=evaluate)
        except AlreadyScored as exc:
            raise UserError(str(exc)) from None
    _print_summary(study.figures)
    if "registry" in study.figures:
        r = study.figures["registry"]
        print(f"test month {r['month']} scored for configuration {r['config_hash']}"
              f"{' (forced)' if r['forced'] else ''}; recorded in {registry.path}")
    if args.report:
        from ..validate.report import write_report

        print(f"report: {write_report(study, args.report)}")
    return 0


def _cluster(args):
    import sys

    from ..cluster import dask_client

    return dask_client(args.workers or None, args.scheduler, say=lambda text: print(text, file=sys.stderr))


def _store(predictions: str | None, tune_period) -> str | None:
    """The ``backfill:STORE`` source of --predictions (checked), or None."""
    if predictions is None:
        return None
    from ..backfill.read import store_of

    if store_of(predictions) is None:
        raise UserError(f"--predictions {predictions!r}: give a backfill store as backfill:STORE")
    if tune_period is not None:
        raise UserError("--predictions reads one stored configuration; tuning (--tune-from/--tune-to) builds others")
    return predictions


def _print_summary(f: dict) -> None:
    from ..validate.report import hours_text

    print(f"hourly nowcast (given each hour's range), {f['period']['from']} .. {f['period']['to']}  ({hours_text(f)})")
    print(f"{'predictor':<12} {'side':<6} {'spearman':>9} {'top10%share':>11} {'hit':>6} {'auc>10M':>8}")
    for name, sides in f["scores"].items():
        for side, s in sides.items():
            print(f"{name:<12} {side:<6} {s['spearman']:>9.3f} {s['top_decile_share']:>11.3f} "
                  f"{s['top_decile_hit_rate']:>6.3f} {s['auc_10m']:>8.3f}")
    for horizon, v in f.get("first_touch", {}).get("horizons", {}).items():
        if "note" in v:
            print(f"ex-ante first touch within {horizon}: {v['note']} ({v['clusters']})")
            continue
        print(f"ex-ante first touch within {horizon}: {v['clusters']} clusters reached {v['reach_rate']:.3f} "
              f"(placebo {v['placebo_rate']:.3f}); log loss map {v['log_loss_map']:.4f} vs distance "
              f"{v['log_loss_distance']:.4f}, Brier {v['brier_map']:.4f} vs {v['brier_distance']:.4f}")
    t = f["lead_tests"]
    print(f"wins ({t['method']}-corrected over {t['family']} comparisons, alpha {t['alpha']}): "
          + (", ".join(t["wins"]) or "none"))


def run_events(args) -> int:
    import json
    from pathlib import Path

    from .. import api
    from .. import check_view
    from ..sources.cache import FORCE_ORDERS, Store
    from ..timeutil import parse_span, parse_time
    from ..validate.events import score_events

    symbol = args.symbol.upper()
    folder = Path(args.events)
    if not folder.is_dir():
        raise UserError(f"--events {folder}: no such folder")
    events = Store(folder, "binance").read(symbol, FORCE_ORDERS)
    if events is None or not len(events):
        raise UserError(f"--events {folder}: no recorded {symbol} liquidations (binance/{symbol}/{FORCE_ORDERS}/ "
                        "is empty or missing; `liqmap live` writes them)")
    views = tuple(check_view(v.strip()) for v in args.views.split(",") if v.strip())
    horizon, step, window = (parse_span(getattr(args, n), f"--{n}") for n in ("horizon", "step", "window"))
    start = parse_time(args.start, "--from") if args.start else int(events.time[0]) - horizon
    end = parse_time(args.end, "--to") if args.end else int(events.time[-1]) + 1
    start = start // step * step
    market = api.load_market(symbol, args.source, start=start - window - 2 * MS_PER_DAY, end=end + horizon)
    end = min(end, market.end_ms)
    scores = score_events(market, events, start, end, horizon, step, views, window)
    if args.format == "json":
        print(json.dumps({"symbol": symbol, "horizon": args.horizon, "step": args.step, "window": args.window,
                          "note": "realized USD from Binance forceOrder is a lower bound (one event per second)",
                          "scores": [s.to_dict() for s in scores]}, indent=2))
        return 0
    print(f"{symbol}: liquidation events vs the map's top quarter of bins in each {args.horizon} window's traded range")
    print(f"{'view':<8} {'side':<6} {'windows':>7} {'events':>7} {'realized':>12} {'top 1/4 share':>13} "
          f"{'chance':>7} {'map in range':>13} {'uniform':>12}")
    for s in scores:
        share = "-" if s.share is None else f"{s.share:.3f}"
        chance = "-" if s.chance is None else f"{s.chance:.3f}"
        print(f"{s.view:<8} {s.side:<6} {s.windows:>7} {s.events:>7} {s.realized_usd:>12,.0f} {share:>13} "
              f"{chance:>7} {s.map_usd_in_range:>13,.0f} {s.uniform_usd_in_range:>12,.0f}")
    print("realized USD from Binance's forceOrder stream is a lower bound (at most one liquidation per second)")
    return 0
