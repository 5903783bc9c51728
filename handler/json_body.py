"""Request bodies decoded strictly before they are parsed as JSON.

Starlette's `Request.json` hands the body's bytes to `json.loads`, which decodes them with `surrogatepass`: a body
holding the bytes of a lone surrogate (UTF-8's ED A0 80, which no UTF-8 decoder accepts) reached validation and was
refused as a bad string (422). Decoded strictly, in the encoding `json` itself detects (UTF-8, with or without a
byte-order mark; UTF-16 or UTF-32, which RFC 7159 allowed and `json` reads), such a body is answered as FastAPI
answers any other body that cannot be decoded: 400, naming the byte.
"""

from __future__ import annotations

import codecs
import json
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.routing import APIRoute

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from starlette.responses import Response


class StrictJSONRequest(Request):
    """A request whose JSON body must decode without surrogates."""

    async def json(self) -> Any:
        """The body parsed as JSON after a strict decode (UnicodeDecodeError for bytes that do not decode, its
        position counted in the body as sent: UTF-8's decoder with a byte-order mark counts from after the mark)."""
        if not hasattr(self, "_json"):
            body = await self.body()
            encoding = json.detect_encoding(body)
            try:
                text = body.decode(encoding)
            except UnicodeDecodeError as exc:
                mark = len(codecs.BOM_UTF8) if encoding == "utf-8-sig" else 0
                raise UnicodeDecodeError(exc.encoding, body, exc.start + mark, exc.end + mark, exc.reason) from None
            self._json = json.loads(text)
        return self._json


class StrictJSONRoute(APIRoute):
    """A route that reads its body as `StrictJSONRequest` (FastAPI's documented way to change how a body is read)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler, given the request as a `StrictJSONRequest`."""
        handle = super().get_route_handler()

        async def read_strictly(request: Request) -> Response:
            return await handle(StrictJSONRequest(request.scope, request.receive))

        return read_strictly
