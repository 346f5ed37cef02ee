"""Interactive charts (plotly): the LiqMap and the heatmap as figures, HTML files, or JSON for the web page.

The web dashboard draws exactly these figures (the server sends their JSON),
so a chart looks the same in a saved HTML file and on the page.  HTML files
embed plotly.js: they open with no internet.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..analysis.results import Heatmap, LiqMap
from ..frames import Liquidations
from . import style
from .venues import liq_ratio_segments, venue_hover

_FONT = dict(family="DejaVu Sans, Segoe UI, Helvetica, Arial, sans-serif", size=12)
_MAP_BAR_SHARE = 0.92  # bars fill this share of their bin, leaving a hairline between bins
#: The size a figure is laid out for (the page's chart and an HTML file at a laptop's width): label
#: rows are computed for it, so they stay apart down to about this size.
_NOMINAL_PX = (1300, 640)
_LABEL_FONT = 11
_LABEL_CHAR_PX = 7.2  # DejaVu Sans at 11 px: an upper bound of the width of digits, "$" and capitals


def liqmap_figure(m: LiqMap, *, layout: str = "map", palette: str = "default"):
    """The LiqMap: bars by cluster, price line, Z guides, labels, LiqRatio panel, rich hover.

    ``layout="map"`` (default): price across, bars rising from the price axis
    (solid long part, light short part), the cumulative long and short
    liquidation curves on a right axis in USD, notional per bin on a second
    left scale.  ``layout="profile"``: price up the side, as in the heatmap.
    """
    from plotly.subplots import make_subplots

    style.check_layout(layout)
    if m.price_low.size == 0:
        raise ValueError(f"the {m.symbol} map as of {m.as_of} has no price bins to draw")
    pal = style.palette(palette)
    fig = make_subplots(rows=1, cols=2, specs=[[{"secondary_y": layout == "map"}, {}]])
    if layout == "map":
        _price_across(fig, m, pal)
    else:
        _profile(fig, m, pal)
    ratio = fig.get_subplot(1, 2)
    ratio.xaxis.domain, ratio.yaxis.domain = (0.82, 0.95), (0.66, 0.98)
    _liq_ratio_bars(fig, m, pal, ratio.xaxis.plotly_name.replace("axis", ""), ratio.yaxis.plotly_name.replace("axis", ""))
    fig.update_layout(
        title=dict(text=f"{style.map_title(m)}<br><sup>{style.map_subtitle(m)}</sup>", x=0.01, font=dict(size=15)),
        barmode="overlay", bargap=0, font=_FONT, template="plotly_white", hovermode="closest",
        legend=dict(title=dict(text=style.CLUSTER_LEGEND.replace("; ", ";<br>").replace(" · ", "<br>"),
                               font=dict(size=10)),
                    x=0.79, y=0.5, xanchor="left", yanchor="top", font=dict(size=10), tracegroupgap=0),
        margin=dict(l=70, r=20, t=80, b=60), meta={"layout": layout},
    )
    return fig


def _bin_hover(m: LiqMap, ids: np.ndarray) -> tuple[np.ndarray, str]:
    """Per-bin hover data and its template: range, notional, Z, long/short, the cluster's story."""
    decimals = style.map_decimals(m)
    cluster_text = np.array(["noise (Z < 1), in no cluster"] + [style.cluster_hover(c, decimals) for c in m.clusters],
                            dtype=object)
    # cluster id -> its row in cluster_text (row 0: noise)
    text_row = np.zeros(max([c.id for c in m.clusters], default=0) + 1, dtype=np.int64)
    text_row[[c.id for c in m.clusters]] = np.arange(1, len(m.clusters) + 1)
    custom = np.empty((ids.size, 7), dtype=object)
    custom[:, 0], custom[:, 1], custom[:, 2] = m.price_low, m.price_high, m.total
    custom[:, 3], custom[:, 4], custom[:, 5] = m.z, m.long, m.short
    custom[:, 6] = cluster_text[text_row[ids]] + venue_hover(m)  # a Multi map: each venue's part of the bin
    price_fmt = f",.{decimals}f"
    hover = (
        f"<b>%{{customdata[0]:{price_fmt}}} – %{{customdata[1]:{price_fmt}}}</b><br>"
        "notional $%{customdata[2]:,.0f} · Z %{customdata[3]:.2f}<br>"
        "long $%{customdata[4]:,.0f} · short $%{customdata[5]:,.0f}<br>"
        "<span style='font-size:11px'>%{customdata[6]}</span><extra></extra>"
    )
    return custom, hover


def _bin_groups(m: LiqMap, pal: style.Palette, ids: np.ndarray):
    """(rows, trace name, colour, shown in legend) per cluster present, noise first."""
    in_legend = {0} | {c.id for c in style.labelled_clusters(m)}
    groups = [(0, "noise (Z < 1)", pal.noise)] + [(c.id, f"cluster #{c.id}", pal.cluster_color(c.id)) for c in m.clusters]
    for cid, name, color in groups:
        rows = np.flatnonzero(ids == cid)
        if rows.size:
            yield rows, name, color, cid in in_legend


def _price_across(fig, m: LiqMap, pal: style.Palette) -> None:
    """Price on x; each bin a column from an empty bin's Z, long part solid, short part light; cumulative curves."""
    import plotly.graph_objects as go

    decimals = style.map_decimals(m)
    ids = style.bin_cluster_ids(m)
    custom, hover = _bin_hover(m, ids)
    z0 = style.zero_notional_z(m)
    total = m.total
    share_long = np.divide(m.long, total, out=np.zeros_like(total), where=total > 0)
    split = z0 + (m.z - z0) * share_long
    centres = (m.price_low + m.price_high) / 2
    widths = (m.price_high - m.price_low) * _MAP_BAR_SHARE
    for rows, name, color, shown in _bin_groups(m, pal, ids):
        for part, base, top, opacity in (("long", z0, split, 1.0), ("short", split, m.z, style.SHORT_PART_ALPHA)):
            base_rows = np.broadcast_to(base, ids.shape)[rows]
            fig.add_trace(go.Bar(
                x=centres[rows], y=(top - np.broadcast_to(base, ids.shape))[rows], base=base_rows, name=name,
                marker_color=color, opacity=opacity, width=widths[rows], customdata=custom[rows],
                hovertemplate=hover, marker_line_width=0, legendgroup=name, meta=f"liqmap-{part}",
                showlegend=shown and part == "long",
            ), row=1, col=1, secondary_y=False)

    long_x, long_y, short_x, short_y = style.cumulative_liquidations(m)
    for x, y, color, name in ((long_x, long_y, pal.long, "cumulative long liquidations (price falling)"),
                              (short_x, short_y, pal.short, "cumulative short liquidations (price rising)")):
        fig.add_trace(go.Scatter(
            x=x, y=y, mode="lines", line=dict(color=color, width=2), name=name, meta="cumulative", showlegend=False,
            hovertemplate=f"to %{{x:,.{decimals}f}}: %{{y:$,.0f}}<extra>{name}</extra>",
        ), row=1, col=1, secondary_y=True)

    z_max = max(float(np.max(m.z)), max(style.Z_GUIDES))
    width_px, height_px = _NOMINAL_PX
    x_lo, x_hi = float(m.price_low[0]), float(m.price_high[-1])
    main_domain = (0.07, 0.70)
    per_px = (x_hi - x_lo) / (width_px * (main_domain[1] - main_domain[0]))
    # labels in price order above the bars, joined by leader lines that never cross (see style.label_slots)
    clusters = sorted(style.labelled_clusters(m), key=lambda c: c.peak)
    texts = [style.cluster_label(c, "<br>") for c in clusters]
    chars = max((len(line) for t in texts for line in t.split("<br>")), default=0)
    label_w = (chars * _LABEL_CHAR_PX + 12) * per_px
    centres_x, rows = style.label_slots(np.array([c.peak for c in clusters]), label_w, x_lo, x_hi, 8 * per_px)
    n_rows = int(rows.max()) + 1 if rows.size else 0
    plot_h = height_px - 140
    row_px = _LABEL_FONT * 3.3
    fan_px = 30.0
    top = z0 + (z_max - z0) / max(1 - (n_rows * row_px + 10 + (fan_px if n_rows else 0)) / plot_h, 0.4) * 1.01
    per_y = (top - z0) / plot_h
    row_y = [top - (6 + (n_rows - 1 - row + 0.5) * row_px) * per_y for row in range(n_rows)]
    knee, base = z_max + 3 * per_y, (row_y[0] - (row_px / 2 - 2) * per_y) if n_rows else top
    line_x: list = []
    line_y: list = []
    for c, text, x, row in zip(clusters, texts, centres_x, rows):
        color = pal.cluster_color(c.id)
        peak_z = float(m.z[int(np.clip(np.searchsorted(m.price_low, c.peak, side="right") - 1, 0, m.z.size - 1))])
        line_x += [c.peak, c.peak, float(x), float(x), None]
        line_y += [peak_z, knee, base, row_y[row], None]
        fig.add_annotation(x=float(x), y=row_y[row], xref="x", yref="y", text=text, showarrow=False,
                           font=dict(size=_LABEL_FONT, color="#222222"), bgcolor="white",
                           bordercolor=color, borderwidth=1)
    if clusters:
        fig.add_trace(go.Scatter(x=line_x, y=line_y, mode="lines", line=dict(color=style.LEADER_COLOR, width=1),
                                 hoverinfo="skip", showlegend=False, meta="leaders"),
                      row=1, col=1, secondary_y=False)
    for z, name in zip(style.Z_GUIDES, style.Z_GUIDE_NAMES):
        fig.add_hline(y=z, line=dict(color="#777777", width=1, dash="dash"), row=1, col=1, secondary_y=False,
                      annotation=dict(text=f"{name} {z:g}", font=dict(size=10, color="#555555")),
                      annotation_position="bottom left")
    fig.add_vline(x=m.price, line=dict(color=pal.price, width=1.6), row=1, col=1)
    # above the plot, clear of the label rows
    fig.add_annotation(x=m.price, y=1.0, xref="x", yref="paper", yanchor="bottom", showarrow=False,
                       text=f"<b>price {style.format_price(m.price, decimals + 1)}</b>", bgcolor="white",
                       bordercolor=pal.price, font=dict(size=11))
    fig.update_xaxes(title_text=f"price ({m.symbol})", tickformat=f",.{decimals}f", range=[x_lo, x_hi],
                     domain=list(main_domain), row=1, col=1)
    fig.update_yaxes(title_text="Z-score of bin notional (hover for notional)", range=[z0, top], zeroline=False,
                     row=1, col=1, secondary_y=False)
    peak = max(float(long_y[-1]), float(short_y[-1]), 1.0)
    fig.update_yaxes(title_text="cumulative from price: red longs (falling), green shorts (rising)",
                     title_font=dict(size=11), tickformat="$~s", range=[0, peak * 1.6],
                     showgrid=False, tickmode="auto", row=1, col=1, secondary_y=True)
    if total.size >= 2 and np.ptp(total) > 0:
        z_per_usd = float((np.max(m.z) - z0) / np.max(total))
        # a scale in notional per bin beside the Z scale: same range, read in dollars
        fig.update_layout(yaxis4=dict(overlaying="y", anchor="free", side="left", position=0.0,
                                      range=[0, (top - z0) / z_per_usd], tickformat="$~s", showgrid=False, tickmode="auto",
                                      title=dict(text="notional per bin", font=dict(size=11))))
        fig.add_trace(go.Scatter(x=[x_lo], y=[0], yaxis="y4", mode="markers", marker=dict(opacity=0),
                                 hoverinfo="skip", showlegend=False, meta="notional-scale"))


def _profile(fig, m: LiqMap, pal: style.Palette) -> None:
    """Price up the side, in line with the heatmap: one horizontal bar per bin from an empty bin's Z."""
    import plotly.graph_objects as go

    decimals = style.map_decimals(m)
    ids = style.bin_cluster_ids(m)
    custom, hover = _bin_hover(m, ids)
    z0 = style.zero_notional_z(m)
    centres = (m.price_low + m.price_high) / 2
    for rows, name, color, shown in _bin_groups(m, pal, ids):
        fig.add_trace(go.Bar(
            orientation="h", y=centres[rows], x=(m.z - z0)[rows], base=z0, name=name, marker_color=color,
            width=(m.price_high - m.price_low)[rows] * _MAP_BAR_SHARE, customdata=custom[rows], hovertemplate=hover,
            marker_line_width=0, legendgroup=name, meta="liqmap-bins", showlegend=shown,
        ), row=1, col=1)

    z_max = max(float(np.max(m.z)), max(style.Z_GUIDES))
    for z, name in zip(style.Z_GUIDES, style.Z_GUIDE_NAMES):
        fig.add_vline(x=z, line=dict(color="#666666", width=1, dash="dash"), row=1, col=1,
                      annotation=dict(text=f"{name} {z:g}", textangle=-90, font=dict(size=10, color="#555555"),
                                      yanchor="top", xanchor="right"), annotation_position="top left")
    fig.add_hline(y=m.price, line=dict(color=pal.price, width=1.6), row=1, col=1)
    x_max = z_max + (z_max - z0) * 0.3
    # labels right of the bars in price order, the price's among them; each leader runs across from its
    # bar's end, then to its label, so none cross (as in the PNG)
    items: list[tuple[float, float | None, str, str]] = [
        (c.peak, c.z, style.cluster_label(c), pal.cluster_color(c.id)) for c in style.labelled_clusters(m)]
    items.append((m.price, None, f"<b>price {style.format_price(m.price, decimals + 1)}</b>", pal.price))
    items.sort(key=lambda item: item[0])
    y_lo, y_hi = float(m.price_low[0]), float(m.price_high[-1])
    gap = (y_hi - y_lo) * 0.04
    label_y = style.spread_labels(np.array([item[0] for item in items]), gap, y_lo + gap / 2, y_hi - gap / 2)
    knee = float(np.max(m.z)) + (x_max - z0) * 0.01
    line_x: list = []
    line_y: list = []
    for (price, bar_end, text, color), y in zip(items, label_y):
        if bar_end is not None:
            line_x += [bar_end, knee, x_max, None]
            line_y += [price, price, float(y), None]
        fig.add_annotation(x=x_max, y=float(y), xref="x", yref="y", text=text, showarrow=False, xanchor="right",
                           font=dict(size=_LABEL_FONT, color="#222222"), bgcolor="white", bordercolor=color,
                           borderwidth=1)
    fig.add_trace(go.Scatter(x=line_x, y=line_y, mode="lines", line=dict(color=style.LEADER_COLOR, width=1),
                             hoverinfo="skip", showlegend=False, meta="leaders"), row=1, col=1)
    fig.update_xaxes(title_text="Z-score of bin notional (bars start at an empty bin; hover for notional)",
                     range=[z0, x_max], zeroline=False, domain=[0.0, 0.74], row=1, col=1)
    fig.update_yaxes(title_text=f"price ({m.symbol})", tickformat=f",.{decimals}f",
                     range=[m.price_low[0], m.price_high[-1]], row=1, col=1)


def _liq_ratio_bars(fig, m: LiqMap, pal: style.Palette, xref: str, yref: str) -> None:
    """One stacked bar per band: red share = long notional below price, green = short notional above."""
    import plotly.graph_objects as go

    bands = m.liq_ratio
    labels = [f"±{b.pct:g}%" for b in bands]
    share = np.array([b.long_share if b.long_share is not None else np.nan for b in bands], dtype=float)
    ratios = [style.format_ratio(b) for b in bands]
    custom = [[style.format_usd(b.long_below), style.format_usd(b.short_above), r] for b, r in zip(bands, ratios)]
    roomy = np.nan_to_num(share, nan=0.5) >= style.MIN_LABELLED_SHARE, np.nan_to_num(1 - share, nan=0.5) >= style.MIN_LABELLED_SHARE
    long_text = [c[0] if ok else "" for c, ok in zip(custom, roomy[0])]
    short_text = [c[1] if ok else "" for c, ok in zip(custom, roomy[1])]
    hover = "<b>%{y}</b><br>long below %{customdata[0]} · short above %{customdata[1]}<br>ratio %{customdata[2]}<extra></extra>"
    fig.add_trace(go.Bar(orientation="h", y=labels, x=share, marker_color=pal.long, name="long below price",
                         customdata=custom, hovertemplate=hover, text=long_text, textposition="inside", textangle=0,
                         insidetextanchor="start", showlegend=False, meta="liqratio"), row=1, col=2)
    fig.add_trace(go.Bar(orientation="h", y=labels, x=1 - share, base=share, marker_color=pal.short,
                         name="short above price", customdata=custom, hovertemplate=hover,
                         text=short_text, textposition="inside", textangle=0, insidetextanchor="end", showlegend=False,
                         meta="liqratio"), row=1, col=2)
    for venue, side, base, width in liq_ratio_segments(m):  # a Multi map: each venue's part of the bars
        fig.add_trace(go.Bar(orientation="h", y=labels, x=width, base=base, name=f"{venue} {side}",
                             marker=dict(color="rgba(0,0,0,0)", line=dict(color="white", width=1.5)),
                             hovertemplate=f"<b>%{{y}}</b><br>{venue}: {side} %{{x:.0%}} of the band<extra></extra>",
                             showlegend=False, meta="liqratio-venues"), row=1, col=2)
    fig.update_xaxes(range=[0, 1], showticklabels=False, showgrid=False, title_text="red = longs below · green = shorts above",
                     title_font=dict(size=10), row=1, col=2)
    fig.update_yaxes(autorange="reversed", row=1, col=2)
    fig.add_annotation(x=0.79, y=1.0, xref="paper", yref="paper", text="<b>LiqRatio</b>: long below vs short above",
                       showarrow=False, xanchor="left", yanchor="bottom", font=dict(size=12))
    for label, ratio in zip(labels, ratios):
        fig.add_annotation(x=1.0, y=label, xref=xref, yref=yref, text=ratio, showarrow=False, xanchor="left", xshift=4,
                           font=dict(size=11))


def heatmap_figure(h: Heatmap, *, liquidations: Liquidations | None = None, scale: str = "log",
                   palette: str = "default"):
    """Time × price heatmap with the price path and, when given, realized liquidations below it."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    pal = style.palette(palette)
    cells = style.heatmap_cells(h, scale)
    realized = style.realized_in_span(h, liquidations)
    rows = 2 if realized is not None else 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.04,
                        row_heights=(0.78, 0.22) if rows == 2 else None)
    vmin, vmax = style.heatmap_range(cells, scale)
    decimals = style.price_decimals(float(np.median(h.price_high - h.price_low)))
    colorbar = dict(title=dict(text=style.HEATMAP_SCALES[scale], side="right"), thickness=14)
    if scale == "log":
        ticks = np.arange(np.ceil(vmin), np.floor(vmax) + 1)
        colorbar.update(tickvals=ticks.tolist(), ticktext=[style.format_usd(10**t) for t in ticks])
    value = "log₁₀ notional %{z:.2f}" if scale == "log" else "Z %{z:.2f}"
    times = style.heatmap_time_edges(h).astype("datetime64[ms]")
    fig.add_trace(go.Heatmap(
        x=times, y=np.append(h.price_low, h.price_high[-1]), z=cells.T.astype(np.float32), zmin=vmin, zmax=vmax,
        colorscale=style.HEATMAP_COLORSCALE, colorbar=colorbar, name="outstanding levels", meta="heatmap",
        hovertemplate=f"%{{x|%Y-%m-%d %H:%M}} UTC<br>price %{{y:,.{decimals}f}}<br>{value}<extra></extra>",
    ), row=1, col=1)
    fig.add_trace(go.Scatter(x=h.time.astype("datetime64[ms]"), y=h.price, mode="lines", name="price (close)",
                             line=dict(color=style.PRICE_PATH, width=1.5),
                             hovertemplate=f"%{{x|%Y-%m-%d %H:%M}}<br>close %{{y:,.{decimals + 1}f}}<extra></extra>"),
                  row=1, col=1)
    if realized is not None:
        _realized_traces(fig, h, realized, pal)
    # empty cells are transparent: a dark backdrop makes them read as "nothing outstanding"
    fig.add_shape(type="rect", xref="x domain", yref="y domain", x0=0, x1=1, y0=0, y1=1, fillcolor=style.HEATMAP_EMPTY,
                  line_width=0, layer="below")
    fig.update_xaxes(showgrid=False, row=1, col=1)
    fig.update_xaxes(range=[times[0], times[-1]])  # the heatmap's span, not padded around markers and bars
    fig.update_yaxes(title_text=f"price ({h.symbol})", tickformat=f",.{decimals}f", showgrid=False,
                     range=list(style.heatmap_price_view(h)), row=1, col=1)
    fig.update_layout(
        title=dict(text=f"{style.heatmap_title(h)}<br><sup>{style.heatmap_subtitle(h)}</sup>", x=0.01, font=dict(size=15)),
        font=_FONT, template="plotly_white", barmode="relative",
        legend=dict(orientation="h", x=0, y=-0.08 if rows == 1 else -0.12, font=dict(size=11)),
        margin=dict(l=70, r=20, t=80, b=60),
    )
    return fig


def _realized_traces(fig, h: Heatmap, realized: Liquidations, pal: style.Palette) -> None:
    import plotly.graph_objects as go

    middle = (realized.time + realized.interval_ms // 2).astype("datetime64[ms]")
    source = realized.source or "source unknown"
    fig.add_trace(go.Bar(x=middle, y=realized.short_usd, marker_color=pal.short, name=f"shorts liquidated ({source})",
                         hovertemplate="%{x|%Y-%m-%d %H:%M}<br>shorts liquidated $%{y:,.0f}<extra></extra>"),
                  row=2, col=1)
    fig.add_trace(go.Bar(x=middle, y=-realized.long_usd, marker_color=pal.long, name=f"longs liquidated ({source})",
                         customdata=realized.long_usd,
                         hovertemplate="%{x|%Y-%m-%d %H:%M}<br>longs liquidated $%{customdata:,.0f}<extra></extra>"),
                  row=2, col=1)
    fig.update_yaxes(title_text="realized", tickformat="$~s", row=2, col=1)
    marks = style.large_realized(h, realized)
    for side, color, symbol in (("long", pal.long, "triangle-down"), ("short", pal.short, "triangle-up")):
        at = marks[side]
        if at["time"].size:
            fig.add_trace(go.Scatter(
                x=at["time"].astype("datetime64[ms]"), y=at["price"], mode="markers", name=f"{side}s liquidated (largest hours)",
                # opacity 1: plotly draws markers of varying size (bubbles) at 0.7, pale on the heatmap;
                # at least 11 px, so the white outline leaves the smallest mostly colour
                marker=dict(symbol=symbol, size=6 + np.sqrt(at["size"]) * 1.2, color=color, opacity=1,
                            line=dict(color="white", width=1)),
                customdata=at["usd"], hovertemplate=f"%{{x|%Y-%m-%d %H:%M}}<br>{side}s liquidated $%{{customdata:,.0f}}<extra></extra>",
            ), row=1, col=1)


def liqmap_html(m: LiqMap, path=None, *, layout: str = "map", palette: str = "default") -> str:
    """The interactive LiqMap as a self-contained HTML page (plotly.js embedded); written to ``path`` if given."""
    return _html(liqmap_figure(m, layout=layout, palette=palette), path, f"{m.symbol} liquidation map")


def heatmap_html(h: Heatmap, path=None, *, liquidations: Liquidations | None = None, scale: str = "log",
                 palette: str = "default") -> str:
    """The interactive heatmap as a self-contained HTML page; written to ``path`` if given."""
    return _html(heatmap_figure(h, liquidations=liquidations, scale=scale, palette=palette), path,
                 f"{h.symbol} liquidation heatmap")


def _html(fig, path, title: str) -> str:
    text = fig.to_html(full_html=True, include_plotlyjs=True, config={"displaylogo": False, "responsive": True},
                       default_height="92vh")
    text = text.replace("<head>", f"<head><title>{title}</title>", 1)
    if path is not None:
        path = Path(path)
        if path.suffix.lower() not in (".html", ".htm"):
            raise ValueError(f"cannot write {path}: an interactive chart is saved as .html")
        if not path.parent.exists():
            raise FileNotFoundError(f"cannot write {path}: folder {path.parent} does not exist")
        path.write_text(text, encoding="utf-8")
    return text
