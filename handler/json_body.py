"""Request bodies decoded strictly before they are parsed as JSON.

Starlette's `Request.json` hands the body's bytes to `json.loads`, which decodes them with `surrogatepass`: a body
holding the bytes of a lone surrogate (UTF-8's ED A0 80, which no UTF-8 decoder accepts) reached validation and was
refused as a bad string (422). Decoded strictly, in the encoding `json` itself detects (UTF-8, with or without a
byte-order mark; UTF-16 or UTF-32, which RFC 7159 allowed and `json` reads), such a body is answered as FastAPI
answers any other body that cannot be decoded: 400, naming the byte.

An object that names a member twice is refused too (`RepeatedNameError`): `json` keeps the last value silently, so
`{"items": [...], "items": [...]}` answered the second batch alone, the first lost without a word.
"""

from __future__ import annotations

import codecs
import json
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.routing import APIRoute

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Iterable

    from starlette.responses import Response


class RepeatedNameError(json.JSONDecodeError):
    """A JSON object that names a member twice: which one a parser keeps is the parser's choice (RFC 8259, 4)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"the name {name!r} appears twice in one object", "", 0)
        self.name = name


def _distinct_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object's members as a dict (json's `object_pairs_hook`), refusing a name given twice.

    Raises:
        RepeatedNameError: Naming the first name given twice.
    """
    members = dict(pairs)
    if len(members) < len(pairs):
        raise RepeatedNameError(_first_repeated(name for name, _ in pairs))
    return members


def _first_repeated(names: Iterable[str]) -> str:
    """The first name seen before, in one pass: a body at MAX_BODY_BYTES holds tens of thousands of names."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            return name
        seen.add(name)
    raise AssertionError("no name repeats")


class StrictJSONRequest(Request):
    """A request whose JSON body must decode without surrogates and name each member of an object once."""

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
            self._json = json.loads(text, object_pairs_hook=_distinct_names)
        return self._json


class StrictJSONRoute(APIRoute):
    """A route that reads its body as `StrictJSONRequest` (FastAPI's documented way to change how a body is read)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler, given the request as a `StrictJSONRequest`."""
        handle = super().get_route_handler()

        async def read_strictly(request: Request) -> Response:
            return await handle(StrictJSONRequest(request.scope, request.receive))

        return read_strictly
