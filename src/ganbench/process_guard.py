"""Child processes that stop with their parent, however the parent stops.

:class:`GuardedProcess` runs a command in its own process group (so that a signal reaches the command
and every process it starts: a sweep's launcher workers too) and stops that group when

- the parent is asked to stop (SIGTERM, SIGINT): the group gets SIGTERM, then SIGKILL after a grace
  period, and the signal is raised again in the parent as :class:`StopRequestedError`;
- the parent is killed outright (SIGKILL, no handler runs): a small guard process, started next
  to the command, gets the kernel's parent-death signal (Linux ``prctl(PR_SET_PDEATHSIG)``), or
  elsewhere sees its parent's pid change, and stops the group the same way.

The command keeps the parent's priority: its new session is a new scheduler group on Linux
(autogroups), which gets the parent's nice value (:func:`keep_priority`). It is not waited for,
and may be pinned to some cores, so that several run at once (:func:`close_all` stops them).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from typing import IO

PR_SET_PDEATHSIG = 1
GRACE_SECONDS = 20.0


class StopRequestedError(Exception):
    """The parent received SIGTERM or SIGINT while a guarded command ran; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def set_parent_death_signal(signum: int = signal.SIGTERM) -> bool:
    """Ask the kernel to send ``signum`` to this process when its parent dies (Linux); False
    where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def stop_group(pgid: int, grace: float = GRACE_SECONDS, leader: subprocess.Popen | None = None) -> None:
    """SIGTERM to process group ``pgid``, then SIGKILL to what is left of it after ``grace`` seconds.
    ``leader``: the group's leader when it is this process's child, reaped here (a zombie leader
    would keep the group alive)."""
    stop_groups({pgid: leader}, grace)


def stop_groups(groups: dict[int, subprocess.Popen | None], grace: float = GRACE_SECONDS) -> None:
    """:func:`stop_group` for several groups at once (pgid → leader or None): SIGTERM to each, then
    SIGKILL to what is left of them after one grace period."""
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
    deadline, left = time.monotonic() + grace, dict(groups)
    while left and time.monotonic() < deadline:
        for pgid, leader in list(left.items()):
            if leader is not None:
                leader.poll()
            try:
                os.killpg(pgid, 0)
            except (ProcessLookupError, PermissionError):
                del left[pgid]
        if left:
            time.sleep(0.1)
    for pgid in left:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


def guard(parent: int, pgid: int) -> None:
    """The guard process: wait until ``parent`` is gone, then stop process group ``pgid``. Exits
    at once, leaving the group alone, when the group ends first."""
    gone = {"parent": False}

    def on_parent_death(signum: int, frame: object) -> None:
        gone["parent"] = True

    signal.signal(signal.SIGTERM, on_parent_death)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    set_parent_death_signal(signal.SIGTERM)
    while not gone["parent"] and os.getppid() == parent:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.5)
    stop_group(pgid)


def _start_guard(pgid: int) -> subprocess.Popen:
    code = f"from ganbench.process_guard import guard; guard({os.getpid()}, {pgid})"
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL, start_new_session=True)


@contextlib.contextmanager
def stop_signals_raise() -> Iterator[None]:
    """While inside, SIGTERM and SIGINT raise :class:`StopRequestedError` (in the main thread)."""

    def handler(signum: int, frame: object) -> None:
        raise StopRequestedError(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def keep_priority(nice: int) -> None:
    """Give this process's scheduler group the ``nice`` value (called in a child that has just become
    a session leader). On Linux with autogroup scheduling, a new session is a new group, and groups
    share the CPU equally whatever their processes' nice values: without this, the runs of
    ``nice -n 19 ganbench-study …`` would take as much CPU as any foreground work. Best effort: a
    kernel without autogroups has nothing to set."""
    if nice <= 0:
        return
    with contextlib.suppress(OSError):
        with open("/proc/self/autogroup", "w") as group:
            group.write(str(nice))


class GuardedProcess:
    """A command started in its own process group, with a guard that stops the group if this
    process is killed; not waited for (:meth:`poll`), so that several can run at once.

    ``cpus``: the cores the command and every process it starts may run on (Linux affinity);
    None: this process's own."""

    def __init__(self, args: Sequence[str], stdout: IO[str], cpus: set[int] | None = None) -> None:
        nice = os.getpriority(os.PRIO_PROCESS, 0) if hasattr(os, "getpriority") else 0

        def prepare() -> None:  # in the child, once it leads its new session
            keep_priority(nice)
            if cpus:
                os.sched_setaffinity(0, cpus)

        self.child = subprocess.Popen(list(args), stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.STDOUT,
                                      start_new_session=True, preexec_fn=prepare)  # fmt: skip
        self.watcher = _start_guard(self.child.pid)

    def poll(self) -> int | None:
        """The command's exit code, or None while it runs."""
        return self.child.poll()

    def close(self) -> None:
        """Stop the command's group if it still runs, then the guard."""
        close_all([self])


def close_all(processes: Sequence[GuardedProcess]) -> None:
    """Stop the groups of the commands that still run (together: one grace period for all), then
    their guards. The guard goes only once its leader is reaped (SIGKILL: its SIGTERM handler would
    stop the group)."""
    running = [p for p in processes if p.child.poll() is None]
    stop_groups({p.child.pid: p.child for p in running})
    for p in processes:
        p.child.wait()
        if p.watcher.poll() is None:
            p.watcher.kill()
        p.watcher.wait()
