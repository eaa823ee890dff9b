"""JSON logs through structlog, with the correlation id and the trace of the work in hand.

Every line logged inside a span (an HTTP request, a consumed event) carries `trace_id` and
`span_id` of that span (`add_trace_ids`), next to what the request or consumer bound with
`bind_context` (`service`, `correlation_id`, `event_id`, `event_type`).

One handler on the root logger writes every line, ours and the libraries' (uvicorn, aiokafka,
asyncpg, FastStream, `warnings`), through structlog's `ProcessorFormatter`: the same JSON
object per line, with the same context and trace ids, and `logger` naming where a library's
line came from. Nothing else writes to the process's stderr: a plain-text line there would
be one a log shipper cannot parse (tests/integration/test_json_logs.py reads a service's).
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog
from opentelemetry import trace
from structlog.typing import EventDict, Processor, WrappedLogger

bind_context = structlog.contextvars.bind_contextvars
clear_context = structlog.contextvars.clear_contextvars
unbind_context = structlog.contextvars.unbind_contextvars

# Libraries whose INFO lines are noise in a service's log; their warnings still show.
QUIET_LIBRARIES = ("aiokafka", "kafka", "asyncio")
_HANDLER_NAME = "talentloop-json"


def add_trace_ids(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """structlog processor: the current span's trace and span ids, as W3C lowercase hex."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict.setdefault("trace_id", trace.format_trace_id(ctx.trace_id))
        event_dict.setdefault("span_id", trace.format_span_id(ctx.span_id))
    return event_dict


class _Service:
    """structlog processor: the process's service name on every line, also on lines logged
    outside any context that bound it (uvicorn's own task, a library's thread)."""

    def __init__(self, service: str) -> None:
        self.service = service

    def __call__(self, _: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("service", self.service)
        return event_dict


def _shared_processors(service: str) -> list[Processor]:
    """What every line gets, whether logged through structlog or the standard library."""
    return [
        structlog.contextvars.merge_contextvars,
        _Service(service),
        add_trace_ids,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _drop_message(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """A formatted record's `message` attribute, which ExtraAdder takes for an extra: it is `event`."""
    event_dict.pop("message", None)
    return event_dict


def json_formatter(service: str) -> structlog.stdlib.ProcessorFormatter:
    """The formatter of every log line: a standard-library record (a library's) gets the shared
    processors, its logger's name and what it passed in `extra`; a structlog event arrives with
    them already applied. Exceptions become a `exception` field, never lines of their own."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            *_shared_processors(service),
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ExtraAdder(),
            _drop_message,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )


def configure(service: str, level: str = "INFO", stream: TextIO | None = None) -> None:
    """Route every log line of the process through one JSON handler on `stream` (stderr).

    Idempotent: a second call (the app's lifespan after `plumbing.service.run`) replaces the
    handler it installed instead of adding another."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME or isinstance(handler.formatter, structlog.stdlib.ProcessorFormatter):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(json_formatter(service))
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    _adopt_library_handlers()
    logging.captureWarnings(True)  # `warnings` would print plain text to stderr otherwise
    structlog.configure(
        processors=[*_shared_processors(service), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)


def _adopt_library_handlers() -> None:
    """Libraries that print their own lines (FastStream gives its `faststream` logger a plain
    stderr handler and stops it propagating; uvicorn would with its default log config) lose
    those handlers and send their records to the root's JSON handler instead."""
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if not isinstance(logger, logging.Logger) or name.startswith("talentloop"):
            continue
        plain = [
            h
            for h in logger.handlers
            if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
        ]
        for handler in plain:
            logger.removeHandler(handler)
        if plain or name.split(".")[0] in ("uvicorn", "faststream"):
            logger.propagate = True


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
