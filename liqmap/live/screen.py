"""The live terminal screen (rich): LiqMap bars around price, clusters, LiqRatio, magnets, realized
liquidations and one health line per stream, redrawn on every map update."""

from __future__ import annotations

import numpy as np

from ..analysis.results import format_window
from ..frames import format_ms
from ..render import style
from ..render.table import map_tables
from .loop import LiveLoop

#: Rows of the bar chart, and the share of price it spans each way.
BAR_ROWS = 24
BAR_SPAN_PCT = 3.0
BAR_WIDTH = 36


def render(loop: LiveLoop):
    """Everything the screen shows, as one rich renderable."""
    from rich.console import Group
    from rich.text import Text

    parts: list = [Text(header(loop), style="bold")]
    if loop.latest is not None:
        m = loop.latest.maps[0]
        parts.append(Text(f"map as of {format_ms(m.as_of_ms)} (newest data in it), view {m.view}, "
                          f"window {format_window(m.window_ms)}, magnets: {magnets(m)}"))
        parts.append(bars(m))
        parts.extend(map_tables(m, top=8)[1:])  # clusters, LiqRatio (and a Multi map's venues)
    parts.append(liquidations_table(loop))
    parts.append(Text("health", style="bold"))
    parts.extend(Text(("  " + line), style="red" if " — " in line else "") for line in loop.health.lines())
    return Group(*parts)


def header(loop: LiveLoop) -> str:
    market = loop.market
    mark = f", mark {market.mark:,.2f}" if market.mark is not None else ""
    skew = loop.health.skew_ms
    skew_text = f", clock skew {skew:+d} ms" if skew is not None else ""
    return (f"{market.history.symbol} live — price {market.price:,.2f}{mark} — data time "
            f"{format_ms(market.data_time)}{skew_text} — {loop.updates} map updates")


def magnets(m) -> str:
    """Nearest cluster above and below price."""
    out = []
    for label, cid in (("above", m.nearest_above), ("below", m.nearest_below)):
        if cid is None:
            out.append(f"none {label}")
        else:
            c = m.cluster(cid)
            out.append(f"#{c.id} {label} at {style.format_price(c.peak, style.map_decimals(m))} "
                       f"({c.distance_pct:+.2f}%, {c.distance_atr:.1f} ATR)")
    return "; ".join(out)


def bars(m):
    """Long (red, below price) and short (green, above) notional in rows of equal price span around price."""
    from rich.table import Table

    lo, hi = m.price * (1 - BAR_SPAN_PCT / 100), m.price * (1 + BAR_SPAN_PCT / 100)
    edges = np.linspace(lo, hi, BAR_ROWS + 1)
    centre = (m.price_low + m.price_high) / 2
    row = np.searchsorted(edges, centre, side="right") - 1
    inside = (row >= 0) & (row < BAR_ROWS)
    long = np.bincount(row[inside], m.long[inside], BAR_ROWS)
    short = np.bincount(row[inside], m.short[inside], BAR_ROWS)
    top = max(float((long + short).max()), 1e-12)
    table = Table(title=f"LiqMap ±{BAR_SPAN_PCT:g}% around {m.price:,.2f}", title_justify="left", box=None,
                  padding=(0, 1))
    for name in ("price", "notional", "bars"):
        table.add_column(name, justify="right" if name != "bars" else "left", no_wrap=True)
    decimals = style.map_decimals(m)
    for i in range(BAR_ROWS - 1, -1, -1):
        red = int(round(long[i] / top * BAR_WIDTH))
        green = int(round(short[i] / top * BAR_WIDTH))
        here = " ◀ price" if edges[i] <= m.price < edges[i + 1] else ""
        table.add_row(style.format_price((edges[i] + edges[i + 1]) / 2, decimals),
                      style.format_usd(long[i] + short[i]),
                      f"[red]{'█' * red}[/][green]{'█' * green}[/]{here}")
    return table


def liquidations_table(loop: LiveLoop):
    """The recent realized liquidations (of every venue of a Multi map), and which venues publish none."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    events, absent = loop.realized()
    notes = [Text(f"realized liquidations: none to show: {reason}", style="yellow") for reason in absent]
    if absent and not events:
        return Group(*notes)
    title = ("last realized liquidations — a lower bound: Binance pushes at most one liquidation per symbol "
             "per second")
    if not events:
        return Text(f"{title}: none received yet", style="dim")
    multi = len({event.venue for event in events}) > 1 or hasattr(loop, "loops")
    table = Table(title=title, title_justify="left", min_width=len(title))
    for name in ("time", "position", "price", "size", "USD") + (("venue",) if multi else ()):
        table.add_column(name, justify="left" if name in ("time", "position", "venue") else "right")
    for event in reversed(events):
        colour = "red" if event.side == "long" else "green"
        table.add_row(format_ms(event.time), f"[{colour}]{event.side}[/]", f"{event.price:,.2f}",
                      f"{event.size:g}", style.format_usd(event.usd), *((event.venue,) if multi else ()))
    return Group(table, *notes) if notes else table

