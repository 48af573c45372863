"""User mistakes and stops, and how every entry point reports them: one line each.

Each module raises its own subclass of ``UserError`` (``ConfigError``, ``DataSourceError``,
``CheckpointError``, ...), so a caller can tell them apart; an entry point catches the base
class once (``run_reported`` or ``reported``) and prints ``<prog>: <message>`` instead of a
traceback, exit code 2. Bugs are not ``UserError``s and keep their traceback.

The stop rule, the same for every command: ``reported`` and ``run_reported`` also install
``StopSignals``, so SIGTERM (``kill``, a cluster's time limit, a preemption) raises
``Terminated`` and SIGINT (Ctrl-C) ``Interrupted`` where the program is. Their ``finally``
blocks run (staged files removed, locks released, a training run's record and checkpoint
saved: ``musegen.train``), and the command ends in one line with the shell's exit code of the
signal: 143 for SIGTERM, 130 for SIGINT. A stop is not an ``Exception``, so nothing that
takes exceptions for failures and goes on (a sweep's job recorder, Hydra's launcher) takes it
for one: a sweep stops as a whole.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
"""128 + SIGINT: a command stopped by Ctrl-C."""
EXIT_TERMINATED = 143
"""128 + SIGTERM: a run stopped by SIGTERM (a cluster's time limit, a preemption)."""
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class UserError(ValueError):
    """Something the user asked for cannot be done; the message is one line: what, where,
    and what to do."""


class OutputError(UserError):
    """A destination folder cannot be written (read-only, not a folder, no space)."""


class Stopped(BaseException):
    """The process was asked to stop by a signal and stopped cleanly; ``exit_code`` is the
    shell's for that signal. The message says what was saved and how to go on; an empty one
    lets the entry point say it (``report``). A ``BaseException``, as ``KeyboardInterrupt``
    is: see the module docstring."""

    exit_code = EXIT_TERMINATED
    by = "stopped"


class Terminated(Stopped):
    """Stopped by SIGTERM: exit code 143."""

    exit_code = EXIT_TERMINATED
    by = "stopped by SIGTERM"


class Interrupted(Stopped):
    """Stopped by SIGINT (Ctrl-C): exit code 130."""

    exit_code = EXIT_INTERRUPTED
    by = "interrupted by Ctrl-C"


def stop_kind(signum: int) -> type[Stopped]:
    """The ``Stopped`` class of signal ``signum``."""
    return Interrupted if signum == signal.SIGINT else Terminated


def stopped_by(signum: int, message: str | None = None) -> Stopped:
    """The ``Stopped`` of signal ``signum``; the message defaults to what every command
    can say (its files are written under temporary names until complete)."""
    kind = stop_kind(signum)
    if message is None:
        message = "" if kind is Interrupted else f"{kind.by}; files not yet complete were removed"
    return kind(message)


class StopSignals:
    """The handler of SIGTERM and SIGINT under the stop rule (module docstring).

    It raises the signal's ``Stopped`` where the main thread is. While ``defer`` is set,
    the signal is handed to it instead: a training loop stops between two steps, never
    inside one (``callbacks.SaveOnStop``). ``received`` keeps the first signal, so that a
    deferred stop is reported by the signal that asked for it.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self.defer: Callable[[int], None] | None = None

    def __call__(self, signum: int, frame: object) -> None:
        if self.received is None:
            self.received = signum
        if self.defer is None:
            raise stopped_by(signum)
        self.defer(signum)

    def raise_if_received(self) -> None:
        """Raise the stop that was asked for while deferred and not yet acted on (the
        deferred work ended on its own first)."""
        if self.received is not None:
            raise stopped_by(self.received)


@contextmanager
def stop_signals() -> Iterator[StopSignals]:
    """``StopSignals`` for SIGTERM and SIGINT during the block, the previous handlers after
    it (``_install``)."""
    stop = StopSignals()
    previous = _install(stop)
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)


def stop_on_signals() -> None:
    """Install the stop rule for the rest of the process, from a command's first line (the
    entry point's ``reported`` installs it again for its own block)."""
    _install(StopSignals())


def _install(stop: StopSignals) -> dict[int, object]:
    """Make ``stop`` the handler of the stop signals; return the handlers it replaced. A
    signal the process was started ignoring stays ignored (``nohup``, a background job
    without job control); outside the main thread, where Python sets no handler, nothing is
    installed."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    for signum, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(signum, stop)
    return previous


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
    """Print a ``UserError``, a ``Stopped`` or a ``KeyboardInterrupt`` as one line; return
    its exit code (2, the stop's own: 143 or 130, 130 for a ``KeyboardInterrupt``).
    ``interrupted`` is the command's line for a Ctrl-C that says nothing more."""
    plain_ctrl_c = isinstance(exc, KeyboardInterrupt) or (
        isinstance(exc, Interrupted) and not str(exc).strip()
    )
    line = f"{prog}: {interrupted}" if plain_ctrl_c else f"{prog}: {first_line(exc)}"
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
    """Run an argparse CLI's ``body`` under the stop rule and return its exit code: a
    ``UserError`` gives code 2, SIGTERM 143, Ctrl-C 130, each printed in one line; anything
    else propagates with its traceback (a bug to report)."""
    try:
        with stop_signals():
            return body()
    except (UserError, Stopped, KeyboardInterrupt) as exc:
        return report(exc, prog, interrupted)


@contextmanager
def reported(prog: str = "error", interrupted: str = "interrupted") -> Iterator[None]:
    """The same for a block that returns nothing (Hydra entry points): exit with the code."""
    try:
        with stop_signals():
            yield
    except (UserError, Stopped, KeyboardInterrupt) as exc:
        sys.exit(report(exc, prog, interrupted))
