"""The OpenAPI document of the serve function (`GET /v1/openapi.json`): Powertools generates it from the routes and
their models; here it gets the API key scheme, the server, and what the generator cannot see."""

from __future__ import annotations

from functools import cache

import orjson
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, Server

from .models import PostedEvents

DESCRIPTION = (
    "How many unique players: exact for finished days, approximate within seconds for today; every number says which, "
    "and how fresh it is (`as_of`, `stale`). Every route here but /v1/health needs the x-api-key header (403 "
    "without it). Any other path answers 404 `not_found`, a method a path does not have 405 `method_not_allowed` with "
    '`Allow`; every error, 500 `internal_error` included, is {"error": {"code", "message"}}.'
)


@cache  # one document per function: the routes do not change under it
def openapi_document(app: APIGatewayRestResolver) -> bytes:
    """Generated from the routes and models; `servers` is relative, so "try it out" works under any stage prefix."""
    doc = orjson.loads(
        app.get_openapi_json_schema(
            title="headcount",
            version="1",
            description=DESCRIPTION,
            servers=[Server(url="..", description="this API")],
            security_schemes={"apiKey": APIKey(name="x-api-key", in_=APIKeyIn.header)},
            security=[{"apiKey": []}],
        )
    )
    # Parameters outside the schema are answered 400 in the envelope (ERRORS), never Powertools' 422; health needs no key.
    for operations in doc["paths"].values():
        for operation in operations.values():
            operation["responses"].pop("422", None)
            operation["responses"]["500"] = {
                "description": "a bug (logged); never an input's fault",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
            }
    doc["paths"]["/v1/health"]["get"]["security"] = []
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    # The events body is read as bytes by the route (any bytes get an answer in the envelope), so Powertools does not
    # see it as a parameter: it is documented here from its model.
    post = doc["paths"]["/v1/events"]["post"]
    schemas[PostedEvents.__name__] = PostedEvents.model_json_schema(ref_template="#/components/schemas/{model}")
    post["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{PostedEvents.__name__}"}}},
    }
    return orjson.dumps(doc)
