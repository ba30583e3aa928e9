"""The console's security headers, on every answer under ``/console`` (pages, fragments, redirects, static files,
errors) and on ``/``, which redirects to it (``docs/console.md``, "Security headers").

- ``Content-Security-Policy``: the console's own static files only (``console.js``, ``console.css``) — no inline
  script, style or event handler, nothing from elsewhere, no plugins, no ``<base>``, forms posting only to itself,
  and no framing. The templates hold no inline script or style; ``tests/console/test_headers.py`` checks that, and
  a browser test checks that no page breaks the policy.
- ``X-Content-Type-Options: nosniff``: a browser takes every answer for the type it is sent with.
- ``X-Frame-Options: DENY``: no framing, for browsers that predate ``frame-ancestors``.

Plain ASGI (no ``BaseHTTPMiddleware``): it runs on every request and must not cost a task switch; answers outside
the console pass untouched.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openbcs.console.pages import PREFIX

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    b"content-security-policy": CONTENT_SECURITY_POLICY.encode(),
    b"x-content-type-options": b"nosniff",
    b"x-frame-options": b"DENY",
}


def is_console_path(path: str) -> bool:
    """The console's URLs, and the server's root (which opens the console)."""
    return path == "/" or path == PREFIX or path.startswith(PREFIX + "/")


class ConsoleHeadersMiddleware:
    """Adds :data:`HEADERS` to every console answer (replacing any a page set itself)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_console_path(scope["path"]):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(name, value) for name, value in message.get("headers", []) if name.lower() not in HEADERS]
                message["headers"] = [*kept, *HEADERS.items()]
            await send(message)

        await self.app(scope, receive, with_headers)
