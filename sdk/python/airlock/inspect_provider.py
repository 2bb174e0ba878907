"""An Inspect AI sandbox environment named ``airlock`` (registered through the
``inspect_ai`` entry point of this package).

Follows the SandboxEnvironment contract of inspect_ai's util/_sandbox/environment.py
(read at UKGovernmentBEIS/inspect_ai 499e6152, 2026-08-22): ``exec``, ``write_file``,
``read_file``, ``connection``, and the class methods ``task_init``, ``sample_init``,
``sample_cleanup``, ``task_cleanup``, ``cli_cleanup``, ``config_files``,
``config_deserialize``, ``default_concurrency``.

Sandboxes are pooled per task: ``sample_cleanup`` resets a sandbox to its clean
state (a memory snapshot restore, about a second) and the next sample reuses it
instead of booting a new one. ``task_cleanup`` destroys the pool. Every sandbox
carries the labels ``inspect=1`` and ``inspect-task=TASK``: ``inspect sandbox
cleanup airlock`` (``cli_cleanup``) destroys what a killed run left.
"""

from __future__ import annotations

import asyncio
import logging
import posixpath
import secrets as _random
import threading
from typing import Any, Dict, List, Optional, Tuple, Union

from inspect_ai.util import (ExecResult, OutputLimitExceededError, SandboxConnection,
                             SandboxEnvironment, SandboxEnvironmentConfigType,
                             SandboxEnvironmentLimits, sandboxenv)

try:
    from inspect_ai.util import SandboxUnavailableError
except ImportError:  # Inspect before SandboxUnavailableError existed
    class SandboxUnavailableError(RuntimeError):  # type: ignore[no-redef]
        pass

from . import errors
from .client import Client, OutputLimitExceeded
from .inspect_config import (AirlockSandboxConfig, config_from_dict, create_args, labels_for,
                             resolve_config)

try:
    import anyio.to_thread

    async def _run(fn, *args, **kwargs):
        return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))
except ImportError:
    async def _run(fn, *args, **kwargs):
        return await asyncio.to_thread(fn, *args, **kwargs)

log = logging.getLogger("airlock")
STDIN_INLINE_MAX = 512 * 1024  # larger input goes through a file (airlockd's JSON bound is 1 MiB)


def _client(cfg: AirlockSandboxConfig) -> Client:
    return Client(socket_path=cfg.socket, url=cfg.url)


class _Pool:
    """One task's sandboxes: which are free, which the provider made."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.idle: List[str] = []
        self.made: set = set()      # created by the provider: destroyed at task_cleanup
        self.adopted: List[str] = []  # given in the config: reset, never destroyed


_pools: Dict[Tuple[str, str], _Pool] = {}
_pools_lock = threading.Lock()


def _pool(task_name: str, cfg: AirlockSandboxConfig) -> _Pool:
    key = (task_name, repr(cfg))
    with _pools_lock:
        p = _pools.get(key)
        if p is None:
            p = _pools[key] = _Pool()
            for name in cfg.sandboxes or ():
                p.adopted.append(name)
                p.idle.append(name)
        return p


def _is_guest_error(e: errors.AirlockError) -> bool:
    return "in the guest" in e.message


def _file_error(e: errors.AirlockError, path: str) -> BaseException:
    """The built-in exception Inspect expects for a failed file operation."""
    m = e.message.lower()
    if isinstance(e, errors.TooLarge) or "larger than" in m:
        return OutputLimitExceededError(SandboxEnvironmentLimits.MAX_READ_FILE_SIZE_STR, None)
    if _is_guest_error(e) or isinstance(e, errors.InvalidRequest):
        if "is a directory" in m:
            return IsADirectoryError("%s: %s" % (path, e.message))
        if "permission denied" in m or "operation not permitted" in m:
            return PermissionError("%s: %s" % (path, e.message))
        if isinstance(e, errors.NotFound) or "no such file" in m or "not found" in m:
            return FileNotFoundError("%s: %s" % (path, e.message))
        if isinstance(e, errors.InvalidRequest):
            return ValueError(e.message)
    if isinstance(e, errors.Timeout):
        return TimeoutError(e.message)
    return SandboxUnavailableError(e.message)


@sandboxenv(name="airlock")
class AirlockSandboxEnvironment(SandboxEnvironment):
    """One airlock sandbox (a microVM) as an Inspect sandbox environment."""

    def __init__(self, client: Client, name: str, cfg: AirlockSandboxConfig):
        super().__init__()
        self.client, self.name, self.cfg = client, name, cfg

    # ---- paths ---------------------------------------------------------------------------

    def _path(self, path: str) -> str:
        """A guest path airlockd accepts: relative ones from the working directory, '.'
        and '..' resolved (airlockd refuses them)."""
        full = path if posixpath.isabs(path) else posixpath.join(self.cfg.workdir, path)
        full = posixpath.normpath(full)
        return "/" + full.lstrip("/")

    # ---- exec ----------------------------------------------------------------------------

    async def exec(
        self,
        cmd: List[str],
        input: Union[str, bytes, None] = None,
        cwd: Optional[str] = None,
        env: Optional[Dict[str, str]] = None,
        user: Optional[str] = None,
        timeout: Optional[int] = None,
        timeout_retry: bool = True,
        concurrency: bool = True,
    ) -> ExecResult[str]:
        # timeout_retry is not used: airlock's timeout is the guest killing the command,
        # not a hung transport, and running a command twice is not a retry of a read.
        argv = [str(c) for c in cmd]
        sandbox_env = True
        if user:
            # The sandbox's env and secrets are not given to another user.
            sandbox_env = False
        stdin: Union[str, bytes, None] = input
        staged = None
        if input is not None and len(input) > STDIN_INLINE_MAX:
            staged = "/tmp/.airlock-stdin-" + _random.token_hex(8)
            await self._call_file(self.client.write_file, self.name, staged, input, 0o600)
            argv = ["sh", "-c", 'exec 0<"$1" && rm -f "$1" && shift && exec "$@"', "sh",
                    staged] + argv
            stdin = None
        # Another user starts in the guest's default for that user (airlock-guest's), not in
        # the sandbox's workdir, which is root's and may be closed to them.
        workdir = self._path(cwd) if cwd else (None if user else self.cfg.workdir)
        limit = SandboxEnvironmentLimits.MAX_EXEC_OUTPUT_SIZE
        try:
            r = await _run(self.client.exec, self.name, argv, stdin=stdin, env=env, cwd=workdir,
                           timeout=timeout, sandbox_env=sandbox_env, max_output=limit,
                           user=user)
        except errors.Timeout as e:
            raise TimeoutError("command timed out after %s s (its process group was killed)"
                               % timeout) from e
        except OutputLimitExceeded as e:
            big = e.stdout if len(e.stdout) >= limit else e.stderr
            raise OutputLimitExceededError(SandboxEnvironmentLimits.MAX_EXEC_OUTPUT_SIZE_STR,
                                           big.decode("utf-8", errors="replace")) from e
        except errors.InvalidRequest:
            raise
        except errors.AirlockError as e:
            if _is_guest_error(e) and "permission" in e.message.lower():
                raise PermissionError(e.message) from e
            raise SandboxUnavailableError(e.message) from e
        stdout = r.stdout.decode("utf-8", errors="replace")
        stderr = r.stderr.decode("utf-8", errors="replace")
        if r.exit_code == 126 and "permission denied" in stderr.lower():
            raise PermissionError(stderr.strip() or "permission denied")
        return ExecResult(success=r.exit_code == 0, returncode=r.exit_code, stdout=stdout,
                          stderr=stderr)

    # ---- files ---------------------------------------------------------------------------

    async def _call_file(self, fn, *args):
        try:
            return await _run(fn, *args)
        except errors.AirlockError as e:
            raise _file_error(e, args[1]) from e

    async def write_file(self, file: str, contents: Union[str, bytes]) -> None:
        data = contents.encode("utf-8") if isinstance(contents, str) else bytes(contents)
        await self._call_file(self.client.write_file, self.name, self._path(file), data)

    async def read_file(self, file: str, text: bool = True) -> Union[str, bytes]:  # type: ignore[override]
        limit = SandboxEnvironmentLimits.MAX_READ_FILE_SIZE
        data = await self._call_file(self.client.read_file, self.name, self._path(file), limit)
        # Text keeps its newlines as they are (crlf stays crlf); invalid UTF-8 raises.
        return data.decode("utf-8") if text else data

    async def connection(self, *, user: Optional[str] = None) -> SandboxConnection:
        cmd = "airlock shell " + ("--user %s " % user if user else "") + self.name
        return SandboxConnection(type="airlock", command=cmd, container=self.name)

    def default_polling_interval(self) -> float:
        return 0.2

    # ---- lifecycle -----------------------------------------------------------------------

    @classmethod
    def config_files(cls) -> List[str]:
        return ["airlock.toml"]

    @classmethod
    def config_deserialize(cls, config: Dict[str, Any]) -> Any:
        return config_from_dict(config)

    @classmethod
    def default_concurrency(cls) -> Optional[int]:
        return 4  # airlockd's default per-user quota is 4 sandboxes

    @classmethod
    async def task_init(cls, task_name: str, config: Optional[SandboxEnvironmentConfigType]) -> None:
        cfg = resolve_config(config)
        try:
            await _run(_client(cfg).whoami)
        except errors.AirlockError as e:
            raise SandboxUnavailableError(e.message) from e
        _pool(task_name, cfg)

    @classmethod
    async def sample_init(cls, task_name: str, config: Optional[SandboxEnvironmentConfigType],
                          metadata: Dict[str, str]) -> Dict[str, SandboxEnvironment]:
        cfg = resolve_config(config)
        client, pool = _client(cfg), _pool(task_name, cfg)
        with pool.lock:
            name = pool.idle.pop(0) if pool.idle and cfg.pool else None
        try:
            if name is None:
                name = cfg.name_prefix + _random.token_hex(4)
                with pool.lock:
                    pool.made.add(name)
                kw = create_args(cfg)
                await _run(client.create, name, labels=labels_for(task_name),
                           keep_evidence=cfg.keep_evidence, **kw)
                kw.clear()
            tag = (metadata or {}).get("airlock_snapshot")
            if tag:
                await _run(client.reset, name, tag)
        except BaseException as e:
            # Inspect calls no sample_cleanup when sample_init fails: remove what we made.
            if name is not None:
                await cls._discard(client, pool, name, cfg)
            if isinstance(e, errors.AirlockError):
                raise SandboxUnavailableError(e.message) from e
            raise
        return {"default": cls(client, name, cfg)}

    @classmethod
    async def _discard(cls, client: Client, pool: _Pool, name: str,
                       cfg: AirlockSandboxConfig) -> None:
        """Destroys a sandbox the provider made; an adopted one is only reset."""
        if name in pool.adopted:
            try:
                await _run(client.reset, name)
                with pool.lock:
                    pool.idle.append(name)
            except errors.AirlockError:
                pass
            return
        try:
            await _run(client.destroy, name, cfg.keep_evidence)
        except errors.NotFound:
            pass
        with pool.lock:
            pool.made.discard(name)

    @classmethod
    async def sample_cleanup(cls, task_name: str, config: Optional[SandboxEnvironmentConfigType],
                             environments: Dict[str, SandboxEnvironment],
                             interrupted: bool) -> None:
        cfg = resolve_config(config)
        pool = _pool(task_name, cfg)
        for env in environments.values():
            if not isinstance(env, AirlockSandboxEnvironment):
                continue
            if cfg.pool and not interrupted:
                try:
                    await _run(env.client.reset, env.name)
                    with pool.lock:
                        pool.idle.append(env.name)
                    continue
                except errors.AirlockError:
                    pass  # a sandbox that cannot be reset is not reused
            await cls._discard(env.client, pool, env.name, cfg)

    @classmethod
    async def task_cleanup(cls, task_name: str, config: Optional[SandboxEnvironmentConfigType],
                           cleanup: bool) -> None:
        cfg = resolve_config(config)
        key = (task_name, repr(cfg))
        with _pools_lock:
            pool = _pools.pop(key, None)
        if pool is None:
            return
        with pool.lock:
            made = sorted(pool.made)
        if not cleanup:
            if made:
                log.warning("sandboxes kept (--no-sandbox-cleanup): %s; remove them with "
                            "'inspect sandbox cleanup airlock' or airlock destroy", " ".join(made))
            return
        client = _client(cfg)
        for name in made:
            try:
                await _run(client.destroy, name, cfg.keep_evidence)
            except errors.NotFound:
                pass

    @classmethod
    async def cli_cleanup(cls, id: Optional[str]) -> None:
        client = Client()
        if id:
            names = [id]
        else:
            names = [s.name for s in await _run(client.list, {"inspect": "1"})]
        for name in names:
            try:
                await _run(client.destroy, name, False)
            except errors.NotFound:
                pass
