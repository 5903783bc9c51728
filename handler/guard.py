"""An ASGI middleware that bounds what a request may cost before FastAPI parses it, and hardens responses.

A pure ASGI class rather than `@app.middleware("http")`: it adds no task or stream per request, so the
sub-millisecond path stays so. It sits inside Starlette's outermost error middleware, so a fault of ours in a route
reaches it first and is answered here in the API's error shape, with `nosniff`, rather than as a plain-text 500.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

NOSNIFF = (b"x-content-type-options", b"nosniff")
# The body's content codings the API reads: none. A compressed body would otherwise be told it is not UTF-8.
IDENTITY = ("", "identity")
# What an answer or a log line quotes of the request: enough to fix it, never enough to make the answer big.
MAX_ECHO = 120
# The longest message a 422 gives about one field: ours and pydantic's say what to do, which a cut would lose.
MAX_MESSAGE = 400
# Stands for a Content-Length too long to convert (Python refuses int() of over 4,300 digits).
HUGE = 10**18


class RequestGuard:
    """Answers 413 for bodies over `max_body_bytes` (by Content-Length, or by counting), 415 for a compressed body
    and 500 for a fault of the app's before it answered, each in the API's error shape and logged, and adds
    `nosniff` to every answer.

    Args:
        app: The wrapped application.
        max_body_bytes: Largest body passed on; the limit is what bounds a request's work and memory.
        logger: Where refusals and faults are logged, as the app logs its own.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, logger: Logger) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.logger = logger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the whole body up to the limit, then replay it to the app."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = False

        async def send_hardened(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), NOSNIFF]
            await send(message)

        if _declared_length(scope) > self.max_body_bytes:
            await self._too_large(scope, send_hardened)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._too_large(scope, send_hardened)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        codings = _codings(scope)
        if body and codings:
            shown = shortened(", ".join(codings))
            await self._refuse(scope, send_hardened, 415, f"Content-Encoding {shown!r} is not supported: send the "
                               "body uncompressed")  # fmt: skip
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        try:
            await self.app(scope, replay, send_hardened)
        except Exception:
            if started:
                raise
            self.logger.exception("the request failed", extra={"path": request_path(scope)})
            await _answer(send_hardened, 500, "internal error")

    async def _too_large(self, scope: Scope, send: Send) -> None:
        """The 413 answer."""
        await self._refuse(
            scope, send, 413, f"request body is larger than {self.max_body_bytes} bytes (MAX_BODY_BYTES)"
        )

    async def _refuse(self, scope: Scope, send: Send, status: int, error: str) -> None:
        """A refusal, logged as the app logs its own."""
        self.logger.info("rejected request", extra={"path": request_path(scope), "status": status})
        await _answer(send, status, error)


async def _answer(send: Send, status: int, error: str) -> None:
    """An answer in the API's error shape."""
    body = json.dumps({"error": error}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _codings(scope: Scope) -> list[str]:
    """The body's content codings other than `identity`, from every Content-Encoding header (each may list several)."""
    values = b",".join(value for name, value in scope.get("headers", []) if name.lower() == b"content-encoding")
    codings = (coding.strip().lower() for coding in as_sent(values.decode("latin-1")).split(","))
    return [coding for coding in codings if coding not in IDENTITY]


def _declared_length(scope: Scope) -> int:
    """The Content-Length header as a number; 0 when absent or not a number (the body is counted anyway)."""
    value = next((value for name, value in scope.get("headers", []) if name.lower() == b"content-length"), b"")
    if not value.isdigit():
        return 0
    digits = value.lstrip(b"0") or b"0"  # leading zeros are no size
    return int(digits) if len(digits) <= len(str(HUGE)) - 1 else HUGE


def request_path(scope: Scope) -> str:
    """The request's path as sent, shortened: never `request.url`, which parses the Host header and raises on one
    such as `[`, turning the error being answered into a 500."""
    return shortened(scope.get("path", ""))


def as_sent(text: str) -> str:
    """Header or query text as the client wrote it: Mangum hands Starlette each header and an HTTP API event's raw
    query string as UTF-8 bytes, which Starlette reads as Latin-1, so an echoed `é` would read `Ã©` (text that is
    not UTF-8 so read stays as it is; a REST event's query arrives percent-encoded, which reads alike either way)."""
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return text


def shortened(value: object, limit: int = MAX_ECHO) -> str:
    """Request-derived text shortened to `limit` characters."""
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}…"
