"""The action server as Relais runs it: `python -m actions.server --port 5055`.

rasa_sdk's own `rasa run actions` listens on every interface (its host comes only from
SANIC_HOST, 0.0.0.0 by default) and runs any action for anyone who reaches it, with whatever
tracker they post: a forged tracker names any customer, and the actions read that customer's
bookings. So this entry point builds rasa_sdk's app itself and

* listens on one interface, `ACTIONS_INTERFACE` (127.0.0.1 unless set, see README,
  "Configuration"), so that only this machine reaches it by default;
* answers only requests that carry the shared secret `ACTIONS_SECRET`: Rasa sends it as the
  query parameter `token` (endpoints.yml: `token: ${ACTIONS_SECRET}`); anything else gets
  401, except `GET /health`, which says nothing but "ok" and is what start-up scripts poll.
"""

from __future__ import annotations

import argparse
import hmac
import logging

from rasa_sdk import utils
from rasa_sdk.constants import DEFAULT_SERVER_PORT
from rasa_sdk.endpoint import create_app
from rasa_sdk.plugin import plugin_manager
from sanic import Sanic, response
from sanic.log import access_logger
from sanic.request import Request
from sanic.response import HTTPResponse

from relais.core.config import settings

logger = logging.getLogger(__name__)
#: The one path anyone may call: it runs nothing and tells nothing.
OPEN_PATHS = frozenset({"/health"})
#: The query parameter Rasa's EndpointConfig puts the endpoint's `token` in.
TOKEN_PARAMETER = "token"


def secret_matches(provided: str | None, secret: str) -> bool:
    """Whether a request's token is the shared secret, in constant time (no timing oracle)."""
    if not provided or not secret:
        return False
    # Bytes: compare_digest refuses non-ASCII str, and a caller controls `provided`.
    return hmac.compare_digest(provided.encode("utf-8"), secret.encode("utf-8"))


def build_app(secret: str, package: str = "actions") -> Sanic:
    """rasa_sdk's app (the /webhook that runs actions, /actions, /health), behind the secret."""
    if not secret:
        raise ValueError("the action server needs a non-empty ACTIONS_SECRET")
    # No CORS origins: browsers have no business calling the action server.
    app = create_app(package, cors_origins=None)

    @app.middleware("request")
    async def require_secret(request: Request) -> HTTPResponse | None:
        if request.path in OPEN_PATHS or secret_matches(request.args.get(TOKEN_PARAMETER), secret):
            return None
        # Without saying what was wrong: a prober learns nothing about the secret.
        return response.json({"error": "unauthorized"}, status=401)

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=DEFAULT_SERVER_PORT)
    parser.add_argument(
        "--interface",
        default=None,
        help="the address to listen on (default: ACTIONS_INTERFACE, or 127.0.0.1)",
    )
    parser.add_argument("--actions", default="actions", help="the package of actions")
    utils.add_logging_level_option_arguments(parser)
    args = parser.parse_args(argv)
    utils.configure_colored_logging(args.loglevel)
    utils.update_sanic_log_level()
    found = settings()
    host = args.interface or found.actions_interface
    app = build_app(found.actions_secret, args.actions)
    # What `rasa run actions` attaches too (rasa_sdk's plugins: listeners, routes).
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    logger.info("Action server listening on http://%s:%d (secret required)", host, args.port)
    app.run(
        host,
        args.port,
        workers=utils.number_of_sanic_workers(),
        # Sanic builds each request's access-log line (its URL, its address) even when its
        # logger drops it (LOG_LEVEL_LIBRARIES, ERROR by default): only when it is written.
        access_log=access_logger.isEnabledFor(logging.INFO),
    )


if __name__ == "__main__":
    main()
