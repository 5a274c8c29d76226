"""The erasure routes (the `admin` group only: access.py): requests to forget players (GDPR art. 17) and their receipts
(headcount/logic/erasure.py). A request is answered at once with its receipt, pending: the nightly run erases it from
every layer in its next batch. A receipt holds salted hashes of the ids, never the ids; `headcount forget` does the
same from a terminal."""

from __future__ import annotations

import base64
import re

import orjson
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import ValidationError

from headcount.core.erasure import BadErasure
from headcount.logic.erasure import request_erasure
from headcount.logic.errors import BadRequest, NotFound
from headcount.observability import logger

from .models import ErasureList, ErasureReceipt, NewErasure, error_responses, ok
from .render import json_response
from .runtime import received_ms, runtime

router = Router()
ERRORS = error_responses(401, 403)
RECEIPT_ID = re.compile(r"er-[0-9a-f]{16}")  # Receipt.new's: any other id is no receipt, without a read of the table


@router.get(
    "/v1/admin/erasures",
    summary="The erasure requests' receipts",
    description="Every receipt, newest first: its state, when each step of its batch finished, what was removed.",
    responses={**ok(ErasureList, "the receipts (never a player id)"), **ERRORS},
    tags=["erasure"],
)
def list_erasures():
    return json_response(orjson.dumps({"receipts": [r.to_json() for r in runtime().erasures.receipts()]}))


@router.post(
    "/v1/admin/erasures",
    summary="Forget players",
    description="The players' events leave the raw archive, the lake, the published days and the real-time view in "
    "the nightly run's next batch (a batch a week at least, sooner when many are waiting). With `no_more`, their "
    "events are also dropped from now on. The answer is the receipt, pending.",
    responses={
        202: {"description": "the receipt, pending", "content": {"application/json": {"model": ErasureReceipt}}},
        **error_responses(400, 401, 403),
    },
    tags=["erasure"],
)
def request_erasures():
    body = _body()
    try:
        receipt = request_erasure(runtime().erasures, body.player_ids, received_ms(router), no_more=body.no_more)
    except BadErasure as exc:  # the core's refusal (no ids, too many, a bad one), answered as every bad body is
        raise BadRequest(str(exc)) from None
    logger.info(
        "erasure requested",
        extra={"receipt": receipt.id, "players": receipt.players, "no_more": receipt.no_more, "by": _by()},
    )
    return Response(202, content_types.APPLICATION_JSON, orjson.dumps(receipt.to_json()).decode())


@router.get(
    "/v1/admin/erasures/<receipt>",
    summary="An erasure request's receipt",
    responses={**ok(ErasureReceipt, "the receipt"), **error_responses(401, 403, 404)},
    tags=["erasure"],
)
def get_erasure(receipt: str):
    found = runtime().erasures.receipt(receipt) if RECEIPT_ID.fullmatch(receipt) else None
    if found is None:
        raise NotFound(f"no erasure receipt {receipt!r}")
    return json_response(orjson.dumps(found.to_json()))


def _body() -> NewErasure:
    # The body's bytes parsed here, whatever their Content-Type says (as POST /v1/events does): any bytes get a 400
    event = router.current_event
    raw = base64.b64decode(event.body or "") if event.is_base64_encoded else (event.body or "").encode()
    try:
        return NewErasure.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise BadRequest(f'{where}: {first["msg"]} (the body is {{"player_ids": [...], "no_more": false}})') from None


def _by() -> str | None:
    """Who asked (the admin's user name, for the log: the receipt holds no person's name)."""
    claims = ((router.current_event.get("requestContext") or {}).get("authorizer") or {}).get("claims") or {}
    return claims.get("username") or claims.get("cognito:username")
