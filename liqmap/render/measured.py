"""The measured map beside the modelled map of the same venue (PNG): real liquidation prices against the model."""

from __future__ import annotations

from pathlib import Path

from ..analysis.measured import MeasuredMap
from ..analysis.results import LiqMap
from . import style
from .static import _save

CROSS_NOTE = "cross: the account's liquidation price (it moves with the account's other positions and equity)"


def save_measured_png(measured: MeasuredMap, modelled: LiqMap, path, *, width_px: int = 1400, dpi: int = 110) -> Path:
    """Two panels, price on the y axis: measured long/short notional by liquidation price (isolated solid,
    cross hatched), and the modelled map's long/short bins."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_px / dpi, width_px * 0.6 / dpi), dpi=dpi, layout="constrained")
    ax_measured, ax_model = fig.subplots(1, 2)
    centres = (measured.edges[:-1] + measured.edges[1:]) / 2
    height = float(measured.edges[1] - measured.edges[0])
    for side, colour, sign in (("long", "#d62728", -1.0), ("short", "#2ca02c", 1.0)):
        isolated, cross = measured.bins[("isolated", side)] * sign, measured.bins[("cross", side)] * sign
        ax_measured.barh(centres, isolated, height=height, color=colour, label=f"isolated {side}")
        ax_measured.barh(centres, cross, height=height, left=isolated, color=colour, alpha=0.45, hatch="//",
                         label=f"cross {side}")
    ax_measured.axhline(measured.price, color="black", lw=0.8)
    c = measured.counts
    share = measured.to_dict()["sample_share_of_open_interest"]
    ax_measured.set_title(
        f"measured: {c['positions']} {measured.coin} positions of {c['accounts']} accounts, "
        f"{style.format_usd(c['value'])}" + (f" ({share:.1%} of open interest)" if share is not None else ""),
        fontsize=9)
    ax_measured.set_xlabel("notional by liquidation price: long (left) / short (right)")
    ax_measured.legend(fontsize=7, loc="upper right")
    ax_measured.text(0.01, 0.01, f"{CROSS_NOTE}\n{c['without_liquidation_price']} positions without a liquidation "
                     f"price, {c['off_grid']} off the grid", transform=ax_measured.transAxes, fontsize=7, va="bottom")
    m_centres = (modelled.price_low + modelled.price_high) / 2
    m_height = float(modelled.price_high[0] - modelled.price_low[0])
    ax_model.barh(m_centres, -modelled.long, height=m_height, color="#d62728", label="long")
    ax_model.barh(m_centres, modelled.short, height=m_height, color="#2ca02c", label="short")
    ax_model.axhline(modelled.price, color="black", lw=0.8)
    ax_model.set_title(f"modelled: {modelled.exchange} {modelled.symbol} as of {modelled.as_of} ({modelled.view})",
                       fontsize=9)
    ax_model.set_xlabel("modelled notional: long (left) / short (right)")
    ax_model.legend(fontsize=7, loc="lower right")
    return _save(fig, path, dpi)
