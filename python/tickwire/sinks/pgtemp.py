"""A throwaway PostgreSQL cluster for tests and benchmarks: ``initdb`` in a temporary directory,
a server on a free loopback port, stopped and deleted on exit.

Uses the server binaries of the machine (Debian: ``apt-get install postgresql``, found under
``/usr/lib/postgresql/<major>/bin``; elsewhere on ``PATH`` or in ``$PG_BIN``). ``initdb`` refuses
to run as root, so as root the cluster is created and run as the ``postgres`` OS user (its
directory is handed to that user).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

__all__ = ["PostgresUnavailableError", "TemporaryPostgres", "find_pg_bin"]


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL server binaries (``initdb``, ``pg_ctl``) on this machine; the message says
    where they were looked for."""


def find_pg_bin() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``: ``$PG_BIN``, then ``PATH``, then the
    newest ``/usr/lib/postgresql/<major>/bin``. Raises :class:`PostgresUnavailableError`."""
    env = os.environ.get("PG_BIN")
    candidates = [Path(env)] if env else []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        majors = sorted(
            (p for p in debian.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)
        )
        candidates.extend(p / "bin" for p in reversed(majors))
    for c in candidates:
        if (c / "initdb").is_file() and (c / "pg_ctl").is_file():
            return c
    raise PostgresUnavailableError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found in $PG_BIN, on PATH or in "
        "/usr/lib/postgresql/*/bin (Debian: apt-get install postgresql)"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class TemporaryPostgres:
    """A PostgreSQL cluster of its own in a temporary directory, listening on 127.0.0.1 only
    (no Unix socket in a shared place), trust authentication, database ``postgres``.

    ``with TemporaryPostgres() as pg:`` runs ``initdb`` and starts the server; ``pg.dsn`` is the
    connection string; ``pg.stop()`` / ``pg.start()`` stop (``-m fast``: open connections are
    cut, as in a real outage) and restart the same cluster on the same port; leaving the block
    stops it and deletes the directory. Raises :class:`PostgresUnavailableError` without binaries and
    ``subprocess.CalledProcessError`` (with the tool's output) if a tool fails.
    """

    def __init__(self, *, port: int | None = None, bin_dir: Path | None = None) -> None:
        self.bin_dir = bin_dir or find_pg_bin()
        self.port = port or _free_port()
        self._tmp: str | None = None
        self.running = False

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory (only while open)."""
        if self._tmp is None:
            raise RuntimeError("TemporaryPostgres is not open")
        return Path(self._tmp) / "data"

    @property
    def dsn(self) -> str:
        """``postgresql://postgres@127.0.0.1:PORT/postgres``."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> str:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:  # initdb and postgres refuse root
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        proc = subprocess.run(  # noqa: S603 - fixed binaries, arguments built here
            cmd, capture_output=True, text=True, check=False, timeout=120
        )
        if proc.returncode != 0:
            raise subprocess.CalledProcessError(
                proc.returncode, cmd, output=proc.stdout, stderr=proc.stderr
            )
        return proc.stdout

    def open(self) -> None:
        """Create the cluster and start the server."""
        self._tmp = tempfile.mkdtemp(prefix="tickwire-pg-")
        if os.geteuid() == 0:
            shutil.chown(self._tmp, "postgres", "postgres")
        self._run(
            "initdb", "-D", str(self.data_dir), "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--no-sync", "--no-instructions",
        )  # fmt: skip
        self.start()

    def start(self) -> None:
        """Start (or restart) the server and wait until it accepts connections."""
        opts = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=off"
        )
        log = str(Path(self.data_dir).parent / "server.log")
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-o", opts, "-l", log, "-w", "-t", "60", "start"
        )
        self.running = True

    def stop(self) -> None:
        """Stop the server now (fast shutdown: sessions are terminated)."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
        self.running = False

    def close(self) -> None:
        """Stop the server if running and delete the cluster."""
        if self._tmp is None:
            return
        if self.running:
            with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
            self.running = False
        # The server may need a moment to release its files after exit.
        for _ in range(20):
            try:
                shutil.rmtree(self._tmp)
                break
            except OSError:
                time.sleep(0.1)
        self._tmp = None

    def __enter__(self) -> TemporaryPostgres:
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
