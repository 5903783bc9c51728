"""The /docs and /redoc pages, loading pinned asset versions with Subresource Integrity hashes.

FastAPI's built-in pages load the latest `swagger-ui-dist@5` from a CDN without integrity checks, so a
compromised or changed CDN file would run in the browser of whoever opens the docs. Bundling the assets
would cost ~1.5 MB of the 150 MB function budget; pinning a version and its hash costs nothing. The hashes
are sha384 of the files in the npm packages `swagger-ui-dist@5.35.0` and `redoc@2.5.2`.
"""

from __future__ import annotations

from html import escape

from fastapi.responses import HTMLResponse

CDN = "https://cdn.jsdelivr.net/npm"
SWAGGER_VERSION = "5.35.0"
SWAGGER_JS_SRI = "sha384-gjRm0bEPMeTmMh5jT2cHccIwCUZSTd8YC+j0d0sXw0MdGEfScduGpSyF3ZSSLkX9"
SWAGGER_CSS_SRI = "sha384-WlYgdmXYOOBWL5apwjDEZwN+U3HmXSSu5R6V5aGxEcf7z+KuRNwBhoxKVN1i3D5I"
REDOC_VERSION = "2.5.2"
REDOC_JS_SRI = "sha384-70P5pmIdaQdVbxvjhrcTDv1uKcKqalZ3OHi7S2J+uzDl0PW8dO6L+pHOpm9EEjGJ"


def swagger_page(*, title: str, openapi_url: str) -> HTMLResponse:
    """Swagger UI for the API's OpenAPI document."""
    base = f"{CDN}/swagger-ui-dist@{SWAGGER_VERSION}"
    return HTMLResponse(
        f"""<!DOCTYPE html>
<html><head><title>{escape(title)} - Swagger UI</title>
<link rel="stylesheet" href="{base}/swagger-ui.css" integrity="{SWAGGER_CSS_SRI}" crossorigin="anonymous">
</head><body><div id="swagger-ui"></div>
<script src="{base}/swagger-ui-bundle.js" integrity="{SWAGGER_JS_SRI}" crossorigin="anonymous"></script>
<script>SwaggerUIBundle({{url: "{escape(openapi_url)}", dom_id: "#swagger-ui"}});</script>
</body></html>"""
    )


def redoc_page(*, title: str, openapi_url: str) -> HTMLResponse:
    """ReDoc for the API's OpenAPI document."""
    return HTMLResponse(
        f"""<!DOCTYPE html>
<html><head><title>{escape(title)} - ReDoc</title></head><body>
<redoc spec-url="{escape(openapi_url)}"></redoc>
<script src="{CDN}/redoc@{REDOC_VERSION}/bundles/redoc.standalone.js" integrity="{REDOC_JS_SRI}"
 crossorigin="anonymous"></script>
</body></html>"""
    )
