"""Bearer-token authentication as a `grpc.aio` server interceptor.

Every call must carry `authorization: Bearer <token>`; otherwise it ends with
UNAUTHENTICATED before reaching a servicer. Health checks stay open so load balancers and
Kubernetes probes need no secret.
"""

from __future__ import annotations

import hmac
from typing import AsyncIterator, Awaitable, Callable

import grpc

_OPEN_PREFIXES = ("/grpc.health.v1.Health/",)


class BearerTokenInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, token: str):
        if not token:
            raise ValueError("empty auth token")
        self._expected = f"Bearer {token}".encode()

    async def intercept_service(self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
                                details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or details.method.startswith(_OPEN_PREFIXES):
            return handler
        supplied = dict(details.invocation_metadata or ()).get("authorization", "")
        if isinstance(supplied, str) and hmac.compare_digest(supplied.encode(), self._expected):
            return handler
        return _deny(handler)


def _deny(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """A handler of the same shape as `handler` that ends the call with UNAUTHENTICATED."""
    async def abort(request: object, context: grpc.aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")

    async def abort_stream(request: object, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        await abort(request, context)
        yield  # pragma: no cover - never reached: an async generator, as streaming handlers are

    kwargs = dict(request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer)
    # Client-streaming methods (server reflection) get the request iterator where unary ones get the request.
    if handler.stream_stream:
        return grpc.stream_stream_rpc_method_handler(abort_stream, **kwargs)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(abort, **kwargs)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(abort_stream, **kwargs)
    return grpc.unary_unary_rpc_method_handler(abort, **kwargs)
