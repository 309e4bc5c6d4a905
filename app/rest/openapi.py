"""The OpenAPI 3.1 document of the shim, built from the route table and its shapes."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from pydantic import TypeAdapter

from app.auth.principal import Access
from app.rest.endpoint import BASE_PATH, Endpoint
from app.rest.routes import ENDPOINTS

REF = "#/components/schemas/{model}"
_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "error_id", "status"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "error_id": {"type": "string", "format": "uuid"},
                "status": {"type": "integer"},
                "param": {"type": "string"},
            },
        }
    },
}
_ERROR_HEADERS = {
    "x-error": {"schema": {"type": "string"}, "description": "What went wrong"},
    "x-error-id": {"schema": {"type": "string", "format": "uuid"}, "description": "Error id"},
}


_CREDENTIALS: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": [], "apiSecret": []}]
_SECURITY = {
    Access.ANYONE: [*_CREDENTIALS, {}],
    Access.USER: _CREDENTIALS,
    Access.METERED: _CREDENTIALS,  # with the billing_service or billing_admin role
    Access.ADMIN: _CREDENTIALS,  # with the billing_admin role
}


@cache
def openapi_document() -> dict[str, Any]:
    schemas: dict[str, Any] = {"Error": _ERROR_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        operations = paths.setdefault(BASE_PATH + endpoint.path, {})
        operations[endpoint.method.lower()] = _operation(endpoint, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Billing API", "version": "1.0.0"},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "api-key"},
                "apiSecret": {"type": "apiKey", "in": "header", "name": "api-secret"},
            },
        },
    }


def _operation(endpoint: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": endpoint.summary,
        # A handler serving a team's path and its /admin twin names two operations.
        "operationId": ("admin_" if endpoint.admin_only else "")
        + endpoint.handler.__module__.rsplit(".", 1)[-1]
        + "_"
        + endpoint.handler.__name__,
        "parameters": _parameters(endpoint),
        "responses": _responses(endpoint, schemas),
        "security": _SECURITY[endpoint.access],
    }
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": _schema(endpoint.body, schemas, "validation")}
            },
        }
    return operation


def _parameters(endpoint: Endpoint) -> list[dict[str, Any]]:
    path_params = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": _path_type(name),
        }
        for name in re.findall(r"{(\w+)}", endpoint.path)
    ]
    query_params = [
        {"name": param.name, "in": "query", "required": False, "schema": param.schema}
        for param in endpoint.query
    ]
    header_params = [
        {"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
        for name in endpoint.headers
    ]
    return path_params + query_params + header_params


def _path_type(name: str) -> dict[str, Any]:
    """Ids are UUIDs; names (`serviceName`, `featureKey`) are catalog names."""
    if name == "id" or name.endswith(("ID", "Id")):
        return {"type": "string", "format": "uuid"}
    return {"type": "string", "minLength": 1, "maxLength": 64}


def _responses(endpoint: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    success: dict[str, Any] = {"description": "Success"}
    if endpoint.response is not None:
        success["content"] = {
            "application/json": {"schema": _schema(endpoint.response, schemas, "serialization")}
        }
    responses = {str(endpoint.status): success}
    # Any call may carry malformed (400) or invalid (401) credentials, or find the database
    # away (503); any write may meet a concurrent one (409).
    conflict = (409,) if endpoint.method != "GET" else ()
    for status in sorted({*endpoint.errors, *conflict, 400, 401, 413, 429, 500, 503}):
        responses[str(status)] = {
            "description": "Error",
            "headers": _ERROR_HEADERS,
            "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}},
        }
    return responses


def _schema(shape: Any, schemas: dict[str, Any], mode: Any) -> dict[str, Any]:
    schema = TypeAdapter(shape).json_schema(by_alias=True, ref_template=REF, mode=mode)
    schemas.update(schema.pop("$defs", {}))
    title = schema.get("title")
    if isinstance(title, str) and "properties" in schema:
        schemas[title] = schema
        return {"$ref": REF.format(model=title)}
    return schema
