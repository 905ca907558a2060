"""What every request and answer of the web service passes through: which other origins' pages may
call the JSON API (CORS), a query string whose escapes are not UTF-8 refused, and the headers that
keep a page to its own resources. ``create_app`` registers them; they import flask, which the
package itself does not, so that the CLI (a module of the package) starts without it.
"""
from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from flask import Flask, request
from flask_cors import CORS
from werkzeug.exceptions import BadRequest

from index.errors import SettingError, as_written
from service.api import API_PATHS
from service.openapi import BUILD_HEADER

# scheme://host[:port] and nothing more, as a browser's Origin header names a page's origin: the host a
# name or a bracketed IPv6 address; anything else (a path, a query, a wildcard) names no origin
_ORIGIN = re.compile(r"https?://(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def allow_origins(app: Flask) -> None:
    """Let the pages of ``CORS_ORIGINS`` ($SPEECHQA_CORS_ORIGINS: origins separated by spaces or commas,
    such as ``https://addin.example``) call the JSON API from a browser: a Word add-in or an intranet
    portal served from another origin could not. None by default, and never ``*``: with no login, any
    web page a colleague opens could otherwise read the library through their browser."""
    given = app.config.get("CORS_ORIGINS")
    origins = given if isinstance(given, list) else str(given or "").replace(",", " ").split()
    bad = [origin for origin in origins if not _ORIGIN.fullmatch(str(origin))]
    if bad:
        raise SettingError(f"SPEECHQA_CORS_ORIGINS must list web origins such as https://addin.example, "
                           f"never * (got {as_written(bad[0])})")
    if not origins:
        return
    # flask-cors's own Vary (vary_header) comes only with an Access-Control-Allow-Origin it echoes, and only
    # when several origins are allowed; but the answer to a refused origin, or with one allowed, varies by
    # Origin too, and a shared cache must not hand it to another origin
    # Each origin as a pattern of itself, whole: flask-cors reads a string with a regex character in it
    # ([::1]'s brackets) as a regex it matches at the start only. always_send off: an answer to a request
    # without an Origin named the trusted origins to whoever asked.
    exact = [re.compile(re.escape(origin) + r"\Z", re.IGNORECASE) for origin in origins]
    CORS(app, resources={API_PATHS: {"origins": exact}}, methods=["GET", "POST"], always_send=False,
         allow_headers=["Content-Type", "Authorization"], vary_header=False,
         # an add-in saving an export names the file as the server does
         expose_headers=[BUILD_HEADER, "Content-Disposition"])

    @app.after_request
    def vary_by_origin(response):
        if API_PATHS.match(request.path):
            response.vary.add("Origin")
        return response


def require_utf8_query_string() -> None:
    """400 for a query string whose escapes are not UTF-8 (q=%ED%A0%80, %FF%FE): werkzeug would hand
    them on as the literal text "%ED%A0%80", and that would be searched."""
    try:
        unquote_to_bytes(request.query_string).decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the query string is not valid UTF-8: its %-escapes must encode UTF-8 text, such as "
                         "%E7%B2%AE for 粮 — send valid Unicode text") from None


def security_headers(response):
    """Only our own stylesheet and script (service/static/), no outside resources: a last line behind escaping."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    # a page's URL holds the question (q=…): no other site learns it from a link followed
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html":
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
            "base-uri 'none'; frame-ancestors 'none'")
    return response
