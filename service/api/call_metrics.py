"""A `grpc.aio` server interceptor that counts and times every call by method and status code.

It wraps the handler the inner interceptors and servicers return, so a call refused by the
bearer-token check counts as UNAUTHENTICATED, an aborted one with its abort code, an
escaped exception as UNKNOWN and a call the client cancelled as CANCELLED.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator

import grpc

from service._internal.service_metrics import ServiceMetrics


class CallMetricsInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, metrics: ServiceMetrics):
        self._metrics = metrics

    async def intercept_service(self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
                                details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return handler
        method = details.method.lstrip("/")
        if handler.unary_unary:
            return handler._replace(unary_unary=self._unary(method, handler.unary_unary))
        if handler.unary_stream:
            return handler._replace(unary_stream=self._streaming(method, handler.unary_stream))
        if handler.stream_stream:
            return handler._replace(stream_stream=self._streaming(method, handler.stream_stream))
        return handler

    def _unary(self, method: str, behaviour: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def timed(request: Any, context: grpc.aio.ServicerContext) -> Any:
            with self._observed(method, context):
                return await behaviour(request, context)
        return timed

    def _streaming(self, method: str, behaviour: Callable[..., Any]) -> Callable[..., AsyncIterator[Any]]:
        async def timed(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            with self._observed(method, context):
                answers = behaviour(request, context)
                if hasattr(answers, "__aiter__"):
                    async for answer in answers:
                        yield answer
                else:  # a coroutine that writes its answers with context.write
                    await answers
        return timed

    @contextlib.contextmanager
    def _observed(self, method: str, context: grpc.aio.ServicerContext) -> Iterator[None]:
        """Counts and times the call made inside the block, with the status code it ended with."""
        started, error = time.perf_counter(), None
        try:
            yield
        except BaseException as err:
            error = err
            raise
        finally:
            self._metrics.observe_call(method, _code(context, error), time.perf_counter() - started)


def _code(context: grpc.aio.ServicerContext, error: BaseException | None) -> str:
    """The call's status code name: what the handler set or aborted with, else from how it ended."""
    if isinstance(error, (asyncio.CancelledError, GeneratorExit)):
        return grpc.StatusCode.CANCELLED.name
    code = context.code()
    if isinstance(code, grpc.StatusCode) and code is not grpc.StatusCode.OK:
        return code.name
    if error is not None and not isinstance(error, grpc.aio.AbortError):
        return grpc.StatusCode.UNKNOWN.name
    return grpc.StatusCode.OK.name
