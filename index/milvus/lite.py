"""Milvus Lite as a server process of its own, which several speechqa processes can share.

A ``.db`` store is opened inside the one process that uses it (Milvus Lite locks its data
directory), so a build and two servers cannot all open the same file; ``milvus-lite server``
serves that directory over gRPC instead, at ``http://127.0.0.1:<port>``. ``LiteServer`` runs
it as a child process that can be stopped, paused and started again on the same port and
data, which is how the tests and bench/milvus_load.py meet a Milvus that goes away.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LiteServer:
    """``milvus-lite server --data-dir DIR --port PORT`` as a child process."""

    def __init__(self, data_dir: Path | str, *, port: int | None = None, log: Path | str | None = None):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.log = Path(log) if log else None
        self.process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> "LiteServer":
        """Start the server and wait until it answers a client (importing Milvus Lite takes seconds)."""
        executable = Path(sys.executable).with_name("milvus-lite")
        output = open(self.log, "a") if self.log else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [str(executable), "server", "--data-dir", str(self.data_dir), "--host", "127.0.0.1",
             "--port", str(self.port)], stdout=output, stderr=subprocess.STDOUT, env=dict(os.environ))
        if self.log:
            output.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"milvus-lite server exited with {self.process.returncode}"
                                   + (f" (see {self.log})" if self.log else ""))
            if self._answers():
                return self
            time.sleep(0.1)
        raise TimeoutError(f"milvus-lite server not answering on port {self.port} after {timeout:g} s")

    def _answers(self) -> bool:
        from pymilvus import MilvusClient

        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                pass
            MilvusClient(self.uri, timeout=2, dedicated=True).close()
        except Exception:  # not listening yet, or listening but not serving yet
            return False
        return True

    def stop(self) -> None:
        """Stop the server (SIGINT, which it handles by closing its data; SIGKILL after 10 s).

        The data stays for the next start."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGCONT)  # a paused process would not act on the next signal
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open and calls get no answer."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused server run again."""
        self.process.send_signal(signal.SIGCONT)

    def __enter__(self) -> "LiteServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
