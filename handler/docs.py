"""The /docs and /redoc pages, served whole from the function: they work offline and where a CDN is blocked.

Swagger UI (`swagger-ui-dist@5.35.0`) and ReDoc (`redoc@2.5.2`) are vendored in `docs_assets/`, gzip-compressed
(~0.77 MB of the 150 MB function budget), by `scripts/vendor-docs-assets.sh`, which refuses any file whose
sha384 differs from the pins below; a test checks them again. Each page inlines its assets, so it is one
response on a route the API already has (no extra routes to authorize), sent gzip-compressed to browsers that
accept it. The pages are built on their first request, never at import, so cold starts do not pay for them.
If the assets are missing, the page says so and links the OpenAPI document instead of showing a white page.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
from functools import cache
from html import escape
from pathlib import Path

from fastapi.responses import HTMLResponse, Response

ASSETS = Path(__file__).resolve().parent / "docs_assets"
SWAGGER_VERSION = "5.35.0"
SWAGGER_JS_SRI = "sha384-gjRm0bEPMeTmMh5jT2cHccIwCUZSTd8YC+j0d0sXw0MdGEfScduGpSyF3ZSSLkX9"
SWAGGER_CSS_SRI = "sha384-WlYgdmXYOOBWL5apwjDEZwN+U3HmXSSu5R6V5aGxEcf7z+KuRNwBhoxKVN1i3D5I"
REDOC_VERSION = "2.5.2"
REDOC_JS_SRI = "sha384-70P5pmIdaQdVbxvjhrcTDv1uKcKqalZ3OHi7S2J+uzDl0PW8dO6L+pHOpm9EEjGJ"
PINS = {
    "swagger-ui-bundle.js": SWAGGER_JS_SRI,
    "swagger-ui.css": SWAGGER_CSS_SRI,
    "redoc.standalone.js": REDOC_JS_SRI,
}


def swagger_page(*, title: str, openapi_url: str, accept_encoding: str = "") -> Response:
    """Swagger UI for the API's OpenAPI document, its script and style inlined."""
    return _respond(_swagger_html(title, openapi_url), accept_encoding)


def redoc_page(*, title: str, openapi_url: str, accept_encoding: str = "") -> Response:
    """ReDoc for the API's OpenAPI document, its script inlined."""
    return _respond(_redoc_html(title, openapi_url), accept_encoding)


def read_asset(name: str) -> str | None:
    """A vendored asset's text if it is there and matches its pinned sha384, else None."""
    path = ASSETS / f"{name}.gz"
    if not path.is_file():
        return None
    data = gzip.decompress(path.read_bytes())
    if f"sha384-{base64.b64encode(hashlib.sha384(data).digest()).decode()}" != PINS[name]:
        return None
    return data.decode("utf-8")


@cache
def _swagger_html(title: str, openapi_url: str) -> tuple[bytes, bytes]:
    """The Swagger UI page and its gzip, built once per title and document URL.

    `validatorUrl: null`: Swagger UI would otherwise fetch a validity badge from validator.swagger.io.
    """
    script, style = read_asset("swagger-ui-bundle.js"), read_asset("swagger-ui.css")
    if script is None or style is None:
        return _pair(_fallback(title, openapi_url, "Swagger UI"))
    return _pair(
        f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{escape(title)} - Swagger UI</title>
<style>{style}</style>
</head><body><div id="swagger-ui"></div>
<noscript>{_document_link(openapi_url)}</noscript>
<script>{script}</script>
<script>SwaggerUIBundle({{url: "{escape(openapi_url)}", dom_id: "#swagger-ui", validatorUrl: null}});</script>
</body></html>"""
    )


@cache
def _redoc_html(title: str, openapi_url: str) -> tuple[bytes, bytes]:
    """The ReDoc page and its gzip, built once per title and document URL."""
    script = read_asset("redoc.standalone.js")
    if script is None:
        return _pair(_fallback(title, openapi_url, "ReDoc"))
    return _pair(
        f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{escape(title)} - ReDoc</title></head><body>
<noscript>{_document_link(openapi_url)}</noscript>
<redoc spec-url="{escape(openapi_url)}"></redoc>
<script>{script}</script>
</body></html>"""
    )


def _fallback(title: str, openapi_url: str, viewer: str) -> str:
    """A page that still leads somewhere when the viewer's assets are not in this build."""
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{escape(title)}</title></head><body>
<h1>{escape(title)}</h1>
<p>{viewer} is not bundled with this build. {_document_link(openapi_url)}</p>
</body></html>"""


def _document_link(openapi_url: str) -> str:
    """A link to the OpenAPI document, which any OpenAPI viewer can open."""
    url = escape(openapi_url)
    return f'The API is described by its OpenAPI document: <a href="{url}">{url}</a>.'


def _pair(html: str) -> tuple[bytes, bytes]:
    """The page as UTF-8 and gzip-compressed (mtime 0, so it is the same bytes every time)."""
    raw = html.encode("utf-8")
    return raw, gzip.compress(raw, compresslevel=6, mtime=0)


def _respond(page: tuple[bytes, bytes], accept_encoding: str) -> Response:
    """The page, gzip-compressed when the client accepts it (~4× smaller through API Gateway)."""
    raw, compressed = page
    if _accepts_gzip(accept_encoding):
        return Response(
            compressed,
            media_type="text/html; charset=utf-8",
            headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"},
        )
    return HTMLResponse(raw, headers={"Vary": "Accept-Encoding"})


def _accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header allows gzip: named, or covered by `*`, with a weight above 0 (RFC 9110
    12.5.3: `gzip;q=0` refuses it)."""
    weights: dict[str, float] = {}
    for item in accept_encoding.lower().split(","):
        coding, *parameters = (part.strip() for part in item.split(";"))
        weight = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[coding] = weight
    found = weights.get("gzip", weights.get("x-gzip", weights.get("*", 0.0)))
    return found > 0
