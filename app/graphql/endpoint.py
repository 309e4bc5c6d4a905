from starlette.routing import BaseRoute, Route
from starlette.responses import PlainTextResponse


def graphql_route(container: object) -> BaseRoute:
    async def placeholder(request: object) -> PlainTextResponse:
        return PlainTextResponse("", status_code=501)

    return Route("/graphql", placeholder)
