"""The airlock Inspect provider's configuration: a model, and how a config is found.

A task names it as ``sandbox=("airlock", "airlock.toml")`` (a TOML or JSON file
with the fields below), as an AirlockSandboxConfig object, or not at all (the
defaults: debian-12, no network). A file with another suffix is an airlock spec
file (docs/spec.md), sent as the create's spec text.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from .errors import InvalidRequest

try:  # Inspect itself depends on pydantic, and wants a BaseModel back from config_deserialize
    from pydantic import BaseModel as _Base
    from pydantic import ConfigDict as _ConfigDict
    _PYDANTIC = True
except ImportError:  # the SDK alone (or the tests' stand-in): a frozen dataclass
    _Base = object  # type: ignore[assignment,misc]
    _PYDANTIC = False


class AirlockSandboxConfig(_Base):  # type: ignore[misc,valid-type]
    """How the provider makes (or finds) a sample's sandbox."""

    if _PYDANTIC:
        model_config = _ConfigDict(frozen=True, extra="forbid")

    image: Optional[str] = None          # base image (default: airlockd's, debian-12)
    spec: Optional[str] = None           # an airlock spec file (path), sent as its text
    cpus: Optional[int] = None
    memory_mib: Optional[int] = None
    disk_gib: Optional[int] = None
    network: Optional[str] = None        # none (default here), nat, allow
    allow: Optional[Tuple[str, ...]] = None  # host:port entries (network allow)
    ttl: Optional[str] = None            # e.g. "6h": airlockd destroys a leaked sandbox
    env: Optional[Tuple[Tuple[str, str], ...]] = None
    secrets_file: Optional[str] = None   # KEY=VALUE lines, mode 0600, read by the provider
    workdir: str = "/root"               # where relative paths and cwd resolve
    name_prefix: str = "inspect-"        # sandbox names: PREFIX + 8 hex
    pool: bool = True                    # reset and reuse between samples (else destroy)
    keep_evidence: bool = False          # archive logs when destroying
    create_timeout_s: Optional[int] = None
    sandboxes: Optional[Tuple[str, ...]] = None  # use these existing sandboxes (never destroyed)
    socket: Optional[str] = None         # airlockd's socket ($AIRLOCK_SOCKET)
    url: Optional[str] = None            # or TCP ($AIRLOCK_URL) with $AIRLOCK_TOKEN


if not _PYDANTIC:
    AirlockSandboxConfig = dataclass(frozen=True)(AirlockSandboxConfig)  # type: ignore[misc]

FIELDS = [
    "image", "spec", "cpus", "memory_mib", "disk_gib", "network", "allow", "ttl", "env",
    "secrets_file", "workdir", "name_prefix", "pool", "keep_evidence", "create_timeout_s",
    "sandboxes", "socket", "url",
]


def config_from_dict(d: Dict[str, Any], base_dir: Optional[str] = None) -> AirlockSandboxConfig:
    """A config from plain data (a parsed file or a serialized model)."""
    unknown = sorted(set(d) - set(FIELDS))
    if unknown:
        raise InvalidRequest("unknown airlock sandbox config field %s (known: %s)" %
                             (", ".join(unknown), ", ".join(FIELDS)))
    kw = dict(d)
    for k in ("allow", "sandboxes"):
        if kw.get(k) is not None:
            kw[k] = tuple(str(x) for x in kw[k])
    if isinstance(kw.get("env"), dict):
        kw["env"] = tuple(sorted((str(k), str(v)) for k, v in kw["env"].items()))
    elif kw.get("env") is not None:
        kw["env"] = tuple(tuple(e) for e in kw["env"])
    if base_dir:
        for k in ("spec", "secrets_file"):
            if kw.get(k) and not os.path.isabs(kw[k]):
                kw[k] = os.path.join(base_dir, kw[k])
    return AirlockSandboxConfig(**kw)


def resolve_config(config: Any) -> AirlockSandboxConfig:
    """The config Inspect hands a provider (None, a file name, a model) as a model."""
    if config is None:
        return AirlockSandboxConfig()
    if isinstance(config, AirlockSandboxConfig):
        return config
    if isinstance(config, dict):
        return config_from_dict(config)
    if isinstance(config, str):
        path = os.path.abspath(config)
        base = os.path.dirname(path)
        if path.endswith(".toml"):
            import tomllib
            with open(path, "rb") as f:
                return config_from_dict(tomllib.load(f), base)
        if path.endswith(".json"):
            with open(path, "rb") as f:
                return config_from_dict(json.load(f), base)
        return AirlockSandboxConfig(spec=path)
    dump = getattr(config, "model_dump", None)
    if callable(dump):
        return config_from_dict(dump())
    raise InvalidRequest("the airlock sandbox config must be a file name or an "
                         "AirlockSandboxConfig, not %s" % type(config).__name__)


_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def read_secrets_file(path: str) -> Dict[str, str]:
    """KEY=VALUE lines (# comments, blank lines); refused when others may read the file.

    Errors name the file and line, never a value."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise InvalidRequest("secrets file %s is readable by others (chmod 600 %s)" %
                                 (path, path))
        text = f.read(1024 * 1024 + 1)
    if len(text) > 1024 * 1024:
        raise InvalidRequest("secrets file %s is over 1 MiB" % path)
    out: Dict[str, str] = {}
    for n, raw in enumerate(text.decode("utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, eq, value = line.partition("=")
        if not eq or not _KEY.match(key.strip()):
            raise InvalidRequest("%s:%d: not KEY=VALUE" % (path, n))
        out[key.strip()] = value
    return out


def create_args(cfg: AirlockSandboxConfig) -> Dict[str, Any]:
    """The Client.create keyword arguments for @cfg (secrets read here, not kept)."""
    kw: Dict[str, Any] = {}
    if cfg.spec:
        with open(cfg.spec, "r", encoding="utf-8") as f:
            kw["spec"] = f.read(1024 * 1024)
    for k in ("image", "cpus", "memory_mib", "disk_gib", "ttl"):
        if getattr(cfg, k) is not None:
            kw[k] = getattr(cfg, k)
    if cfg.network is not None:
        kw["network"] = cfg.network
    elif not cfg.spec and not cfg.allow:
        kw["network"] = "none"
    if cfg.allow:
        kw["allow"] = list(cfg.allow)
    if cfg.env:
        kw["env"] = dict(cfg.env)
    if cfg.create_timeout_s:
        kw["timeout_s"] = cfg.create_timeout_s
    if cfg.secrets_file:
        kw["secrets"] = read_secrets_file(cfg.secrets_file)
    return kw


def labels_for(task_name: str) -> Dict[str, str]:
    """The labels of every sandbox the provider makes: cli_cleanup finds them by these."""
    task = re.sub(r"[^a-z0-9._-]+", "-", task_name.lower()).strip("-")[:200] or "task"
    return {"inspect": "1", "inspect-task": task}
