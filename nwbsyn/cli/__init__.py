"""The ``nwbsyn`` command line. Each subcommand only parses arguments and calls the library."""

from __future__ import annotations

import argparse
import logging
import sys

from nwbsyn.cli import batch, connectivity, core, events, partners, report

_DESCRIPTION = """\
nwbsyn: synaptic physiology in NWB.

Reads NWB files, runs deep-learning analyses of synaptic physiology and writes the
results back as standard NWB processing modules (ndx-nwbsyn extension). Inputs are
never modified unless you ask for --in-place writing.

  nwbsyn info FILE.nwb               what nwbsyn can analyse in a file
  nwbsyn validate FILE.nwb           NWB schema + DANDI best-practice check
  nwbsyn events detect FILE.nwb      spontaneous synaptic events (miniML method)
  nwbsyn convert abf FILE.abf        Axon recording -> icephys NWB
  nwbsyn connectivity fit FILE.nwb   functional connectivity from Units or ROIs (SynapsNet)
  nwbsyn partners assign FILE        synaptic clefts + partners in EM (NWB or CREMI; AVAN)
  nwbsyn partners simulate -o V.hdf  synthetic EM volume with synapse ground truth (CREMI)
  nwbsyn demo; nwbsyn report F.nwb   all analyses on simulated data; HTML QC report of a file
  nwbsyn export F.nwb -o DIR         the nwbsyn tables of a file as CSV (and Parquet)
  nwbsyn batch DANDI:000123 -o D  one analysis over a dandiset, URLs or files (Dask; resumable)
"""

_EPILOG = "Run 'nwbsyn COMMAND --help' for the options of each command."

# every subcommand module exposes add_parsers(subparsers); order = order in --help
_COMMAND_MODULES = [core, events, connectivity, partners, report, batch]


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors in nwbsyn's one-sentence form (exit 2) and a pointer to --help."""

    def error(self, message: str):
        self.exit(2, f"nwbsyn: error: {self.prog}: {message}; see '{self.prog} --help'.\n")


def build_parser() -> argparse.ArgumentParser:
    from nwbsyn import __version__

    parser = _Parser(prog="nwbsyn", description=_DESCRIPTION, epilog=_EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"nwbsyn {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _COMMAND_MODULES:
        module.add_parsers(subparsers)
    return parser


class Stopped(BaseException):
    """SIGTERM or SIGHUP arrived: unwinds like Ctrl-C, so that temporary files are removed."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _stop(signum, _frame):
    raise Stopped(signum)


def _redeliver(unraisable) -> None:
    """A Stopped raised where Python cannot raise (a weakref callback, ``__del__``) is not lost.

    Python prints and drops such exceptions; instead the signal is sent again a moment
    later, when the main thread is back in ordinary code, and nothing is printed.
    """
    if isinstance(unraisable.exc_value, Stopped):
        import os
        import threading

        threading.Timer(0.05, os.kill, args=(os.getpid(), unraisable.exc_value.signum)).start()
        return
    _default_unraisablehook(unraisable)


_default_unraisablehook = sys.unraisablehook


def _install_signal_handlers() -> None:
    import signal

    sys.unraisablehook = _redeliver
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            try:
                signal.signal(getattr(signal, name), _stop)
            except ValueError:  # not the main thread (main() called from a thread)
                pass


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings from the libraries (pynwb on odd files, ...) as one line each, not two with source code."""
    text = str(message).strip().splitlines()
    print(f"nwbsyn: warning: {text[0][:300] if text else category.__name__}", file=file or sys.stderr)


def _one_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0][:300] if lines else type(err).__name__


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``nwbsyn`` command; returns the exit code (2 for user mistakes)."""
    from nwbsyn._shared import InputError, MissingExtraError
    from nwbsyn.io.output import remove_temporaries

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    logging.basicConfig(level=logging.INFO, format="nwbsyn: %(message)s", stream=sys.stderr)
    _install_signal_handlers()
    if not args.debug:
        import warnings

        warnings.showwarning = _show_warning
    try:
        return int(args.handler(args) or 0)
    except (InputError, MissingExtraError) as err:
        if args.debug:
            raise
        print(f"nwbsyn: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as err:
        if args.debug:
            raise
        where = f"{err.filename}: " if getattr(err, "filename", None) else ""
        print(f"nwbsyn: error: {where}{err.strerror or _one_line(err)}; check the path.", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `nwbsyn validate f | head`: the reader left; say nothing
        _silence_stdout()
        return 0
    except KeyboardInterrupt:
        remove_temporaries()
        print("nwbsyn: interrupted; no output was written.", file=sys.stderr)
        return 130
    except Stopped as stop:
        remove_temporaries()
        print(f"nwbsyn: stopped by signal {stop.signum}; no output was written.", file=sys.stderr)
        return 128 + stop.signum
    except MemoryError:
        if args.debug:
            raise
        print("nwbsyn: error: out of memory; analyse a shorter stretch or use a machine with more memory.",
              file=sys.stderr)
        return 2
    except Exception as err:  # a bug, not a user mistake: still one sentence, the traceback on --debug
        if args.debug:
            raise
        print(f"nwbsyn: error: unexpected {type(err).__name__}: {_one_line(err)} (this is a bug in nwbsyn; "
              "run again with --debug for the traceback and report it).", file=sys.stderr)
        return 1


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
