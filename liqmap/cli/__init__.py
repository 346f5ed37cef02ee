"""The ``liqmap`` command: a thin layer over the public Python API.

Each sub-command lives in its own module here with ``register(subparsers)``;
modules import heavy libraries only inside their ``run`` functions so that
``liqmap --help`` and light commands start fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

#: Sub-command modules, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "map",
    "liqprice",
    "venues",
    "data",
    "heatmap",
    "serve",
    "flow",
    "setups",
    "watch",
    "validate",
    "live",
    "measured",
    "backfill",
)


class UserError(Exception):
    """A problem the user can fix (bad input, missing data); printed without a traceback."""


def add_venue_argument(parser, *, multi: bool = False) -> None:
    """``--venue``: whose data ``--source`` holds (every command that reads market data); ``multi``:
    the command also takes ``all`` (the Multi map)."""
    parser.add_argument("--venue", default="binance",
                        help="the venue the data comes from: binance (default) or another one `liqmap venues` "
                             "lists; --source folders hold that venue's own files"
                             + ("; all: the Multi map, one book per venue summed on one price grid (the "
                                "sample holds binance and hyperliquid)" if multi else ""))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="liqmap",
        description="Liquidation maps for crypto perpetual futures: where leveraged positions will be force-closed.",
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"liqmap {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    from ..frames import DataError

    def show_warning(message, category, filename, lineno, file=None, line=None):
        print(f"liqmap {args.command}: warning: {message}", file=sys.stderr)

    warnings.showwarning = show_warning  # one line each, without the source location
    try:
        return int(args.run(args) or 0)
    except (UserError, DataError, ValueError, FileNotFoundError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"liqmap {args.command}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _reader_went_away()


def _reader_went_away() -> int:
    """Output piped into a reader that stopped (``| head``): end quietly, as Unix tools do (128 + SIGPIPE).

    stdout is pointed at /dev/null so the interpreter's final flush does not fail again.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 141


if __name__ == "__main__":
    sys.exit(main())
