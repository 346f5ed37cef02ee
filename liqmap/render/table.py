"""Terminal tables (rich): the map summary a trader reads in a shell."""

from __future__ import annotations

import math

from ..analysis.results import LiqMap
from . import style

#: How many clusters the summary lists (the map ranks them).
TOP_CLUSTERS = 10
#: Width used when the output is not a terminal (a file or a pipe has no width of its own).
_PIPE_WIDTH = 140

_BAND_STYLE = {"noise": "dim", "mild": "", "notable": "bold", "major": "bold magenta"}


def print_map_table(m: LiqMap, console=None, *, top: int = TOP_CLUSTERS) -> None:
    """Print the map's header, its top clusters and its LiqRatio bands as rich tables."""
    console = console or terminal_console()
    for table in map_tables(m, top=top):
        console.print(table)


def terminal_console():
    """A rich console for the CLI: the terminal's width, or 140 columns when piped or redirected
    (a file has no width of its own, and 80 columns would wrap every table).

    A reader that stops (``| head``) ends the command as any other output does (``liqmap.cli``: quietly,
    exit 141), not with rich's own exit status 1.
    """
    from rich.console import Console

    class PipeConsole(Console):
        def on_broken_pipe(self) -> None:
            raise BrokenPipeError

    console = PipeConsole()
    return console if console.is_terminal else PipeConsole(width=_PIPE_WIDTH)


def map_tables(m: LiqMap, *, top: int = TOP_CLUSTERS) -> list:
    """The rich ``Table`` objects :func:`print_map_table` prints (for embedding elsewhere); a Multi map
    adds its venues."""
    tables = [_header_table(m, top), _clusters_table(m, top), _liq_ratio_table(m)]
    return tables + [_venues_table(m)] if m.model.get("name") == "multi" else tables


def _header_table(m: LiqMap, top: int):
    from rich.table import Table

    decimals = style.map_decimals(m)
    title = style.map_title(m)
    table = Table(title=title, show_header=False, title_justify="left", box=None, padding=(0, 2), min_width=len(title))
    table.add_column(style="bold")
    table.add_column()
    age = style.format_age(m.age_s)
    table.add_row("price", style.format_price(m.price, decimals + 1))
    table.add_row("as of", m.as_of.replace("T", " ").replace("Z", " UTC"))
    table.add_row("window", style.window_text(m.window_ms))
    table.add_row("view", m.view)
    table.add_row("model", str(m.model.get("name", "?")))
    table.add_row("ATR", style.format_atr(m, decimals) if math.isfinite(m.atr)
                  else f"— (too little history for {m.model['reading']['atr']})")
    table.add_row("age", f"[bold red]{age} — STALE[/]" if m.stale else age)
    for label, cid in (("nearest above", m.nearest_above), ("nearest below", m.nearest_below)):
        if cid is not None:
            c = m.cluster(cid)
            beyond = f", beyond the top {top} listed" if c.id > top else ""
            table.add_row(label, f"#{c.id} at {style.format_price(c.peak, decimals)} ({c.distance_pct:+.2f}%{beyond})")
    return table


def _clusters_table(m: LiqMap, top: int):
    from rich.table import Table

    decimals = style.map_decimals(m)
    shown = m.clusters[:top]
    title = f"top {len(shown)} of {len(m.clusters)} clusters" if m.clusters else "no clusters stand out (all bins Z < 1)"
    table = Table(title=title, title_justify="left")
    for name in ("#", "price range", "peak", "Z", "band", "notional", "long", "short", "dist %", "dist ATR", "reach"):
        table.add_column(name, justify="left" if name in ("price range", "band", "reach") else "right", no_wrap=True)
    for c in shown:
        table.add_row(
            str(c.id),
            f"{style.format_price(c.price_low, decimals)} – {style.format_price(c.price_high, decimals)}",
            style.format_price(c.peak, decimals),
            f"{c.z:.2f}",
            f"[{_BAND_STYLE[c.band]}]{c.band}[/]" if _BAND_STYLE[c.band] else c.band,
            style.format_usd(c.notional),
            style.format_usd(c.long),
            style.format_usd(c.short),
            f"{c.distance_pct:+.2f}",
            style.format_distance_atr(c, 2),
            c.reach,
        )
    return table


def _liq_ratio_table(m: LiqMap):
    from rich.table import Table

    table = Table(title="LiqRatio: long liquidations below price vs short above", title_justify="left")
    for name in ("band", "long below", "short above", "ratio", "long share"):
        table.add_column(name, justify="right")
    for band in m.liq_ratio:
        table.add_row(
            f"±{band.pct:g}%",
            f"[red]{style.format_usd(band.long_below)}[/]",
            f"[green]{style.format_usd(band.short_above)}[/]",
            style.format_ratio(band),
            "—" if band.long_share is None else f"{band.long_share:.0%}",
        )
    return table


def _venues_table(m: LiqMap):
    """A Multi map's venues: status, price and basis, open interest, coverage and their share of the map."""
    from rich.table import Table

    table = Table(title=f"venues (grid: {m.model['reference']} prices, each venue placed by its basis)",
                  title_justify="left")
    for name in ("venue", "status", "price", "basis", "OI (USD)", "OI placed", "long", "short", "note"):
        table.add_column(name, justify="left" if name in ("venue", "status", "note") else "right")
    parts = m.extras.get("venues", {})
    for v in m.model["venues"]:
        bins = parts.get(v["venue"], {}).get("bins")
        long = style.format_usd(sum(bins["long"])) if bins else "—"
        short = style.format_usd(sum(bins["short"])) if bins else "—"
        table.add_row(
            v["venue"], v["status"],
            "—" if v["price"] is None else style.format_price(v["price"], style.map_decimals(m) + 1),
            "—" if v["basis"] is None else f"{v['basis']:.5f}",
            "—" if v["open_interest_usd"] is None else style.format_usd(v["open_interest_usd"]),
            "—" if v["coverage"] is None else f"{v['coverage']['placed']:.0%}",
            long, short, v["reason"] or "",
        )
    return table
