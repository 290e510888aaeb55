"""The security headers of every answer of the app: pages, static files, APIs, errors.

The app's outermost middleware: it also sees the HTTP errors raised by handlers, by the other
middlewares (`json_errors`, the console's guard) and by the router (404, 405).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping

from aiohttp import web

#: The pages (bot/static/*.html) load their script and style sheet from /static/ and call
#: the app's own API; nothing inline (no <script> blocks, no style="" attributes), nothing from
#: elsewhere. A script injected into a page would run nowhere, and no other site may frame one.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # frame-ancestors' older spelling, for browsers that predate it.
    "X-Frame-Options": "DENY",
}


@web.middleware
async def security_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as error:  # an answer too (404, 401…), raised rather than returned
        _add(request, error.headers)
        raise
    _add(request, response.headers)
    return response


def _add(request: web.Request, headers: MutableMapping[str, str]) -> None:
    for name, value in HEADERS.items():
        headers.setdefault(name, value)
    if request.path.startswith(("/api/console", "/api/login")):
        # Customer records and transcripts: not kept in the browser's cache or a proxy's.
        headers.setdefault("Cache-Control", "no-store")
