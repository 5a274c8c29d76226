"""The admin routes (the `admin` group only: access.py): the ingest keys game clients and servers send events with.
API Gateway keeps them (headcount/views/ingest_keys.py); a key's value is in the answer that made it, and nowhere
else headcount keeps anything."""

from __future__ import annotations

import base64

import orjson
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import ValidationError

from headcount.logic.errors import BadRequest

from .models import IngestKeyList, IngestKeyModel, KeyName, NewIngestKey, error_responses, ok
from .render import json_response
from .runtime import runtime

router = Router()
ERRORS = error_responses(401, 403)


@router.get(
    "/v1/admin/keys",
    summary="The ingest keys",
    responses={**ok(IngestKeyList, "every key, revoked too"), **ERRORS},
    tags=["admin"],
)
def list_keys():
    keys = runtime().ingest_keys.list()
    return json_response(orjson.dumps({"keys": [key.to_json() for key in keys]}))


@router.post(
    "/v1/admin/keys",
    summary="Make an ingest key",
    responses={
        201: {
            "description": "the key, with its value (shown this once)",
            "content": {"application/json": {"model": NewIngestKey}},
        },
        **error_responses(400, 401, 403, 409),
    },
    tags=["admin"],
)
def create_key():
    # The body's bytes parsed here, whatever their Content-Type says (as POST /v1/events does): any bytes get a 400
    event = router.current_event
    body = base64.b64decode(event.body or "") if event.is_base64_encoded else (event.body or "").encode()
    try:
        name = KeyName.model_validate_json(body).name
    except ValidationError as exc:
        raise BadRequest(f'the body is {{"name": "..."}}: {exc.errors()[0]["msg"]}') from None
    key, value = runtime().ingest_keys.create(name)
    return Response(201, content_types.APPLICATION_JSON, orjson.dumps({**key.to_json(), "value": value}).decode())


@router.delete(
    "/v1/admin/keys/<name>",
    summary="Revoke an ingest key",
    description="The key is disabled: API Gateway refuses it within a minute. It stays listed, revoked.",
    responses={**ok(IngestKeyModel, "the key, revoked"), **error_responses(401, 403, 404)},
    tags=["admin"],
)
def revoke_key(name: str):
    return json_response(orjson.dumps(runtime().ingest_keys.revoke(name).to_json()))
