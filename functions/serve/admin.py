"""The admin routes (the `admin` group only: access.py): the ingest keys game clients and servers send events with.
API Gateway keeps them (headcount/views/ingest_keys.py); a key's value is in the answer that made it, and nowhere
else headcount keeps anything."""

from __future__ import annotations

from typing import Annotated

import orjson
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body

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
def create_key(request: Annotated[KeyName, Body()]):
    key, value = runtime().ingest_keys.create(request.name)
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
