"""The OpenAI-compatible backend against a small real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from assistant.models import ModelError, load_model, unload
from assistant.models.openai_compat import OpenAIModel

MESSAGES = [{"role": "user", "content": "Say hi."}]


class Server:
    """Answers POST /v1/chat/completions with the next canned (status, body) pair and keeps
    what it was sent."""

    def __init__(self) -> None:
        self.replies: list[tuple[int, bytes]] = []
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.delay = 0.0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                owner.requests.append({"path": self.path, **json.loads(self.rfile.read(length))})
                owner.headers.append(dict(self.headers))
                time.sleep(owner.delay)
                status, body = owner.replies.pop(0) if owner.replies else (200, ok_body("hi"))
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (the timeout test)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def ok_body(text: str, finish: str = "stop") -> bytes:
    return json.dumps(
        {
            "id": "x",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9},
        }
    ).encode()


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    yield running
    running.close()


def test_completion_round_trip(server: Server) -> None:
    model = OpenAIModel(server.url, "qwen", name="lab", api_key="sekrit")
    pieces: list[str] = []
    answer = model.complete(MESSAGES, max_tokens=20, stop=["\n"], on_token=pieces.append)
    assert answer.text == "hi" and pieces == ["hi"]
    assert (answer.prompt_tokens, answer.completion_tokens, answer.finish_reason) == (7, 2, "stop")
    assert answer.seconds > 0
    [sent] = server.requests
    assert sent == {"path": "/v1/chat/completions", "model": "qwen", "messages": MESSAGES, "max_tokens": 20, "temperature": 0.0, "stream": False, "stop": ["\n"]}
    assert server.headers[0]["Authorization"] == "Bearer sekrit"


def test_constraints_reach_the_server_as_documented(server: Server) -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    plain = OpenAIModel(server.url, "m", name="plain")
    assert not plain.supports_grammar
    server.replies.append((200, ok_body('{"ok": true}', finish="length")))
    assert plain.complete(MESSAGES, json_schema=schema).finish_reason == "length"
    plain.complete(MESSAGES, grammar='root ::= "yes"')  # not sent: the server would not know it
    grammar_server = OpenAIModel(server.url, "m", name="llama-server", server_grammar=True)
    assert grammar_server.supports_grammar
    grammar_server.complete(MESSAGES, grammar='root ::= "yes"')
    first, second, third = server.requests
    assert first["response_format"] == {"type": "json_schema", "json_schema": {"name": "answer", "strict": True, "schema": schema}}
    assert "grammar" not in second and "response_format" not in second
    assert third["grammar"] == 'root ::= "yes"'
    with pytest.raises(ModelError, match="not both"):
        plain.complete(MESSAGES, grammar="x", json_schema=schema)


def test_http_error_is_reported_with_the_servers_message(server: Server) -> None:
    server.replies.append((500, b'{"error": {"message": "model crashed"}}'))
    with pytest.raises(ModelError, match=r"/v1/chat/completions answered HTTP 500 .*: model crashed"):
        OpenAIModel(server.url, "m", name="lab").complete(MESSAGES)
    server.replies.append((401, b"nope"))
    with pytest.raises(ModelError, match=r"HTTP 401.*check the API key"):
        OpenAIModel(server.url, "m", name="lab").complete(MESSAGES)


def test_answers_that_are_not_chat_completions(server: Server) -> None:
    server.replies.append((200, b"<html>hello</html>"))
    with pytest.raises(ModelError, match="not JSON: '<html>hello</html>'"):
        OpenAIModel(server.url, "m", name="lab").complete(MESSAGES)
    server.replies.append((200, b'{"choices": []}'))
    with pytest.raises(ModelError, match="not a chat completion"):
        OpenAIModel(server.url, "m", name="lab").complete(MESSAGES)


def test_connection_refused() -> None:
    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ModelError, match="connection refused \\(is the server running\\?\\)"):
        OpenAIModel(f"http://127.0.0.1:{port}/v1", "m", name="lab").complete(MESSAGES)


def test_timeout(server: Server) -> None:
    server.delay = 1.0
    with pytest.raises(ModelError, match=r"no answer from .* within 0\.2 s"):
        OpenAIModel(server.url, "m", name="lab", timeout=0.2).complete(MESSAGES)


def test_load_model_from_models_json(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUMB_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LAB_KEY", raising=False)
    entry = {"name": "lab", "backend": "openai", "base_url": server.url, "remote_model": "m", "api_key_env": "LAB_KEY", "server_grammar": True}
    (tmp_path / "models.json").write_text(json.dumps({"models": [entry]}))
    unload()
    try:
        with pytest.raises(ModelError, match=r"reads its API key from \$LAB_KEY, which is not set"):
            load_model("lab")
        monkeypatch.setenv("LAB_KEY", "k")
        model = load_model("lab")
        assert isinstance(model, OpenAIModel) and model.supports_grammar
        assert load_model("lab") is model
        assert model.complete(MESSAGES).text == "hi"
    finally:
        unload()
