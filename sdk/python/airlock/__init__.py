"""airlock: a Python client for airlockd, and an Inspect AI sandbox provider.

Standard library only. ``Client`` speaks airlockd's REST API over its unix
socket or over TCP with a token; ``AsyncClient`` is the asyncio variant; the
Inspect provider is ``airlock.inspect_provider`` (registered as ``airlock``
through the ``inspect_ai`` entry point). See docs/python.md.
"""

from .aio import AsyncClient
from .client import (DEFAULT_SOCKET, Client, EventStream, ExecStream, OutputLimitExceeded,
                     Sandbox)
from .errors import (AgentError, AirlockError, AlreadyExists, ConnectError, Failed, HostError,
                     ImageError, InvalidRequest, LibvirtError, MethodNotAllowed, NotFound,
                     PermissionDenied, ProtocolError, QuotaExceeded, Timeout, TooLarge,
                     Unauthorized, Unavailable)
from .models import (DestroyResult, Event, ExecChunk, ExecResult, Image, PauseResult, ResetResult,
                     ResumeResult, SandboxInfo, SnapshotInfo, WhoAmI)

__version__ = "0.1.0"

__all__ = [
    "AgentError", "AirlockError", "AlreadyExists", "AsyncClient", "Client", "ConnectError",
    "DEFAULT_SOCKET", "DestroyResult", "Event", "EventStream", "ExecChunk", "ExecResult",
    "ExecStream", "Failed", "HostError", "Image", "ImageError", "InvalidRequest", "LibvirtError",
    "MethodNotAllowed", "NotFound", "OutputLimitExceeded", "PauseResult", "PermissionDenied",
    "ProtocolError", "QuotaExceeded", "ResetResult", "ResumeResult", "Sandbox", "SandboxInfo", "SnapshotInfo", "Timeout",
    "TooLarge", "Unauthorized", "Unavailable", "WhoAmI", "__version__",
]
