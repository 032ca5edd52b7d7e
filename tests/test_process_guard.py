"""ganbench.process_guard: what a guarded command inherits from the process that starts it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
AUTOGROUPS = Path("/proc/sys/kernel/sched_autogroup_enabled")

START = """
import subprocess, sys, time
from ganbench.process_guard import GuardedProcess
if sys.argv[1] == "guarded":
    child = GuardedProcess(["sleep", "30"], sys.stdout).child
else:  # a plain new session, as any program would start one
    child = subprocess.Popen(["sleep", "30"], start_new_session=True)
time.sleep(0.5)
print(open(f"/proc/{child.pid}/autogroup").read().split()[-1], flush=True)
child.kill()
"""


def nice_of_a_new_session(how: str) -> str:
    """The scheduler-group nice value of a command started ``how`` by a process run under nice 7."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(["nice", "-n", "7", sys.executable, "-c", START, how], env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode in (0, -9), done.stderr[-2000:]
    return done.stdout.strip()


@pytest.mark.skipif(
    not AUTOGROUPS.is_file() or AUTOGROUPS.read_text().strip() != "1", reason="the kernel schedules no autogroups"
)
def test_a_guarded_command_keeps_the_low_priority_of_the_study_that_starts_it():
    """A command in a new session is in a new autogroup, which the kernel weighs like any other
    whatever its processes' nice values; a guarded one gets the starting process's nice value."""
    assert nice_of_a_new_session("plain") == "0"  # what happens without it
    assert nice_of_a_new_session("guarded") == "7"
