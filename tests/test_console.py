"""A command whose reader has gone (``ganbench-compare … | head``) ends quietly, without a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

from test_compare import write_run


def run_into_closed_pipe(*args: str) -> subprocess.CompletedProcess:
    """Run ``python args…`` with its stdout a pipe whose reading end is already closed."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run([sys.executable, *args], stdout=write, stderr=subprocess.PIPE, text=True, timeout=300)
    finally:
        os.close(write)


def test_print_result_into_a_closed_pipe_is_quiet():
    done = run_into_closed_pipe("-c", "from ganbench.console import print_result; print_result('x' * 100)")
    assert (done.returncode, done.stderr) == (0, "")
    plain = run_into_closed_pipe("-c", "print('x' * 100)")  # what print alone does: the check can fail
    assert "BrokenPipeError" in plain.stderr


def test_compare_piped_into_a_reader_that_has_gone(tmp_path):
    write_run(tmp_path / "runs", "a", loss="hinge", metrics={"modes_captured": 8})
    done = run_into_closed_pipe("-m", "ganbench.compare", str(tmp_path / "runs"), "--no-plots")
    assert (done.returncode, done.stderr) == (0, "")
    assert (tmp_path / "runs" / "comparison" / "comparison.md").is_file()
