"""Run the installed `tickwire` console script as a user does, and check how it ends."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

# Generous: the machine running the suite may be loaded; nothing here measures time.
TIMEOUT = 120.0


def tickwire_command() -> list[str]:
    """The console script installed next to this interpreter (`python -m tickwire` where the
    environment has no scripts directory, e.g. some system installs)."""
    script = Path(sys.executable).with_name("tickwire")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tickwire"]


TICKWIRE = tickwire_command()


def run_cli(*args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run `tickwire ARGS...` to completion; text stdout and stderr captured."""
    return subprocess.run(
        [*TICKWIRE, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def error_lines(stderr: str) -> list[str]:
    """The command's error lines (the CLI starts each with "Error:")."""
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


def assert_fails_with_one_line(
    proc: subprocess.CompletedProcess[str], code: int, *needles: str
) -> str:
    """``proc`` exited with ``code``, printed no traceback, and reported exactly one error line
    containing every one of ``needles``; returns that line."""
    both = proc.stdout + proc.stderr
    assert "Traceback" not in both, both
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    errors = error_lines(proc.stderr)
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


class Running:
    """`tickwire ARGS...` running in the background, its output read by threads.

    :meth:`wait_for` blocks until a stdout line contains a text (the command is visibly
    running) and then stops reading stdout, so a command with much to print blocks on the full
    pipe instead of finishing; :meth:`interrupt` sends SIGINT, reads the rest and waits."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [*TICKWIRE, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._hold = threading.Event()  # set: stop reading stdout until _resume
        self._resume = threading.Event()
        # The text wait_for waits for: the reader thread itself stops at it, so a busy machine
        # that schedules this thread late cannot let it drain the whole output first.
        self._hold_at: str | None = None
        self._threads = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.stdout.append(line)
            self._lines.put(line)
            if self._hold_at is not None and self._hold_at in line:
                self._hold.set()
            if self._hold.is_set():
                # A command that keeps writing now fills the pipe and waits, still running.
                self._resume.wait()
        self._lines.put(None)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def wait_for(self, text: str, timeout: float = TIMEOUT) -> str:
        """The first stdout line containing ``text``; fails if the command ends first or
        nothing comes within ``timeout`` s. Reading pauses until :meth:`interrupt`."""
        deadline = time.monotonic() + timeout
        self._hold_at = text
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                raise AssertionError(f"no {text!r} within {timeout} s: {self.output()}") from None
            if line is None:
                self.kill()  # reaps the process and closes its pipes
                raise AssertionError(f"ended before printing {text!r}: {self.output()}")
            if text in line:
                self._hold.set()
                return line

    def interrupt(self, timeout: float = TIMEOUT) -> tuple[int, str, str]:
        """Send SIGINT; returns (exit code, all stdout, all stderr) once the command ended."""
        self.proc.send_signal(signal.SIGINT)
        self._resume.set()
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"still running {timeout} s after SIGINT: {self.output()}"
            ) from None
        for t in self._threads:
            t.join(timeout)
        self._close_pipes()
        return code, "".join(self.stdout), "".join(self.stderr)

    def kill(self) -> None:
        """Kill the command (cleanup after a failed check)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(TIMEOUT)
        self._resume.set()
        for t in self._threads:
            t.join(TIMEOUT)
        self._close_pipes()

    def _close_pipes(self) -> None:
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()

    def output(self) -> str:
        """What the command printed so far, for failure messages."""
        return f"stdout: {''.join(self.stdout)[-2000:]!r} stderr: {''.join(self.stderr)[-2000:]!r}"
