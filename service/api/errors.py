"""One place that maps domain errors to gRPC status codes, for unary and streaming methods.

`INVALID_ARGUMENT` carries every (field path, reason) of an invalid spec; anything
unexpected becomes `INTERNAL` with a generic message and a logged traceback, so no
exception ever escapes a servicer.
"""

from __future__ import annotations

import functools
import inspect
import logging
from typing import Any, Callable

import grpc

from service._internal.state import FailedPrecondition, IllegalTransition, InvalidRequest, JobNotFound, StorageError
from workers.config.problems import ConfigError

log = logging.getLogger(__name__)

_CODES: tuple[tuple[type[Exception], grpc.StatusCode], ...] = (
    (ConfigError, grpc.StatusCode.INVALID_ARGUMENT),
    (InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (JobNotFound, grpc.StatusCode.NOT_FOUND),
    (FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (IllegalTransition, grpc.StatusCode.FAILED_PRECONDITION),
    (StorageError, grpc.StatusCode.INTERNAL),  # an operator's problem, but the message names the path
)


def _status_of(err: Exception, method: str) -> tuple[grpc.StatusCode, str]:
    for kind, code in _CODES:
        if isinstance(err, kind):
            return code, f"invalid spec: {err}" if isinstance(err, ConfigError) else str(err)
    log.exception("%s failed", method)
    return grpc.StatusCode.INTERNAL, f"internal error in {method}; see the server log"


def map_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """Decorates an async servicer method (unary or server-streaming)."""
    name = method.__name__
    if inspect.isasyncgenfunction(method):
        @functools.wraps(method)
        async def stream(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                async for item in method(self, request, context):
                    yield item
            except grpc.aio.AbortError:
                raise
            except Exception as err:  # every error becomes a status
                await context.abort(*_status_of(err, name))
        return stream

    @functools.wraps(method)
    async def unary(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as err:  # every error becomes a status
            await context.abort(*_status_of(err, name))
    return unary
