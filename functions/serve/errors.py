"""Domain errors become HTTP answers here, and only here: one table, one envelope (render.error_response)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from botocore.exceptions import BotoCoreError, ClientError

from headcount.logic.errors import BadRequest, Conflict, NotFound, TooLarge, UnknownMetric
from headcount.observability import logger
from headcount.views.batch import PublishInProgress
from headcount.views.ingest_keys import KeyRefused
from headcount.views.stream import RETRYABLE, StreamUnavailable

from .render import error_response

ERRORS: dict[type[Exception], tuple[int, str]] = {
    BadRequest: (400, "bad_request"),
    RequestValidationError: (400, "bad_request"),  # a parameter outside the OpenAPI document's schema
    UnknownMetric: (404, "unknown_metric"),
    NotFound: (404, "not_found"),
    Conflict: (409, "conflict"),
    TooLarge: (413, "too_large"),
    StreamUnavailable: (503, "stream_unavailable"),
    PublishInProgress: (503, "republishing"),  # a day changed under every read: retry
    BotoCoreError: (503, "store_unavailable"),  # DynamoDB or Kinesis out of reach after the client's retries: retry
}


def answer_errors(app: APIGatewayRestResolver) -> None:
    """Give `app` its error answers: the table's, a store's refusal, any bug, and no route for a path or method."""

    @app.exception_handler(list(ERRORS))
    def domain_error(exc: Exception) -> Response:
        status, code = next(ERRORS[kind] for kind in type(exc).__mro__ if kind in ERRORS)
        return error_response(status, code, _message(exc))

    @app.exception_handler(KeyRefused)
    def key_refused(exc: KeyRefused) -> Response:
        return error_response(exc.status, exc.code, str(exc))

    @app.exception_handler(ClientError)
    def store_error(exc: ClientError) -> Response:
        """DynamoDB or Kinesis refusing after the client's retries: throttled or failing is 503 (retry); any other
        refusal (access denied, a missing table) is the deployment's fault, a 500."""
        if exc.response.get("Error", {}).get("Code") in RETRYABLE | {"RequestLimitExceeded", "InternalServerError"}:
            return error_response(503, "store_unavailable", f"the store is busy or failing ({exc}); retry")
        return unexpected_error(exc)

    @app.exception_handler(Exception)
    def unexpected_error(exc: Exception) -> Response:
        """A bug, not an input (the fuzz finds none): logged with its trace, answered in the envelope, not a bare
        502."""
        logger.exception("unexpected error")
        return error_response(500, "internal_error", "the API failed on this request; it is logged")

    @app.not_found
    def not_found(exc: Exception) -> Response:
        """No route for this method and path (after the access check: the handler runs it first): 405 when the path has
        routes for other methods, else 404."""
        path = app.current_event.path
        routes = app._static_routes + app._dynamic_routes  # noqa: SLF001
        allowed = sorted({route.method for route in routes if route.rule.match(path)})
        if allowed:
            method = app.current_event.http_method
            response = error_response(
                405, "method_not_allowed", f"{method} is not a method of {path}: {', '.join(allowed)}"
            )
            response.headers["Allow"] = ", ".join(allowed)
            return response
        return error_response(404, "not_found", "no such route")


def _message(exc: Exception) -> str:
    if isinstance(exc, RequestValidationError):  # say which parameter and why, as the schema does
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors()) or "bad request"
    return str(exc)
