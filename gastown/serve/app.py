"""The web app: Starlette routes over one reader, Jinja2 pages, SSE, ``/metrics``.

Every page is rendered on the server (the DAG is inline SVG), so it reads without
JavaScript; a small inline script listens to ``/events`` and swaps the page's ``#live``
part for a fresh copy when the tasks branch moves. Nothing here writes to the town.

Served on another address than loopback, every request must carry the token: as
``?token=`` (which also sets a cookie, so links and the event stream work), the cookie,
or ``Authorization: Bearer``; anything else gets 401.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from gastown.errors import InvalidBead, NotFound
from gastown.mayor import metrics as metricsmod
from gastown.serve import exposition, graph
from gastown.serve.live import TipWatch
from gastown.serve.reading import STATES, Reader
from gastown.town import times

HERE = Path(__file__).resolve().parent
COOKIE = "gt_serve_token"
PING_SECONDS = 15  # keeps an idle event stream open through proxies

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _when(epoch: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch)) if epoch else "-"


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    env = templates.env
    env.filters["duration"] = lambda s: times.duration(s) if s is not None else "-"
    env.filters["when"] = _when
    env.filters["pct"] = lambda x: f"{100 * x:.1f}%"
    env.globals["STATES"] = STATES
    return templates


class Pages:
    """The route handlers, over one reader and one tip watch."""

    def __init__(self, reader: Reader, watch: TipWatch) -> None:
        self.reader = reader
        self.watch = watch
        self.templates = _templates()
        self.registry = exposition.registry_for(reader)

    def _page(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        context.setdefault("tip", self.watch.tip)
        return self.templates.TemplateResponse(request, name, context, status_code=status)

    def town(self, request: Request) -> Response:
        return self._page(request, "town.html", town=self.reader.overview(time.time()), page="town")

    def convoy(self, request: Request) -> Response:
        convoy_id = request.path_params["convoy_id"]
        try:
            view = self.reader.convoy(convoy_id)
        except NotFound as error:
            return self._missing(request, error.message)
        return self._page(request, "convoy.html", view=view, svg=graph.svg(view.nodes, view.edges), page="convoy")

    def bead(self, request: Request) -> Response:
        bead_id = request.path_params["bead_id"]
        try:
            view = self.reader.bead(bead_id, time.time())
        except NotFound as error:
            return self._missing(request, error.message)
        except InvalidBead as error:
            return self._page(request, "invalid.html", bead_id=bead_id, problems=error.problems, page="bead")
        trailers = [(e, e.to_dict()["trailers"]) for e in view.timeline]
        return self._page(request, "bead.html", view=view, timeline=trailers, now=time.time(), page="bead")

    def agents(self, request: Request) -> Response:
        now = time.time()
        return self._page(
            request,
            "agents.html",
            watchers=self.reader.watchers(),
            claims=self.reader.claims(now),
            servers=self.reader.servers(),
            machine=self.reader.machine(),
            now=now,
            page="agents",
        )

    def panels(self, request: Request) -> Response:
        query = request.query_params
        since_text = query.get("since") or ""
        try:
            since = times.since(since_text, time.time()) if since_text else None
        except ValueError:
            message = f"since={since_text!r}: a date (2026-11-01), a time (RFC 3339) or an age like 7d"
            return self._page(request, "error.html", status=400, message=message, page="panels")
        scope = metricsmod.Scope(
            query.get("convoy") or None, query.get("role") or None, query.get("model") or None, since
        )
        found = self.reader.panels(scope)
        return self._page(
            request,
            "panels.html",
            m=found.metrics.to_dict(),
            cost=found.cost.to_dict() if found.cost is not None else None,
            query={
                "convoy": scope.convoy or "",
                "role": scope.role or "",
                "model": scope.model or "",
                "since": since_text,
            },
            page="panels",
        )

    def metrics(self, request: Request) -> Response:
        return Response(exposition.render(self.registry), media_type=exposition.CONTENT_TYPE)

    async def events(self, request: Request) -> Response:
        async def stream() -> AsyncIterator[dict[str, str]]:
            first = True
            async for tip in self.watch.tips():
                yield {"event": "hello" if first else "tasks", "data": json.dumps({"tip": tip})}
                first = False

        return EventSourceResponse(stream(), ping=PING_SECONDS)

    def _missing(self, request: Request, message: str) -> Response:
        return self._page(request, "error.html", status=404, message=message, page="")


class TokenGuard:
    """401 for any request without the token (ASGI middleware; the event stream passes through)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    def _matches(self, offered: str | None) -> bool:
        return offered is not None and secrets.compare_digest(offered.encode(), self.token.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):  # lifespan: no request to check
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        from_query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [None])[0]
        bearer = headers.get("authorization", "")
        cookies = SimpleCookie(headers.get("cookie", ""))
        from_cookie = cookies[COOKIE].value if COOKIE in cookies else None
        if self._matches(from_query):

            async def with_cookie(message: MutableMapping[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    cookie = f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
                    message["headers"] = [*message.get("headers", []), (b"set-cookie", cookie.encode())]
                await send(message)

            await self.app(scope, receive, with_cookie)
        elif self._matches(_bearer(bearer)) or self._matches(from_cookie):
            await self.app(scope, receive, send)
        else:
            refused = PlainTextResponse(
                "401: this gastown page needs its token (printed by `gt serve` at start): add ?token=...\n",
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            await refused(scope, receive, send)


def _bearer(header: str) -> str | None:
    """The token of an ``Authorization: Bearer …`` header (the scheme in any case)."""
    scheme, _, value = header.strip().partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


LOOPBACK_NAMES = ["127.0.0.1", "localhost", "[::1]", "::1"]


def build(reader: Reader, token: str | None = None) -> ASGIApp:
    """The app over ``reader``; with ``token`` every request must carry it. Without one (the
    default, loopback) only requests addressed to this machine's own names are answered: a
    page elsewhere cannot read the town through DNS rebinding."""
    watch = TipWatch(reader)
    pages = Pages(reader, watch)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        watch.start(asyncio.get_running_loop())
        try:
            yield
        finally:
            watch.stop()
            reader.close()

    app = Starlette(
        routes=[
            Route("/", pages.town),
            Route("/convoys/{convoy_id}", pages.convoy),
            Route("/beads/{bead_id}", pages.bead),
            Route("/agents", pages.agents),
            Route("/panels", pages.panels),
            Route("/metrics", pages.metrics),
            Route("/events", pages.events),
            Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
        ],
        lifespan=lifespan,
    )
    if token is not None:
        return TokenGuard(app, token)
    return TrustedHostMiddleware(app, allowed_hosts=LOOPBACK_NAMES)
