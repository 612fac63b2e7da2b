"""The `/test` page: a browser client of protocol v1 served from the gateway package (plain ES modules, no build)."""

from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).with_name("static")
PAGE_PREFIX = "/test"
_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' https: data:; connect-src 'self'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "microphone=(self)",
}
_COMMON_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


def _assets() -> dict[str, Path]:
    """Every servable file, fixed at start-up: nothing outside the static folder can be named."""
    return {path.name: path for path in STATIC_DIR.iterdir() if path.suffix in _TYPES and path.name != "index.html"}


def _file_response(path: Path, extra: dict[str, str] | None = None) -> web.Response:
    headers = {**_COMMON_HEADERS, **(extra or {})}
    return web.Response(body=path.read_bytes(), content_type=_TYPES[path.suffix], charset="utf-8", headers=headers)


def add_page_routes(app: web.Application) -> None:
    """Serve the page at `/test` and its modules and stylesheet under `/test/static/`."""
    assets = _assets()

    async def page(_: web.Request) -> web.Response:
        return _file_response(STATIC_DIR / "index.html", _PAGE_HEADERS)

    async def asset(request: web.Request) -> web.Response:
        path = assets.get(request.match_info["name"])
        if path is None:
            raise web.HTTPNotFound()
        return _file_response(path)

    app.router.add_get(PAGE_PREFIX, page)
    app.router.add_get(PAGE_PREFIX + "/", page)
    app.router.add_get(PAGE_PREFIX + "/static/{name}", asset)
