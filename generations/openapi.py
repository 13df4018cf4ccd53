"""The API's OpenAPI document and model descriptions, generated from the catalog (so they cannot drift)."""

from __future__ import annotations

from typing import Any

from .api_requests import api_location
from .catalog import CatalogField, CatalogModel, catalog
from .models import ApiWebhook

STATUSES = ["queued", "in_progress", "completed", "failed", "cancelled", "expired"]


def field_description(field: CatalogField) -> dict[str, Any]:
    """A catalog field as the API shows it in `/v1/models` (its form_schema entry)."""
    location = {"top": "", "input": "metadata.input", "parameters": "metadata.parameters"}[
        api_location(field)
    ]
    item: dict[str, Any] = {
        "name": field.name,
        "label": field.label,
        "type": "string" if field.is_file else field.type,
        "input": "url" if field.is_file else field.type,
        "required": field.required,
        "location": location or "top",
        "role": field.role,
        "description": field.help,
    }
    for key in ("default", "min", "max", "step", "max_length", "example", "placeholder", "unit"):
        value = getattr(field, key)
        if value not in (None, ""):
            item[key] = value
    if field.options:
        item["options"] = [{"value": o.value, "label": o.label} for o in field.options]
    if field.condition:
        item["condition"] = {"field": field.condition.field, "equals": field.condition.equals}
    if field.is_file:
        item["accepts"] = "image" if field.type == "image" else "audio"
        item["max_bytes"] = field.max_bytes
    return item


def model_description(model: CatalogModel) -> dict[str, Any]:
    price = model.price
    return {
        "id": model.key,
        "object": "model",
        "name": model.name,
        "provider": model.provider,
        "description": model.description,
        "form_schema": [field_description(field) for field in model.fields],
        "price": {
            "unit": "credits",
            "duration_steps": list(price.duration_steps),
            "uploaded_audio_means_audio": price.uploaded_audio_means_audio,
            "credits": {
                resolution: {str(step): dict(costs) for step, costs in steps.items()}
                for resolution, steps in price.credits.items()
            },
        },
    }


def _field_schema(field: CatalogField) -> dict[str, Any]:
    schema: dict[str, Any]
    if field.is_file:
        schema = {"type": "string", "format": "uri", "minLength": 1}
    elif field.type in ("text", "textarea"):
        schema = {"type": "string"}
        if field.max_length:
            schema["maxLength"] = field.max_length
        if field.required:
            schema["minLength"] = 1
    elif field.type == "integer":
        schema = {"type": "integer"}
    elif field.type == "number":
        schema = {"type": "number"}
    elif field.type == "boolean":
        schema = {"type": "boolean"}
    else:  # enum
        values = field.option_values
        schema = {
            "type": "integer" if all(isinstance(v, int) for v in values) else "string",
            "enum": values,
        }
    if field.type in ("integer", "number"):
        if field.min is not None:
            schema["minimum"] = field.min
        if field.max is not None:
            schema["maximum"] = field.max
    if field.help:
        schema["description"] = field.help
    if field.default is not None:
        schema["default"] = field.default
    return schema


def request_schema(model: CatalogModel) -> dict[str, Any]:
    """The JSON Schema of a POST /v1/video/generations body for one model."""
    top: dict[str, Any] = {
        "model": {"type": "string", "enum": [model.key]},
        "team": {
            "type": "string",
            "description": "A team's slug: charge and file the job for that team.",
        },
        "webhook": {
            "type": "string",
            "format": "uri",
            "maxLength": 2000,
            "description": (
                "An http(s) URL the studio POSTs a signed `WebhookEvent` to when the job ends "
                "(Standard Webhooks headers `webhook-id`, `webhook-timestamp`, "
                "`webhook-signature`, signed with your token's signing secret). Retried with "
                "growing gaps for up to a day until it answers 2xx. An internal address is "
                "refused with 400."
            ),
        },
        "webhook_events": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"type": "string", "enum": list(ApiWebhook.EVENTS)},
            "description": "Which endings to send (all four when left out).",
        },
    }
    sections: dict[str, dict[str, Any]] = {"input": {}, "parameters": {}}
    required: dict[str, list[str]] = {"top": ["model"], "input": [], "parameters": []}
    for field in model.fields:
        location = api_location(field)
        target = top if location == "top" else sections[location]
        target[field.name] = _field_schema(field)
        if field.required:
            required[location].append(field.name)
    metadata: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": {}}
    for name in ("input", "parameters"):
        section = {"type": "object", "additionalProperties": False, "properties": sections[name]}
        if required[name]:
            section["required"] = required[name]
            metadata.setdefault("required", []).append(name)
        metadata["properties"][name] = section
    top["metadata"] = metadata
    if metadata.get("required"):
        required["top"].append("metadata")
    return {
        "type": "object",
        "title": model.name,
        "description": model.description,
        "additionalProperties": False,
        "required": required["top"],
        "properties": top,
    }


def _json(schema_ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": schema_ref}}},
    }


ERROR_RESPONSES = {
    "401": _json("#/components/schemas/Error", "Missing, unknown, revoked or expired token."),
    "429": {
        **_json("#/components/schemas/Error", "Too many submits; wait for Retry-After seconds."),
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    },
}


def openapi_document(*, server_url: str) -> dict[str, Any]:
    models = list(catalog().values())
    error_object = {
        "type": "object",
        "required": ["message", "type", "param", "code"],
        "properties": {
            "message": {"type": "string"},
            "type": {"type": "string"},
            "param": {"type": "string", "nullable": True},
            "code": {"type": "string", "nullable": True},
        },
    }
    task = {
        "type": "object",
        "required": [
            "task_id",
            "object",
            "status",
            "model",
            "progress",
            "created_at",
            "cost",
            "seed",
        ],
        "properties": {
            "task_id": {"type": "string"},
            "object": {"type": "string", "enum": ["video.generation"]},
            "status": {"type": "string", "enum": STATUSES},
            "model": {"type": "string"},
            "progress": {"type": "integer", "minimum": 0, "maximum": 100},
            "created_at": {"type": "integer", "description": "Unix time."},
            "completed_at": {"type": "integer", "nullable": True},
            "cost": {"type": "integer", "description": "Credits charged."},
            "seed": {"type": "integer", "nullable": True},
            "team": {"type": "string", "nullable": True},
            "url": {
                "type": "string",
                "format": "uri",
                "description": "A signed link to the video, valid 1 h.",
            },
            "expires_at": {
                "type": "integer",
                "description": "When `url` stops working (Unix time).",
            },
            "duration": {"type": "number", "nullable": True},
            "width": {"type": "integer", "nullable": True},
            "height": {"type": "integer", "nullable": True},
            "error": {"allOf": [{"$ref": "#/components/schemas/ErrorObject"}], "nullable": True},
        },
    }
    schemas: dict[str, Any] = {
        "ErrorObject": error_object,
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {"$ref": "#/components/schemas/ErrorObject"}},
        },
        "TaskCreated": {
            "type": "object",
            "required": ["task_id", "status"],
            "properties": {
                "task_id": {"type": "string"},
                "status": {"type": "string", "enum": STATUSES},
            },
        },
        "Task": task,
        "TaskList": {
            "type": "object",
            "required": ["object", "data", "next"],
            "properties": {
                "object": {"type": "string", "enum": ["list"]},
                "data": {"type": "array", "items": {"$ref": "#/components/schemas/Task"}},
                "next": {"type": "string", "nullable": True},
            },
        },
        "Model": {
            "type": "object",
            "required": ["id", "object", "name", "provider", "form_schema", "price"],
        },
        "WebhookEvent": {
            "type": "object",
            "description": "The body the studio POSTs to a request's `webhook` when it ends.",
            "required": ["type", "timestamp", "data"],
            "properties": {
                "type": {"type": "string", "enum": list(ApiWebhook.EVENTS)},
                "timestamp": {"type": "string", "format": "date-time"},
                "data": {"$ref": "#/components/schemas/Task"},
            },
        },
        "ModelList": {
            "type": "object",
            "required": ["object", "data"],
            "properties": {
                "object": {"type": "string", "enum": ["list"]},
                "data": {"type": "array", "items": {"$ref": "#/components/schemas/Model"}},
            },
        },
    }
    refs = []
    batch_refs = []
    for model in models:
        name = "Request_" + "".join(ch if ch.isalnum() else "_" for ch in model.key)
        schemas[name] = request_schema(model)
        refs.append({"$ref": f"#/components/schemas/{name}"})
        batch_schema = request_schema(model)
        batch_schema["title"] = f"A batch of {model.name}"
        batch_schema["properties"] = {
            **batch_schema["properties"],
            "variations": {
                "type": "integer",
                "minimum": 1,
                "maximum": 16,
                "default": 1,
                "description": "That many of each combination, with different seeds.",
            },
            "prompts": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "string", "minLength": 1},
                "description": "One generation per prompt.",
            },
            "images": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "string", "format": "uri"},
                "description": "One generation per reference image URL.",
            },
            "sweep": {
                "type": "object",
                "maxProperties": 2,
                "additionalProperties": {"type": "array", "minItems": 1, "items": {}},
                "description": "A field's name → the values to try; one or two fields.",
            },
        }
        schemas["Batch" + name] = batch_schema
        batch_refs.append({"$ref": f"#/components/schemas/Batch{name}"})
    schemas["BatchCreated"] = {
        "type": "object",
        "required": ["id", "object", "task_ids", "price"],
        "properties": {
            "id": {"type": "string"},
            "object": {"type": "string", "enum": ["batch"]},
            "task_ids": {"type": "array", "items": {"type": "string"}},
            "price": {"type": "integer"},
        },
    }
    schemas["Batch"] = {
        "type": "object",
        "required": ["id", "object", "model", "axes", "price", "tasks"],
        "properties": {
            "id": {"type": "string"},
            "object": {"type": "string", "enum": ["batch"]},
            "model": {"type": "string"},
            "axes": {"type": "array", "items": {"type": "object"}},
            "price": {"type": "integer"},
            "tasks": {"type": "array", "items": {"$ref": "#/components/schemas/Task"}},
        },
    }
    task_id = {"name": "task_id", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Studio API",
            "version": "1",
            "description": (
                "Image-to-video generation through the studio, in ModelStream's request layout. "
                "Every job goes through the studio's validation, credits, galleries and teams."
            ),
        },
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
        },
        "paths": {
            "/v1/video/generations": {
                "post": {
                    "operationId": "createGeneration",
                    "summary": "Start a video generation",
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "maxLength": 200},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": refs,
                                    "discriminator": {"propertyName": "model"},
                                }
                                if len(refs) > 1
                                else refs[0]
                            }
                        },
                    },
                    "responses": {
                        "200": _json(
                            "#/components/schemas/TaskCreated",
                            "Accepted: the task's id and status.",
                        ),
                        "400": _json(
                            "#/components/schemas/Error",
                            "The request is not valid; `param` names the field.",
                        ),
                        "402": _json(
                            "#/components/schemas/Error",
                            "The wallet cannot pay: the message names the price and the balance.",
                        ),
                        "413": _json("#/components/schemas/Error", "The body is too large."),
                        "422": _json(
                            "#/components/schemas/Error",
                            "The Idempotency-Key was used with another body.",
                        ),
                        **ERROR_RESPONSES,
                    },
                },
                "get": {
                    "operationId": "listGenerations",
                    "summary": "Your generations, newest first",
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "required": False,
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": 100,
                                "default": 20,
                            },
                        },
                        {
                            "name": "after",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string"},
                            "description": "The cursor from `next`.",
                        },
                    ],
                    "responses": {
                        "200": _json("#/components/schemas/TaskList", "A page of tasks."),
                        "400": _json("#/components/schemas/Error", "A bad limit or cursor."),
                        **ERROR_RESPONSES,
                    },
                },
            },
            "/v1/video/generations/{task_id}": {
                "get": {
                    "operationId": "getGeneration",
                    "summary": "One task",
                    "parameters": [task_id],
                    "responses": {
                        "200": _json("#/components/schemas/Task", "The task."),
                        "400": _json("#/components/schemas/Error", "A malformed task_id."),
                        "404": _json("#/components/schemas/Error", "No such task (or not yours)."),
                        **ERROR_RESPONSES,
                    },
                }
            },
            "/v1/video/generations/{task_id}/cancel": {
                "post": {
                    "operationId": "cancelGeneration",
                    "summary": "Cancel a task that has not been sent to the provider yet",
                    "parameters": [task_id],
                    "responses": {
                        "200": _json(
                            "#/components/schemas/Task", "Cancelled; the credits were refunded."
                        ),
                        "400": _json("#/components/schemas/Error", "A malformed task_id."),
                        "404": _json("#/components/schemas/Error", "No such task (or not yours)."),
                        "409": _json(
                            "#/components/schemas/Error",
                            "Already sent to the provider: it runs to its end.",
                        ),
                        **ERROR_RESPONSES,
                    },
                }
            },
            "/v1/batches": {
                "post": {
                    "operationId": "createBatch",
                    "summary": "Several tasks from one request: variations, prompts, images, a sweep",
                    "description": (
                        "The product of the axes, at most 64 tasks, charged all or nothing."
                    ),
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"oneOf": batch_refs}}},
                    },
                    "responses": {
                        "200": _json("#/components/schemas/BatchCreated", "Accepted."),
                        "400": _json("#/components/schemas/Error", "Invalid request."),
                        "402": _json("#/components/schemas/Error", "Not enough credits."),
                        "413": _json("#/components/schemas/Error", "The body is too large."),
                        **ERROR_RESPONSES,
                    },
                }
            },
            "/v1/batches/{batch_id}": {
                "get": {
                    "operationId": "getBatch",
                    "summary": "A batch and every task in it",
                    "parameters": [
                        {
                            "name": "batch_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": _json("#/components/schemas/Batch", "The batch."),
                        "400": _json("#/components/schemas/Error", "A malformed batch_id."),
                        "404": _json("#/components/schemas/Error", "No such batch (or not yours)."),
                        **ERROR_RESPONSES,
                    },
                }
            },
            "/v1/models": {
                "get": {
                    "operationId": "listModels",
                    "summary": "The catalog, with each model's form_schema and price rule",
                    "responses": {
                        "200": _json("#/components/schemas/ModelList", "The models."),
                        **ERROR_RESPONSES,
                    },
                }
            },
            "/v1/models/{key}": {
                "get": {
                    "operationId": "getModel",
                    "summary": "One model",
                    "parameters": [
                        {
                            "name": "key",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": _json("#/components/schemas/Model", "The model."),
                        "404": _json("#/components/schemas/Error", "No such model."),
                        **ERROR_RESPONSES,
                    },
                }
            },
        },
    }
