"""Node-RED's `http in`, `http response` and `http request` nodes.

`http in` adds a route to the running flow's router (`runtime.http`), served on the admin
API's port; every matching request becomes a message with `msg.req` and `msg.res`, and an
`http response` node answers it. `http request` makes an HTTP(S) call with httpx for each
message and sends the reply on.

Limits: multipart uploads (`upload`), `skipBodyParsing`, the `tls`/`proxy` config nodes
and credentials (authentication) of http request are not supported; proxies come from the
environment (`HTTP_PROXY`, `NO_PROXY`) as httpx reads them.
"""

from __future__ import annotations

import errno
import hashlib
import html
import json
import re
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx

from runtime.http import DEFAULT_TIMEOUT, METHODS, HttpRequest, ResponseHandle, router_for
from runtime.message import Message, new_message
from runtime.node import Done, Node, Send
from runtime.registry import register
from runtime.values import get_path

# http request marks the response headers it puts on msg.headers with this header (and a
# hash of them), as Node-RED does: unchanged, they are not sent on by a later http request
# or http response node.
REQUEST_MARK = "x-node-red-request-node"
_MUSTACHE = re.compile(r"\{\{\{\s*([^}]+?)\s*\}\}\}|\{\{\s*&?\s*([^}]+?)\s*\}\}")


def _headers_hash(headers: dict[str, Any]) -> str:
    body = json.dumps({k: v for k, v in headers.items() if k != REQUEST_MARK},
                      sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def _own_headers(msg: Message) -> dict[str, Any]:
    """msg.headers as the flow set them: empty when they are an http request node's
    response headers that nothing changed."""
    headers = msg.get("headers")
    if not isinstance(headers, dict):
        return {}
    mark = headers.get(REQUEST_MARK)
    if mark is not None and mark == _headers_hash(headers):
        return {}
    return {str(k): v for k, v in headers.items() if k != REQUEST_MARK}


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), default=str)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def render_url(template: str, msg: Message) -> str:
    """Mustache tags in a URL filled from the message: `{{{payload}}}` (and `{{& x}}`) as
    is, `{{x}}` HTML-escaped as mustache.js does; a missing property renders empty."""

    def fill(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        value = get_path(msg, name)
        if value is None:
            return ""
        text = _text(value)
        raw = m.group(1) is not None or m.group(0).replace(" ", "").startswith("{{&")
        return text if raw else html.escape(text).replace("'", "&#39;").replace("/", "&#x2F;")

    return _MUSTACHE.sub(fill, template)


@register("http in")
class HttpIn(Node):
    """An endpoint: every request to `method` `url` becomes a message."""

    def __init__(self, config: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, runtime)
        self.method = str(config.get("method") or "get").lower()
        self.url = str(config.get("url") or "")
        self._route: Any = None

    async def on_start(self) -> None:
        if self.method not in METHODS:
            self.warn(f"unsupported method {self.method!r}; use one of {', '.join(METHODS)}")
            return
        if not self.url:
            self.warn("no url set: the node answers nothing")
            return
        self._route = router_for(self.runtime).add(self.method, self.url, self._request)

    def _request(self, req: HttpRequest, payload: Any, res: ResponseHandle) -> None:
        self.send(new_message(req=req, res=res, payload=payload))

    def on_input(self, msg: Message, send: Send, done: Done) -> None:
        done()  # no input port

    async def on_close(self) -> None:
        if self._route is not None:
            router_for(self.runtime).remove(self._route)
            self._route = None


def _status_code(value: Any) -> int | None:
    try:
        code = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return code if 100 <= code <= 999 else None


@register("http response")
class HttpResponse(Node):
    """Answers the request a message came from (msg.res)."""

    def on_input(self, msg: Message, send: Send, done: Done) -> None:
        res = msg.get("res")
        if not isinstance(res, ResponseHandle):
            self.warn("no response object: the message did not come from an http in node")
            done()
            return
        status = (_status_code(self.config.get("statusCode"))
                  or _status_code(msg.get("statusCode")) or 200)
        headers: dict[str, Any] = {k.lower(): v for k, v in _own_headers(msg).items()}
        fixed = self.config.get("headers")
        if isinstance(fixed, dict):
            headers.update({str(k).lower(): v for k, v in fixed.items()})
        payload = msg.get("payload")
        if isinstance(payload, bytes | bytearray):
            body = bytes(payload)
            headers.setdefault("content-type", "application/octet-stream")
        elif isinstance(payload, dict | list | bool):
            body = json.dumps(payload, separators=(",", ":"), default=str).encode()
            headers.setdefault("content-type", "application/json; charset=utf-8")
        elif payload is None:
            body = b""
        else:  # text, numbers: as Express's res.send
            body = _text(payload).encode()
            headers.setdefault("content-type", "text/html; charset=utf-8")
        cookies = msg.get("cookies") if isinstance(msg.get("cookies"), dict) else None
        if not res.send(status, headers, body, cookies):
            self.warn("the request was already answered or timed out")
        done()


def _request_headers(node: Node, msg: Message) -> dict[str, str]:
    headers = {str(k).lower(): v for k, v in _own_headers(msg).items()}
    for entry in node.config.get("headers") or []:
        if not isinstance(entry, dict):
            continue
        key_type, value_type = entry.get("keyType"), entry.get("valueType")
        key = (entry.get("keyValue") if key_type == "other"
               else get_path(msg, str(entry.get("keyValue") or "")) if key_type == "msg"
               else key_type)
        value = (entry.get("valueValue") if value_type == "other"
                 else get_path(msg, str(entry.get("valueValue") or ""))
                 if value_type == "msg" else value_type)
        if key:
            headers[str(key).lower()] = value
    return {k: _text(v) for k, v in headers.items() if v is not None}


def _failure_code(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "ETIMEDOUT"
    cause: BaseException | None = exc
    for _ in range(10):  # the OS error under httpx's own names it best
        if cause is None:
            break
        if isinstance(cause, OSError) and cause.errno is not None \
                and cause.errno in errno.errorcode:
            return errno.errorcode[cause.errno]
        cause = cause.__cause__ or cause.__context__
    text = str(exc).lower()
    if isinstance(exc, httpx.ConnectError):
        if "refused" in text:
            return "ECONNREFUSED"
        if "name" in text or "resolution" in text or "not known" in text:
            return "ENOTFOUND"
        return "ECONNRESET"
    return "EPROTO" if isinstance(exc, httpx.ProtocolError) else "ERROR"


@register("http request")
class HttpRequestNode(Node):
    """Calls a URL for every message and sends the reply on as msg.payload."""

    def __init__(self, config: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, runtime)
        self._client: httpx.AsyncClient | None = None

    async def on_start(self) -> None:
        self._client = httpx.AsyncClient(follow_redirects=True)

    async def on_close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _timeout(self, msg: Message) -> float:
        for source in (msg.get("requestTimeout"), self.config.get("requestTimeout")):
            if source in (None, ""):
                continue
            try:
                ms = float(source)
            except (TypeError, ValueError):
                self.warn(f"requestTimeout {source!r} is not a number; ignored")
                continue
            if ms >= 1:
                return ms / 1000
            self.warn("requestTimeout must be at least 1 ms; ignored")
        return DEFAULT_TIMEOUT

    async def on_input(self, msg: Message, send: Send, done: Done) -> None:
        node_url = str(self.config.get("url") or "")
        if node_url and msg.get("url") and msg.get("url") != node_url:
            self.warn("msg.url is ignored: the node has a url set")
        url = render_url(node_url, msg) if node_url else str(msg.get("url") or "")
        if not url:
            done("no url: set the node's url or msg.url")
            return
        if not re.match(r"^https?://", url, re.IGNORECASE):
            if re.match(r"^[a-z][a-z0-9+.-]*://", url, re.IGNORECASE):
                done(f"unsupported protocol in url {url!r}: use http:// or https://")
                return
            url = "http://" + url
        configured = str(self.config.get("method") or "GET").upper()
        method = (str(msg.get("method") or "GET").upper() if configured == "USE"
                  else configured)
        headers = _request_headers(self, msg)
        paytoqs = self.config.get("paytoqs")
        paytoqs = {True: "query", False: "ignore", None: "ignore"}.get(paytoqs, paytoqs)
        payload = msg.get("payload")
        content: bytes | None = None
        if method == "GET" and paytoqs == "query" and payload is not None:
            if not isinstance(payload, dict):
                done("msg.payload must be an object to add it to the query string")
                return
            parts = urlsplit(url)
            extra = urlencode([(k, _text(v)) for k, v in payload.items()])
            url = urlunsplit(parts._replace(query="&".join(q for q in (parts.query, extra)
                                                             if q)))
        elif payload is not None and (method not in ("GET", "HEAD") or paytoqs == "body"):
            if isinstance(payload, bytes | bytearray):
                content = bytes(payload)
            elif isinstance(payload, str | int | float) and not isinstance(payload, bool):
                content = _text(payload).encode()
            elif (headers.get("content-type", "").split(";")[0].strip().lower()
                  == "application/x-www-form-urlencoded" and isinstance(payload, dict)):
                content = urlencode([(k, _text(v)) for k, v in payload.items()]).encode()
            else:
                content = json.dumps(payload, separators=(",", ":"), default=str).encode()
                headers.setdefault("content-type", "application/json")
        assert self._client is not None, "the node is not started"
        self.status(fill="blue", shape="dot", text="requesting")
        try:
            reply = await self._client.request(method, url, headers=headers, content=content,
                                               timeout=self._timeout(msg))
        except httpx.HTTPError as exc:
            code = _failure_code(exc)
            self.status(fill="red", shape="ring", text=code)
            text = f"{code}: request to {url} failed: {exc or type(exc).__name__}"
            if not self.config.get("senderr"):
                msg["payload"], msg["statusCode"] = text, code
                send(msg)
            done(text)
            return
        self.status()
        out_headers: dict[str, Any] = {}
        for key, value in reply.headers.multi_items():
            key = key.lower()
            if key == "set-cookie":
                out_headers.setdefault(key, []).append(value)
            elif key in out_headers:
                out_headers[key] = f"{out_headers[key]}, {value}"
            else:
                out_headers[key] = value
        out_headers[REQUEST_MARK] = _headers_hash(out_headers)
        msg["statusCode"] = reply.status_code
        msg["headers"] = out_headers
        msg["responseUrl"] = str(reply.url)
        msg["redirectList"] = [{"location": str(r.headers.get("location", "")),
                                "cookies": {}} for r in reply.history]
        msg["responseCookies"] = {c.name: {"value": c.value} for c in reply.cookies.jar}
        ret = str(self.config.get("ret") or "txt")
        if ret == "bin":
            msg["payload"] = reply.content
        elif ret == "obj":
            text = reply.text
            if reply.status_code == 204 and not text:
                text = "{}"
            try:
                msg["payload"] = json.loads(text)
            except ValueError as exc:
                msg["payload"] = text
                done(f"the reply from {url} is not valid JSON: {exc}")
                return
        else:
            msg["payload"] = reply.text
        send(msg)
        done()
