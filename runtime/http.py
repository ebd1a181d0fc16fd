"""The endpoints of a running flow's `http in` nodes, served next to the admin API.

Node-RED serves its editor API and the flow's http in endpoints on one port; so does
Plumb. Each running flow has one `HttpRouter`; an http in node adds its route on start and
removes it on close. The admin API ends with a catch-all route that hands any request its
own routes did not take to `dispatch`: the first route (in flow order) whose method and
Express-style path (`/machine/:id`, `:id?` optional, `*` anything; case-insensitive, an
optional trailing slash) match gets the request as a message - `msg.payload` (the query
object for GET, otherwise the parsed body), `msg.req` and `msg.res` - and `dispatch` waits
for an http response node to answer through `msg.res`. A request no flow answers within the
timeout is answered 504; a path no route matches, 404. Both use the admin API's JSON error
envelope.
"""

from __future__ import annotations

import asyncio
import json
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from runtime.engine import FlowRuntime

DEFAULT_TIMEOUT = 120.0  # seconds a request waits for an http response node
METHODS = ("get", "post", "put", "delete", "patch")
_PARAM = re.compile(r"(/)?:(\w+)(\?)?|\*")


class HttpRequest(dict[str, Any]):
    """`msg.req`: a dict (flows read `msg.req.params.id`) that also answers attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass
class ResponseHandle:
    """`msg.res`: how an http response node answers the request the message came from."""

    future: asyncio.Future[tuple[int, dict[str, Any], bytes, dict[str, Any]]]

    @property
    def open(self) -> bool:
        return not self.future.done()

    def send(self, status: int, headers: dict[str, Any], body: bytes,
             cookies: dict[str, Any] | None = None) -> bool:
        """Answer once; False when the request was already answered or gave up waiting."""
        if self.future.done():
            return False
        self.future.set_result((status, headers, body, cookies or {}))
        return True

    def __deepcopy__(self, memo: dict[int, Any]) -> ResponseHandle:
        return self  # a live connection is shared, never copied

    def __repr__(self) -> str:
        return f"<http response handle {'open' if self.open else 'answered'}>"


Handler = Callable[[HttpRequest, Any, ResponseHandle], None]


def compile_path(url: str) -> tuple[re.Pattern[str], list[str]]:
    """An Express 4 route path as a regex over the raw (still %-encoded) path, and the
    names of its parameters in order."""
    path = "/" + url.strip().lstrip("/")
    names: list[str] = []
    out: list[str] = []
    pos = 0
    for m in _PARAM.finditer(path):
        out.append(re.escape(path[pos:m.start()]))
        pos = m.end()
        if m.group(0) == "*":
            names.append(str(len(names)))
            out.append("(.*)")
            continue
        slash = "/" if m.group(1) else ""
        names.append(m.group(2))
        out.append(f"(?:{slash}([^/]+?))?" if m.group(3) else f"{slash}([^/]+?)")
    out.append(re.escape(path[pos:]))
    body = "".join(out).rstrip("/") if path != "/" else ""
    return re.compile(f"^{body}/?$", re.IGNORECASE), names


@dataclass
class Route:
    method: str
    url: str
    handler: Handler
    pattern: re.Pattern[str] = field(init=False)
    names: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.method = self.method.lower()
        self.pattern, self.names = compile_path(self.url)

    def match(self, method: str, raw_path: str) -> dict[str, str] | None:
        method = method.lower()
        if method != self.method and not (method == "head" and self.method == "get"):
            return None
        m = self.pattern.match(raw_path)
        if m is None:
            return None
        return {name: unquote(value) for name, value in zip(self.names, m.groups(),
                                                             strict=True)
                if value is not None}


class HttpRouter:
    """The http in routes of one running flow, in the order they were added."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, url: str, handler: Handler) -> Route:
        route = Route(method, url, handler)
        self.routes.append(route)
        return route

    def remove(self, route: Route) -> None:
        if route in self.routes:
            self.routes.remove(route)

    def match(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            params = route.match(method, raw_path)
            if params is not None:
                return route, params
        return None


_routers: weakref.WeakKeyDictionary[FlowRuntime, HttpRouter] = weakref.WeakKeyDictionary()


def router_for(runtime: FlowRuntime) -> HttpRouter:
    """The router of `runtime` (made on first use)."""
    router = _routers.get(runtime)
    if router is None:
        router = _routers[runtime] = HttpRouter()
    return router


def _multi(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Pairs as an object, a repeated key becoming a list (as Express's query parser)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            old = out[key]
            out[key] = [*old, value] if isinstance(old, list) else [old, value]
        else:
            out[key] = value
    return out


class BadBody(ValueError):
    """The body does not parse as the type its content-type names."""


def parse_body(content_type: str, body: bytes) -> Any:
    """The body as Node-RED's body parsers give it: JSON parsed, urlencoded form fields as
    an object, octet-stream as bytes, anything else as text."""
    media = content_type.split(";")[0].strip().lower()
    if not body:
        return ""
    if media == "application/json" or media.endswith("+json"):
        try:
            return json.loads(body)
        except ValueError as exc:
            raise BadBody(f"the body is not valid JSON: {exc}") from None
    if media == "application/x-www-form-urlencoded":
        return _multi(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    if media == "application/octet-stream":
        return body
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body


def _error(status: int, code: str, message: str) -> Response:
    from starlette.responses import JSONResponse

    return JSONResponse({"error": code, "message": message}, status_code=status)


async def dispatch(runtime: FlowRuntime | None, request: Request,
                   timeout: float = DEFAULT_TIMEOUT) -> Response:
    """Answer `request` through the running flow's http in routes."""
    from starlette.responses import Response

    method = request.method.upper()
    raw_path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
    raw_path = raw_path.split("?", 1)[0]
    router = _routers.get(runtime) if runtime is not None and runtime.running else None
    found = router.match(method, raw_path) if router is not None else None
    if found is None:
        return _error(404, "not_found", f"no http in node answers {method} {request.url.path}")
    route, params = found
    query = _multi(parse_qsl(request.url.query, keep_blank_values=True))
    body_bytes = await request.body()
    headers: dict[str, Any] = _multi([(k.lower(), v) for k, v in request.headers.items()])
    try:
        body = parse_body(request.headers.get("content-type", ""), body_bytes)
    except BadBody as exc:
        return _error(400, "invalid_request", str(exc))
    url = raw_path + (f"?{request.url.query}" if request.url.query else "")
    client = request.client
    req = HttpRequest(params=params, query=query, headers=headers, body=body, method=method,
                      url=url, originalUrl=url, path=request.url.path,
                      cookies=dict(request.cookies), hostname=request.url.hostname or "",
                      ip=client.host if client else "", protocol=request.url.scheme)
    loop = asyncio.get_running_loop()
    res = ResponseHandle(loop.create_future())
    route.handler(req, query if method in ("GET", "HEAD") else body, res)
    try:
        status, out_headers, content, cookies = await asyncio.wait_for(
            asyncio.shield(res.future), timeout)
    except TimeoutError:
        res.future.cancel()
        return _error(504, "timeout", f"no http response node answered {method} "
                      f"{request.url.path} within {timeout:g} s")
    response = Response(content=content, status_code=status)
    for name, value in out_headers.items():
        if str(name).lower() in ("content-length", "transfer-encoding"):
            continue
        values = value if isinstance(value, list) else [value]
        for i, one in enumerate(values):
            if i == 0 and str(name).lower() != "set-cookie":
                response.headers[str(name)] = str(one)
            else:
                response.headers.append(str(name), str(one))
    for name, cookie in cookies.items():
        if cookie is None or (isinstance(cookie, dict) and cookie.get("value") is None):
            response.delete_cookie(str(name))
        elif isinstance(cookie, dict):
            max_age = cookie.get("maxAge")
            response.set_cookie(
                str(name), str(cookie["value"]),
                max_age=int(max_age) // 1000 if isinstance(max_age, int | float) else None,
                path=str(cookie.get("path") or "/"), domain=cookie.get("domain"),
                secure=bool(cookie.get("secure")), httponly=bool(cookie.get("httpOnly")))
        else:
            response.set_cookie(str(name), str(cookie))
    return response
