"""Writing a study to a folder: ``report.md`` (tables), PNG plots and ``figures.json``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .metrics import SIDE_SCORES
from .study import Study

SIDES = ("long", "short", "both")


def write_report(study: Study, out_dir) -> Path:
    """Write the report files into ``out_dir`` (created if needed); returns the Markdown path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "figures.json").write_text(json.dumps(_jsonable(study.figures), indent=1) + "\n")
    _plot_scatter(study, out / "scatter.png")
    _plot_months(study, out / "months.png")
    _plot_calibration(study, out / "calibration.png")
    path = out / "report.md"
    path.write_text(_markdown(study.figures))
    return path


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _fmt(value, digits=3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if abs(value) >= 1e4 or (0 < abs(value) < 1e-3):
        return f"{value:.3g}"
    return f"{value:.{digits}f}"


def _ci(values: dict, key: str) -> str:
    low, high = values.get(f"{key}_ci", (None, None))
    return f"{_fmt(values.get(key))} [{_fmt(low)}, {_fmt(high)}]"


def hours_text(f: dict) -> str:
    """The scored hours, naming any hour of the period left out."""
    left = f.get("unscored_hours", [])
    if not left:
        return f"{f['hours']} hours"
    return (f"{f['hours']} hours scored; {len(left)} missing from the panel, bridged and not scored: "
            f"{', '.join(left)}")


def _markdown(f: dict) -> str:
    predictors = list(f["scores"])
    lines = [
        "# Validation: the liquidation map against realized liquidations",
        "",
        f"Hourly scores are a **{f.get('score_kind', 'nowcast')}**.",
        "",
        f"Period scored: {f['period']['from']} to {f['period']['to']} ({hours_text(f)}). "
        f"Intervals: {int(f['bootstrap']['level'] * 100)}% circular block bootstrap, "
        f"{f['bootstrap']['block_hours']}-hour blocks, {f['bootstrap']['reps']} resamples.",
        "",
        "Predictors: `map` = the map's long notional between the hour's open and low and short notional "
        "between open and high, as of the hour's open; `move` = the move alone; `uniform` = uniform density "
        "times open interest at the open; `fitted` = least squares on log(1 + realized) per side from public data "
        "(the hour's move and its square, the other side's move, OI, 24 h volatility, 24/72 h breakouts, lagged "
        "1 h and 24 h realized liquidations, returns, ΔOI, funding), each month fitted on earlier months only; "
        "`fitted+map` = the same with the map's prediction as one more column"
        + ("; `map_untuned` = the first model, before any tuning." if "map_untuned" in f["scores"] else "."),
        "",
    ]
    if "tuning" in f:
        t = f["tuning"]
        lines += [
            "## Tuning",
            "",
            f"Tuned on {t['period']['from']} to {t['period']['to']} only ({t['objective']}): "
            f"{_fmt(t['start_objective'])} with the starting settings, {_fmt(t['chosen_objective'])} with the chosen ones "
            f"({len(t['trials'])} trials). Chosen settings:",
            "",
            "| setting | value |",
            "|---|---|",
            *[f"| {k} | {v} |" for k, v in t["chosen"].items()],
            "",
        ]
    for side in SIDES:
        keys = list(SIDE_SCORES) + (["side_accuracy"] if side == "both" else [])
        lines += [f"## Nowcast scores: {side}", "", "| predictor | " + " | ".join(keys) + " |",
                  "|---|" + "---|" * len(keys)]
        for name in predictors:
            lines.append(f"| {name} | " + " | ".join(_ci(f["scores"][name][side], k) for k in keys) + " |")
        lines.append("")
    t = f["lead_tests"]
    lines += ["## Does the map beat the baselines?", "",
              "Differences map − baseline (and `fitted+map` − `fitted`: what the map adds to the best public-data "
              "model) with intervals.", "",
              "| comparison | side | " + " | ".join(k for k in SIDE_SCORES if k != "scale") + " | side_accuracy |",
              "|---|---|" + "---|" * len(SIDE_SCORES)]
    for pair, sides in f["lead"].items():
        for side in SIDES:
            values = sides[side]
            keys = [k for k in SIDE_SCORES if k != "scale"] + (["side_accuracy"] if side == "both" else [])
            cells = [_ci(values, k) for k in keys] + ([""] if side != "both" else [])
            lines.append(f"| {pair} | {side} | " + " | ".join(cells) + " |")
    method = {"holm": "Holm's step-down correction"}.get(t["method"], t["method"])
    lines += ["", f"Each difference is a claim that it is above 0 (one-sided p-value from the bootstrap standard "
              f"error); {method} over all {t['family']} claims of this table keeps the chance of any false win "
              f"at most {t['alpha']}. Claims that survive: " + (", ".join(t["wins"]) or "none") + f" "
              f"({len(t['wins'])} of {t['family']}).", ""]
    months = list(next(iter(f["monthly_scale"].values()))["scale_by_month"])
    lines += ["## Scale factor (realized / predicted) by month", "",
              "Dollars: the map's notional is USD at risk when this factor is the same every month; the target is a "
              "band (largest ÷ smallest month) of at most 2 on each side.", "",
              "| predictor | side | " + " | ".join(months) + " | max ÷ min | CV |",
              "|---|---|" + "---|" * (len(months) + 2)]
    for name, m in f["monthly_scale"].items():
        for side, by_month in (("long", m["long"]), ("short", m["short"]), ("both", m["scale_by_month"])):
            cv = _fmt(m["scale_cv"]) if side == "both" else ""
            lines.append(f"| {name} | {side} | " + " | ".join(_fmt(by_month[k]) for k in months)
                         + f" | {_fmt(m['band'][side])} | {cv} |")
    lines += ["", "![predicted vs realized](scatter.png)", "", "![per-month Spearman](months.png)", "",
              "![calibration](calibration.png)", ""]
    lines += _per_month_markdown(f)
    if "first_touch" in f:
        lines += _first_touch_markdown(f["first_touch"])
    if "claims" in f:
        lines += _claims_markdown(f["claims"])
    lines += ["## Model and data notes", "", f"Model settings: `{json.dumps(_jsonable(f['model']['settings']))}`", ""]
    lines += [f"- {n}" for n in f["notes"]] + [""]
    return "\n".join(lines)


def _per_month_markdown(f: dict) -> list[str]:
    """Per month: Spearman (long, short, both) and top-decile share of every predictor."""
    lines = ["## Per month", "", "| month | predictor | Spearman long | short | both | top-decile share (both) |",
             "|---|---|---|---|---|---|"]
    for month, scores in f["per_month"].items():
        for name, s in scores.items():
            lines.append(f"| {month} | {name} | {_fmt(s['long']['spearman'])} | {_fmt(s['short']['spearman'])} | "
                         f"{_fmt(s['both']['spearman'])} | {_fmt(s['both']['top_decile_share'])} |")
    return lines + [""]


def _first_touch_markdown(ft: dict) -> list[str]:
    st = ft["settings"]
    lines = ["## Ex-ante: does price reach the map's clusters?", "",
             f"Every {st['every_h']} h, each cluster {st['min_pct']}–{st['max_pct']} % from price; reached if a later "
             f"hour's low/high touches its peak. Placebo: {st['placebo_draws']} levels per cluster at the same signed "
             "ATR distance at random other as-of times. Forecasts (walk-forward by month, from earlier months only): "
             "`map` = the clusters' own reach rate by ATR band, `distance` = the placebo's; a positive lead "
             "(distance − map) means knowing the cluster sharpens the forecast. "
             f"{ft['clusters']} clusters at {ft['as_of_times']} as-of times.", "",
             "| horizon | clusters | reached | placebo reached | log loss map | log loss distance | lead | "
             "Brier map | Brier distance | lead |", "|---|---|---|---|---|---|---|---|---|---|"]
    for horizon, v in ft["horizons"].items():
        if "note" in v:
            lines.append(f"| {horizon} | {v['clusters']} | {v['note']} | | | | | | | |")
            continue
        lines.append(f"| {horizon} | {v['clusters']} | {_ci(v, 'reach_rate')} | {_fmt(v['placebo_rate'])} | "
                     f"{_fmt(v['log_loss_map'], 4)} | {_fmt(v['log_loss_distance'], 4)} | {_ci(v, 'log_loss_lead')} | "
                     f"{_fmt(v['brier_map'], 4)} | {_fmt(v['brier_distance'], 4)} | {_ci(v, 'brier_lead')} |")
    for horizon, v in ft["horizons"].items():
        if "note" in v:
            continue
        lines += ["", f"Calibration within {horizon} (mean forecast and observed reach by ATR band):", "",
                  "| band (ATR) | clusters | forecast map | forecast distance | observed | placebo observed |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {c['band_atr'][0]:g}–{c['band_atr'][1]:g} | {c['clusters']} | {_fmt(c['forecast_map'])} | "
                  f"{_fmt(c['forecast_distance'])} | {_fmt(c['observed'])} | {_fmt(c['placebo_observed'])} |"
                  for c in v["calibration"]]
    return lines + [""]


def _claims_markdown(c: dict) -> list[str]:
    lines = ["## The guide's claims", ""]
    d = c["denser_side"]
    if "note" in d:
        lines += [f"1. Denser side: {d['note']} ({d['events']})."]
    else:
        lines += [f"1. Price first moves 1 ATR toward the side with more cluster notional within "
                  f"{c['settings']['nearby_atr']} ATR: {_fmt(d['hit_rate'])} of {d['events']} sample hours, "
                  f"placebo (chance) {_fmt(d['placebo_rate'])}; lead {_ci(d, 'lead')}."]
    s = c["sweeps_mark_extremes"]
    if "note" in s:
        lines += [f"2. Sweeps of major clusters: {s['note']} ({s['events']})."]
    else:
        lines += [f"2. An hour that swept a major cluster is the local extreme (±{c['settings']['extreme_half_window_h']} h) "
                  f"in {_fmt(s['extreme_rate'])} of {s['events']} cases; same-size moves without a sweep: "
                  f"{_fmt(s['placebo_rate'])}; lead {_ci(s, 'lead')}."]
    r = c["reach_by_distance"]
    if "note" in r:
        lines += [f"3. Reach by distance: {r['note']}."]
    else:
        lines += [f"3. Clusters reached within {c['settings']['horizon_h']} h, by distance, against random levels at "
                  "the same distance in ATR at other times:", "", "| reach band | clusters | reached | placebo |",
                  "|---|---|---|---|"]
        lines += [f"| {band} | {v['clusters']} | {_fmt(v['reach_rate'])} | {_fmt(v['placebo_rate'])} |"
                  for band, v in r["by_band"].items()]
        n = r["near_minus_speculative"]
        lines += ["", f"   Within 1 ATR minus 2–3 ATR: clusters {_ci(n, 'clusters')}, placebo {_ci(n, 'placebo')}."]
    return lines + [""]


def _scaled(study: Study):
    """Each predictor's (predicted * fitted scale, realized), both sides stacked."""
    h = study.predictions.hours
    realized = np.concatenate((h.long_usd, h.short_usd))
    for name, (long, short) in study.predictions.by_predictor.items():
        predicted = np.concatenate((long, short))
        scale = study.figures["scores"][name]["both"]["scale"]
        yield name, predicted * (scale if scale and math.isfinite(scale) else 1.0), realized


def _figure(n_panels: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, n_panels, figsize=(4.2 * n_panels, 4.0), squeeze=False)
    return plt, fig, axes[0]


def _plot_scatter(study: Study, path: Path) -> None:
    names = list(study.predictions.by_predictor)
    plt, fig, axes = _figure(len(names))
    for ax, (name, predicted, realized) in zip(axes, _scaled(study)):
        keep = (predicted > 0) & (realized > 0)
        ax.scatter(predicted[keep], realized[keep], s=3, alpha=0.35)
        lim = [min(predicted[keep].min(), realized[keep].min()), max(predicted[keep].max(), realized[keep].max())]
        ax.plot(lim, lim, color="grey", lw=0.8)
        ax.set(xscale="log", yscale="log", title=f"{name} (scaled)", xlabel="predicted USD × scale", ylabel="realized USD")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_months(study: Study, path: Path) -> None:
    per_month = study.figures["per_month"]
    months = list(per_month)
    plt, fig, axes = _figure(1)
    ax = axes[0]
    names = list(study.predictions.by_predictor)
    width = 0.8 / len(names)
    lowest = 0.0
    for k, name in enumerate(names):
        values = [per_month[m][name]["both"]["spearman"] for m in months]
        lowest = min([lowest, *(v for v in values if v is not None and math.isfinite(v))])
        ax.bar(np.arange(len(months)) + k * width, values, width, label=name)
    ax.set_xticks(np.arange(len(months)) + 0.4 - width / 2, months)
    ax.set(ylabel="Spearman (both sides)", ylim=(min(0.0, lowest - 0.05), 1))
    ax.set_title("Per-month rank correlation", pad=22)
    # above the bars, in one row: inside the axes it would cover them
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(names), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def calibration_points(predicted: np.ndarray, realized: np.ndarray,
                       groups: int = 10) -> tuple[np.ndarray, np.ndarray, float]:
    """``(x, y, zero_share)``: mean prediction and mean realized in deciles of the hours predicted above 0,
    without deciles whose mean realized is 0; ``zero_share`` is the share of hours predicted 0, left out
    because a log axis has no 0 (drawn, they would run off its edge)."""
    positive = np.flatnonzero(predicted > 0)
    order = positive[np.argsort(predicted[positive], kind="stable")]
    parts = [g for g in np.array_split(order, groups) if g.size]
    x = np.array([predicted[g].mean() for g in parts])
    y = np.array([realized[g].mean() for g in parts])
    zero_share = 1 - positive.size / predicted.size if predicted.size else 0.0
    return x[y > 0], y[y > 0], float(zero_share)


def _plot_calibration(study: Study, path: Path) -> None:
    """Mean realized against mean scaled prediction in deciles of the (non-zero) prediction."""
    plt, fig, axes = _figure(1)
    ax = axes[0]
    for name, predicted, realized in _scaled(study):
        x, y, zero_share = calibration_points(predicted, realized)
        label = name + (f" ({zero_share:.0%} of hours predicted 0: not drawn)" if zero_share > 0 else "")
        ax.plot(x, y, marker="o", label=label)
    ax.set(xscale="log", yscale="log", xlabel="mean predicted USD × scale (decile)", ylabel="mean realized USD",
           title="Calibration by prediction decile")
    lims = ax.get_xlim()
    ax.plot(lims, lims, color="grey", lw=0.8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
