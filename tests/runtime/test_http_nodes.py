"""http in / http response served next to the admin API, and http request against a real
local server."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient

import runtime.nodes.http  # noqa: F401  (registers the http node types)
from runtime.api import create_app
from runtime.engine import FlowRuntime
from runtime.http import HttpRequest, Route, router_for
from runtime.manager import RuntimeManager
from runtime.nodes.http import render_url
from tests.runtime.conftest import TAB, node, run_flow

# -- http in / http response ---------------------------------------------------------------


def _set(path: str, to: Any, tot: str = "msg") -> dict[str, Any]:
    return {"t": "set", "p": path, "pt": "msg", "to": to, "tot": tot}


def _change(id_: str, wires: list[list[str]], *rules: dict[str, Any]) -> dict[str, Any]:
    return node(id_, "change", wires, rules=list(rules))


def _served_flow() -> list[dict[str, Any]]:
    return [
        TAB,
        # GET /hello/:name?q=..: the query object with the path parameter added.
        node("in1", "http in", [["ch1"]], method="get", url="/hello/:name"),
        _change("ch1", [["out1"]], _set("payload.name", "req.params.name"),
                _set("payload.method", "req.method")),
        node("out1", "http response", []),
        # POST /items: the JSON body back, fixed status and headers from the node.
        node("in2", "http in", [["ch2"]], method="post", url="/items"),
        _change("ch2", [["out2"]], _set("payload.seen", "true", "bool")),
        node("out2", "http response", [], statusCode="201", headers={"x-plumb": "yes"}),
        # POST /raw: a text body through the json node; status and headers from the message.
        node("in3", "http in", [["js3"]], method="post", url="/raw"),
        node("js3", "json", [["ch3"]]),
        _change("ch3", [["out3"]], _set("statusCode", "418", "num"),
                _set("headers", '{"x-from-msg": "1", "x-both": "msg"}', "json")),
        node("out3", "http response", [], headers={"x-both": "node"}),
        # GET /silent: nothing answers.
        node("in4", "http in", [["dbg4"]], method="get", url="/silent"),
        node("dbg4", "debug", []),
    ]


@pytest.fixture
def client() -> Iterator[TestClient]:
    app = create_app(RuntimeManager(), initial_flow=_served_flow(), http_timeout=0.5)
    with TestClient(app) as test_client:
        yield test_client


def test_get_with_query_and_path_parameters(client: TestClient) -> None:
    reply = client.get("/hello/ada%20l", params={"q": "x", "tag": ["a", "b"]})
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.json() == {"q": "x", "tag": ["a", "b"], "name": "ada l", "method": "GET"}
    # Express matching: case-insensitive, optional trailing slash.
    assert client.get("/HELLO/bob/").json()["name"] == "bob"


def test_post_json_with_status_and_headers_from_the_node(client: TestClient) -> None:
    reply = client.post("/items", json={"id": 7, "tags": ["a"]})
    assert reply.status_code == 201
    assert reply.headers["x-plumb"] == "yes"
    assert reply.json() == {"id": 7, "tags": ["a"], "seen": True}
    form = client.post("/items", data={"a": "1", "b": "two"})
    assert form.json() == {"a": "1", "b": "two", "seen": True}


def test_status_and_headers_from_the_message(client: TestClient) -> None:
    reply = client.post("/raw", content='{"n": 1}', headers={"content-type": "text/plain"})
    assert reply.status_code == 418
    assert reply.headers["x-from-msg"] == "1"
    assert reply.headers["x-both"] == "node"  # the node's headers win
    assert reply.json() == {"n": 1}


def test_a_request_no_flow_answers_times_out(client: TestClient) -> None:
    started = time.monotonic()
    reply = client.get("/silent")
    assert reply.status_code == 504 and reply.json()["error"] == "timeout"
    assert time.monotonic() - started < 5


def test_unknown_paths_and_methods_get_404_and_the_admin_api_wins(client: TestClient) -> None:
    for reply in (client.get("/nowhere"), client.delete("/items"), client.get("/hello")):
        assert reply.status_code == 404
        assert reply.json()["error"] == "not_found" and reply.json()["message"]
    assert client.get("/flows").json() == _served_flow()
    assert client.get("/flows/state").json() == {"state": "start"}
    bad = client.post("/items", content="{not json", headers={"content-type":
                                                               "application/json"})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"


def test_routes_go_with_the_flow_that_made_them(client: TestClient) -> None:
    assert client.get("/hello/x").status_code == 200
    flow = [TAB, node("in9", "http in", [["out9"]], method="get", url="/other"),
            node("out9", "http response", [])]
    assert client.post("/flows", json=flow).status_code == 204
    assert client.get("/hello/x").status_code == 404
    assert client.get("/other", params={"a": "1"}).json() == {"a": "1"}
    client.post("/flows/state", json={"state": "stop"})
    assert client.get("/other").status_code == 404


def test_http_in_removes_its_route_on_close() -> None:
    async def main() -> tuple[int, int]:
        runtime = FlowRuntime()
        await runtime.start([TAB, node("a", "http in", [], method="get", url="/a"),
                             node("b", "http in", [], method="post", url="/b/:id")])
        added = len(router_for(runtime).routes)
        await runtime.stop()
        return added, len(router_for(runtime).routes)

    assert asyncio.run(main()) == (2, 0)


@pytest.mark.parametrize(("url", "path", "params"), [
    ("/a/:id", "/a/42", {"id": "42"}),
    ("/a/:id", "/a/42/x", None),
    ("/m/:id/:part?", "/m/1", {"id": "1"}),
    ("/m/:id/:part?", "/m/1/2", {"id": "1", "part": "2"}),
    ("/v1.0/x", "/v1x0/x", None),
    ("/files/*", "/files/a/b.txt", {"0": "a/b.txt"}),
    ("status", "/status", {}),
])
def test_express_paths(url: str, path: str, params: dict[str, str] | None) -> None:
    assert Route("get", url, lambda *_: None).match("GET", path) == params


def test_req_reads_as_attributes_too() -> None:
    req = HttpRequest(params={"id": "1"})
    assert req.params == {"id": "1"} and req["params"]["id"] == "1"
    with pytest.raises(AttributeError):
        _ = req.nothing


# -- http request ---------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _echo(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        if self.path.startswith("/bad"):
            self._reply(200, b"{oops", "application/json")
            return
        self._reply(200, json.dumps({
            "method": self.command, "path": self.path, "body": body,
            "type": self.headers.get("Content-Type"), "x": self.headers.get("X-Test")}
        ).encode(), "application/json")

    do_GET = do_POST = do_PUT = _echo

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _request(msg: dict[str, Any], **props: Any) -> tuple[list[Any], list[Any]]:
    """Send `msg` through an http request node; (what it sent, what Catch heard)."""
    flow = [node("req", "http request", [["out"]], **props), node("out", "debug", [],
                                                                  complete="true"),
            node("c", "catch", [["caught"]]), node("caught", "debug", [], complete="true")]

    async def actions(runtime: FlowRuntime) -> None:
        runtime.inject("req", msg)
        for _ in range(250):
            if any(e["kind"] == "debug" for e in runtime.events):
                await asyncio.sleep(0.05)  # an output and a catch may both come
                return
            await asyncio.sleep(0.02)

    runtime = run_flow(flow, actions, settle=0)
    sent = [e["value"] for e in runtime.events if e["kind"] == "debug" and e["id"] == "out"]
    caught = [e["value"] for e in runtime.events if e["kind"] == "debug"
              and e["id"] == "caught"]
    return sent, caught


def test_get_json_as_object(server: str) -> None:
    sent, caught = _request({"payload": "ignored"}, method="GET", ret="obj",
                            url=f"http://{server}/thing?a=1")
    assert not caught and len(sent) == 1
    out = sent[0]
    assert out["payload"]["method"] == "GET" and out["payload"]["path"] == "/thing?a=1"
    assert out["payload"]["body"] == ""  # a GET sends no payload by default
    assert out["statusCode"] == 200
    assert out["headers"]["content-type"] == "application/json"
    assert out["responseUrl"] == f"http://{server}/thing?a=1"


def test_get_text_with_url_headers_and_query_from_the_message(server: str) -> None:
    sent, caught = _request({"url": f"{server}/q", "payload": {"b": "2 3"},
                             "headers": {"X-Test": "hi"}}, method="GET", ret="txt",
                            paytoqs="query")
    assert not caught
    assert isinstance(sent[0]["payload"], str)
    reply = json.loads(sent[0]["payload"])
    assert reply["path"] == "/q?b=2+3" and reply["x"] == "hi"


def test_post_an_object_as_json_with_method_from_the_message(server: str) -> None:
    sent, _ = _request({"payload": {"v": 1}, "method": "put"}, method="use", ret="obj",
                       url=f"http://{server}/post")
    assert sent[0]["payload"]["method"] == "PUT"
    assert json.loads(sent[0]["payload"]["body"]) == {"v": 1}
    assert sent[0]["payload"]["type"] == "application/json"
    text, _ = _request({"payload": "plain"}, method="POST", ret="obj",
                       url=f"http://{server}/post")
    assert text[0]["payload"]["body"] == "plain"


def test_mustache_url(server: str) -> None:
    sent, _ = _request({"topic": "a b", "payload": {"id": 5}}, method="GET", ret="obj",
                       url=f"http://{server}/item/{{{{{{payload.id}}}}}}/{{{{{{topic}}}}}}")
    assert sent[0]["payload"]["path"] == "/item/5/a%20b"
    assert render_url("/x/{{topic}}/{{{payload}}}", {"topic": "<a>", "payload": "<b>"}) \
        == "/x/&lt;a&gt;/<b>"


def test_bad_json_reply_goes_to_catch(server: str) -> None:
    sent, caught = _request({"payload": ""}, method="GET", ret="obj",
                            url=f"http://{server}/bad")
    assert sent == []
    assert len(caught) == 1 and "not valid JSON" in caught[0]["error"]["message"]
    assert caught[0]["error"]["source"]["id"] == "req"


def test_unreachable_host_goes_to_catch() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    sent, caught = _request({"payload": ""}, method="GET", ret="txt",
                            url=f"http://127.0.0.1:{port}/x")
    assert len(caught) == 1
    assert "ECONNREFUSED" in caught[0]["error"]["message"]
    assert f"127.0.0.1:{port}" in caught[0]["error"]["message"]
    assert sent and sent[0]["statusCode"] == "ECONNREFUSED"  # senderr false: sent on too
    quiet, caught_again = _request({"payload": ""}, method="GET", senderr=True,
                                   url=f"http://127.0.0.1:{port}/x")
    assert quiet == [] and len(caught_again) == 1


def test_a_function_reads_the_request_and_answers() -> None:
    flow = [{"id": "tab1", "type": "tab"},
            {"id": "in", "type": "http in", "z": "tab1", "url": "/sq/:n", "method": "get",
             "wires": [["fn"]]},
            {"id": "fn", "type": "function", "z": "tab1", "outputs": 1,
             "func": "msg.payload = {n: Number(msg.req.params.n), "
                     "scale: Number(msg.req.query.k)};\nreturn msg;", "wires": [["out"]]},
            {"id": "out", "type": "http response", "z": "tab1", "wires": []}]
    with TestClient(create_app(RuntimeManager(), initial_flow=flow)) as client:
        answer = client.get("/sq/7", params={"k": "3"})
        assert answer.status_code == 200 and answer.json() == {"n": 7, "scale": 3}
