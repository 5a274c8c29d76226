"""The OpenAPI document of the serve function (`GET /v1/openapi.json`): Powertools generates it from the routes and
their models; here it gets the credentials each route needs (headcount/access.py), the server, and what the
generator cannot see."""

from __future__ import annotations

from functools import cache

import orjson
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, HTTPBearer, Server

from headcount import access

from .models import KeyName, NewAlertRule, NewChannel, NewErasure, NewSubscription, PostedEvents

DESCRIPTION = (
    "How many unique players: exact for finished days, approximate within seconds for today; every number says which, "
    "and how fresh it is (`as_of`, `stale`). Reads need a token of the stack's user pool (`Authorization: Bearer`): "
    "a person's, signed in (groups viewer or admin), or a tool's (client credentials, scope headcount/read); without "
    "one, 401. Posting events needs an ingest key (`x-api-key`), which opens nothing else; without one, 403. The admin "
    "routes need the admin group. API Gateway checks keys and tokens before the function runs. Any other path answers "
    "404 `not_found`, a method a path does not have 405 `method_not_allowed` with `Allow`; every error, 500 "
    '`internal_error` included, is {"error": {"code", "message"}}.'
)
SCHEMES = {
    "userPool": HTTPBearer(bearerFormat="JWT", description="an access token of the stack's Cognito user pool"),
    "ingestKey": APIKey(name=access.API_KEY_HEADER, in_=APIKeyIn.header, description="an ingest key"),
}


@cache  # one document per function: the routes do not change under it
def openapi_document(app: APIGatewayRestResolver) -> bytes:
    """Generated from the routes and models; `servers` is relative, so "try it out" works under any stage prefix."""
    doc = orjson.loads(
        app.get_openapi_json_schema(
            title="headcount",
            version="1",
            description=DESCRIPTION,
            servers=[Server(url="..", description="this API")],
            security_schemes=SCHEMES,
            security=[{"userPool": []}],
        )
    )
    # Parameters outside the schema are answered 400 in the envelope (ERRORS), never Powertools' 422.
    for operations in doc["paths"].values():
        for operation in operations.values():
            operation["responses"].pop("422", None)
            operation["responses"]["500"] = {
                "description": "a bug (logged); never an input's fault",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
            }
    for path, operations in doc["paths"].items():
        resource = access.resource_for(path.replace("{name}", "x"))
        for operation in operations.values():
            if resource is not None and resource.access is access.Access.PUBLIC:
                operation["security"] = []
            elif resource is not None and resource.access is access.Access.INGEST:
                operation["security"] = [{"ingestKey": []}]
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    # The bodies are read as bytes by their routes (any bytes get an answer in the envelope), so Powertools does not see
    # them as parameters: they are documented here from their models.
    bodies = (
        ("/v1/events", PostedEvents),
        ("/v1/admin/keys", KeyName),
        ("/v1/admin/channels", NewChannel),
        ("/v1/admin/subscriptions", NewSubscription),
        ("/v1/admin/alerts", NewAlertRule),
        ("/v1/admin/erasures", NewErasure),
    )
    for path, model in bodies:
        schemas[model.__name__] = model.model_json_schema(ref_template="#/components/schemas/{model}")
        doc["paths"][path]["post"]["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
        }
    return orjson.dumps(doc)
