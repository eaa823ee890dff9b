"""Waiting for an eventually consistent network to show something."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def until(what: str, check: Callable[[], Awaitable[T | None]], timeout: float = 30.0, every: float = 0.2) -> T:
    """Call `check` until it returns something other than None; TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(every)
