"""The exec node: refused unless the runtime allows it (manager, runtime, node, admin API,
`ask run`), then run against real commands (echo, sh, sleep, a missing binary): each output,
addpay/append, spawn streaming, timeout, msg.kill, no children left after close."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from runtime.engine import FlowRuntime
from runtime.manager import DeployRefused, RuntimeManager
from runtime.nodes.exec import (
    Exec,
    ExecDisabledError,
    allow_exec_from_env,
    enabled_exec_nodes,
    split_words,
)
from tests.runtime.conftest import TAB, debug_values, node, statuses, until

pytestmark = pytest.mark.skipif(os.name != "posix", reason="runs POSIX commands")
PY = sys.executable
# Generous: a busy 2-core machine; a test that waits this long has failed anyway.
WAIT = 20.0


def exec_flow(use_spawn: bool = False, **props: Any) -> list[dict[str, Any]]:
    """link in "in" -> exec "e" -> debug "out" / "err" / "rc"; catch -> debug "caught"."""
    props.setdefault("addpay", "")
    return [node("in", "link in", [["e"]]),
            node("e", "exec", [["out"], ["err"], ["rc"]],
                 useSpawn="true" if use_spawn else "false", **props),
            node("out", "debug", complete="true"), node("err", "debug", complete="true"),
            node("rc", "debug", complete="true"),
            node("c", "catch", [["caught"]]), node("caught", "debug", complete="true")]


Actions = Callable[[FlowRuntime], Awaitable[None]]


def run_exec(flow: list[dict[str, Any]], actions: Actions,
             close_timeout: float = 5.0) -> FlowRuntime:
    """Start `flow` (a tab added) with exec allowed, run `actions`, stop; the runtime."""

    async def main() -> FlowRuntime:
        runtime = FlowRuntime(allow_exec=True, close_timeout=close_timeout)
        await runtime.start([TAB, *flow])
        try:
            await actions(runtime)
        finally:
            await runtime.stop()
        return runtime

    return asyncio.run(main())


def send_and_wait(*msgs: dict[str, Any], results: int = 1) -> Actions:
    """Inject each message into "in" and wait for `results` return-code messages."""

    async def act(rt: FlowRuntime) -> None:
        for msg in msgs:
            rt.inject("in", msg)
        await until(lambda: len(debug_values(rt, "rc")) >= results, "the return code", WAIT)
        await asyncio.sleep(0.1)  # anything sent after the return code would show up

    return act


def payloads(rt: FlowRuntime, node_id: str) -> list[Any]:
    return [v["payload"] for v in debug_values(rt, node_id)]


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie (a container's init may never reap)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def last_status(rt: FlowRuntime) -> dict[str, Any]:
    """The exec node's status before the flow stopped (closing clears it, as Node-RED)."""
    found = statuses(rt, "e")
    assert found[-1] == {}
    return found[-2]


def running_pid(rt: FlowRuntime) -> int | None:
    """The pid the exec node's latest status shows, while it shows one."""
    found = statuses(rt, "e")
    text = str(found[-1].get("text", "")) if found else ""
    return int(text[4:]) if text.startswith("pid:") else None


# -- off by default -----------------------------------------------------------------------
def test_the_manager_refuses_a_flow_with_an_exec_node_unless_allowed() -> None:
    flow = [TAB, *exec_flow(command="true")]
    with pytest.raises(DeployRefused) as refused:
        RuntimeManager().check(flow)
    assert refused.value.reasons == {"error": "exec_disabled", "nodes": ["e"]}
    text = str(refused.value)
    assert "--allow-exec" in text and "PLUMB_ALLOW_EXEC=1" in text
    assert RuntimeManager(allow_exec=True).check(flow) is flow
    # Only True opens it: a truthy string is still off.
    with pytest.raises(DeployRefused):
        RuntimeManager(allow_exec="yes").check(flow)  # type: ignore[arg-type]


def test_only_exec_nodes_that_would_run_are_refused() -> None:
    manager = RuntimeManager()
    disabled_node = [TAB, node("e", "exec", [[], [], []], command="true", d=True)]
    assert manager.check(disabled_node) is disabled_node
    off_tab = [{"id": "t2", "type": "tab", "disabled": True},
               {"id": "e", "type": "exec", "z": "t2", "command": "true", "wires": [[], [], []]}]
    assert manager.check(off_tab) is off_tab
    template = {"id": "sf", "type": "subflow", "name": "s", "in": [], "out": [], "env": []}
    inside = {"id": "se", "type": "exec", "z": "sf", "command": "true", "wires": [[], [], []]}
    assert enabled_exec_nodes([TAB, template, inside]) == []  # no instance: never runs
    instance = node("inst", "subflow:sf")
    [copy] = enabled_exec_nodes([TAB, template, inside, instance])
    assert copy.endswith("se")
    with pytest.raises(DeployRefused) as refused:
        manager.check([TAB, template, inside, instance])
    assert refused.value.reasons["nodes"] == [copy]


def test_a_refused_deploy_keeps_the_running_flow(tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    async def main() -> None:
        manager = RuntimeManager()
        good = [TAB, node("d", "debug")]
        await manager.deploy(good)
        with pytest.raises(DeployRefused):
            await manager.deploy([TAB, *exec_flow(command=f"touch {marker}")])
        assert manager.flow == good and manager.runtime is not None
        assert "e" not in manager.runtime.nodes
        await manager.shutdown()

    asyncio.run(main())
    assert not marker.exists()


def test_the_runtime_refuses_to_start_exec_nodes_unless_allowed(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    flow = [TAB, *exec_flow(command=f"touch {marker}"),
            node("i", "inject", [["e"]], once=True, onceDelay=0)]

    async def main() -> FlowRuntime:
        runtime = FlowRuntime()
        with pytest.raises(ExecDisabledError) as refused:
            await runtime.start(flow)
        assert refused.value.as_dict() == {"error": "exec_disabled", "nodes": ["e"]}
        assert "--allow-exec" in str(refused.value)
        await asyncio.sleep(0.3)
        return runtime

    runtime = asyncio.run(main())
    assert runtime.nodes == {} and not runtime.running
    assert not marker.exists()
    # The node itself refuses to be built on a runtime that does not allow it.
    with pytest.raises(ExecDisabledError):
        Exec(node("x", "exec", command="true"), FlowRuntime())
    with pytest.raises(ExecDisabledError):
        Exec(node("x", "exec", command="true"), FlowRuntime(allow_exec=1))  # type: ignore[arg-type]


def test_the_admin_api_answers_400_exec_disabled() -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from runtime.api import create_app

    with TestClient(create_app()) as client:
        answer = client.post("/flows", json=[TAB, *exec_flow(command="true")])
        assert answer.status_code == 400
        body = answer.json()
        assert body["error"] == "exec_disabled" and body["nodes"] == ["e"]
        assert "--allow-exec" in body["message"]
    with TestClient(create_app(RuntimeManager(allow_exec=True))) as client:
        assert client.post("/flows", json=[TAB, *exec_flow(command="true")]).status_code == 204


@pytest.mark.parametrize(("value", "allowed"), [
    ("1", True), ("true", True), ("YES", True), (" 1 ", True),
    ("", False), ("0", False), ("false", False), ("no", False), ("2", False), ("on", False)])
def test_the_environment_switch(value: str, allowed: bool) -> None:
    assert allow_exec_from_env({"PLUMB_ALLOW_EXEC": value}) is allowed
    assert allow_exec_from_env({}) is False


# -- ask run ------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ask_run(flow_path: Path, *flags: str, env: dict[str, str]) -> tuple[
        subprocess.Popen[str], int]:
    port = _free_port()
    base = {k: v for k, v in os.environ.items() if k != "PLUMB_ALLOW_EXEC"}
    proc = subprocess.Popen([PY, "-m", "assistant.cli", "run", str(flow_path), "--port",
                             str(port), *flags], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**base, "PYTHONUNBUFFERED": "1", **env})
    return proc, port


def _marker_flow(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "ran"
    flow = [{"id": "t", "type": "tab"},
            {"id": "i", "type": "inject", "z": "t", "once": True, "onceDelay": 0.1,
             "wires": [["e"]]},
            {"id": "e", "type": "exec", "z": "t", "command": f"touch {marker}",
             "addpay": "", "useSpawn": "false", "wires": [[], [], []]}]
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(flow))
    return path, marker


@pytest.mark.parametrize("env", [{}, {"PLUMB_ALLOW_EXEC": "0"}])
def test_ask_run_refuses_exec_without_the_flag(tmp_path: Path, env: dict[str, str]) -> None:
    pytest.importorskip("uvicorn")
    path, marker = _marker_flow(tmp_path)
    proc, _ = _ask_run(path, env=env)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "exec_disabled" in err and "--allow-exec" in err
    assert not marker.exists()


@pytest.mark.parametrize(("flags", "env"), [(("--allow-exec",), {}),
                                            ((), {"PLUMB_ALLOW_EXEC": "1"})])
def test_ask_run_runs_exec_with_the_flag_or_the_env_var(
        tmp_path: Path, flags: tuple[str, ...], env: dict[str, str]) -> None:
    pytest.importorskip("uvicorn")
    path, marker = _marker_flow(tmp_path)
    proc, port = _ask_run(path, *flags, env=env)
    state: Any = None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not marker.exists() and proc.poll() is None:
            time.sleep(0.1)
        if marker.exists():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/flows/state") as answer:
                state = json.loads(answer.read())
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert marker.exists(), err
    assert state == {"state": "start"}, err
    assert proc.returncode == 0, err
    assert "warning: exec nodes are allowed" in err


# -- exec mode ----------------------------------------------------------------------------
def test_exec_mode_sends_stdout_and_the_return_code_with_addpay_and_append() -> None:
    rt = run_exec(exec_flow(command="echo", addpay="payload", append="world"),
                  send_and_wait({"payload": "hello", "topic": "t"}))
    [out] = debug_values(rt, "out")
    assert out["payload"] == "hello world\n" and out["topic"] == "t"
    assert out["rc"] == {"code": 0}
    assert debug_values(rt, "err") == []  # nothing on stderr: no message
    [rc] = debug_values(rt, "rc")
    assert rc["payload"] == {"code": 0} and rc["topic"] == "t" and "rc" not in rc
    assert debug_values(rt, "caught") == []
    assert statuses(rt, "e")[0]["text"].startswith("pid:")
    assert last_status(rt) == {}


def test_exec_mode_failure_sends_stderr_and_code_with_message() -> None:
    rt = run_exec(exec_flow(command="echo out; echo err >&2; exit 3"), send_and_wait({}))
    assert payloads(rt, "out") == ["out\n"]
    assert payloads(rt, "err") == ["err\n"]
    [rc] = payloads(rt, "rc")
    assert rc == {"code": 3, "message": "Command failed: echo out; echo err >&2; exit 3\nerr\n"}
    assert debug_values(rt, "out")[0]["rc"] == rc and debug_values(rt, "err")[0]["rc"] == rc
    assert last_status(rt) == {"fill": "red", "shape": "dot", "text": "error:3"}
    assert debug_values(rt, "caught") == []  # a failing command is not an error, as Node-RED


@pytest.mark.parametrize(("config", "msg", "expected"), [
    ({"addpay": True}, {"payload": "p"}, "x p\n"),  # old flows: true means msg.payload
    ({}, {"payload": "p"}, "x p\n"),  # older still: absent means msg.payload
    ({"addpay": False}, {"payload": "p"}, "x\n"),
    ({"addpay": ""}, {"payload": "p"}, "x\n"),
    ({"addpay": "topic"}, {"payload": "p", "topic": "t"}, "x t\n"),
    ({"addpay": "a.b"}, {"a": {"b": 42}}, "x 42\n"),
    ({"addpay": "payload"}, {"topic": "no payload"}, "x\n"),
    ({"addpay": "payload", "append": "-y"}, {"payload": True}, "x true -y\n"),
    ({"addpay": "msg.a[1]"}, {"a": ["no", "yes"]}, "x yes\n"),
])
def test_addpay_and_append_build_the_command_line(config: dict[str, Any], msg: dict[str, Any],
                                                  expected: str) -> None:
    flow = exec_flow(command="echo x", **config)
    if "addpay" not in config:
        del flow[1]["addpay"]
    rt = run_exec(flow, send_and_wait(msg))
    assert payloads(rt, "out") == [expected]


def test_addpay_through_a_missing_property_is_an_error_and_runs_nothing(
        tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    async def act(rt: FlowRuntime) -> None:
        rt.inject("in", {"payload": "p"})
        await until(lambda: debug_values(rt, "caught"), "the error", WAIT)

    rt = run_exec(exec_flow(command=f"touch {marker}", addpay="foo.bar"), act)
    assert "msg.foo.bar" in debug_values(rt, "caught")[0]["error"]["message"]
    assert debug_values(rt, "out") == [] and debug_values(rt, "rc") == []
    assert not marker.exists()


def test_old_rc_sends_no_return_code_on_success_in_exec_mode() -> None:
    async def wait_for_stdout(rt2: FlowRuntime) -> None:
        rt2.inject("in", {})
        rt2.inject("in", {"kill": None, "pid": -1})  # nothing to kill: ignored
        await until(lambda: len(debug_values(rt2, "out")) >= 1, "stdout", WAIT)
        await asyncio.sleep(0.2)

    rt = run_exec(exec_flow(command="echo ok", oldrc=True), wait_for_stdout)
    [out] = debug_values(rt, "out")
    assert out["payload"] == "ok\n" and "rc" not in out
    assert debug_values(rt, "rc") == []
    rt = run_exec(exec_flow(command="exit 4", oldrc=True), send_and_wait({}))
    assert payloads(rt, "rc") == [{"code": 4, "message": "Command failed: exit 4\n"}]


def test_output_that_is_not_utf8_is_sent_as_bytes() -> None:
    command = f"{PY} -c \"import sys; sys.stdout.buffer.write(bytes([255, 254, 0]))\""
    rt = run_exec(exec_flow(command=command), send_and_wait({}))
    assert payloads(rt, "out") == [b"\xff\xfe\x00"]
    rt = run_exec(exec_flow(use_spawn=True, command=command), send_and_wait({}))
    assert payloads(rt, "out") == [b"\xff\xfe\x00"]


def test_a_command_the_shell_cannot_find_is_code_127_and_reaches_catch() -> None:
    rt = run_exec(exec_flow(command="plumb-no-such-command-xyz --flag"), send_and_wait({}))
    [rc] = payloads(rt, "rc")
    assert rc["code"] == 127 and "plumb-no-such-command-xyz" in rc["message"]
    assert "not found" in payloads(rt, "err")[0]
    [caught] = debug_values(rt, "caught")
    assert caught["error"]["source"]["id"] == "e"
    assert "command not found" in caught["error"]["message"]


def test_exec_mode_output_past_the_buffer_limit_stops_the_command(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Exec, "MAX_BUFFER", 100_000)
    # Writes forever and ignores SIGTERM: only the SIGKILL that follows stops it.
    command = "trap '' TERM; yes plumb"
    monkeypatch.setattr(Exec, "KILL_GRACE", 0.5)
    rt = run_exec(exec_flow(command=command), send_and_wait({}))
    [rc] = payloads(rt, "rc")
    assert rc == {"code": "ERR_CHILD_PROCESS_STDIO_MAXBUFFER",
                  "message": "stdout maxBuffer length exceeded"}
    [out] = payloads(rt, "out")
    assert len(out) == 100_000 and out.startswith("plumb\nplumb\n")
    assert last_status(rt)["text"] == "error:ERR_CHILD_PROCESS_STDIO_MAXBUFFER"


# -- spawn mode ---------------------------------------------------------------------------
def test_split_words_groups_double_quotes_as_node_red_does() -> None:
    assert split_words('a  "b c" d"e f"g ""') == ["a", "b c", 'd"e f"g', ""]
    assert split_words("   ") == []


def test_spawn_mode_streams_output_while_the_command_runs(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    script = (f"import sys, os, time; print('one', flush=True); "
              f"print('warn', file=sys.stderr, flush=True); "
              f"[time.sleep(0.05) for _ in iter(lambda: os.path.exists({str(gate)!r}), True)]; "
              f"print('two', flush=True); sys.exit(2)")

    async def act(rt: FlowRuntime) -> None:
        rt.inject("in", {"payload": "ignored", "topic": "t"})
        # Chunks are what the pipe gave (a line may come in pieces): compare the text.
        await until(lambda: "".join(payloads(rt, "out")) == "one\n", "the first line", WAIT)
        await until(lambda: "".join(payloads(rt, "err")) == "warn\n", "stderr", WAIT)
        # Still running: the gate file is not there yet, so no return code.
        assert debug_values(rt, "rc") == []
        assert running_pid(rt) is not None
        gate.touch()
        await until(lambda: debug_values(rt, "rc"), "the return code", WAIT)

    rt = run_exec(exec_flow(use_spawn=True, command=PY, append=f'-c "{script}"'), act)
    assert "".join(payloads(rt, "out")) == "one\ntwo\n" and len(payloads(rt, "out")) >= 2
    assert all(m["topic"] == "t" for m in debug_values(rt, "out"))
    [rc] = debug_values(rt, "rc")
    assert rc["payload"] == {"code": 2} and "rc" not in debug_values(rt, "out")[0]
    assert last_status(rt) == {"fill": "yellow", "shape": "dot", "text": "rc:2"}


def test_spawn_mode_old_rc_and_payload_as_argument() -> None:
    rt = run_exec(exec_flow(use_spawn=True, command="echo", addpay="payload", oldrc="true"),
                  send_and_wait({"payload": '"a  b" c'}))
    assert payloads(rt, "out") == ["a  b c\n"]
    assert payloads(rt, "rc") == [0]
    assert last_status(rt)["text"] == "rc:0"


def test_spawn_mode_large_output_arrives_whole_in_chunks() -> None:
    size = 3_000_000
    rt = run_exec(exec_flow(use_spawn=True, command="head -c", append=f"{size} /dev/zero"),
                  send_and_wait({}))
    chunks = payloads(rt, "out")
    assert len(chunks) > 1 and sum(len(c) for c in chunks) == size
    assert payloads(rt, "rc") == [{"code": 0}]


def test_spawn_mode_missing_binary_sends_the_error_and_reaches_catch() -> None:
    rt = run_exec(exec_flow(use_spawn=True, command="/nonexistent/plumb-no-such-binary"),
                  send_and_wait({"payload": "x"}))
    assert payloads(rt, "rc") == [{"code": -2}]  # -ENOENT, as Node-RED
    [caught] = debug_values(rt, "caught")
    assert caught["error"]["source"]["id"] == "e" and caught["payload"] == "x"
    assert "plumb-no-such-binary" in caught["error"]["message"]
    assert last_status(rt) == {"fill": "red", "shape": "dot", "text": "rc:-2"}
    assert debug_values(rt, "out") == [] and debug_values(rt, "err") == []


# -- timeout, msg.kill, close -------------------------------------------------------------
@pytest.mark.parametrize("use_spawn", [False, True])
def test_timeout_kills_the_command(use_spawn: bool) -> None:
    command = "sleep 60" if use_spawn else "sleep 60; echo never"
    rt = run_exec(exec_flow(use_spawn=use_spawn, command=command, timer="0.3"),
                  send_and_wait({}))
    [rc] = payloads(rt, "rc")
    assert rc["code"] is None and rc["signal"] == "SIGTERM"
    assert last_status(rt) == {"fill": "red", "shape": "dot", "text": "killed"}
    assert payloads(rt, "out") in ([], [""])


def test_timeout_follows_up_with_sigkill(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Exec, "KILL_GRACE", 0.3)
    rt = run_exec(exec_flow(command="trap '' TERM; sleep 60; echo never", timer="0.3"),
                  send_and_wait({}))
    [rc] = payloads(rt, "rc")
    assert rc["code"] is None and rc["signal"] == "SIGKILL"


def test_msg_kill_signals_the_running_command() -> None:
    async def act(rt: FlowRuntime) -> None:
        rt.inject("in", {})
        await until(lambda: running_pid(rt), "the pid", WAIT)
        rt.inject("in", {"kill": "SIGINT"})
        await until(lambda: debug_values(rt, "rc"), "the return code", WAIT)

    rt = run_exec(exec_flow(use_spawn=True, command="sleep 60"), act)
    assert payloads(rt, "rc") == [{"code": None, "signal": "SIGINT"}]
    assert {"fill": "red", "shape": "dot", "text": "killed"} in statuses(rt, "e")


def test_msg_kill_with_several_running_needs_msg_pid() -> None:
    async def act(rt: FlowRuntime) -> None:
        rt.inject("in", {"topic": "first"})
        first = await until(lambda: running_pid(rt), "the first pid", WAIT)
        rt.inject("in", {"topic": "second"})
        second = await until(lambda: (p := running_pid(rt)) != first and p, "the second", WAIT)
        rt.inject("in", {"kill": "SIGTERM"})  # two running, no pid: nothing happens
        await asyncio.sleep(0.3)
        assert debug_values(rt, "rc") == [] and alive(first) and alive(second)
        rt.inject("in", {"kill": "", "pid": str(second)})  # "" is SIGTERM; pid as text
        await until(lambda: debug_values(rt, "rc"), "the second's return code", WAIT)
        assert [m["topic"] for m in debug_values(rt, "rc")] == ["second"]
        assert alive(first)
        rt.inject("in", {"kill": "sighup"})  # one left: no pid needed
        await until(lambda: len(debug_values(rt, "rc")) == 2, "the first's", WAIT)

    rt = run_exec(exec_flow(use_spawn=True, command="sleep 60"), act)
    assert payloads(rt, "rc") == [{"code": None, "signal": "SIGTERM"},
                                  {"code": None, "signal": "SIGHUP"}]


def test_msg_kill_with_an_unknown_signal_reaches_catch() -> None:
    async def act(rt: FlowRuntime) -> None:
        rt.inject("in", {})
        await until(lambda: running_pid(rt), "the pid", WAIT)
        rt.inject("in", {"kill": "SIGNOPE"})
        await until(lambda: debug_values(rt, "caught"), "the error", WAIT)

    rt = run_exec(exec_flow(use_spawn=True, command="sleep 60"), act)
    assert "SIGNOPE" in debug_values(rt, "caught")[0]["error"]["message"]
    assert debug_values(rt, "rc") == []  # still running until the flow stopped


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")
@pytest.mark.parametrize("use_spawn", [False, True])
def test_stopping_the_flow_kills_commands_and_their_children(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, use_spawn: bool) -> None:
    monkeypatch.setattr(Exec, "KILL_GRACE", 0.5)
    pids = tmp_path / "pids"
    # A shell with a child in the background, one that ignores SIGTERM, and a foreground
    # wait: the shell's children must not outlive the flow.
    script = f"trap '' TERM; sleep 60 & echo $! > {pids}; sleep 61 & wait"
    command = f'sh -c "{script}"' if use_spawn else script
    seen: dict[str, int] = {}

    async def act(rt: FlowRuntime) -> None:
        rt.inject("in", {})
        seen["shell"] = await until(lambda: running_pid(rt), "the pid", WAIT)
        await until(lambda: pids.exists() and pids.read_text().strip(), "the child", WAIT)
        seen["child"] = int(pids.read_text())
        assert alive(seen["shell"]) and alive(seen["child"])

    rt = run_exec(exec_flow(use_spawn=use_spawn, command=command), act)
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline and (alive(seen["shell"]) or alive(seen["child"])):
        time.sleep(0.05)
    assert not alive(seen["shell"]) and not alive(seen["child"])
    assert debug_values(rt, "rc") == []  # nothing is sent once the node closed
    assert statuses(rt, "e")[-1] == {}


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")
def test_a_command_ignoring_sigterm_dies_even_when_closing_runs_out_of_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Exec, "KILL_GRACE", 30.0)  # longer than the runtime waits
    seen: list[int] = []

    async def act(rt: FlowRuntime) -> None:
        rt.inject("in", {})
        seen.append(await until(lambda: running_pid(rt), "the pid", WAIT))

    run_exec(exec_flow(command="trap '' TERM; sleep 60; echo never"), act, close_timeout=0.3)
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline and alive(seen[0]):
        time.sleep(0.05)
    assert not alive(seen[0])


def test_a_redeploy_of_the_node_kills_its_command() -> None:
    async def main() -> tuple[int, bool]:
        manager = RuntimeManager(allow_exec=True)
        flow = [TAB, *exec_flow(use_spawn=True, command="sleep 60")]
        await manager.deploy(flow)
        assert manager.runtime is not None
        runtime = manager.runtime
        runtime.inject("in", {})
        pid = await until(lambda: running_pid(runtime), "the pid", WAIT)
        changed = [TAB, *exec_flow(use_spawn=True, command="sleep 61")]
        await manager.deploy(changed, "nodes")  # only the exec node restarts
        gone = await until(lambda: not alive(pid), "the old command to go", WAIT)
        await manager.shutdown()
        return pid, gone

    _, gone = asyncio.run(main())
    assert gone
