"""How every HTTP route says what went wrong: a JSON body `{"error": "<problem>"}`.

`json_error` builds the answer for a status; `error_status` says which status a `RelaisError`
deserves; `json_errors` is the middleware that answers so for any `RelaisError` a route lets
through, so a known failure never reaches the client as a bare 500 page.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from relais.core.errors import ConfigError, Conflict, NotFound, RasaUnavailable, RelaisError

logger = logging.getLogger(__name__)

#: The statuses the routes answer with. The other aiohttp classes (405, 413, 3xx…) need
#: arguments of their own, so they cannot be built from a status alone.
_EXCEPTIONS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest,
    401: web.HTTPUnauthorized,
    403: web.HTTPForbidden,
    404: web.HTTPNotFound,
    409: web.HTTPConflict,
    415: web.HTTPUnsupportedMediaType,
    422: web.HTTPUnprocessableEntity,
    429: web.HTTPTooManyRequests,
    500: web.HTTPInternalServerError,
    503: web.HTTPServiceUnavailable,
}

#: Most specific first: a subclass of two of them (none today) takes the first listed.
_STATUSES: tuple[tuple[type[RelaisError], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (ConfigError, 400),
    (RasaUnavailable, 503),
)


def json_error(
    status: int, problem: str, headers: dict[str, str] | None = None
) -> web.HTTPException:
    """The HTTP error `status` with the JSON body {"error": problem}, ready to raise."""
    try:
        exception = _EXCEPTIONS[status]
    except KeyError:
        raise ValueError(f"no JSON error for HTTP {status}; known: {sorted(_EXCEPTIONS)}") from None
    return exception(
        text=json.dumps({"error": problem}), content_type="application/json", headers=headers
    )


async def json_object(request: web.Request, *, empty_ok: bool = False) -> dict[str, Any]:
    """The request's body as a JSON object; a 400 for anything else.

    With `empty_ok`, a request without a body reads as `{}` (actions that take no argument).
    """
    if empty_ok and not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise json_error(400, "the body must be JSON") from None
    if not isinstance(body, dict):
        raise json_error(400, "the body must be a JSON object")
    return body


def error_status(error: RelaisError) -> int:
    """The HTTP status of a Relais error: 404, 409, 400 (configuration), 503 (Rasa), else 500."""
    for kind, status in _STATUSES:
        if isinstance(error, kind):
            return status
    return 500


def error_response(error: RelaisError) -> web.HTTPException:
    """`error` as the JSON HTTP error its kind calls for, its message as the problem."""
    return json_error(error_status(error), str(error))


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answers a `RelaisError` left uncaught by a route as JSON, with the status of its kind."""
    try:
        return await handler(request)
    except RelaisError as error:
        status = error_status(error)
        if status >= 500:
            logger.warning("%s %s: %s", request.method, request.path, error)
        raise error_response(error) from None
