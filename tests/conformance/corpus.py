"""App layouts built the way real FastAPI services are built, with the requests to send.

Every :class:`Call` says what the client must receive (``status``) and the ``route``
label the request must get: the full template of the route that handled it, or
``unmatched`` when no route did (unknown path, or a middleware answered before
routing). On FastAPI >= 0.142 the conformance test also checks each ``route`` against
FastAPI's own ``http.route``; where FastAPI reports none, ``unmatched`` is expected.

Nothing here knows about azora-otel: these are plain applications.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import fastapi.routing
from fastapi import (
    APIRouter,
    BackgroundTasks,
    Depends,
    FastAPI,
    Header,
    HTTPException,
    Request,
    WebSocket,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

STATIC_DIR = Path(__file__).parent / "static"

LAZY_INCLUSION = hasattr(fastapi.routing, "_IncludedRouter")
"""FastAPI resolves ``include_router`` lazily (0.141+): routes added to a router after it
was included are served. Older FastAPI copies the routes at inclusion time."""

Pause = Callable[[float], Awaitable[None]]
"""``await pause(ms)``: real sleep under a server, a controlled clock in process."""

HANDLER_PAUSE_MS = 5.0


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    status: int
    route: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None


@dataclass(frozen=True)
class Layout:
    name: str
    build: Callable[[Pause], FastAPI]
    calls: tuple[Call, ...]
    root_path: str = ""
    """The ASGI root path the server passes (``uvicorn --root-path``, behind a proxy)."""


# --------------------------------------------------------------------------- routers


def nested_routers(_pause: Pause) -> FastAPI:
    """Routers three deep, each with a prefix; a router with its own prefix too."""
    orders = APIRouter(prefix="/orders", tags=["orders"])

    @orders.get("/{order_id}")
    async def get_order(shop_id: int, order_id: int) -> dict[str, int]:
        return {"shop": shop_id, "order": order_id}

    @orders.post("", status_code=201)
    async def create_order(shop_id: int) -> dict[str, int]:
        return {"shop": shop_id}

    shops = APIRouter()

    @shops.get("/{shop_id}")
    def get_shop(shop_id: int) -> dict[str, int]:
        return {"shop": shop_id}

    shops.include_router(orders, prefix="/{shop_id}")
    api = APIRouter()
    api.include_router(shops, prefix="/shops")

    @api.get("/")
    async def api_root() -> dict[str, str]:
        return {"api": "v1"}

    app = FastAPI()
    app.include_router(api, prefix="/api/v1")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


NESTED_ROUTERS = Layout(
    "nested_routers",
    nested_routers,
    (
        Call("GET", "/health", 200, "/health"),
        Call("GET", "/api/v1/", 200, "/api/v1/"),
        Call("GET", "/api/v1/shops/7", 200, "/api/v1/shops/{shop_id}"),
        Call("GET", "/api/v1/shops/7/orders/9", 200, "/api/v1/shops/{shop_id}/orders/{order_id}"),
        Call("POST", "/api/v1/shops/7/orders", 201, "/api/v1/shops/{shop_id}/orders"),
        Call(
            "DELETE", "/api/v1/shops/7/orders/9", 405, "/api/v1/shops/{shop_id}/orders/{order_id}"
        ),
        Call("GET", "/api/v1/shops/7/orders/x", 422, "/api/v1/shops/{shop_id}/orders/{order_id}"),
        Call("GET", "/api/v1/nothing/here", 404, "unmatched"),
        Call("GET", "/api/v2/shops/7", 404, "unmatched"),
    ),
)


def versioned_api(_pause: Pause) -> FastAPI:
    """One router included under /api/v1 and /api/v2: identical inner paths."""
    items = APIRouter(prefix="/items")

    @items.get("/{item_id}")
    async def get_item(item_id: int) -> dict[str, int]:
        return {"item": item_id}

    @items.put("/{item_id}")
    async def put_item(item_id: int) -> dict[str, int]:
        return {"item": item_id}

    v2_only = APIRouter()

    @v2_only.get("/items/{item_id}/history")
    async def history(item_id: int) -> list[int]:
        return [item_id]

    app = FastAPI()
    app.include_router(items, prefix="/api/v1")
    app.include_router(items, prefix="/api/v2")
    app.include_router(v2_only, prefix="/api/v2")
    return app


VERSIONED_API = Layout(
    "versioned_api",
    versioned_api,
    (
        Call("GET", "/api/v1/items/1", 200, "/api/v1/items/{item_id}"),
        Call("GET", "/api/v2/items/2", 200, "/api/v2/items/{item_id}"),
        Call("PUT", "/api/v2/items/2", 200, "/api/v2/items/{item_id}"),
        Call("GET", "/api/v2/items/2/history", 200, "/api/v2/items/{item_id}/history"),
        Call("GET", "/api/v1/items/2/history", 404, "unmatched"),
        Call("PATCH", "/api/v1/items/3", 405, "/api/v1/items/{item_id}"),
    ),
)


def lazy_inclusion(_pause: Pause) -> FastAPI:
    """Routes added to a router after ``include_router`` (served by lazy inclusion)."""
    late = APIRouter()
    app = FastAPI()
    app.include_router(late, prefix="/late")

    @late.get("/added-after/{n}")
    async def added_after(n: int) -> dict[str, int]:
        return {"n": n}

    @app.get("/early")
    async def early() -> dict[str, str]:
        return {}

    return app


LAZY = Layout(
    "lazy_inclusion",
    lazy_inclusion,
    (
        Call("GET", "/early", 200, "/early"),
        Call("GET", "/late/added-after/3", 200, "/late/added-after/{n}")
        if LAZY_INCLUSION
        else Call("GET", "/late/added-after/3", 404, "unmatched"),
    ),
)


# --------------------------------------------------------------------------- mounts


class HeaderMiddleware:
    """A sub-application's own pure ASGI middleware: adds a response header."""

    def __init__(self, app: ASGIApp, name: str = "x-sub") -> None:
        self.app = app
        self.name = name.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def add_header(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (self.name, b"1")]
            await send(message)

        await self.app(scope, receive, add_header)  # type: ignore[arg-type]


def mounts(_pause: Pause) -> FastAPI:
    """Mounts in mounts, a templated mount, sub-apps with their own middleware,
    a plain Starlette sub-app and static files."""
    inner = FastAPI()

    @inner.get("/deep/{x}")
    async def deep(x: str) -> dict[str, str]:
        return {"x": x}

    mid = FastAPI()
    mid.mount("/inner", inner)

    @mid.get("/here")
    async def mid_here() -> dict[str, str]:
        return {}

    tenant = FastAPI()
    tenant.add_middleware(HeaderMiddleware)
    users = APIRouter(prefix="/users")

    @users.get("/{user_id}")
    async def tenant_user(user_id: int) -> dict[str, int]:
        return {"user": user_id}

    tenant.include_router(users)

    async def ping(_request: Request) -> Response:
        return PlainTextResponse("pong")

    legacy = Starlette(routes=[Route("/ping", ping)])

    app = FastAPI()
    app.mount("/mid", mid)
    app.mount("/tenants/{tenant_id}", tenant)
    app.mount("/legacy", legacy)
    app.router.routes.append(
        Mount("/wrapped", app=legacy, middleware=[Middleware(HeaderMiddleware, name="x-wrap")])
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/top")
    async def top() -> dict[str, str]:
        return {}

    return app


MOUNTS = Layout(
    "mounts",
    mounts,
    (
        Call("GET", "/top", 200, "/top"),
        Call("GET", "/mid/here", 200, "/mid/here"),
        Call("GET", "/mid/inner/deep/abc", 200, "/mid/inner/deep/{x}"),
        Call("GET", "/mid/inner/deep/xyz", 200, "/mid/inner/deep/{x}"),
        Call("POST", "/mid/inner/deep/abc", 405, "/mid/inner/deep/{x}"),
        # a mount took the request but its application found no route: the mount's template
        Call("GET", "/mid/inner/nowhere", 404, "/mid/inner/{path}"),
        Call("GET", "/mid/nowhere", 404, "/mid/{path}"),
        Call("GET", "/tenants/acme/users/3", 200, "/tenants/{tenant_id}/users/{user_id}"),
        Call("GET", "/tenants/globex/users/4", 200, "/tenants/{tenant_id}/users/{user_id}"),
        # a Starlette (not FastAPI) application: FastAPI knows only the mount's template
        Call("GET", "/legacy/ping", 200, "/legacy/{path}"),
        Call("GET", "/wrapped/ping", 200, "/wrapped/{path}"),
        Call("GET", "/static/app.css", 200, "/static/{path}"),
        Call("HEAD", "/static/app.css", 200, "/static/{path}"),
        Call("GET", "/static/missing.js", 404, "/static/{path}"),
        Call("GET", "/nothing", 404, "unmatched"),
    ),
)


# --------------------------------------------------------------------------- built-in routes


def builtin_routes(_pause: Pause) -> FastAPI:
    """The docs/openapi routes, ``add_route`` and ``add_api_route``, a slash redirect."""

    async def legacy_health(_request: Request) -> Response:
        return PlainTextResponse("ok")

    async def added(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    app = FastAPI()
    app.add_route("/legacy-health", legacy_health, methods=["GET"])
    app.add_api_route("/added/{item_id}", added, methods=["GET"])

    @app.get("/items")
    async def items() -> list[int]:
        return [1]

    return app


BUILTIN = Layout(
    "builtin_routes",
    builtin_routes,
    (
        Call("GET", "/docs", 200, "/docs"),
        Call("GET", "/docs/oauth2-redirect", 200, "/docs/oauth2-redirect"),
        Call("GET", "/redoc", 200, "/redoc"),
        Call("GET", "/openapi.json", 200, "/openapi.json"),
        Call("GET", "/legacy-health", 200, "/legacy-health"),
        Call("GET", "/added/5", 200, "/added/{item_id}"),
        Call("GET", "/items", 200, "/items"),
    ),
)


def shared_handlers(_pause: Pause) -> FastAPI:
    """One endpoint function behind two paths; one sub-application mounted twice."""

    async def status_page(_request: Request) -> Response:
        return PlainTextResponse("ok")

    async def lookup(key: str) -> dict[str, str]:
        return {"key": key}

    shared = FastAPI()

    @shared.get("/things/{thing_id}")
    async def thing(thing_id: int) -> dict[str, int]:
        return {"thing": thing_id}

    app = FastAPI()
    app.add_route("/status", status_page)
    app.add_route("/healthz", status_page)
    app.add_api_route("/keys/{key}", lookup, methods=["GET"])
    app.add_api_route("/aliases/{key}", lookup, methods=["GET"])
    app.mount("/one", shared)
    app.mount("/two", shared)
    return app


SHARED_HANDLERS = Layout(
    "shared_handlers",
    shared_handlers,
    (
        Call("GET", "/status", 200, "/status"),
        Call("GET", "/healthz", 200, "/healthz"),
        Call("GET", "/keys/a", 200, "/keys/{key}"),
        Call("GET", "/aliases/b", 200, "/aliases/{key}"),
        Call("GET", "/one/things/1", 200, "/one/things/{thing_id}"),
        Call("GET", "/two/things/2", 200, "/two/things/{thing_id}"),
        Call("GET", "/two/nothing", 404, "/two/{path}"),
    ),
)


# --------------------------------------------------------------------------- errors


class TeapotError(Exception):
    pass


class Unavailable(Exception):
    pass


def exception_handlers(pause: Pause) -> FastAPI:
    """Handlers of every kind, including the catch-all one Starlette runs outermost."""
    app = FastAPI()

    @app.exception_handler(TeapotError)
    async def teapot(_request: Request, _exc: TeapotError) -> JSONResponse:
        return JSONResponse({"error": "teapot"}, status_code=418)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"errors": len(exc.errors())}, status_code=400)

    @app.exception_handler(Exception)
    async def everything_else(_request: Request, _exc: Exception) -> JSONResponse:
        await pause(HANDLER_PAUSE_MS)  # the handler's time is the request's too
        return JSONResponse({"error": "try later"}, status_code=503)

    async def require_token(x_token: Annotated[str | None, Header()] = None) -> None:
        if x_token != "secret":
            raise HTTPException(status_code=401, detail="no token")

    private = APIRouter(prefix="/private", dependencies=[Depends(require_token)])

    @private.get("/data")
    async def data() -> dict[str, str]:
        return {"data": "yes"}

    app.include_router(private)

    @app.get("/conflict")
    async def conflict() -> None:
        raise HTTPException(status_code=409)

    @app.get("/teapot")
    async def brew() -> None:
        raise TeapotError

    @app.get("/crash")
    async def crash() -> None:
        raise Unavailable("database is down")

    @app.get("/crash-sync")
    def crash_sync() -> None:
        raise Unavailable("database is down")

    @app.get("/number/{n}")
    async def number(n: int) -> dict[str, int]:
        return {"n": n}

    return app


EXCEPTION_HANDLERS = Layout(
    "exception_handlers",
    exception_handlers,
    (
        Call("GET", "/conflict", 409, "/conflict"),
        Call("GET", "/teapot", 418, "/teapot"),
        Call("GET", "/crash", 503, "/crash"),
        Call("GET", "/crash-sync", 503, "/crash-sync"),
        Call("GET", "/number/abc", 400, "/number/{n}"),
        Call("GET", "/number/1", 200, "/number/{n}"),
        Call("GET", "/private/data", 401, "/private/data"),
        Call("GET", "/private/data", 200, "/private/data", headers={"x-token": "secret"}),
        Call("GET", "/unknown", 404, "unmatched"),
    ),
)


def unhandled(_pause: Pause) -> FastAPI:
    """No catch-all handler: Starlette's own 500; a 500 handler by status code."""
    app = FastAPI()

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("unhandled")

    @app.get("/ok")
    async def ok() -> dict[str, str]:
        return {}

    return app


UNHANDLED = Layout(
    "unhandled",
    unhandled,
    (Call("GET", "/boom", 500, "/boom"), Call("GET", "/ok", 200, "/ok")),
)


# --------------------------------------------------------------------------- middleware


class AuthMiddleware(BaseHTTPMiddleware):
    """Answers 401 itself, before routing, for /admin without a key."""

    async def dispatch(self, request: Request, call_next: Any) -> Response:
        if request.url.path.startswith("/admin") and request.headers.get("x-key") != "k":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        response: Response = await call_next(request)
        return response


def middleware_stack(_pause: Pause) -> FastAPI:
    """CORS, GZip, TrustedHost and an auth middleware that short-circuits."""
    app = FastAPI()
    app.add_middleware(AuthMiddleware)
    app.add_middleware(GZipMiddleware, minimum_size=100)
    app.add_middleware(
        CORSMiddleware, allow_origins=["https://shop.example"], allow_methods=["GET", "POST"]
    )
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=["test", "127.0.0.1", "localhost"])

    @app.get("/admin/users/{user_id}")
    async def admin_user(user_id: int) -> dict[str, int]:
        return {"user": user_id}

    @app.get("/big")
    async def big() -> dict[str, str]:
        return {"text": "x" * 5000}

    return app


PREFLIGHT = {"origin": "https://shop.example", "access-control-request-method": "POST"}

MIDDLEWARE = Layout(
    "middleware_stack",
    middleware_stack,
    (
        Call("GET", "/admin/users/1", 401, "unmatched"),  # answered before routing
        Call("GET", "/admin/users/1", 200, "/admin/users/{user_id}", headers={"x-key": "k"}),
        Call("GET", "/big", 200, "/big", headers={"accept-encoding": "gzip"}),
        Call("OPTIONS", "/big", 200, "unmatched", headers=PREFLIGHT),  # CORS preflight
        Call("GET", "/big", 400, "unmatched", headers={"host": "evil.example"}),
        Call("GET", "/big", 200, "/big", headers={"origin": "https://shop.example"}),
    ),
)


# --------------------------------------------------------------------------- timing


BACKGROUND_PAUSE_MS = 10_000.0
"""A background task's pause: far longer than any request could plausibly take."""


def background_and_streaming(pause: Pause) -> FastAPI:
    """Background tasks (slow, failing) and streaming responses (whole, broken)."""
    app = FastAPI()

    async def slow_task() -> None:
        await pause(BACKGROUND_PAUSE_MS)

    async def failing_task() -> None:
        raise RuntimeError("background task failed")

    @app.post("/jobs", status_code=202)
    async def start_job(tasks: BackgroundTasks) -> dict[str, str]:
        await pause(HANDLER_PAUSE_MS)
        tasks.add_task(slow_task)
        return {"job": "started"}

    @app.post("/jobs/failing", status_code=202)
    async def start_failing_job(tasks: BackgroundTasks) -> dict[str, str]:
        tasks.add_task(failing_task)
        return {"job": "started"}

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for i in range(5):
                await pause(1.0)
                yield f"chunk {i}\n".encode()

        return StreamingResponse(chunks(), media_type="text/plain")

    @app.get("/stream/broken")
    async def broken_stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"first\n"
            raise RuntimeError("stream broke")

        return StreamingResponse(chunks(), media_type="text/plain")

    @app.websocket("/ws")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        text = await websocket.receive_text()
        await websocket.send_text(text)
        await websocket.close()

    return app


BACKGROUND = Layout(
    "background_and_streaming",
    background_and_streaming,
    (
        Call("POST", "/jobs", 202, "/jobs"),
        Call("POST", "/jobs/failing", 202, "/jobs/failing"),
        Call("GET", "/stream", 200, "/stream"),
        # the status went out, then the body broke off: the client saw a 200
        Call("GET", "/stream/broken", 200, "/stream/broken"),
    ),
)


def behind_proxy(_pause: Pause) -> FastAPI:
    """Served under a root path (``uvicorn --root-path /svc``), routers inside."""
    items = APIRouter(prefix="/items")

    @items.get("/{item_id}")
    async def get_item(item_id: int) -> dict[str, int]:
        return {"item": item_id}

    app = FastAPI()
    app.include_router(items)
    return app


BEHIND_PROXY = Layout(
    "behind_proxy",
    behind_proxy,
    (
        Call("GET", "/svc/items/1", 200, "/svc/items/{item_id}"),
        Call("GET", "/svc/nothing", 404, "unmatched"),
    ),
    root_path="/svc",
)


LAYOUTS = (
    NESTED_ROUTERS,
    VERSIONED_API,
    LAZY,
    MOUNTS,
    SHARED_HANDLERS,
    BUILTIN,
    EXCEPTION_HANDLERS,
    UNHANDLED,
    MIDDLEWARE,
    BACKGROUND,
    BEHIND_PROXY,
)


async def real_pause(ms: float) -> None:
    await asyncio.sleep(ms / 1000)
