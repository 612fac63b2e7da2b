"""`/test` and its static files as served by the gateway package (no browser needed)."""

import re

from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from gateway.page import STATIC_DIR, add_page_routes

IMPORT = re.compile(r"""(?:from\s+|import\s*\(\s*|new URL\(\s*)["']\./([\w.-]+)["']""")
REFERENCE = re.compile(r"""(?:src|href)="/test/static/([\w.-]+)\"""")


async def page_client(aiohttp_client: AiohttpClient) -> TestClient[web.Request, web.Application]:
    app = web.Application()
    add_page_routes(app)
    return await aiohttp_client(app)


async def test_page_is_html_with_a_strict_policy(aiohttp_client: AiohttpClient) -> None:
    client = await page_client(aiohttp_client)
    for path in ("/test", "/test/"):
        response = await client.get(path)
        assert response.status == 200 and response.content_type == "text/html"
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "unsafe" not in policy
        html = await response.text()
        for testid in ("connect", "mic", "status", "transcript", "intent", "products", "response", "text-input"):
            assert f'data-testid="{testid}"' in html
        assert 'data-testid="send"' in html and 'data-testid="error"' in html


async def test_every_referenced_module_is_served_as_javascript(aiohttp_client: AiohttpClient) -> None:
    client = await page_client(aiohttp_client)
    names = set(REFERENCE.findall((STATIC_DIR / "index.html").read_text()))
    for script in STATIC_DIR.glob("*.js"):
        names |= set(IMPORT.findall(script.read_text()))
    assert {"app.js", "style.css", "capture-worklet.js", "player.js", "session.js"} <= names
    for name in names:
        response = await client.get(f"/test/static/{name}")
        assert response.status == 200, name
        expected = "text/css" if name.endswith(".css") else "text/javascript"
        assert response.content_type == expected and response.headers["X-Content-Type-Options"] == "nosniff"


async def test_nothing_outside_the_static_folder_is_served(aiohttp_client: AiohttpClient) -> None:
    client = await page_client(aiohttp_client)
    for path in ("/test/static/page.py", "/test/static/..%2Fpage.py", "/test/static/index.html", "/test/static/x.js"):
        assert (await client.get(path)).status == 404, path
