"""Run an operation on a regtest chain folder in a child process that SIGKILLs itself
at a chosen point.

The points are the moments just before each effect that can change what the
folder holds once the process is dead: each low-level write, truncation and
rename, each file written through ``pathlib``, each block handed to the
kernel, and the kernel's flush at close. (Between two effects the files do
not change, and an fsync only matters if the machine loses power, so these
points cover every state a killed process can leave.) A run without a kill
reports how many points the operation passes, so a test can kill it at each
in turn; that run ends after the last effect, as a process killed then would.
The child never closes the chain (closing writes).
"""

from __future__ import annotations

import multiprocessing
import os
import pathlib
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bitcache.chain.kernel import Kernel

Operation = Callable[[Path], object]

_OS_EFFECTS = ("write", "replace", "rename", "ftruncate", "truncate")
_PATH_EFFECTS = ("write_text", "write_bytes", "replace", "rename", "unlink", "touch")
_KERNEL_EFFECTS = ("process", "close")


class _Killer:
    """Counts points while armed; kills the process at point ``kill_at``."""

    def __init__(self, kill_at: int | None) -> None:
        self.kill_at = kill_at
        self.points = 0
        self.armed = False

    def point(self) -> None:
        if not self.armed:
            return
        if self.points == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        self.points += 1

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def effect(*args: Any, **kwargs: Any) -> Any:
            self.point()
            return fn(*args, **kwargs)

        return effect


def _install(killer: _Killer) -> None:
    for name in _OS_EFFECTS:
        setattr(os, name, killer.wrap(getattr(os, name)))
    for name in _PATH_EFFECTS:
        setattr(pathlib.Path, name, killer.wrap(getattr(pathlib.Path, name)))
    for name in _KERNEL_EFFECTS:
        setattr(Kernel, name, killer.wrap(getattr(Kernel, name)))


def _child(
    prepare: Operation | None, operation: Operation, folder: Path, kill_at: int | None,
    report: Path,
) -> None:
    killer = _Killer(kill_at)
    _install(killer)
    state = prepare(folder) if prepare is not None else None
    killer.armed = True
    operation(folder) if state is None else operation(state)  # type: ignore[arg-type]
    killer.armed = False
    report.write_text(str(killer.points))
    os._exit(0)  # as if killed: nothing is closed or flushed


def run_killed(
    operation: Operation,
    folder: Path,
    kill_at: int | None,
    report: Path,
    *,
    prepare: Operation | None = None,
) -> int:
    """Run ``operation`` in a forked child, killed at point ``kill_at`` (None: never).

    ``prepare(folder)``, if given, runs first, unarmed, and its result is what
    ``operation`` receives instead of the folder (e.g. an open chain). Returns
    the child's exit code: -9 when killed; 0 otherwise, with the number of
    points passed written to ``report``.
    """
    ctx = multiprocessing.get_context("fork")
    proc = ctx.Process(target=_child, args=(prepare, operation, folder, kill_at, report))
    proc.start()
    proc.join(timeout=60)
    if proc.is_alive():
        proc.kill()
        raise AssertionError("the chain child did not finish within 60 s")
    assert proc.exitcode is not None
    return proc.exitcode


def count_points(
    operation: Operation, folder: Path, report: Path, *, prepare: Operation | None = None
) -> int:
    """How many kill points ``operation`` passes (run once on ``folder``, unkilled)."""
    code = run_killed(operation, folder, None, report, prepare=prepare)
    assert code == 0, f"the unkilled run failed with exit code {code}"
    return int(report.read_text())
