"""GraphiQL at `/graphql`, served by the app itself: the page and every file it loads.

Strawberry's own page loads React and GraphiQL from a public CDN, which leaves a blank page
without internet access or under a strict content-security policy. This page loads only
the copies in `static/` (vendored by `scripts/vendor-graphiql.sh`), from this server, and
says so in its Content-Security-Policy.

An asset's URL carries the digest of its content (`?v=`): a page names the files it was
built with, so they can be cached for good, and a new version is a new URL.
"""

from __future__ import annotations

import hashlib
import html
import re
import secrets
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from app.core.errors import RouteNotFound
from app.http.paths import GRAPHQL_PATH, GRAPHQL_STATIC_PATH

STATIC_DIR = Path(__file__).parent / "static"
MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
STYLES = ("graphiql/graphiql.min.css", "ide.css")
STARTER = "ide.js"
# In order: GraphiQL's UMD build finds React and ReactDOM as globals; ide.js starts it,
# with graphql-ws (the global `graphqlWs`) for subscriptions.
SCRIPTS = (
    "graphiql/react.production.min.js",
    "graphiql/react-dom.production.min.js",
    "graphiql/graphiql.min.js",
    "graphiql/graphql-ws.min.js",
    STARTER,
)
IMMUTABLE = "public, max-age=31536000, immutable"
NONCE = "__NONCE__"
# A Host header fit to be named in the policy: a name or an address, and a port.
HOST = re.compile(r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
# `{nonce}`: a fresh one for each page; `{websockets}`: this host's WebSocket URLs.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        # Every script is a file of ours: no inline script at all.
        "script-src 'self'",
        # GraphiQL's dialogs (Radix) add a `<style>` element when they open. It carries
        # the page's nonce (ide.js hands it over), so no inline style needs
        # 'unsafe-inline'; whatever else writes styles does it through the DOM's style
        # properties, which CSP does not restrict.
        "style-src 'self' 'nonce-{nonce}'",
        # GraphiQL's fonts and icons are `data:` URLs inside its stylesheet.
        "font-src 'self' data:",
        "img-src 'self' data:",
        # The operations and the introspection go to /graphql, on this server, and the
        # subscriptions to a WebSocket on the same path ('self' names ws: and wss: URLs
        # of the host only in browsers that follow CSP Level 3).
        "connect-src 'self'{websockets}",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str
    version: str

    @property
    def etag(self) -> str:
        return f'"{self.version}"'


@cache
def assets() -> dict[str, Asset]:
    """The scripts and styles under `static/`, by their path there; read once (~1.5 MB)."""
    found = {}
    for path in sorted(STATIC_DIR.rglob("*")):
        media_type = MEDIA_TYPES.get(path.suffix)
        if media_type is not None and path.is_file():
            body = path.read_bytes()
            version = hashlib.sha256(body).hexdigest()[:16]
            found[path.relative_to(STATIC_DIR).as_posix()] = Asset(body, media_type, version)
    return found


def graphiql_page(root_path: str, host: str | None = None) -> HTMLResponse:
    """The page; `root_path` is the prefix the app is served under, if any; `host`, the
    request's Host, whose WebSocket URLs the page may connect to."""
    nonce = secrets.token_urlsafe(18)
    policy = CONTENT_SECURITY_POLICY.format(nonce=nonce, websockets=websocket_sources(host))
    return HTMLResponse(
        _page_html(root_path).replace(NONCE, nonce),
        headers={**PAGE_HEADERS, "Content-Security-Policy": policy},
    )


def websocket_sources(host: str | None) -> str:
    """This host's WebSocket URLs for `connect-src`: both schemes, as a proxy in front may
    end TLS (the page is then https and its WebSocket wss)."""
    if host is None or not HOST.fullmatch(host):
        return ""
    return f" ws://{host} wss://{host}"


@lru_cache(maxsize=8)  # one per root path
def _page_html(root_path: str) -> str:
    def url(name: str) -> str:
        return html.escape(f"{root_path}{GRAPHQL_STATIC_PATH}/{name}?v={assets()[name].version}")

    styles = "".join(f'\n    <link rel="stylesheet" href="{url(name)}">' for name in STYLES)

    def script(name: str) -> str:
        # A script element's nonce is hidden from the page's markup and styles, and
        # readable by the script itself (`document.currentScript.nonce`).
        nonce = f' nonce="{NONCE}"' if name == STARTER else ""
        return f'\n    <script src="{url(name)}"{nonce}></script>'

    scripts = "".join(script(name) for name in SCRIPTS)
    return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>GraphiQL</title>
    <link rel="icon" href="data:,">{styles}
  </head>
  <body>
    <div id="graphiql" data-endpoint="{html.escape(root_path + GRAPHQL_PATH)}">Loading…</div>
    <noscript>GraphiQL needs JavaScript.</noscript>{scripts}
  </body>
</html>
"""


async def asset(request: Request) -> Response:
    """One of the page's files. Cached for good when asked for by its current version."""
    found = assets().get(request.path_params["name"])
    if found is None:
        raise RouteNotFound()
    current = request.query_params.get("v") == found.version
    headers = {
        "ETag": found.etag,
        "Cache-Control": IMMUTABLE if current else "no-cache",
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match") == found.etag:
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type=found.media_type, headers=headers)
