"""The HTTP server `speechqa serve` runs: waitress, bound before it says where it listens, with the limits
an office network needs (README: Operating, Limits and Logs).

Not ``waitress.serve``, which calls ``logging.basicConfig()``: the root handler it adds printed every
record of ours a second time. And what waitress does not do by itself:

- a bind that fails is one line saying what to change (``CannotListen``);
- a request line holding raw UTF-8 (curl ``-G -d place=南宁`` sends one) is read as its percent-encoded
  form, as browsers send it, instead of waitress's plain-text 400 "Bad URI";
- no worker thread waits for a client to read: waitress finished a connection's pipelined requests on
  a worker that then blocked, without a timeout, once 16 MiB of answers lay unread, so four clients that
  never read froze the service. Here the next request waits, off the threads, until the client has read
  (``Channel``), and a connection whose client reads nothing for the idle timeout is closed;
- a connection sending a request slower than the request timeout is closed (waitress's only timeout,
  ``channel_timeout``, restarted at every byte: a byte every 40 s held a connection for ever), and at the
  connection limit the longest-idle keep-alive connections make room for new ones (``Connections``);
- one access line per request, a failed admin attempt as a warning, waitress's queue-depth warning at
  most once per ``LOG_EVERY`` seconds (``Throttle``), and what happened at the connection limit.
"""
from __future__ import annotations

import errno
import ipaddress
import json
import logging
import re
import resource
import select
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass
from urllib.parse import quote

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import ClientDisconnected, HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import MultiSocketServer, TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher, WSGITask

from index.errors import SettingError, SpeechQAError, as_written

IDENT = "speechqa"  # the Server header
# What to change when a bind fails with one of these (any other: the system's words suffice).
BIND_HINTS = {
    errno.EADDRINUSE: "another program listens there — stop it or choose another --port",
    errno.EADDRNOTAVAIL: "no interface of this machine has that address — check --host",
    errno.EACCES: "not allowed to listen there (ports below 1024 need privileges) — choose another --port",
}
_NON_ASCII = re.compile(rb"[\x80-\xff]")

# `speechqa serve`'s defaults, for an office service of tens of users on 2-4 cores (README: Limits).
# Threads: a search is CPU-bound (the query encode), so more threads than cores add no throughput
# (bench/results: 4 threads, concurrency 16, 0 errors), and no thread waits on a slow client here.
THREADS = 4
# Open client connections. Browsers keep 1-6 per user; idle ones make room at the limit, so this bounds
# the connections that are busy. Each costs a file descriptor (2 counted: an answer over waitress's
# 1 MiB outbuf_overflow goes to a temporary file), which `allow_open_files` makes sure the process may open.
CONNECTION_LIMIT = 200
# Seconds a connection may move no byte either way: an idle keep-alive connection (waitress's
# channel_timeout, 120 s by default), or a client that reads none of the answers waiting for it.
IDLE_TIMEOUT = 30
# Seconds from a request's first byte to its last. Our requests are under 64 KiB, sent at once by any
# real client; a connection dripping its headers (slowloris) is closed after this.
REQUEST_TIMEOUT = 10
# An idle connection younger than this is not closed to make room: a request may be on its way.
IDLE_GRACE = 2.0
# Unread answer bytes at which a connection's next pipelined request waits (waitress's
# outbuf_high_watermark, 16 MiB by default): above one k=50 answer (228 KB), so a client that reads is
# never held, and a client that does not holds at most this plus one answer.
OUTPUT_WATERMARK = 256 * 1024
# waitress refuses, before reading it, a body this many times the app's MAX_CONTENT_LENGTH (16 KiB:
# 64 KiB), so bodies between the two still reach the app's JSON 413; in memory either way (waitress's
# inbuf_overflow is 512 KiB), where its default, 1 GiB, was spooled to a temporary file first.
BODY_LIMIT_FACTOR = 4
DEFAULT_BODY_LIMIT = 16 * 1024  # when the app sets no MAX_CONTENT_LENGTH
# Seconds a refused request's connection reads and drops what its client still sends, so that the client
# reads the refusal (a 413) rather than the reset that closing on unread bytes sends.
LINGER = 2.0
# Seconds between two lines of one kind (waitress's queue depth, connections closed): the rest are counted.
LOG_EVERY = 10.0
# The open files a server needs besides its connections: the index, the model, logs, waitress's pipes.
OTHER_FILES = 256

log = logging.getLogger(__name__)
access_log = logging.getLogger("service.access")


class CannotListen(SpeechQAError):
    """The server cannot listen on the host and port asked for."""

    code = "cannot_listen"


class Throttle(logging.Filter):
    """Lets through one record of each message per ``every`` seconds; the next one shown says how many were held back.

    On a logger: under 8-16 clients waitress's "Task queue depth is N" was 99% of the log.
    """

    def __init__(self, every: float = LOG_EVERY, clock=time.monotonic):
        super().__init__()
        self.every, self.clock = every, clock
        self._shown: dict[str, tuple[float, int]] = {}  # message template → (when last shown, held back since)
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        now = self.clock()
        key = str(record.msg)
        with self._lock:
            shown, held = self._shown.get(key, (None, 0))
            if shown is not None and now - shown < self.every:
                self._shown[key] = (shown, held + 1)
                return False
            self._shown[key] = (now, 0)
        if held:
            record.msg = f"{record.getMessage()} ({held} more such lines held back in the last {now - shown:.0f} s)"
            record.args = None
        return True


def throttle(logger: logging.Logger, every: float = LOG_EVERY) -> None:
    """Put one ``Throttle`` on ``logger`` (again: nothing)."""
    if not any(isinstance(f, Throttle) for f in logger.filters):
        logger.addFilter(Throttle(every))


class Utf8RequestLineParser(HTTPRequestParser):
    """waitress's parser, reading a request line's raw non-ASCII bytes percent-encoded (RFC 3987's
    IRI-to-URI mapping), so they reach the app as the same bytes a browser's %XX escapes would.
    It notes when the request's first byte came, for the request timeout."""

    def __init__(self, adj):
        super().__init__(adj)
        self.started = time.time()  # waitress's clock, as a channel's last_activity

    def received(self, data: bytes) -> int:
        consumed = super().received(data)
        if self.error is not None:
            # no "100 Continue" for a request refused already (a body over the limit): waitress sent one,
            # and the client sent the body it would refuse
            self.expect_continue = False
        return consumed

    def parse_header(self, header_plus: bytes) -> None:
        request_line, newline, fields = header_plus.partition(b"\r\n")
        encoded = _NON_ASCII.sub(lambda byte: b"%%%02X" % byte[0][0], request_line)
        super().parse_header(encoded + newline + fields)


def _logged_path(path: str | None) -> str:
    """A request's path as a URL writes it (%XX for what is not ASCII), so no byte of it can forge a log line."""
    if not path:
        return "-"
    return quote(path.encode("latin-1", "replace"), safe="/-._~!$&'()*+,;=:@%")


def log_access(task, seconds: float, note: str = "") -> None:
    """One line for one answered request: address, method, path (never the query string: questions may
    be private), status, duration. INFO on ``service.access``; a refused admin attempt (401, 403) a WARNING."""
    host = task.channel.addr[0] if isinstance(task.channel.addr, tuple) else str(task.channel.addr)
    request = task.request  # a request waitress could not parse may have no method or path
    method, path = getattr(request, "command", None) or "-", _logged_path(getattr(request, "path", None))
    status = task.status.split(" ", 1)[0]
    line = f"{host} {method} {path} {status} {seconds * 1000:.1f} ms{note}"
    if status in ("401", "403"):
        access_log.warning("%s — failed admin attempt: missing or wrong token", line)
    else:
        access_log.info("%s", line)


class _AccessLogged:
    """A task that says in the access log how it answered, once it has."""

    def service(self):
        started = time.perf_counter()
        note = ""
        try:
            super().service()
        except ClientDisconnected:
            note = " (the client left before the whole answer was sent)"
            raise
        except Exception:
            if not self.wrote_header:  # waitress answers 500 with an error task, which logs itself
                note = None
            else:
                note = " (failed while sending: see the traceback below)"
            raise
        finally:
            if note is not None:
                log_access(self, time.perf_counter() - started, note)


class LoggedWSGITask(_AccessLogged, WSGITask):
    """A request the app answers."""


class LoggedErrorTask(_AccessLogged, ErrorTask):
    """A request waitress refuses itself (a body over its limit, malformed or oversized headers), answered
    in the API's JSON error shape rather than waitress's plain text, then the connection closed."""

    def execute(self):
        error = self.request.error
        if error.code == 413:  # the app's own 413 (service/errors.py), naming the app's limit, not waitress's
            limit = self.channel.server.app_body_limit
            code, message = "payload_too_large", f"request body is too large: at most {limit} bytes"
        elif error.code == 431:
            code, message = "request_header_fields_too_large", (
                f"request headers are too large: at most {self.channel.adj.max_request_header_size} bytes together")
        elif error.code == 500:
            # imported here: service.errors imports flask, and the CLI reads this module's limits for the
            # help of every command, `ask` and `build` included, which need no web server
            from service.errors import INTERNAL_MESSAGE

            code, message = "internal_error", INTERNAL_MESSAGE
        else:  # 400 for a request waitress cannot parse, 501 for a transfer coding it does not know: its own words
            code, message = error.reason.lower().replace(" ", "_"), str(error.body)
        body = json.dumps({"error": {"code": code, "message": message}}, ensure_ascii=False).encode("utf-8")
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.channel.linger = True
        self.content_length = len(body)
        self.write(body)


class Channel(HTTPChannel):
    """A connection: requests parsed by :class:`Utf8RequestLineParser`, answered by tasks that log, and
    whose next pipelined request waits off the worker threads while its client has not read its answers.

    waitress served a connection's pipelined requests one after another, and before each next one its
    worker waited, with no timeout, until the unread answers fell below outbuf_high_watermark: four
    connections that sent 100 requests each and read nothing held all four threads. Here that request
    is *parked*: the worker returns to the pool, and the main loop queues the request again once the
    client has read enough (``handle_write``), or closes the connection after the idle timeout
    (``Connections.sweep``).
    """

    parser_class = Utf8RequestLineParser
    task_class = LoggedWSGITask
    error_task_class = LoggedErrorTask
    parked = False  # a request waits for the client to read what was answered before
    closing = False  # the server chose to close it (timeout, or room at the limit)
    linger = False  # closed after a refusal (LoggedErrorTask): what the client still sends is dropped first
    lingering_since: float | None = None
    _writing = False  # a task is writing its answer (write_soon)

    def service(self):
        with self.outbuf_lock:
            if self.connected and self.total_outbufs_len > self.adj.outbuf_high_watermark:
                self.parked = True
                return
        super().service()

    def write_soon(self, data):
        self._writing = True
        try:
            return super().write_soon(data)
        finally:
            self._writing = False

    def _flush_outbufs_below_high_watermark(self):
        # Within an answer (one streamed past the watermark) waitress's wait stays: it bounds memory,
        # and a client that reads nothing is closed after the idle timeout, which wakes the worker.
        # Between two pipelined requests no worker waits: service() parks the next one.
        if self._writing:
            super()._flush_outbufs_below_high_watermark()

    def readable(self):
        return self.lingering_since is not None or super().readable()

    def writable(self):
        if self.lingering_since is not None:
            return False
        return self.parked or super().writable()

    def handle_read(self):
        if self.lingering_since is None:
            super().handle_read()
            return
        try:
            self.recv(self.adj.recv_bytes)  # dropped; the client's end (b"") or a reset closes the channel
        except OSError:
            self.close_now()

    def handle_write(self):
        super().handle_write()
        if self.parked and self.connected and self.outbuf_lock.acquire(False):
            try:
                resume = self.parked and self.total_outbufs_len <= self.adj.outbuf_high_watermark
                if resume:
                    self.parked = False
            finally:
                self.outbuf_lock.release()
            if resume:
                self.server.add_task(self)

    def handle_close(self):
        self.parked = False
        if self.linger and self.lingering_since is None and self.socket is not None and not self.total_outbufs_len:
            # A refusal (413 before the body, 431) is sent while the client may still be sending: closing with
            # its bytes unread makes the kernel answer them with a reset, and the client sees that instead
            # of the refusal. So our side is shut, and what comes is read and dropped until the client
            # closes, or LINGER seconds (Connections.sweep).
            try:
                self.socket.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            else:
                self.lingering_since, self.will_close = time.time(), False
                return
        super().handle_close()

    def close_now(self):
        """Close, without lingering."""
        self.linger = False
        self.handle_close()


class Connections:
    """The client connections of one server (its listeners share one socket map): what the idle and
    request timeouts close, and room for a new one at the connection limit.

    Runs on the main loop's thread, while it asks each socket whether to wait on it; closing is left to
    the listener's trigger (``_close_later``), which runs in the same turn of the loop, after the poll,
    as waitress closes sockets itself.
    """

    def __init__(self, sockets: dict, *, limit: int, idle_timeout: float, request_timeout: float):
        self.sockets = sockets
        self.others = len(sockets)  # the listeners and their triggers, already in the map
        self.limit, self.idle_timeout, self.request_timeout = limit, idle_timeout, request_timeout
        self.full_since: float | None = None
        self.next_sweep = 0.0

    def clients(self) -> list[Channel]:
        return [entry for entry in list(self.sockets.values()) if isinstance(entry, Channel) and not entry.closing]

    def state(self, channel: Channel) -> str:
        """What a connection is doing: sending, answered (output waits for its client), busy (queued or
        being answered), idle (between requests), closing (dropping what follows a refusal)."""
        if channel.lingering_since is not None:
            return "closing"
        if channel.total_outbufs_len:
            return "answered"
        if channel.requests:
            return "busy"
        if channel.request is not None:
            return "sending"
        return "idle"

    def expired(self, channel: Channel, now: float) -> str | None:
        """Why ``channel`` is to be closed now, or None."""
        state = self.state(channel)
        if state == "closing" and now - channel.lingering_since > LINGER:
            return "lingered"
        if state == "answered" and now - channel.last_activity > self.idle_timeout:
            return "stalled"
        if state == "sending" and now - channel.request.started > self.request_timeout:
            return "slow"
        if state == "idle" and now - channel.last_activity > self.idle_timeout:
            return "idle"
        return None

    def sweep(self, now: float, trigger) -> None:
        """Close, once a second, the connections past a timeout."""
        if now < self.next_sweep:
            return
        self.next_sweep = now + 1.0
        due: dict[str, list[Channel]] = {}
        for channel in self.clients():
            why = self.expired(channel, now)
            if why:
                due.setdefault(why, []).append(channel)
        for why, channels in due.items():
            self._close_later(trigger, channels, why,
                              lambda channel, why=why: self.expired(channel, time.time()) == why)

    def room(self, now: float, trigger, waiting) -> bool:
        """Whether to accept a connection now; at the limit, while one is ``waiting()`` to be accepted,
        the longest-idle keep-alive connections are closed to make room (a browser opens another when it
        needs one), else the log says what fills it. With none waiting, the limit closes nothing and
        says nothing: 200 browsers open are no crowd."""
        count = len(self.sockets) - self.others
        if count >= self.limit:
            if not waiting():
                return False
            idle = sorted((c for c in self.clients()
                           if self.state(c) == "idle" and now - c.last_activity >= IDLE_GRACE),
                          key=lambda c: c.last_activity)[:count - self.limit + 1]
            if idle:
                self._close_later(trigger, idle, "room", lambda channel: self.state(channel) == "idle")
            elif self.full_since is None:
                self.full_since = now
                self._say_full()
            return False
        if self.full_since is not None:
            log.warning("connections below the limit again after %.0f s: accepting new ones", now - self.full_since)
            self.full_since = None
        return True

    def _say_full(self) -> None:
        clients = self.clients()
        states = Counter(self.state(c) for c in clients)
        hosts = Counter(c.addr[0] if isinstance(c.addr, tuple) else str(c.addr) for c in clients)
        log.warning(
            "connection limit reached: %d connections open (--connection-limit, $SPEECHQA_CONNECTION_LIMIT); "
            "new ones wait until one closes. %d sending a request, %d being answered or queued, %d with answers "
            "their client has not read, %d idle under %.0f s; most from %s",
            len(clients), states["sending"], states["busy"], states["answered"], states["idle"], IDLE_GRACE,
            ", ".join(f"{host} ({n})" for host, n in hosts.most_common(3)))

    def _close_later(self, trigger, channels: list[Channel], why: str, still) -> None:
        """Close ``channels`` in this turn of the main loop, each if ``still(channel)`` holds then, and say so."""
        for channel in channels:
            channel.closing = True

        def close():
            hosts = Counter()
            for channel in channels:
                channel.closing = False
                if channel.socket is not None and still(channel):
                    hosts[channel.addr[0] if isinstance(channel.addr, tuple) else str(channel.addr)] += 1
                    if why == "stalled":
                        # reset, not a FIN queued behind answers the client does not read: the kernel frees
                        # their buffers now rather than when its retries give up, and the client sees it
                        channel.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    channel.close_now()
            if hosts:
                self._say_closed(why, hosts)

        trigger.pull_trigger(close)

    def _say_closed(self, why: str, hosts: Counter) -> None:
        count, whom = sum(hosts.values()), ", ".join(f"{host} ({n})" for host, n in hosts.most_common(3))
        if why == "slow":
            log.warning("closed %d connections that sent no whole request within %.0f s (--request-timeout): %s",
                        count, self.request_timeout, whom)
        elif why == "stalled":
            log.warning("closed %d connections whose clients read none of their answers for %.0f s "
                        "(--idle-timeout): %s", count, self.idle_timeout, whom)
        elif why == "room":
            log.info("connection limit (%d) reached: closed the %d longest-idle keep-alive connections to make "
                     "room: %s", self.limit, count, whom)
        # idle keep-alive connections past the idle timeout close without a word, as browsers expect; and
        # connections done lingering after a refusal, which the access log has named


class Listener(TcpWSGIServer):
    """A listening socket whose connections are :class:`Channel` s, bounded by a shared :class:`Connections`."""

    channel_class = Channel
    connections: Connections  # set by listen(), once every listener is bound
    app_body_limit: int  # the app's MAX_CONTENT_LENGTH, which waitress's own 413 names

    def readable(self):
        now = time.time()
        self.connections.sweep(now, self.trigger)
        return bool(self.accepting) and self.connections.room(now, self.trigger, self.waiting)

    def waiting(self) -> bool:
        """Whether a connection waits to be accepted on this listener (asked only at the limit)."""
        return bool(select.select([self.socket], [], [], 0)[0])

    def maintenance(self, now):
        """Nothing: ``Connections.sweep`` does waitress's idle timeout, and the others."""


def stop(server) -> None:
    """Close every socket ``server`` (what ``listen`` returned) holds, its clients' too, and stop its
    worker threads, so that ``server.run()`` returns: closing only the listeners left the main loop
    running while any client kept its connection open."""
    wasyncore.close_all(getattr(server, "_map", None) or server.map, ignore_all=True)
    server.task_dispatcher.shutdown()


@dataclass(frozen=True)
class Bound:
    """An address a server listens on; ``str()`` is ``host:port`` as a URL writes it."""

    host: str
    port: int

    def __str__(self) -> str:
        return address(self.host, self.port)

    def urls(self) -> tuple[str, str | None]:
        """(the URL to open on this machine, the URL other machines open, or None for a loopback address):
        for every interface (0.0.0.0, ::) 127.0.0.1 or ::1, and this machine's host name."""
        ip = ipaddress.ip_address(self.host.split("%")[0])
        if ip.is_loopback:
            return f"http://{self}/", None
        if ip.is_unspecified:
            local = "127.0.0.1" if ip.version == 4 else "::1"
            return f"http://{address(local, self.port)}/", f"http://{address(socket.gethostname(), self.port)}/"
        return f"http://{self}/", f"http://{self}/"


def address(host: str, port: int) -> str:
    """``host:port`` as a URL writes it (an IPv6 host in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def allow_open_files(connection_limit: int) -> None:
    """Raise this process's soft open-file limit to what ``connection_limit`` connections need, or
    SettingError when the hard limit is below it (accept() failing with EMFILE at run time instead)."""
    need = 2 * connection_limit + OTHER_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return
    if hard != resource.RLIM_INFINITY and hard < need:
        raise SettingError(f"a connection limit of {connection_limit} needs up to {need} open files, and this "
                           f"process may open {hard} (ulimit -Hn) — lower --connection-limit "
                           "($SPEECHQA_CONNECTION_LIMIT) or raise the limit")
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def listen(app, *, host: str, port: int, threads: int = THREADS, connection_limit: int = CONNECTION_LIMIT,
           idle_timeout: int = IDLE_TIMEOUT, request_timeout: int = REQUEST_TIMEOUT):
    """(a waitress server for ``app`` bound to ``host``:``port``, ready to ``run()``; the addresses it
    listens on as :class:`Bound`, one per address a host name resolves to), or CannotListen, nothing left open."""
    allow_open_files(connection_limit)
    app_body_limit = app.config.get("MAX_CONTENT_LENGTH") or DEFAULT_BODY_LIMIT
    if isinstance(app_body_limit, bool) or not isinstance(app_body_limit, int) or app_body_limit < 1:
        raise SettingError("SPEECHQA_MAX_CONTENT_LENGTH must be a number of bytes above 0 "
                           f"(got {as_written(app_body_limit)})")
    sockets: dict = {}  # waitress's socket map: what to close on failure, and the listeners
    try:
        adj = Adjustments(
            host=host, port=port, threads=threads, ident=IDENT,
            connection_limit=connection_limit,
            channel_timeout=idle_timeout,  # as a record: Connections.sweep applies it, and the request timeout
            outbuf_high_watermark=OUTPUT_WATERMARK,
            max_request_body_size=BODY_LIMIT_FACTOR * app_body_limit,
            asyncore_use_poll=True,  # select() fails on a descriptor numbered 1024 or above
        )
        dispatcher = ThreadedTaskDispatcher()  # its threads start once every listener is bound
        listeners = [Listener(app, sockets, dispatcher=dispatcher, adj=adj, sockinfo=info) for info in adj.listen]
    except OSError as exc:
        wasyncore.close_all(sockets)
        hint = BIND_HINTS.get(exc.errno)
        raise CannotListen(f"cannot listen on {address(host, port)}: {exc.strerror or exc}"
                           + (f"; {hint}" if hint else "")) from None
    except ValueError:  # waitress's word for a host getaddrinfo cannot resolve, raised before any socket opens
        raise CannotListen(f"cannot listen on {address(host, port)}: {as_written(host)} is not an IP address or a "
                           "host name this machine resolves — check --host") from None
    connections = Connections(sockets, limit=connection_limit, idle_timeout=idle_timeout,
                              request_timeout=request_timeout)
    for listener in listeners:
        listener.connections, listener.app_body_limit = connections, app_body_limit
    dispatcher.set_thread_count(threads)
    throttle(logging.getLogger("waitress.queue"))
    throttle(log)
    bound = [Bound(listener.effective_host, listener.effective_port) for listener in listeners]
    if len(listeners) == 1:
        return listeners[0], bound
    return MultiSocketServer(sockets, adj, [(b.host, b.port) for b in bound], dispatcher,
                             listeners[-1].log_info), bound
