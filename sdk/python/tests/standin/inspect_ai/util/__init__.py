"""Stand-in for inspect_ai.util: the sandbox environment API the provider uses."""

import abc
from dataclasses import dataclass
from typing import Any, Dict, Generic, List, Optional, TypeVar

T = TypeVar("T", str, bytes)
SandboxEnvironmentConfigType = Any

REGISTRY: Dict[str, type] = {}


@dataclass
class ExecResult(Generic[T]):
    success: bool
    returncode: int
    stdout: T
    stderr: T


class OutputLimitExceededError(Exception):
    def __init__(self, limit_str: str, truncated_output: Optional[str]) -> None:
        self.limit_str = limit_str
        self.truncated_output = truncated_output
        super().__init__("The sandbox output stream limit of %s was exceeded." % limit_str)


class SandboxUnavailableError(RuntimeError):
    pass


class SandboxEnvironmentLimits:
    MAX_EXEC_OUTPUT_SIZE = 10 * 1024 ** 2
    MAX_EXEC_OUTPUT_SIZE_STR = "10 MiB"
    MAX_READ_FILE_SIZE = 100 * 1024 ** 2
    MAX_READ_FILE_SIZE_STR = "100 MiB"


class SandboxConnection:
    def __init__(self, type: str, command: str, vscode_command: Any = None, ports: Any = None,
                 container: Optional[str] = None) -> None:
        self.type, self.command, self.container = type, command, container


class SandboxEnvironment(abc.ABC):
    def __init__(self) -> None:
        pass

    @abc.abstractmethod
    async def exec(self, cmd: List[str], input: Any = None, cwd: Optional[str] = None,
                   env: Optional[Dict[str, str]] = None, user: Optional[str] = None,
                   timeout: Optional[int] = None, timeout_retry: bool = True,
                   concurrency: bool = True) -> ExecResult[str]: ...

    @abc.abstractmethod
    async def write_file(self, file: str, contents: Any) -> None: ...

    @abc.abstractmethod
    async def read_file(self, file: str, text: bool = True) -> Any: ...

    async def connection(self, *, user: Optional[str] = None) -> SandboxConnection:
        raise NotImplementedError("connection not implemented")

    def default_polling_interval(self) -> float:
        return 2

    @classmethod
    def default_concurrency(cls) -> Optional[int]:
        return None

    @classmethod
    async def task_init(cls, task_name: str, config: Any) -> None:
        pass

    @classmethod
    async def sample_init(cls, task_name: str, config: Any, metadata: Dict[str, str]) -> Dict:
        return {}

    @classmethod
    @abc.abstractmethod
    async def sample_cleanup(cls, task_name: str, config: Any, environments: Dict,
                             interrupted: bool) -> None: ...

    @classmethod
    async def task_cleanup(cls, task_name: str, config: Any, cleanup: bool) -> None:
        pass

    @classmethod
    async def cli_cleanup(cls, id: Optional[str]) -> None:
        pass

    @classmethod
    def config_files(cls) -> List[str]:
        return []

    @classmethod
    def config_deserialize(cls, config: Dict[str, Any]) -> Any:
        raise NotImplementedError


def sandboxenv(name: str):
    def wrapper(cls):
        REGISTRY[name] = cls
        return cls
    return wrapper
