"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any


def _error() -> dict[str, Any]:
    return {"$ref": "#/components/responses/Error"}


def openapi_document() -> dict[str, Any]:
    secured = [{"bearer": []}]
    errors = {"401": _error(), "403": _error(), "422": _error()}
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
            "responses": {
                "Error": {
                    "description": "Erreur",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
            },
            "schemas": {
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
                },
                "TokenRequest": {
                    "type": "object",
                    "required": ["email", "password"],
                    "properties": {
                        "email": {"type": "string"},
                        "password": {"type": "string"},
                        "name": {"type": "string", "maxLength": 100},
                        "scopes": {"type": "array", "items": {"type": "string", "enum": ["read", "write"]}},
                        "days": {"type": "integer", "minimum": 1, "maximum": 365},
                    },
                },
                "Token": {
                    "type": "object",
                    "required": ["token", "id", "scopes", "expires_at"],
                    "properties": {
                        "token": {"type": "string"},
                        "id": {"type": "integer"},
                        "scopes": {"type": "array", "items": {"type": "string"}},
                        "expires_at": {"type": "string", "format": "date-time"},
                    },
                },
                "Call": {
                    "type": "object",
                    "required": ["reference", "title", "status", "axis", "opens_at", "closes_at", "budget_cents"],
                    "properties": {
                        "reference": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "string", "enum": ["draft", "published", "closed"]},
                        "axis": {"type": "integer"},
                        "opens_at": {"type": "string", "format": "date-time"},
                        "closes_at": {"type": "string", "format": "date-time"},
                        "budget_cents": {"type": "integer"},
                        "max_aid_cents": {"type": ["integer", "null"]},
                    },
                },
                "Application": {
                    "type": "object",
                    "required": ["reference", "call", "organisation", "title", "state", "requested_amount_cents", "version"],
                    "properties": {
                        "reference": {"type": "string", "examples": ["PIA-2026-0042"]},
                        "call": {"type": "string"},
                        "organisation": {
                            "type": "object",
                            "properties": {"siret": {"type": "string"}, "name": {"type": "string"}},
                        },
                        "title": {"type": "string"},
                        "state": {"type": "string"},
                        "requested_amount_cents": {"type": "integer"},
                        "workflow_version": {"type": "string"},
                        "version": {"type": "integer"},
                        "created_at": {"type": "string", "format": "date-time"},
                        "submitted_at": {"type": ["string", "null"], "format": "date-time"},
                    },
                },
            },
        },
        "paths": {
            "/tokens": {
                "post": {
                    "summary": "Obtenir un jeton personnel avec son e-mail et son mot de passe",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TokenRequest"}}},
                    },
                    "responses": {
                        "201": {
                            "description": "Jeton créé (affiché une seule fois)",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Token"}}},
                        },
                        "401": _error(),
                        "422": _error(),
                        "429": _error(),
                    },
                }
            },
            "/tokens/current": {
                "delete": {
                    "summary": "Révoquer le jeton utilisé",
                    "security": secured,
                    "responses": {"204": {"description": "Révoqué"}, "401": _error()},
                }
            },
            "/calls": {
                "get": {
                    "summary": "Les appels à projets",
                    "security": secured,
                    "responses": {
                        "200": {
                            "description": "Liste",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["items"],
                                        "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Call"}}},
                                    }
                                }
                            },
                        },
                        **errors,
                    },
                }
            },
            "/applications": {
                "get": {
                    "summary": "Les dossiers visibles par l'utilisateur du jeton",
                    "security": secured,
                    "parameters": [
                        {"name": "state", "in": "query", "schema": {"type": "string"}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
                        {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                    ],
                    "responses": {
                        "200": {
                            "description": "Liste",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["items"],
                                        "properties": {
                                            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Application"}}
                                        },
                                    }
                                }
                            },
                        },
                        **errors,
                    },
                }
            },
            "/applications/{reference}": {
                "get": {
                    "summary": "Un dossier",
                    "security": secured,
                    "parameters": [{"name": "reference", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {
                        "200": {
                            "description": "Le dossier",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Application"}}},
                        },
                        "404": _error(),
                        **errors,
                    },
                }
            },
        },
    }
