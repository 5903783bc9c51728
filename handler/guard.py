"""An ASGI middleware that bounds what a request may cost before FastAPI parses it, and hardens responses.

A pure ASGI class rather than `@app.middleware("http")`: it adds no task or stream per request, so the
sub-millisecond path stays so.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

NOSNIFF = (b"x-content-type-options", b"nosniff")
# Stands for a Content-Length too long to convert (Python refuses int() of over 4,300 digits).
HUGE = 10**18


class RequestGuard:
    """Answers 413 for bodies over `max_body_bytes` (by Content-Length, or by counting) and adds `nosniff`.

    Args:
        app: The wrapped application.
        max_body_bytes: Largest body passed on; the limit is what bounds a request's work and memory.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the whole body up to the limit, then replay it to the app."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_hardened(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), NOSNIFF]
            await send(message)

        if _declared_length(scope) > self.max_body_bytes:
            await self._too_large(send_hardened)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._too_large(send_hardened)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send_hardened)

    async def _too_large(self, send: Send) -> None:
        """The 413 answer, in the API's error shape."""
        body = json.dumps({"error": f"request body is larger than {self.max_body_bytes} bytes (MAX_BODY_BYTES)"})
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body.encode()})


def _declared_length(scope: Scope) -> int:
    """The Content-Length header as a number; 0 when absent or not a number (the body is counted anyway)."""
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            if not value.isdigit():
                return 0
            return int(value) if len(value) <= len(str(HUGE)) - 1 else HUGE
    return 0
