"""Stopping a run cleanly on SIGINT (Ctrl-C), SIGTERM (schedulers at walltime or preemption) and
SIGUSR1 (a scheduler's early warning, e.g. SLURM's ``--signal=USR1@120``).

While a :class:`Guard` is installed, these signals never kill the process in the middle of a
state update or a file write. A signal that arrives

* inside an :meth:`Guard.abortable` block — work that can simply be redone: a training batch,
  an evaluation, loading the data — stops it at once by raising :class:`Interrupted`; the
  caller discards the block's partial results (and rewinds the random generator);
* anywhere else — committing a batch's results, writing a checkpoint or a run file — is
  remembered and raised at the next safe point (:meth:`Guard.check`, or the start of the next
  abortable block), so the write finishes first.

The run then saves its state and exits with the conventional status 128 + signal number:
130 for SIGINT, 143 for SIGTERM, 138 for SIGUSR1 (:data:`EXIT_CODES`).
"""
from __future__ import annotations

import signal
import threading

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGUSR1")
                     if hasattr(signal, name))
EXIT_CODES = {int(s): 128 + int(s) for s in STOP_SIGNALS}  # 130, 143, 138 on Linux


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class Interrupted(KeyboardInterrupt):
    """Raised when a stop signal arrives; ``signum`` says which one.

    A ``KeyboardInterrupt`` so that code written for Ctrl-C handles it too.
    """

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal_name(signum))
        self.signum = int(signum)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.signum, 128 + self.signum)


def as_interrupted(exc: KeyboardInterrupt) -> Interrupted:
    """A plain ``KeyboardInterrupt`` (no handler installed) counts as SIGINT."""
    return exc if isinstance(exc, Interrupted) else Interrupted(signal.SIGINT)


class _Abortable:
    def __init__(self, guard: "Guard"):
        self.guard = guard

    def __enter__(self):
        guard = self.guard
        guard.abortable_now = True  # from here a signal raises at once ...
        if guard.pending is not None:  # ... and one that came before raises now
            guard.abortable_now = False
            raise Interrupted(guard.pending)
        return self

    def __exit__(self, *exc):
        self.guard.abortable_now = False
        return False


class Guard:
    """Turns :data:`STOP_SIGNALS` into :class:`Interrupted` at safe moments (module docstring).

    Use as a context manager around a whole run: installs the handlers on entry (main thread
    only: elsewhere Python cannot receive signals and the guard does nothing) and restores the
    previous ones on exit. A signal still pending at exit is dropped (the run ended anyway).
    """

    def __init__(self):
        self.pending: int | None = None
        self.abortable_now = False
        self._previous: dict = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in STOP_SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc):
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous.clear()
        return False

    def _handle(self, signum, frame):
        if self.pending is None:
            self.pending = signum
        if self.abortable_now:
            self.abortable_now = False  # one raise per block, wherever it lands
            raise Interrupted(signum)

    def check(self) -> None:
        """Raise :class:`Interrupted` if a stop signal has arrived (a safe point)."""
        if self.pending is not None:
            raise Interrupted(self.pending)

    def abortable(self) -> _Abortable:
        """A block that a signal may stop at once (raising :class:`Interrupted` inside it)."""
        return _Abortable(self)
