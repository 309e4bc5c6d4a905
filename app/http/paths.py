"""Where a request is going, as the app's routes name it."""

from __future__ import annotations

from starlette.types import Scope

# Every error answered on it is GraphQL-shaped, those of the middleware ahead of it too.
GRAPHQL_PATH = "/graphql"
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
