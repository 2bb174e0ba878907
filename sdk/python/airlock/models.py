"""Typed results of airlockd's routes (plain dataclasses).

Each keeps the whole JSON object it was made from in ``raw``, so that a field
airlockd adds later is readable before the SDK names it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


def _get(d: Dict[str, Any], key: str, kind: type, default: Any = None) -> Any:
    v = d.get(key, default)
    return v if isinstance(v, kind) else default


@dataclass
class WhoAmI:
    """The caller as airlockd sees it (``GET /v1/whoami``)."""
    user: str
    uid: int
    role: str  # "admin" or "user"

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "WhoAmI":
        return cls(_get(d, "user", str, ""), _get(d, "uid", int, -1), _get(d, "role", str, ""))


@dataclass
class Image:
    """A base image (``GET /v1/images``)."""
    name: str
    digest: str
    created: str
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Image":
        return cls(_get(d, "name", str, ""), _get(d, "digest", str, ""),
                   _get(d, "created", str, ""), d)


@dataclass
class SandboxInfo:
    """A sandbox as listed or inspected. ``secrets`` and ``env`` are names only."""
    name: str
    state: str
    image: str
    owner: str
    cpus: int
    memory_mib: int
    network_mode: str
    created: str
    ttl_s: int
    labels: Dict[str, str]
    secrets: List[str]
    env: List[str]
    exec_channel: Optional[str] = None
    timings_s: Optional[Dict[str, float]] = None  # create only
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "SandboxInfo":
        net = _get(d, "network", dict, {})
        return cls(
            name=_get(d, "name", str, ""), state=_get(d, "state", str, ""),
            image=_get(d, "image", str, ""), owner=_get(d, "owner", str, ""),
            cpus=_get(d, "cpus", int, 0), memory_mib=_get(d, "memory_mib", int, 0),
            network_mode=_get(net, "mode", str, ""), created=_get(d, "created", str, ""),
            ttl_s=_get(d, "ttl_s", int, 0), labels=_get(d, "labels", dict, {}),
            secrets=_get(d, "secrets", list, []), env=_get(d, "env", list, []),
            exec_channel=_get(d, "exec_channel", str), timings_s=_get(d, "timings_s", dict),
            raw=d)


@dataclass
class SnapshotInfo:
    """A named snapshot of a sandbox."""
    tag: str
    created: str
    parent: Optional[str]
    memory_bytes: int
    disk_bytes: int

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "SnapshotInfo":
        return cls(_get(d, "tag", str, ""), _get(d, "created", str, ""), _get(d, "parent", str),
                   _get(d, "memory_bytes", int, 0), _get(d, "disk_bytes", int, 0))


@dataclass
class ResetResult:
    """What a reset restored (``to``: "clean" or a snapshot tag) and how long each step took."""
    name: str
    to: str
    timings_s: Dict[str, float]

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "ResetResult":
        return cls(_get(d, "name", str, ""), _get(d, "to", str, ""), _get(d, "timings_s", dict, {}))


@dataclass
class PauseResult:
    """A paused sandbox: how long the save took and how much memory went to disk."""
    name: str
    timings_s: Dict[str, float]
    memory_bytes: int

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "PauseResult":
        return cls(_get(d, "name", str, ""), _get(d, "timings_s", dict, {}),
                   _get(d, "memory_bytes", int, 0))


@dataclass
class ResumeResult:
    """A resumed sandbox and how long each step of the restore took."""
    name: str
    timings_s: Dict[str, float]

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "ResumeResult":
        return cls(_get(d, "name", str, ""), _get(d, "timings_s", dict, {}))


@dataclass
class DestroyResult:
    """A destroyed sandbox and where its evidence was archived (``None``: not kept)."""
    name: str
    archive: Optional[str]

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "DestroyResult":
        return cls(_get(d, "name", str, ""), _get(d, "archive", str))


@dataclass
class ExecResult:
    """A finished command: its exit code and everything it wrote (bytes)."""
    exit_code: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def stdout_text(self) -> str:
        return self.stdout.decode("utf-8", errors="replace")

    @property
    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", errors="replace")


@dataclass
class ExecChunk:
    """One piece of a streamed exec: output (``stream`` "stdout"/"stderr", ``data``) or the
    end (``stream`` "exit", ``exit_code`` set)."""
    stream: str
    data: bytes = b""
    exit_code: Optional[int] = None


@dataclass
class Event:
    """One server-sent event: ``kind`` "audit" (a record of the audit log) or "live"
    (a libvirt event), ``data`` its JSON object."""
    kind: str
    data: Dict[str, Any]
