"""The OpenAPI 3.1 document, served at /api/v1/openapi.json.

Each resource module describes its own routes in an ``OPENAPI`` dict
(``paths`` and ``schemas``); this module merges them."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from app.blueprints.api import bp

ERROR = {"$ref": "#/components/responses/Error"}
SECURED = [{"bearer": []}]
AUTH_ERRORS = {"401": ERROR, "403": ERROR, "422": ERROR}


def ref(schema: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{schema}"}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def list_of(schema: str) -> dict[str, Any]:
    return json_content({"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": ref(schema)}}})


def openapi_document() -> dict[str, Any]:
    import sys

    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["status", "message"],
                    "properties": {"status": {"type": "integer"}, "message": {"type": "string"}},
                }
            },
        }
    }
    modules = [m for name, m in sorted(sys.modules.items()) if name.startswith("app.blueprints.api.") and hasattr(m, "OPENAPI")]
    for module in modules:
        for path, operations in module.OPENAPI.get("paths", {}).items():
            paths.setdefault(path, {}).update(operations)
        schemas.update(module.OPENAPI.get("schemas", {}))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Guichet — API",
            "version": "1",
            "description": "Appels à projets et aides de la Région Grand Est. Montants en centimes d'euro, dates en UTC (ISO 8601).",
        },
        "servers": [{"url": "/api/v1"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {"Error": {"description": "Erreur", "content": json_content(ref("Error"))}},
            "schemas": schemas,
        },
        "paths": paths,
    }


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())
