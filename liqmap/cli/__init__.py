"""The ``liqmap`` command: a thin layer over the public Python API.

Each sub-command lives in its own module here with ``register(subparsers)``;
modules import heavy libraries only inside their ``run`` functions so that
``liqmap --help`` and light commands start fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
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
    args = parser.parse_args(_dashed_values(sys.argv[1:] if argv is None else argv))
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    from ..frames import DataError
    from ..net import TransientError, Unreachable

    def show_warning(message, category, filename, lineno, file=None, line=None):
        print(f"liqmap {args.command}: warning: {message}", file=sys.stderr)

    warnings.showwarning = show_warning  # one line each, without the source location
    notices = _StderrLines(args.command)
    logging.getLogger("liqmap").addHandler(notices)
    try:
        return int(args.run(args) or 0)
    except (UserError, DataError, ValueError, FileNotFoundError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"liqmap {args.command}: error: {message}", file=sys.stderr)
        return 1
    except Unreachable as exc:
        print(f"liqmap {args.command}: error: {exc}{_needs_network(args)}", file=sys.stderr)
        return 1
    except TransientError as exc:  # a server that kept answering "later" (5xx, rate limits) to the last try
        print(f"liqmap {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _reader_went_away()
    finally:
        logging.getLogger("liqmap").removeHandler(notices)


class _StderrLines(logging.Handler):
    """The library's notices (a retry's wait, ...) as ``liqmap COMMAND: message`` lines on stderr.

    ``sys.stderr`` is looked up at each line, so a progress bar that redirects it keeps them above the bar.
    """

    def __init__(self, command: str):
        super().__init__(logging.INFO)
        self.command = command

    def emit(self, record: logging.LogRecord) -> None:
        print(f"liqmap {self.command}: {record.getMessage()}", file=sys.stderr, flush=True)


def _needs_network(args) -> str:
    """For a command that talks to a venue's server (it has an option naming it): it needs the network, or
    that option pointing at a reachable server."""
    option = next((flag for flag in ("rest_url", "base_url") if hasattr(args, flag)), None)
    if option is None:
        return ""
    return f"; liqmap {args.command} needs the network, or --{option.replace('_', '-')} naming a reachable server"


def _dashed_values(argv: list[str]) -> list[str]:
    """``--window -5d`` read as ``--window=-5d``: argparse takes a value starting with '-' and a digit
    for an option of its own (only plain negative numbers pass), so the value gets its own message."""
    out: list[str] = []
    for word in argv:
        if out and out[-1].startswith("--") and out[-1] != "--" and "=" not in out[-1] and re.match(r"-\d", word):
            out[-1] = f"{out[-1]}={word}"
        else:
            out.append(word)
    return out


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
