"""Counting the statements a use case sends on its connection (the group-commit tests)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any


def noting_queries(use_case: Callable[..., Awaitable[Any]], containing: str, into: list[str]) -> Callable[..., Any]:
    """`use_case(ctx, ...)` that notes in `into` every statement containing `containing` it
    sends on `ctx.conn` while it runs."""

    async def noted(ctx: Any, *args: Any) -> Any:
        def seen(record: Any) -> None:
            if containing in record.query:
                into.append(record.query)

        ctx.conn.add_query_logger(seen)
        try:
            return await use_case(ctx, *args)
        finally:
            ctx.conn.remove_query_logger(seen)

    return noted
