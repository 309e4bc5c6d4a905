"""Where a request is going, as the app's routes name it."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute, Match
from starlette.types import Scope

# Every error answered on it is GraphQL-shaped, those of the middleware ahead of it too.
GRAPHQL_PATH = "/graphql"
# Set on a request's scope by the hot paths' router: the exact path it served.
DIRECT_ROUTE = "direct_route"
UNMATCHED = "unmatched"
# The scripts and styles of the GraphiQL page at GRAPHQL_PATH.
GRAPHQL_STATIC_PATH = GRAPHQL_PATH + "/static"


def route_path(scope: Scope) -> str:
    """The request's path within the app: behind a root path (`--root-path`), the path
    the client asked for starts with it, as Starlette's router strips it."""
    path: str = scope["path"]
    root = scope.get("root_path")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("/", ""):
        return path[len(root) :] or "/"
    return path


def route_template(scope: Scope, routes: Sequence[BaseRoute] = ()) -> str:
    """The template of the route that served the request (`/customer/member/{userID}`),
    never the path itself, whose ids would make every request a new series. A request
    refused before routing (the service's own limit, an oversize body) is matched
    against `routes` here."""
    route = scope.get("route")
    if route is None:
        direct = scope.get(DIRECT_ROUTE)
        if direct is not None:
            return str(direct)
        route = next((r for r in routes if r.matches(scope)[0] is not Match.NONE), None)
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED
