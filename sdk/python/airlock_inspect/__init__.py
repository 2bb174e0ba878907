"""airlock_inspect: the Inspect AI sandbox environment ``airlock`` under the name Inspect
users look for. The provider itself is airlock.inspect_provider (one implementation); the
``inspect_ai`` entry point registers it, so ``sandbox="airlock"`` works once installed.
See docs/python.md."""

from airlock.inspect_provider import AirlockSandboxEnvironment  # noqa: F401
from airlock.inspect_config import AirlockSandboxConfig  # noqa: F401

__all__ = ["AirlockSandboxEnvironment", "AirlockSandboxConfig"]
