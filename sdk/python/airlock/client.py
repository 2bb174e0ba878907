"""A client for airlockd's REST API (docs/api.md), standard library only.

    from airlock import Client
    c = Client()                                   # the unix socket (SO_PEERCRED)
    c = Client(url="http://127.0.0.1:8470", token="airlock_...")   # TCP with a token
    with c.create("eval-1", image="debian-12", network="none") as sb:
        r = sb.exec(["sh", "-c", "echo hi"], timeout=30)
        sb.write_file("/tmp/x", b"\\x00\\x01")
        sb.reset()

Each call opens its own connection (a unix socket connect costs microseconds),
so one Client may be used from several threads at once.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import math
import os
import socket
import tarfile
import urllib.parse
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from . import errors
from .errors import AirlockError
from .models import (DestroyResult, Event, ExecChunk, ExecResult, Image, PauseResult, ResetResult,
                     ResumeResult, SandboxInfo, SnapshotInfo, WhoAmI)

DEFAULT_SOCKET = "/run/airlock/airlockd.sock"
JSON_MAX = 64 * 1024 * 1024        # a JSON answer larger than this is not airlockd's
FRAME_MAX = 16 * 1024 * 1024       # one NDJSON exec frame (airlockd sends 64 KiB of data)
EVENT_MAX = 1024 * 1024            # one server-sent event line
EXEC_OUTPUT_MAX = 64 * 1024 * 1024 # per stream, unless the caller says otherwise

Data = Union[bytes, bytearray, memoryview, str]


class OutputLimitExceeded(AirlockError):
    """A command wrote more than ``max_output`` bytes on one stream; the stream was closed.

    ``stdout`` and ``stderr`` hold the first ``max_output`` bytes of each."""
    code = "output-limit"

    def __init__(self, message: str, stdout: bytes = b"", stderr: bytes = b""):
        AirlockError.__init__(self, message)
        self.stdout = stdout
        self.stderr = stderr


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over a unix socket: airlockd learns the caller from SO_PEERCRED."""

    def __init__(self, path: str, timeout: Optional[float]):
        http.client.HTTPConnection.__init__(self, "airlockd", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(self.timeout)
            s.connect(self._path)
        except BaseException:
            s.close()
            raise
        self.sock = s


def _b(data: Data) -> bytes:
    if isinstance(data, str):
        return data.encode("utf-8")
    return bytes(data)


def _quote(segment: str) -> str:
    # A name with '/' or '?' must stay one path segment: airlockd then refuses it as invalid.
    return urllib.parse.quote(str(segment), safe="")


class Client:
    """A connection to airlockd: over its unix socket (default) or over TCP with a token.

    ``socket_path`` defaults to ``$AIRLOCK_SOCKET`` or /run/airlock/airlockd.sock;
    ``url`` (``http://127.0.0.1:8470``, default ``$AIRLOCK_URL``) selects TCP, with
    ``token`` (default ``$AIRLOCK_TOKEN``). ``timeout`` bounds each request that is
    not a create, an exec or an event stream (those get their own bounds).
    """

    def __init__(self, socket_path: Optional[str] = None, url: Optional[str] = None,
                 token: Optional[str] = None, timeout: float = 120.0):
        url = url if url is not None else (None if socket_path else os.environ.get("AIRLOCK_URL"))
        self.timeout = timeout
        self._token = token if token is not None else os.environ.get("AIRLOCK_TOKEN")
        if url:
            u = urllib.parse.urlsplit(url)
            if u.scheme != "http" or not u.hostname:
                raise errors.InvalidRequest(
                    "url must be http://HOST:PORT (airlockd listens on loopback; put a TLS "
                    "proxy in front for remote clients)")
            self._host, self._port = u.hostname, u.port or 80
            self.socket_path = None
            self.endpoint = "http://%s:%d" % (self._host, self._port)
        else:
            self.socket_path = socket_path or os.environ.get("AIRLOCK_SOCKET") or DEFAULT_SOCKET
            self.endpoint = self.socket_path

    def __repr__(self) -> str:  # never the token
        return "Client(%r)" % self.endpoint

    # ---- transport -----------------------------------------------------------------------

    def _connection(self, timeout: Optional[float]) -> http.client.HTTPConnection:
        if self.socket_path:
            return _UnixConnection(self.socket_path, timeout)
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    def _open(self, method: str, path: str, query: Optional[Mapping[str, str]] = None,
              body: Optional[bytes] = None, content_type: Optional[str] = None,
              timeout: Optional[float] = -1.0
              ) -> Tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Sends a request; returns the connection and the response (headers read).

        An error status is raised as its exception here (the body read and closed)."""
        if timeout is not None and timeout < 0:
            timeout = self.timeout
        target = path + ("?" + urllib.parse.urlencode(query) if query else "")
        headers = {"Accept": "application/json"}
        if self._token and not self.socket_path:
            headers["Authorization"] = "Bearer " + self._token
        if content_type:
            headers["Content-Type"] = content_type
        if body is None and method in ("POST", "PUT"):
            body = b""
        conn = self._connection(timeout)
        try:
            conn.request(method, target, body=body, headers=headers)
            resp = conn.getresponse()
        except socket.timeout:
            conn.close()
            raise errors.Timeout("airlockd did not answer %s %s within %s s" %
                                 (method, path, timeout)) from None
        except PermissionError as e:
            conn.close()
            raise errors.PermissionDenied(
                "cannot connect to %s: %s (airlockd's socket is for group airlock: an admin "
                "adds you with adduser USER airlock)" % (self.endpoint, e.strerror)) from None
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            why = getattr(e, "strerror", None) or type(e).__name__
            raise errors.ConnectError(
                "cannot talk to airlockd at %s: %s (is it running? scripts/start-airlockd "
                "starts it)" % (self.endpoint, why)) from None
        if resp.status >= 400:
            try:
                data = self._read_bounded(resp, JSON_MAX)
            finally:
                conn.close()
            raise self._error(resp.status, data)
        return conn, resp

    @staticmethod
    def _read_bounded(resp: http.client.HTTPResponse, limit: int) -> bytes:
        length = resp.getheader("Content-Length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise errors.TooLarge("the answer of %s bytes is over the limit of %d bytes" %
                                  (length, limit))
        try:
            data = resp.read(limit + 1)
        except socket.timeout:
            raise errors.Timeout("airlockd stopped sending its answer") from None
        except (OSError, http.client.HTTPException) as e:
            raise errors.ConnectError("the answer from airlockd was cut short (%s)" %
                                      type(e).__name__) from None
        if len(data) > limit:
            raise errors.TooLarge("the answer is over the limit of %d bytes" % limit)
        return data

    @staticmethod
    def _error(status: int, data: bytes) -> AirlockError:
        try:
            body = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            body = None
        return errors.error_from_body(body, status)

    def _json(self, method: str, path: str, query: Optional[Mapping[str, str]] = None,
              body: Optional[Dict[str, Any]] = None, timeout: Optional[float] = -1.0) -> Any:
        raw = None if body is None else json.dumps(body).encode("utf-8")
        conn, resp = self._open(method, path, query, raw,
                                "application/json" if raw is not None else None, timeout)
        try:
            data = self._read_bounded(resp, JSON_MAX)
        finally:
            conn.close()
            raw = None  # the body may hold secrets: drop it as soon as it is sent
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise errors.ProtocolError("airlockd's answer to %s %s is not JSON" %
                                       (method, path)) from None

    @staticmethod
    def _sb(name: str, *rest: str) -> str:
        return "/".join(["/v1/sandboxes", _quote(name)] + [r for r in rest])

    # ---- host ----------------------------------------------------------------------------

    def whoami(self) -> WhoAmI:
        """Who airlockd takes the caller for, and the role (admin or user)."""
        return WhoAmI.from_json(self._json("GET", "/v1/whoami"))

    def images(self) -> List[Image]:
        """The base images airlockd can create sandboxes from."""
        return [Image.from_json(i) for i in self._json("GET", "/v1/images")]

    def audit_verify(self) -> Dict[str, Any]:
        """The global audit chain's check: ``{"intact", "records", "keyed", "head_lag", "error"}``."""
        return self._json("GET", "/v1/audit/verify")

    def openapi(self) -> Dict[str, Any]:
        """airlockd's OpenAPI document."""
        return self._json("GET", "/v1/openapi.json")

    # ---- sandboxes -----------------------------------------------------------------------

    def list(self, labels: Optional[Union[str, Mapping[str, Optional[str]]]] = None,
             network: bool = False) -> List[SandboxInfo]:
        """The caller's sandboxes (all of them for an admin), optionally only those with
        ``labels`` (``{"team": "red", "suite": None}``: team=red and any suite)."""
        q: Dict[str, str] = {}
        if isinstance(labels, str):
            q["label"] = labels
        elif labels:
            q["label"] = ",".join(k if v is None else "%s=%s" % (k, v) for k, v in labels.items())
        if network:
            q["network"] = "1"
        return [SandboxInfo.from_json(s) for s in self._json("GET", "/v1/sandboxes", q)]

    def create(self, name: str, image: Optional[str] = None, *, spec: Optional[str] = None,
               cpus: Optional[int] = None, memory_mib: Optional[int] = None,
               disk_gib: Optional[int] = None, network: Optional[str] = None,
               allow: Optional[Sequence[str]] = None, ttl: Optional[Union[int, str]] = None,
               env: Optional[Mapping[str, str]] = None,
               labels: Optional[Mapping[str, str]] = None,
               secrets: Optional[Mapping[str, str]] = None, timeout_s: Optional[int] = None,
               no_snapshot: bool = False, keep_evidence: bool = True) -> "Sandbox":
        """Creates and boots a sandbox; returns its handle (a context manager that destroys it).

        ``spec`` is the text of a spec file (docs/spec.md) without host files; the other
        arguments override it. ``secrets`` go only into the guest's seed: airlockd never
        echoes them and neither does this SDK. Blocks until the guest is ready (minutes
        under TCG); ``timeout_s`` bounds that on airlockd's side.
        """
        body: Dict[str, Any] = {"name": name}
        for k, v in (("image", image), ("spec", spec), ("cpus", cpus),
                     ("memory_mib", memory_mib), ("disk_gib", disk_gib), ("network", network),
                     ("ttl", ttl), ("timeout_s", timeout_s)):
            if v is not None:
                body[k] = v
        if allow is not None:
            body["allow"] = list(allow)
        if env:
            body["env"] = dict(env)
        if labels:
            body["labels"] = dict(labels)
        if secrets:
            body["secrets"] = dict(secrets)
        if no_snapshot:
            body["no_snapshot"] = True
        wait = (timeout_s or 900) + 120
        try:
            info = SandboxInfo.from_json(self._json("POST", "/v1/sandboxes", body=body,
                                                    timeout=wait))
        finally:
            body.clear()
        return Sandbox(self, info.name, info, keep_evidence=keep_evidence)

    def sandbox(self, name: str, keep_evidence: bool = True) -> "Sandbox":
        """A handle on an existing sandbox (not checked: ``inspect`` does that)."""
        return Sandbox(self, name, None, keep_evidence=keep_evidence)

    def inspect(self, name: str) -> SandboxInfo:
        """One sandbox's details, with its network status. NotFound when it is not visible."""
        return SandboxInfo.from_json(self._json("GET", self._sb(name)))

    def destroy(self, name: str, evidence: bool = True) -> DestroyResult:
        """Destroys a sandbox; with ``evidence`` its logs are archived first."""
        q = None if evidence else {"evidence": "false"}
        return DestroyResult.from_json(self._json("DELETE", self._sb(name), q, timeout=600))

    def reset(self, name: str, tag: Optional[str] = None) -> ResetResult:
        """Restores the sandbox to its clean state (or to the snapshot ``tag``)."""
        body = {"tag": tag} if tag else {}
        return ResetResult.from_json(self._json("POST", self._sb(name, "reset"), body=body,
                                                timeout=600))

    def pause(self, name: str) -> PauseResult:
        """Saves the running sandbox to disk: its memory is freed until ``resume``."""
        return PauseResult.from_json(self._json("POST", self._sb(name, "pause"), body={},
                                                timeout=600))

    def resume(self, name: str) -> ResumeResult:
        """Brings a paused sandbox back as it was (processes, files), its clock set right."""
        return ResumeResult.from_json(self._json("POST", self._sb(name, "resume"), body={},
                                                 timeout=600))

    def set_ttl(self, name: str, ttl: Union[str, int, None]) -> int:
        """Sets the sandbox's time to live: ``"2h"`` or seconds from now, ``"+2h"`` more than it
        has, ``None`` or ``"none"`` for none. Returns the new TTL in seconds after creation."""
        if ttl is None:
            ttl = "none"
        elif isinstance(ttl, int) and not isinstance(ttl, bool):
            ttl = "%ds" % ttl
        return int(self._json("POST", self._sb(name, "ttl"), body={"ttl": ttl}).get("ttl_s", 0))

    set_timeout = set_ttl

    def snapshots(self, name: str) -> List[SnapshotInfo]:
        """The sandbox's named snapshots."""
        return [SnapshotInfo.from_json(s) for s in self._json("GET", self._sb(name, "snapshots"))]

    def snapshot(self, name: str, tag: str) -> None:
        """Takes the snapshot ``tag`` of the running sandbox (``reset(name, tag)`` returns to it)."""
        self._json("POST", self._sb(name, "snapshots"), body={"tag": tag}, timeout=600)

    def delete_snapshot(self, name: str, tag: str) -> None:
        """Deletes the snapshot ``tag``."""
        self._json("DELETE", self._sb(name, "snapshots", _quote(tag)), timeout=600)

    def stats(self, name: str) -> Dict[str, Any]:
        """CPU, memory, block and network figures of the sandbox."""
        return self._json("GET", self._sb(name, "stats"))

    def logs(self, name: str, kind: str = "console") -> str:
        """The last 64 KiB of the sandbox's ``console`` or ``dns`` log (control characters replaced)."""
        return self._json("GET", self._sb(name, "logs", _quote(kind))).get("text", "")

    # ---- exec ----------------------------------------------------------------------------

    def exec_stream(self, name: str, argv: Sequence[str], *, stdin: Optional[Data] = None,
                    env: Optional[Mapping[str, str]] = None, cwd: Optional[str] = None,
                    timeout: Optional[float] = None, sandbox_env: bool = True,
                    user: Optional[str] = None, group: Optional[str] = None) -> "ExecStream":
        """Starts ``argv`` in the sandbox and returns its output as it comes (an ExecStream).

        The checks (sandbox visible and running, arguments valid) raise here; what the
        command writes arrives by iterating, as ExecChunk pieces ending with the exit.
        ``stdin`` (str or bytes) is sent whole with the request (bounded by airlockd's
        --max-body, 1 MiB by default). ``timeout`` (seconds, rounded up) is enforced in
        the guest: the command's process group is killed and iteration raises Timeout.
        ``sandbox_env``: start from the sandbox's env and secrets (as ``airlock exec``).
        ``user``/``group``: run as that guest user (name or number; default root).
        """
        if isinstance(argv, (str, bytes)):
            raise errors.InvalidRequest("argv must be a list of strings, e.g. ['sh', '-c', 'ls']")
        body: Dict[str, Any] = {"argv": [str(a) for a in argv]}
        if env:
            body["env"] = {str(k): str(v) for k, v in env.items()}
        if cwd is not None:
            body["workdir"] = cwd
        if stdin is not None:
            if isinstance(stdin, str):
                body["stdin"] = stdin
            else:
                body["stdin_base64"] = base64.b64encode(bytes(stdin)).decode("ascii")
        if timeout is not None:
            if timeout <= 0:
                raise errors.InvalidRequest("timeout must be positive seconds")
            body["timeout_s"] = int(math.ceil(timeout))
        if not sandbox_env:
            body["sandbox_env"] = False
        if user is not None:
            body["user"] = str(user)
        if group is not None:
            body["group"] = str(group)
        # No read bound while a command runs silently; a hung guest is airlockd's to notice.
        read_timeout = None if timeout is None else body["timeout_s"] + 60
        conn, resp = self._open("POST", self._sb(name, "exec"),
                                body=json.dumps(body).encode("utf-8"),
                                content_type="application/json", timeout=read_timeout)
        return ExecStream(conn, resp)

    def exec(self, name: str, argv: Sequence[str], *, stdin: Optional[Data] = None,
             env: Optional[Mapping[str, str]] = None, cwd: Optional[str] = None,
             timeout: Optional[float] = None, sandbox_env: bool = True,
             max_output: Optional[int] = EXEC_OUTPUT_MAX, user: Optional[str] = None,
             group: Optional[str] = None) -> ExecResult:
        """Runs ``argv`` in the sandbox to its end: exit code, stdout and stderr (bytes).

        A non-zero exit is a result, not an exception. Timeout when ``timeout`` ran out
        (its ``stdout``/``stderr`` hold the output until then); OutputLimitExceeded when
        a stream passed ``max_output`` bytes (None: no bound).
        """
        out: Dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
        with self.exec_stream(name, argv, stdin=stdin, env=env, cwd=cwd, timeout=timeout,
                              sandbox_env=sandbox_env, user=user, group=group) as stream:
            try:
                for chunk in stream:
                    if chunk.exit_code is not None:
                        return ExecResult(chunk.exit_code, bytes(out["stdout"]),
                                          bytes(out["stderr"]))
                    buf = out[chunk.stream]
                    buf += chunk.data
                    if max_output is not None and len(buf) > max_output:
                        del buf[max_output:]
                        raise OutputLimitExceeded(
                            "the command's %s passed the limit of %d bytes (the command was "
                            "left to finish, its output dropped)" % (chunk.stream, max_output),
                            bytes(out["stdout"]), bytes(out["stderr"]))
            except errors.Timeout as e:
                e.stdout, e.stderr = bytes(out["stdout"]), bytes(out["stderr"])
                raise
        raise errors.ProtocolError("the exec stream ended without an exit code")

    # ---- files ---------------------------------------------------------------------------

    def read_file(self, name: str, path: str, max_bytes: Optional[int] = None) -> bytes:
        """The bytes of the guest file ``path`` (absolute). TooLarge past ``max_bytes``
        (airlockd has its own bound, --max-file, 64 MiB by default)."""
        conn, resp = self._open("GET", self._sb(name, "files"), {"path": path}, timeout=900)
        try:
            return self._read_bounded(resp, max_bytes if max_bytes is not None else 1 << 40)
        finally:
            conn.close()

    def read_text(self, name: str, path: str, max_bytes: Optional[int] = None) -> str:
        """The guest file as UTF-8 text (UnicodeDecodeError when it is not; newlines kept)."""
        return self.read_file(name, path, max_bytes).decode("utf-8")

    def write_file(self, name: str, path: str, data: Data, mode: Optional[int] = None) -> int:
        """Writes ``data`` (bytes, or str as UTF-8) to the guest file ``path``, creating
        missing parents; ``mode`` its permission bits (default 0644). Returns the bytes written."""
        q = {"path": path}
        if mode is not None:
            q["mode"] = "%o" % mode
        conn, resp = self._open("PUT", self._sb(name, "files"), q, _b(data),
                                "application/octet-stream", timeout=900)
        try:
            data_out = self._read_bounded(resp, JSON_MAX)
        finally:
            conn.close()
        try:
            return int(json.loads(data_out.decode("utf-8")).get("bytes", 0))
        except (UnicodeDecodeError, ValueError, AttributeError, TypeError):
            raise errors.ProtocolError("airlockd's answer to a file write is not JSON") from None

    def write_tree(self, name: str, path: str, local_dir: str) -> int:
        """Copies the local directory ``local_dir`` into the guest directory ``path`` (created,
        or merged into one that exists), as ``airlock cp -r``: files, directories and
        symbolic links (never followed), permission bits kept. Returns the archive's size."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            tar.add(local_dir, arcname=".", recursive=True,
                    filter=lambda ti: ti if (ti.isfile() or ti.isdir() or ti.issym()) else None)
        conn, resp = self._open("PUT", self._sb(name, "files"), {"path": path, "recursive": "1"},
                                buf.getvalue(), "application/x-tar", timeout=900)
        try:
            self._read_bounded(resp, JSON_MAX)
        finally:
            conn.close()
        return len(buf.getvalue())

    def read_tree(self, name: str, path: str, local_dir: str,
                  max_bytes: Optional[int] = None) -> List[str]:
        """Copies the guest directory ``path`` into ``local_dir`` (created; must not exist):
        files, directories and symbolic links. The guest is not trusted: a member that is
        absolute, has '..', goes through a link or is anything else is refused
        (ProtocolError) and nothing outside ``local_dir`` is written. Returns the names."""
        conn, resp = self._open("GET", self._sb(name, "files"), {"path": path, "recursive": "1"},
                                timeout=900)
        try:
            data = self._read_bounded(resp, max_bytes if max_bytes is not None else 1 << 40)
        finally:
            conn.close()
        return _untar_safely(data, local_dir)

    # ---- events --------------------------------------------------------------------------

    def events(self, sandbox: Optional[str] = None, idle_timeout: float = 60.0) -> "EventStream":
        """The event stream: first the recorded audit records the caller may see, then new
        ones and libvirt's live events, as Event objects (iterate; ``close()`` to stop).
        airlockd sends a keepalive every 15 s; ``idle_timeout`` seconds of silence end it."""
        q = {"sandbox": sandbox} if sandbox else None
        conn, resp = self._open("GET", "/v1/events", q, timeout=idle_timeout)
        return EventStream(conn, resp)


def _untar_safely(data: bytes, local_dir: str) -> List[str]:
    """Extracts a ustar archive under ``local_dir`` through directory fds, never following a
    link and never overwriting (Python 3.11.2's tarfile has no extraction filter)."""
    os.mkdir(local_dir, 0o755)
    root = os.open(local_dir, os.O_RDONLY | os.O_DIRECTORY)
    names: List[str] = []
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for m in tar:
                parts = [p for p in m.name.split("/") if p not in ("", ".")]
                if m.name.startswith("/") or ".." in parts or any(
                        ord(c) < 0x20 for c in m.name):
                    raise errors.ProtocolError("refused tar member %r from the guest" % m.name)
                if not parts:
                    continue
                fd = os.dup(root)
                try:
                    for comp in parts[:-1]:
                        try:
                            os.mkdir(comp, 0o755, dir_fd=fd)
                        except FileExistsError:
                            pass
                        nfd = os.open(comp, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW,
                                      dir_fd=fd)
                        os.close(fd)
                        fd = nfd
                    last = parts[-1]
                    if m.isdir():
                        try:
                            os.mkdir(last, (m.mode & 0o777) | 0o700, dir_fd=fd)
                        except FileExistsError:
                            pass
                    elif m.issym():
                        os.symlink(m.linkname, last, dir_fd=fd)
                    elif m.isfile():
                        src = tar.extractfile(m)
                        out = os.open(last, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                                      m.mode & 0o777 | 0o600, dir_fd=fd)
                        with os.fdopen(out, "wb") as f:
                            while True:
                                chunk = src.read(1 << 20) if src else b""
                                if not chunk:
                                    break
                                f.write(chunk)
                            os.chmod(f.fileno(), m.mode & 0o777)
                    else:
                        raise errors.ProtocolError("refused tar member %r (not a file, "
                                                   "directory or link)" % m.name)
                except OSError as e:
                    raise errors.ProtocolError("cannot extract %r: %s" % (m.name, e)) from None
                finally:
                    os.close(fd)
                names.append("/".join(parts))
    except tarfile.TarError as e:
        raise errors.ProtocolError("airlockd's archive is not a tar: %s" % e) from None
    finally:
        os.close(root)
    return names


class _Stream:
    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse):
        self._conn, self._resp = conn, resp
        self.closed = False

    def close(self) -> None:
        """Stops reading and closes the connection."""
        if not self.closed:
            self.closed = True
            self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _line(self, limit: int) -> Optional[bytes]:
        """One line, without its end; None at the end of the stream."""
        try:
            line = self._resp.readline(limit + 1)
        except socket.timeout:
            self.close()
            raise errors.Timeout("airlockd's stream went silent") from None
        except (OSError, http.client.HTTPException, ValueError) as e:
            self.close()
            raise errors.ConnectError("the stream from airlockd was cut short (%s)" %
                                      type(e).__name__) from None
        if not line:
            return None
        if len(line) > limit:
            self.close()
            raise errors.ProtocolError("a line of airlockd's stream is over %d bytes" % limit)
        return line.rstrip(b"\r\n")


class ExecStream(_Stream):
    """A running command's output: iterate for ExecChunk pieces; the last one has
    ``exit_code`` set. An error frame (``timeout``, ``agent``) is raised as its exception."""

    exit_code: Optional[int] = None

    def __iter__(self) -> Iterator[ExecChunk]:
        try:
            while not self.closed:
                line = self._line(FRAME_MAX)
                if line is None:
                    raise errors.ProtocolError("the exec stream ended without an exit code")
                if not line:
                    continue
                chunk = self._frame(line)
                if chunk.exit_code is not None:
                    self.exit_code = chunk.exit_code
                    yield chunk
                    return
                yield chunk
        finally:
            self.close()

    @staticmethod
    def _frame(line: bytes) -> ExecChunk:
        try:
            f = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise errors.ProtocolError("an exec frame is not JSON") from None
        if not isinstance(f, dict):
            raise errors.ProtocolError("an exec frame is not a JSON object")
        if "error" in f:
            raise errors.error_from_body(f, None)
        if isinstance(f.get("exit_code"), int):
            return ExecChunk("exit", exit_code=f["exit_code"])
        stream, data = f.get("stream"), f.get("data")
        if stream not in ("stdout", "stderr") or not isinstance(data, str):
            raise errors.ProtocolError("an exec frame has no stream and data")
        try:
            return ExecChunk(stream, base64.b64decode(data, validate=True))
        except ValueError:
            raise errors.ProtocolError("an exec frame's data is not base64") from None


class EventStream(_Stream):
    """Server-sent events as Event objects (comments and keepalives skipped)."""

    def __iter__(self) -> Iterator[Event]:
        kind, data = "message", []
        try:
            while not self.closed:
                line = self._line(EVENT_MAX)
                if line is None:
                    return
                text = line.decode("utf-8", errors="replace")
                if text == "":
                    if data:
                        try:
                            obj = json.loads("\n".join(data))
                        except ValueError:
                            obj = None
                        if isinstance(obj, dict):
                            yield Event(kind, obj)
                    kind, data = "message", []
                elif text.startswith(":"):
                    continue
                elif text.startswith("event:"):
                    kind = text[6:].strip()
                elif text.startswith("data:"):
                    data.append(text[5:].lstrip(" "))
        finally:
            self.close()


class Sandbox:
    """A handle on one sandbox: the Client's calls with the name filled in.

    As a context manager it destroys the sandbox on exit (``keep_evidence``: archive
    its logs first, as airlockd does by default)."""

    def __init__(self, client: Client, name: str, info: Optional[SandboxInfo] = None,
                 keep_evidence: bool = True):
        self.client, self.name, self.info = client, name, info
        self.keep_evidence = keep_evidence

    def __repr__(self) -> str:
        return "Sandbox(%r)" % self.name

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.destroy(evidence=self.keep_evidence)
        except errors.NotFound:
            pass

    def inspect(self) -> SandboxInfo:
        self.info = self.client.inspect(self.name)
        return self.info

    def destroy(self, evidence: Optional[bool] = None) -> DestroyResult:
        return self.client.destroy(self.name, self.keep_evidence if evidence is None else evidence)

    def reset(self, tag: Optional[str] = None) -> ResetResult:
        return self.client.reset(self.name, tag)

    def snapshot(self, tag: str) -> None:
        self.client.snapshot(self.name, tag)

    def pause(self) -> PauseResult:
        return self.client.pause(self.name)

    def resume(self) -> ResumeResult:
        return self.client.resume(self.name)

    def set_ttl(self, ttl: Union[str, int, None]) -> int:
        return self.client.set_ttl(self.name, ttl)

    set_timeout = set_ttl

    def snapshots(self) -> List[SnapshotInfo]:
        return self.client.snapshots(self.name)

    def delete_snapshot(self, tag: str) -> None:
        self.client.delete_snapshot(self.name, tag)

    def stats(self) -> Dict[str, Any]:
        return self.client.stats(self.name)

    def logs(self, kind: str = "console") -> str:
        return self.client.logs(self.name, kind)

    def exec(self, argv: Sequence[str], **kw: Any) -> ExecResult:
        return self.client.exec(self.name, argv, **kw)

    def exec_stream(self, argv: Sequence[str], **kw: Any) -> ExecStream:
        return self.client.exec_stream(self.name, argv, **kw)

    def read_file(self, path: str, max_bytes: Optional[int] = None) -> bytes:
        return self.client.read_file(self.name, path, max_bytes)

    def read_text(self, path: str, max_bytes: Optional[int] = None) -> str:
        return self.client.read_text(self.name, path, max_bytes)

    def write_file(self, path: str, data: Data, mode: Optional[int] = None) -> int:
        return self.client.write_file(self.name, path, data, mode)

    def write_tree(self, path: str, local_dir: str) -> int:
        return self.client.write_tree(self.name, path, local_dir)

    def read_tree(self, path: str, local_dir: str, max_bytes: Optional[int] = None) -> List[str]:
        return self.client.read_tree(self.name, path, local_dir, max_bytes)

    def events(self, idle_timeout: float = 60.0) -> EventStream:
        return self.client.events(self.name, idle_timeout)
