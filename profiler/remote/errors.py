"""Client and HTTP failures as the one line a user reads (never with the API key in it)."""

from __future__ import annotations

import json
import re
import socket
import ssl
from urllib.parse import urlsplit

from profiler.printable import printable_line

CONNECT = "connect"  # refused, DNS, TLS, connect timeout: every request would fail the same way
HTTP = "http"  # the server answered 4xx/5xx
STALL = "stall"  # no data for --stream-timeout seconds: the session ends interrupted with its tokens
STREAM = "stream"  # a malformed or error event, or the connection dropped mid-stream


class RemoteError(Exception):
    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def scrub(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


def where(url: str) -> str:
    """host:port of a request URL, for error lines."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


def describe_client_error(exc: BaseException, url: str) -> RemoteError:
    import aiohttp

    parts = urlsplit(url)
    place = where(url)
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        reason = getattr(exc.certificate_error, "verify_message", None) or exc.certificate_error
        return RemoteError(f"TLS certificate of {place} not trusted ({reason}); --insecure skips verification",
                           CONNECT)
    if isinstance(exc, (aiohttp.ClientConnectorSSLError, aiohttp.ClientSSLError)) or isinstance(
            getattr(exc, "os_error", None), ssl.SSLError):
        return RemoteError(f"TLS error talking to {place}: {_first_line(exc)}", CONNECT)
    if isinstance(exc, aiohttp.ClientConnectorError):
        os_error = exc.os_error
        if isinstance(os_error, socket.gaierror) or type(exc).__name__ == "ClientConnectorDNSError":
            return RemoteError(f"can't resolve host {parts.hostname!r}: {os_error.strerror or os_error}", CONNECT)
        if isinstance(os_error, ConnectionRefusedError):
            return RemoteError(f"can't connect to {place}: connection refused (is the server running?)", CONNECT)
        return RemoteError(f"can't connect to {place}: {os_error.strerror or os_error}", CONNECT)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return RemoteError(f"can't connect to {place}: no connection within the connect timeout", CONNECT)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return RemoteError(f"{place} closed the connection mid-stream", STREAM)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return RemoteError(f"the stream from {place} broke off: {_first_line(exc)}", STREAM)
    return RemoteError(f"request to {place} failed: {type(exc).__name__}: {_first_line(exc)}", STREAM)


def describe_http_error(status: int, reason: str | None, body: str) -> RemoteError:
    """'server answered 404 Not Found: <its message>'; for 422s, which parameters it refused."""
    message = _server_message(body)
    if status == 422:
        names = _rejected_parameters(body, message)
        if names:
            listed = ", ".join(f"'{n}'" for n in names)
            return RemoteError(f"server rejected parameter {listed} (422: {message})", HTTP)
    text = f"server answered {status} {reason or ''}".rstrip()
    return RemoteError(f"{text}: {message}" if message else text, HTTP)


def _server_message(body: str) -> str:
    try:
        value = json.loads(body)
    except ValueError:
        return _first_line(body) if body.strip() else ""
    if isinstance(value, dict):
        error = value.get("error")
        if isinstance(error, dict) and error.get("message"):
            return _first_line(str(error["message"]))
        for key in ("error", "detail", "message"):
            detail = value.get(key)
            if isinstance(detail, str):
                return _first_line(detail)
            if isinstance(detail, list) and detail:  # FastAPI/pydantic validation errors
                return "; ".join(_pydantic_item(item) for item in detail[:3])
    return _first_line(body)


def _pydantic_item(item) -> str:
    if isinstance(item, dict):
        location = ".".join(str(part) for part in item.get("loc", []) if part != "body")
        return f"{location}: {item.get('msg', '')}" if location else str(item.get("msg", item))
    return str(item)


def _rejected_parameters(body: str, message: str) -> list[str]:
    try:
        value = json.loads(body)
    except ValueError:
        value = None
    names: list[str] = []
    detail = value.get("detail") if isinstance(value, dict) else None
    if isinstance(detail, list):  # pydantic: [{"loc": ["body", "ignore_eos"], "msg": "Extra inputs ..."}]
        names = [str(item["loc"][-1]) for item in detail if isinstance(item, dict) and item.get("loc")]
    if not names:  # transformers serve: "Unexpected fields in the request: {'ignore_eos'}"
        names = re.findall(r"'([A-Za-z_][A-Za-z0-9_.]*)'", message)
    return names


def _first_line(value) -> str:
    """The first line of an exception or a server's text, at most 300 characters, control characters
    made visible (the server's text is outside input: it must never drive the terminal)."""
    text = str(value).strip() or type(value).__name__
    return printable_line(text.splitlines()[0][:300])
