"""Exceptions for airlockd's error bodies.

Every error airlockd returns is ``{"error": {"code": ..., "message": ...}}``
(docs/api.md). Each stable ``code`` has its own class here; the classes also
derive from the matching built-in exception where one fits (``Timeout`` is a
``TimeoutError``, ``NotFound`` a ``LookupError``, ``PermissionDenied`` a
``PermissionError``) so that generic handlers work.

The text of an exception is only airlockd's one-line message: never a request
body, so a secret sent at create time cannot reach a traceback or a log.
"""

from __future__ import annotations

from typing import Dict, Optional, Type


class AirlockError(Exception):
    """An error from airlockd (or from talking to it).

    ``code`` is airlockd's stable error code (``"not-found"``, ``"quota"``...),
    ``message`` its one-line message, ``status`` the HTTP status (``None`` when
    the error happened before or without an answer).
    """

    code = "failed"

    def __init__(self, message: str, code: Optional[str] = None, status: Optional[int] = None):
        Exception.__init__(self, message)
        self.message = message
        if code is not None:
            self.code = code
        self.status = status

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return "%s(code=%r, status=%r, message=%r)" % (
            type(self).__name__, self.code, self.status, self.message)


class InvalidRequest(AirlockError, ValueError):
    """400 ``invalid``: a bad name, an unknown field, a bad guest path..."""
    code = "invalid"


class NotFound(AirlockError, LookupError):
    """404 ``not-found``: no such sandbox (or another user's), snapshot or file."""
    code = "not-found"


class AlreadyExists(AirlockError):
    """409 ``exists``: a sandbox of that name exists."""
    code = "exists"


class Timeout(AirlockError, TimeoutError):
    """504 ``timeout``, or an exec whose ``timeout`` ran out (its process group was killed).

    For an exec, ``stdout`` and ``stderr`` hold what the command wrote before it was killed.
    """
    code = "timeout"

    def __init__(self, message: str, code: Optional[str] = None, status: Optional[int] = None):
        AirlockError.__init__(self, message, code, status)
        self.stdout = b""
        self.stderr = b""


class AgentError(AirlockError):
    """502 ``agent``: the guest's agent failed or did not answer."""
    code = "agent"


class LibvirtError(AirlockError):
    """502 ``libvirt``: libvirt refused or failed."""
    code = "libvirt"


class ConnectError(AirlockError, ConnectionError):
    """503 ``connect``: airlockd cannot reach libvirtd; also: the SDK cannot reach airlockd."""
    code = "connect"


class HostError(AirlockError):
    """503 ``host``: something on the host (disk, bridge, firewall) is missing or broken."""
    code = "host"


class ImageError(AirlockError):
    """500 ``image``: the base image is missing or does not match its manifest."""
    code = "image"


class Failed(AirlockError):
    """500 ``failed``: the operation failed (the message says why)."""
    code = "failed"


class Unauthorized(AirlockError, PermissionError):
    """401 ``unauthorized``: no token, or an expired, revoked or forged one (TCP only)."""
    code = "unauthorized"


class PermissionDenied(AirlockError, PermissionError):
    """403 ``forbidden``: the caller is not in airlockd's user or admin group."""
    code = "forbidden"


class QuotaExceeded(AirlockError, PermissionError):
    """403 ``quota``: the caller's sandbox, memory or vCPU quota is used up."""
    code = "quota"


class TooLarge(AirlockError):
    """413 ``too-large``: a body (JSON, stdin or a file) over airlockd's bound."""
    code = "too-large"


class MethodNotAllowed(AirlockError):
    """405 ``method-not-allowed``."""
    code = "method-not-allowed"


class Unavailable(AirlockError):
    """503 ``unavailable``: airlockd is shutting down (retry once it is back)."""
    code = "unavailable"


class ProtocolError(AirlockError):
    """An answer the SDK cannot read (not JSON, a frame too long, the stream cut short)."""
    code = "protocol"


ERRORS: Dict[str, Type[AirlockError]] = {
    cls.code: cls
    for cls in (InvalidRequest, NotFound, AlreadyExists, Timeout, AgentError, LibvirtError,
                ConnectError, HostError, ImageError, Failed, Unauthorized, PermissionDenied,
                QuotaExceeded, TooLarge, MethodNotAllowed, Unavailable, ProtocolError)
}


def error_from_body(body: object, status: Optional[int]) -> AirlockError:
    """The exception for an error body ``{"error": {"code", "message"}}`` (or anything else)."""
    code, message = None, None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        if isinstance(err.get("code"), str):
            code = err["code"]
        if isinstance(err.get("message"), str):
            message = err["message"]
    if code is None:
        return ProtocolError("airlockd answered %s without an error body" % status, status=status)
    cls = ERRORS.get(code, AirlockError)
    return cls(_one_line(message or code), code=code, status=status)


def _one_line(text: str, limit: int = 2000) -> str:
    """Server text made safe to print: one line, no control characters, bounded."""
    out = "".join(c if c >= " " and c != "\x7f" else " " for c in text)
    return out if len(out) <= limit else out[:limit] + "..."
