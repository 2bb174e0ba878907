"""The asyncio variant: AsyncClient runs each Client call in a worker thread.

    c = AsyncClient()
    sb = await c.create("eval-1", image="debian-12")
    r = await c.exec("eval-1", ["uname", "-a"])

Every method of Client is available as a coroutine with the same arguments. The
streams (``exec_stream``, ``events``) are returned as the blocking objects of
the Client: iterate them in a thread (``asyncio.to_thread``) or use ``exec``.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from .client import Client


class AsyncClient:
    """Client's calls as coroutines (``await c.exec(...)``); ``.sync`` is the Client."""

    def __init__(self, *args: Any, **kwargs: Any):
        self.sync = Client(*args, **kwargs)

    def __repr__(self) -> str:
        return "AsyncClient(%r)" % self.sync.endpoint

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.sync, name)
        if name.startswith("_") or not callable(attr):
            return attr

        @functools.wraps(attr)
        async def call(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(attr, *args, **kwargs)

        return call
