"""Structured JSON logs for every part of the mesh, configured once.

Context (run_id, service, rpc, trace_id) travels in contextvars, so any log line inside a
request carries it without being passed around.
"""
from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from mediamesh.telemetry import add_trace_ids

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}


def configure_logging(service: str, level: str = "info") -> None:
    """JSON lines on stderr with timestamp, level, service and bound context."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            add_trace_ids,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)
    # Libraries that log through stdlib logging (grpc, nats) go to the same stream.
    logging.basicConfig(level=_LEVELS.get(level, logging.INFO), stream=sys.stderr,
                        format='{"event": "%(message)s", "logger": "%(name)s", "level": "%(levelname)s"}')


def get_logger(**context: Any) -> Any:
    """A lazy logger: safe at import time, configured by `configure_logging` before first use."""
    return structlog.get_logger(**context)


bind_context = structlog.contextvars.bind_contextvars
bound_context = structlog.contextvars.bound_contextvars
