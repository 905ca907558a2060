"""Drive the real `python -m service` process: build an index, serve it, load it over loopback HTTP."""
from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Sequence

from bench.common import ROOT, SEEDS, Clock, fresh, rss_bytes, summary_ms


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli(index: Path, *args: str, env: dict | None = None, timeout: float = 1800) -> subprocess.CompletedProcess:
    """Run `python -m service --index <index> ...` to completion, output captured."""
    return subprocess.run([sys.executable, "-m", "service", "--index", str(index), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def ensure_index(index: Path, corpus: Path = SEEDS) -> str:
    """Bring ``index`` up to date with ``corpus`` and this checkout; return the CLI's output.

    Always a build: with nothing changed it re-embeds nothing (~2 s), and a build an older
    checkout made (another format or tokeniser) is replaced rather than refused mid-benchmark.
    """
    done = cli(index, "build", "--corpus", str(corpus), "-q")
    if done.returncode != 0:
        raise RuntimeError(f"build failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return done.stdout.strip()


class Server:
    """`python -m service --index <dir> serve` as a child process on a free loopback port."""

    def __init__(self, index: Path, *, threads: int | None = None, env: dict | None = None, log: Path | None = None):
        self.port = free_port()
        args = [sys.executable, "-m", "service", "--index", str(index), "serve", "--host", "127.0.0.1",
                "--port", str(self.port)]
        if threads:
            args += ["--threads", str(threads)]
        if log:  # bench/out/ is made by the first index built there, and --index may point elsewhere
            log.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(log, "w") if log else subprocess.DEVNULL
        self.started = time.perf_counter()
        self.process = subprocess.Popen(args, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
                                        env={**os.environ, **(env or {})})
        self.pid = self.process.pid

    def wait_ready(self, timeout: float = 180) -> float:
        """Seconds until the port accepts connections (the app and model are loaded before listen)."""
        clock = Clock(timeout)
        while not clock.expired():
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode} (see its log)")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return time.perf_counter() - self.started
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"server not listening on {self.port} after {timeout}s")

    def rss(self) -> int:
        return rss_bytes(self.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.log is not subprocess.DEVNULL:
            self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def search_path(question: str, k: int = 10) -> str:
    return "/api/search?" + urllib.parse.urlencode({"q": question, "k": k})


def connect(port: int) -> http.client.HTTPConnection:
    """A keep-alive connection with Nagle off, so small requests are not held for delayed ACKs."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def get(conn: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    conn.request("GET", path, headers={"Connection": "keep-alive"})
    response = conn.getresponse()
    return response.status, response.read()


def load(port: int, questions: Sequence[str], *, concurrency: int, seconds: float | None = None,
         total: int | None = None, k: int = 10, unique: bool = True, stop: threading.Event | None = None,
         rate: float | None = None) -> dict:
    """Keep-alive clients in ``concurrency`` threads, for ``seconds`` or ``total`` requests in all,
    or until ``stop`` is set; each client sends ``rate`` requests a second at most (default: the next
    as soon as the last is answered).

    ``unique`` makes every request's question distinct (bench.common.fresh), so the server's
    query cache never answers; ``unique=False`` repeats the questions as given.
    Returns latency percentiles, throughput and error counts (non-200 or exceptions).
    """
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors: list[list[str]] = [[] for _ in range(concurrency)]
    counter = iter(range(total)) if total else None
    lock = threading.Lock()
    stop_at = time.perf_counter() + (seconds if seconds else 3600)
    barrier = threading.Barrier(concurrency + 1)

    def worker(slot: int) -> None:
        conn = connect(port)
        i = slot * 7
        started = 0.0  # when the last request was sent
        barrier.wait()
        while time.perf_counter() < stop_at and not (stop is not None and stop.is_set()):
            if counter is not None:
                with lock:
                    if next(counter, None) is None:
                        break
            if rate:  # the next request one interval after the last one was sent
                time.sleep(max(0.0, started + 1 / rate - time.perf_counter()))
            question = questions[i % len(questions)]
            path = search_path(fresh(question) if unique else question, k)
            i += 1
            started = time.perf_counter()
            try:
                status, body = get(conn, path)
            except (OSError, http.client.HTTPException) as exc:
                errors[slot].append(f"{type(exc).__name__}: {exc}")
                conn.close()
                try:
                    conn = connect(port)
                except OSError:
                    time.sleep(0.05)
                continue
            elapsed = time.perf_counter() - started
            if status != 200:
                errors[slot].append(f"HTTP {status}: {body[:200]!r}")
            else:
                latencies[slot].append(elapsed)
        conn.close()

    threads = [threading.Thread(target=worker, args=(s,), daemon=True) for s in range(concurrency)]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join((seconds or 3600) + 120)
    wall = time.perf_counter() - began
    flat = [x for per in latencies for x in per]
    errs = [e for per in errors for e in per]
    return {"concurrency": concurrency, "seconds": round(wall, 2), **summary_ms(flat),
            "qps": round(len(flat) / wall, 2) if wall else None, "errors": len(errs), "error_samples": errs[:3]}
