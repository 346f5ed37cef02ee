"""Static pictures (PNG, SVG) with matplotlib's Agg backend.

Figures are built with ``matplotlib.figure.Figure`` directly, never pyplot, so
rendering holds no global state and is safe inside the web server's threads.
matplotlib is imported inside the functions: importing liqmap stays cheap.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..analysis.results import Heatmap, LiqMap
from ..frames import Liquidations
from . import style

#: File types ``save_*`` functions write, chosen by the path's suffix.
IMAGE_SUFFIXES = (".png", ".svg", ".pdf")
#: How many clusters get a text label beside their bars.
LABELLED_CLUSTERS = 8


def save_liqmap_png(
    m: LiqMap,
    path,
    *,
    palette: str = "default",
    width_px: int = 1400,
    height_px: int | None = None,
    dpi: int = 110,
) -> Path:
    """Draw the LiqMap and write it to ``path`` (``.png``; ``.svg``/``.pdf`` also work).

    Price on the y axis, Z-score on the x axis (notional on the top axis),
    bars coloured by cluster id with noise bins grey, the current price line,
    the 1 / 1.5 / 2.5 Z guides, cluster labels with notional and a LiqRatio
    panel.  Returns the path written.
    """
    fig = liqmap_figure(m, palette=palette, width_px=width_px, height_px=height_px, dpi=dpi)
    return _save(fig, path, dpi)


def liqmap_figure(m: LiqMap, *, palette: str = "default", width_px: int = 1400, height_px: int | None = None, dpi: int = 110):
    """The LiqMap as a matplotlib ``Figure`` (see :func:`save_liqmap_png`)."""
    from matplotlib.figure import Figure

    if m.price_low.size == 0:
        raise ValueError(f"the {m.symbol} map as of {m.as_of} has no price bins to draw")
    pal = style.palette(palette)
    height_px = height_px or round(width_px * 0.64)
    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi, layout="constrained")
    grid = fig.add_gridspec(2, 2, width_ratios=(3.3, 1), height_ratios=(1, 1.25))
    ax_map = fig.add_subplot(grid[:, 0])
    ax_ratio = fig.add_subplot(grid[0, 1])
    ax_notes = fig.add_subplot(grid[1, 1])
    fig.suptitle(f"{style.map_title(m)}\n{style.map_subtitle(m)}", fontsize=11, x=0.01, ha="left")

    _draw_map_bars(ax_map, m, pal)
    _draw_liq_ratio(ax_ratio, m, pal)
    _draw_notes(ax_notes, m, pal)
    return fig


def _draw_map_bars(ax, m: LiqMap, pal: style.Palette) -> None:
    from matplotlib.ticker import FuncFormatter

    decimals = style.map_decimals(m)
    centres = (m.price_low + m.price_high) / 2
    heights = (m.price_high - m.price_low) * 0.92
    z0 = style.zero_notional_z(m)
    ax.barh(centres, m.z - z0, left=z0, height=heights, color=style.bin_colors(m, pal), linewidth=0)

    z_max = max(float(np.max(m.z)), max(style.Z_GUIDES)) if m.z.size else max(style.Z_GUIDES)
    ax.set_xlim(z0, z_max + (z_max - z0) * 0.45)  # room on the right for cluster labels
    ax.set_ylim(float(m.price_low[0]), float(m.price_high[-1]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: style.format_price(v, decimals)))
    ax.set_ylabel(f"price ({m.symbol})")
    ax.set_xlabel(f"Z-score of bin notional against the {_z_population(m)}; bars start at an empty bin", fontsize=9)
    ax.grid(axis="y", color="#e6e6e6", linewidth=0.6)
    ax.set_axisbelow(True)

    for z, name in zip(style.Z_GUIDES, ("mild", "notable", "major")):
        ax.axvline(z, color="#555555", linestyle=(0, (4, 3)), linewidth=0.8)
        ax.text(z, 1.0, f" {name} {z:g}", transform=ax.get_xaxis_transform(), fontsize=8, color="#444444",
                rotation=90, va="top", ha="right")

    ax.axhline(m.price, color=pal.price, linewidth=1.2)
    ax.text(1.0, m.price, f" price {style.format_price(m.price, decimals + 1)} ", transform=ax.get_yaxis_transform(),
            ha="right", va="bottom", fontsize=9, fontweight="bold",
            bbox=dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor=pal.price, linewidth=0.8))

    _notional_axis(ax, m, z0)
    _label_clusters(ax, m, pal, decimals)


def _z_population(m: LiqMap) -> str:
    """The population the map's Z-scores were taken against, as the map's model records it."""
    return str(m.model.get("reading", {}).get("z_population", "the map's bins"))


def _notional_axis(ax, m: LiqMap, z0: float) -> None:
    """A top axis in notional, so the absolute size sits beside every Z."""
    from matplotlib.ticker import FuncFormatter

    total = m.total
    if total.size < 2 or np.ptp(total) == 0:
        return
    z_per_usd = float((np.max(m.z) - z0) / np.max(total))
    top = ax.secondary_xaxis("top", functions=(lambda z: (z - z0) / z_per_usd, lambda x: z0 + x * z_per_usd))
    top.xaxis.set_major_formatter(FuncFormatter(lambda v, _: style.format_usd(v)))
    top.set_xlabel("outstanding liquidation notional per bin", fontsize=9)


def _label_clusters(ax, m: LiqMap, pal: style.Palette, decimals: int) -> None:
    """``#id $notional · Z`` beside the map's top-ranked clusters, nudged apart so no two texts overlap."""
    clusters = m.clusters[:LABELLED_CLUSTERS]
    if not clusters:
        return
    y_lo, y_hi = ax.get_ylim()
    min_gap = (y_hi - y_lo) * 0.045
    peaks = np.array([c.peak for c in clusters])
    order = np.argsort(peaks)
    placed = style.spread_labels(peaks[order], min_gap, y_lo + min_gap / 2, y_hi - min_gap / 2)
    x_text = ax.get_xlim()[1]
    for c, y in zip([clusters[i] for i in order], placed):
        ax.annotate(
            f"#{c.id} {style.format_usd(c.notional)} · Z {c.z:.1f} · {c.distance_pct:+.1f}%",
            xy=(c.z, c.peak), xytext=(x_text, y), ha="right", va="center", fontsize=8.5, color="#222222",
            bbox=dict(boxstyle="round,pad=0.25", facecolor="white", edgecolor=pal.cluster_color(c.id), linewidth=1.3),
            arrowprops=dict(arrowstyle="-", color=pal.cluster_color(c.id), linewidth=0.7, shrinkA=2, shrinkB=2),
        )


def _draw_liq_ratio(ax, m: LiqMap, pal: style.Palette) -> None:
    """One bar per band: red share = long notional below price, green = short notional above."""
    ax.set_title("LiqRatio: long below vs short above", fontsize=10, loc="left")
    bands = m.liq_ratio
    ys = np.arange(len(bands))[::-1]
    for y, band in zip(ys, bands):
        share = band.long_share
        if share is None:
            ax.barh(y, 1.0, color="#eeeeee")
            ax.text(0.5, y, "nothing in band", ha="center", va="center", fontsize=8, color="#666666")
            continue
        ax.barh(y, share, color=pal.long)
        ax.barh(y, 1 - share, left=share, color=pal.short)
        if share >= style.MIN_LABELLED_SHARE:
            ax.text(0.02, y, style.format_usd(band.long_below), ha="left", va="center", fontsize=8, color="white",
                    fontweight="bold")
        if 1 - share >= style.MIN_LABELLED_SHARE:
            ax.text(0.98, y, style.format_usd(band.short_above), ha="right", va="center", fontsize=8, color="white",
                    fontweight="bold")
        ax.text(1.03, y, style.format_ratio(band), ha="left", va="center", fontsize=8.5)
    ax.axvline(0.5, color="white", linewidth=1, linestyle=(0, (2, 2)))
    ax.set_yticks(ys, [f"±{b.pct:g}%" for b in bands], fontsize=9)
    ax.set_xlim(0, 1)
    ax.set_xticks([])
    ax.text(1.03, len(bands) - 0.45, "ratio", ha="left", va="bottom", fontsize=8, color="#444444")
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_xlabel(style.LIQRATIO_LEGEND.replace(" · ", "\n"), fontsize=8, color="#444444")


def _draw_notes(ax, m: LiqMap, pal: style.Palette) -> None:
    """The legend, as sentences: what colours mean and the nearest magnets."""
    from matplotlib.patches import Patch

    ax.axis("off")
    handles = [Patch(color=pal.cluster_color(c.id), label=f"cluster #{c.id}") for c in m.clusters[:LABELLED_CLUSTERS]]
    handles.append(Patch(color=pal.noise, label="noise (Z < 1)"))
    ax.legend(handles=handles, loc="upper left", fontsize=8, frameon=False, ncols=2,
              title=style.CLUSTER_LEGEND.replace("; ", ";\n").replace(" · ", "\n"), title_fontsize=8,
              alignment="left")
    decimals = style.map_decimals(m)
    lines = []
    for label, cid in (("nearest above", m.nearest_above), ("nearest below", m.nearest_below)):
        if cid is not None:
            c = m.cluster(cid)
            lines.append(f"{label}: #{c.id} at {style.format_price(c.peak, decimals)} "
                         f"({c.distance_pct:+.2f}%, {c.distance_atr:.1f} ATR)")
    if lines:
        ax.text(0.0, 0.42, "\n".join(lines), transform=ax.transAxes, fontsize=8.5, va="top")


def _save(fig, path, dpi: int) -> Path:
    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ValueError(f"cannot write {path}: the file name must end in one of {', '.join(IMAGE_SUFFIXES)}")
    if path.parent and not path.parent.exists():
        raise FileNotFoundError(f"cannot write {path}: folder {path.parent} does not exist")
    fig.savefig(path, dpi=dpi)
    return path


def save_heatmap_png(
    h: Heatmap,
    path,
    *,
    liquidations: Liquidations | None = None,
    scale: str = "log",
    palette: str = "default",
    width_px: int = 1400,
    height_px: int | None = None,
    dpi: int = 110,
) -> Path:
    """Draw the heatmap (time × price) with the price path and write it to ``path``.

    ``scale`` is "log" (log10 of notional) or "z" (Z-score within each time
    row); the colour bar says which.  ``liquidations`` (realized, optional)
    are drawn on the price path and as bars under the heatmap, so estimate
    and reality can be compared by eye.
    """
    fig = heatmap_figure(h, liquidations=liquidations, scale=scale, palette=palette, width_px=width_px,
                         height_px=height_px, dpi=dpi)
    return _save(fig, path, dpi)


def heatmap_figure(h: Heatmap, *, liquidations: Liquidations | None = None, scale: str = "log",
                   palette: str = "default", width_px: int = 1400, height_px: int | None = None, dpi: int = 110):
    """The heatmap as a matplotlib ``Figure`` (see :func:`save_heatmap_png`)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    pal = style.palette(palette)
    cells = style.heatmap_cells(h, scale)
    realized = style.realized_in_span(h, liquidations)
    height_px = height_px or round(width_px * 0.6)
    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi, layout="constrained")
    if realized is not None:
        ax, ax_liq = fig.subplots(2, 1, sharex=True, height_ratios=(4, 1))
    else:
        ax, ax_liq = fig.subplots(1, 1), None
    fig.suptitle(f"{style.heatmap_title(h)}\n{style.heatmap_subtitle(h)}", fontsize=11, x=0.01, ha="left")

    time_edges = style.heatmap_time_edges(h).astype("datetime64[ms]")
    price_edges = np.append(h.price_low, h.price_high[-1])
    vmin, vmax = style.heatmap_range(cells, scale)
    mesh = ax.pcolormesh(time_edges, price_edges, np.ma.masked_invalid(cells).T, cmap=style.HEATMAP_COLORSCALE,
                         vmin=vmin, vmax=vmax, shading="flat", rasterized=True)
    ax.set_facecolor("#000004")  # the colour scale's darkest: empty cells read as "nothing"
    ax.plot(h.time.astype("datetime64[ms]"), h.price, color=style.PRICE_PATH, linewidth=1.1, label="price (close)")
    decimals = style.price_decimals(float(np.median(h.price_high - h.price_low)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: style.format_price(v, decimals)))
    ax.set_ylabel(f"price ({h.symbol})")
    low, high = float(np.nanmin(h.price)), float(np.nanmax(h.price))
    pad = (high - low) * 0.35 or high * 0.05
    ax.set_ylim(max(price_edges[0], low - pad), min(price_edges[-1], high + pad))
    bar = fig.colorbar(mesh, ax=ax if ax_liq is None else [ax, ax_liq], pad=0.01, fraction=0.04)
    bar.set_label(style.HEATMAP_SCALES[scale], fontsize=9)
    if scale == "log":
        from matplotlib.ticker import MultipleLocator

        bar.ax.yaxis.set_major_locator(MultipleLocator(1.0 if vmax - vmin > 2 else 0.5))
        bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: style.format_usd(10**v)))

    if realized is not None:
        _draw_realized(ax, ax_liq, h, realized, pal)
    ax.legend(loc="upper left", fontsize=8, framealpha=0.85)
    return fig


def _draw_realized(ax, ax_liq, h: Heatmap, realized: Liquidations, pal: style.Palette) -> None:
    """Realized liquidations: bars per bar-interval under the map, and the largest as marks on the price path."""
    from matplotlib.ticker import FuncFormatter

    starts = realized.time.astype("datetime64[ms]")
    width = np.timedelta64(int(realized.interval_ms), "ms")
    ax_liq.bar(starts, realized.short_usd, width=width, align="edge", color=pal.short, label="shorts liquidated")
    ax_liq.bar(starts, -realized.long_usd, width=width, align="edge", color=pal.long, label="longs liquidated")
    ax_liq.axhline(0, color="#333333", linewidth=0.6)
    ax_liq.yaxis.set_major_formatter(FuncFormatter(lambda v, _: style.format_usd(abs(v))))
    ax_liq.set_ylabel("realized", fontsize=9)
    ax_liq.set_title(f"realized liquidations ({realized.source or 'source unknown'}): up = shorts liquidated, "
                     "down = longs liquidated", fontsize=8, loc="left")
    ax_liq.grid(axis="y", color="#e6e6e6", linewidth=0.6)

    marks = style.large_realized(h, realized)
    for side, color, marker in (("long", pal.long, "v"), ("short", pal.short, "^")):
        at = marks[side]
        if at["time"].size:
            ax.scatter(at["time"].astype("datetime64[ms]"), at["price"], s=at["size"], marker=marker, color=color,
                       edgecolors="white", linewidths=0.6, zorder=3, label=f"{side}s liquidated (largest hours)")
