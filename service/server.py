"""The HTTP server `speechqa serve` runs: waitress, bound before it says where it listens.

Not ``waitress.serve``, which calls ``logging.basicConfig()``: the root handler it adds printed every
record of ours a second time. And two things it does not do: a bind that fails is one line saying
what to change (``CannotListen``), and a request line holding raw UTF-8 (curl ``-G -d place=南宁``
sends one) is read as its percent-encoded form, as browsers send it, instead of waitress's
plain-text 400 "Bad URI".
"""
from __future__ import annotations

import errno
import re

from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import BaseWSGIServer, create_server

from index.errors import SpeechQAError

IDENT = "speechqa"  # the Server header
# What to change when a bind fails with one of these (any other: the system's words suffice).
BIND_HINTS = {
    errno.EADDRINUSE: "another program listens there — stop it or choose another --port",
    errno.EADDRNOTAVAIL: "no interface of this machine has that address — check --host",
    errno.EACCES: "not allowed to listen there (ports below 1024 need privileges) — choose another --port",
}
_NON_ASCII = re.compile(rb"[\x80-\xff]")


class CannotListen(SpeechQAError):
    """The server cannot listen on the host and port asked for."""

    code = "cannot_listen"


class Utf8RequestLineParser(HTTPRequestParser):
    """waitress's parser, reading a request line's raw non-ASCII bytes percent-encoded (RFC 3987's
    IRI-to-URI mapping), so they reach the app as the same bytes a browser's %XX escapes would."""

    def parse_header(self, header_plus: bytes) -> None:
        request_line, newline, fields = header_plus.partition(b"\r\n")
        encoded = _NON_ASCII.sub(lambda byte: b"%%%02X" % byte[0][0], request_line)
        super().parse_header(encoded + newline + fields)


class Utf8RequestLineChannel(HTTPChannel):
    """A connection whose requests are parsed by :class:`Utf8RequestLineParser`."""

    parser_class = Utf8RequestLineParser


def address(host: str, port: int) -> str:
    """``host:port`` as a URL writes it (an IPv6 host in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def listen(app, *, host: str, port: int, threads: int):
    """(a waitress server for ``app`` bound to ``host``:``port``, ready to ``run()``; the addresses it
    listens on, one per address a host name resolves to), or CannotListen, nothing left open."""
    sockets: dict = {}  # waitress's socket map: what to close on failure, and the listeners
    try:
        server = create_server(app, map=sockets, host=host, port=port, threads=threads, ident=IDENT)
    except OSError as exc:
        wasyncore.close_all(sockets)
        hint = BIND_HINTS.get(exc.errno)
        raise CannotListen(f"cannot listen on {address(host, port)}: {exc.strerror or exc}"
                           + (f"; {hint}" if hint else "")) from None
    except ValueError:  # waitress's word for a host getaddrinfo cannot resolve, raised before any socket opens
        raise CannotListen(f"cannot listen on {address(host, port)}: {host!r} is not an IP address or a host name "
                           "this machine resolves — check --host") from None
    listeners = [listener for listener in sockets.values() if isinstance(listener, BaseWSGIServer)]
    for listener in listeners:
        listener.channel_class = Utf8RequestLineChannel  # read when a connection is accepted, in run()
    return server, [address(listener.effective_host, listener.effective_port) for listener in listeners]
