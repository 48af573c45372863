"""User mistakes and how every entry point reports them: one line, exit code 2.

Each module raises its own subclass of ``UserError`` (``ConfigError``, ``DataSourceError``,
``CheckpointError``, ...), so a caller can tell them apart; an entry point catches the base
class once (``run_reported`` or ``reported``) and prints ``<prog>: <message>`` instead of a
traceback. A
``KeyboardInterrupt`` becomes one line and exit code 130, as a shell reports SIGINT. Bugs are
not ``UserError``s and keep their traceback.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
"""128 + SIGTERM: a run stopped by SIGTERM (a cluster's time limit, a preemption)."""


class UserError(ValueError):
    """Something the user asked for cannot be done; the message is one line: what, where,
    and what to do."""


class OutputError(UserError):
    """A destination folder cannot be written (read-only, not a folder, no space)."""


class Terminated(UserError):
    """The process was asked to stop (SIGTERM) and stopped cleanly; exit code 143. The
    message says what was saved and how to go on."""

    exit_code = EXIT_TERMINATED


def terminate_on_sigterm() -> None:
    """Turn SIGTERM into a ``Terminated`` exception in the main thread, so that ``finally``
    blocks clean up (staged files, locks) and the command ends in one line, exit code 143,
    instead of dying mid-write. Training leaves SIGTERM to Lightning's handler instead."""

    def handler(signum: int, frame: object) -> None:
        raise Terminated("stopped by SIGTERM; files not yet complete were removed")

    signal.signal(signal.SIGTERM, handler)


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message, or its type's name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def quiet_interrupts() -> None:
    """Make an unhandled ``KeyboardInterrupt`` print one line instead of a traceback (the
    process still ends by SIGINT, exit status 130 in a shell). Other exceptions are shown
    as before."""
    default = sys.excepthook

    def hook(exc_type: type[BaseException], exc: BaseException, tb: object) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            prog = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] else "musegen"
            print(f"{prog}: interrupted", file=sys.stderr)
            return
        default(exc_type, exc, tb)  # type: ignore[arg-type]

    sys.excepthook = hook


def report(exc: BaseException, prog: str = "error", interrupted: str = "interrupted") -> int:
    """Print a ``UserError`` or a ``KeyboardInterrupt`` as one line; return its exit code
    (2, 130 for Ctrl-C, or the error's own ``exit_code``)."""
    line = (
        f"{prog}: {interrupted}"
        if isinstance(exc, KeyboardInterrupt)
        else f"{prog}: {first_line(exc)}"
    )
    print(line, file=sys.stderr)
    log_to_files(line)
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    return int(getattr(exc, "exit_code", EXIT_USER_ERROR))


def log_to_files(line: str, level: int = logging.ERROR) -> None:
    """Also write ``line`` to the root logger's log files (a Hydra run's ``train.log``), not
    to the console that already shows it: a sweep's failed job keeps its reason in its folder,
    where ``musegen.compare`` finds it."""
    record = logging.LogRecord("musegen", level, __file__, 0, line, None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def run_reported(
    body: Callable[[], int], prog: str = "error", interrupted: str = "interrupted"
) -> int:
    """Run an argparse CLI's ``body`` and return its exit code: a ``UserError`` gives code 2,
    Ctrl-C 130, each printed in one line; anything else propagates with its traceback (a bug
    to report)."""
    try:
        return body()
    except (UserError, KeyboardInterrupt) as exc:
        return report(exc, prog, interrupted)


@contextmanager
def reported(prog: str = "error", interrupted: str = "interrupted") -> Iterator[None]:
    """The same for a block that returns nothing (Hydra entry points): exit with the code."""
    try:
        yield
    except (UserError, KeyboardInterrupt) as exc:
        sys.exit(report(exc, prog, interrupted))
