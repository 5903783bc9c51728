"""/docs and /redoc: served whole from the function, pinned, and working with no network."""

from __future__ import annotations

import base64
import gzip
import hashlib

import pytest
from fastapi.testclient import TestClient

from handler import docs
from handler.app import create_app
from handler.model import load_model
from handler.settings import Settings


@pytest.fixture(scope="module")
def client(model_path):
    settings = Settings(model_path=model_path)
    return TestClient(create_app(load_model(settings), settings))


@pytest.mark.parametrize("name", sorted(docs.PINS))
def test_vendored_assets_are_the_pinned_npm_files(name):
    data = gzip.decompress((docs.ASSETS / f"{name}.gz").read_bytes())

    assert f"sha384-{base64.b64encode(hashlib.sha384(data).digest()).decode()}" == docs.PINS[name]


@pytest.mark.parametrize(("path", "marker"), [("/docs", "SwaggerUIBundle"), ("/redoc", "<redoc spec-url")])
def test_docs_pages_load_nothing_from_outside(client, path, marker):
    page = client.get(path, headers={"accept-encoding": "identity"})

    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert marker in page.text
    assert "cdn.jsdelivr.net" not in page.text
    assert "<script src" not in page.text  # every script and style is inline
    assert "<link" not in page.text
    assert '<a href="/openapi.json">' in page.text  # the <noscript> way to the document


def test_docs_pages_are_gzipped_for_browsers_that_accept_it(client):
    compressed = client.get("/docs", headers={"accept-encoding": "gzip, deflate, br"})
    plain = client.get("/docs", headers={"accept-encoding": "identity"})

    assert compressed.headers["content-encoding"] == "gzip"
    assert compressed.text == plain.text  # httpx decodes it
    assert int(compressed.headers["content-length"]) < len(plain.content) / 3


@pytest.mark.parametrize(
    ("accept_encoding", "gzipped"),
    [("GZIP;q=0.5", True), ("br, *", True), ("gzip;q=0, identity", False), ("*;q=0", False),
     ("br, *;q=0.1, gzip;q=0", False), ("gzip;q=oops", False), ("", False)],
)  # fmt: skip
def test_docs_pages_are_gzipped_only_when_the_client_gives_gzip_a_weight_above_zero(client, accept_encoding, gzipped):
    page = client.get("/docs", headers={"accept-encoding": accept_encoding})

    assert (page.headers.get("content-encoding") == "gzip") is gzipped
    assert "SwaggerUIBundle" in page.text


def test_missing_assets_give_a_page_that_links_the_document(client, monkeypatch, tmp_path):
    # GIVEN a build without the vendored assets
    monkeypatch.setattr(docs, "ASSETS", tmp_path)
    docs._swagger_html.cache_clear()
    docs._redoc_html.cache_clear()
    try:
        # WHEN the pages are asked for
        swagger, redoc = client.get("/docs"), client.get("/redoc")
    finally:
        docs._swagger_html.cache_clear()
        docs._redoc_html.cache_clear()

    # THEN they say so and link /openapi.json instead of staying white
    for page, viewer in ((swagger, "Swagger UI"), (redoc, "ReDoc")):
        assert page.status_code == 200
        assert f"{viewer} is not bundled with this build" in page.text
        assert '<a href="/openapi.json">/openapi.json</a>' in page.text
