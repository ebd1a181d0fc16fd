"""The file, file in and watch nodes, run in real flows against files in tmp_path."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from runtime.engine import FlowRuntime
from runtime.nodes import files  # registers file, file in, watch
from tests.runtime.conftest import debug_values, node, run_flow


def write_flow(**props: Any) -> list[dict[str, Any]]:
    """link in -> file -> debug "out"; catch -> debug "err"."""
    return [node("in", "link in", [["f"]]), node("f", "file", [["out"]], **props),
            node("out", "debug", complete="true"),
            node("c", "catch", [["err"]]), node("err", "debug", complete="true")]


def feed(*msgs: dict[str, Any], node_id: str = "in") -> Any:
    async def act(rt: FlowRuntime) -> None:
        for msg in msgs:
            rt.inject(node_id, msg)

    return act


def test_append_adds_to_the_file_with_newlines_and_objects_as_json(tmp_path: Path) -> None:
    target = tmp_path / "log.txt"
    target.write_text("old\n")
    rt = run_flow(write_flow(filename=str(target), filenameType="str", appendNewline=True,
                             overwriteFile="false"),
                  feed({"payload": "a"}, {"payload": {"n": 1}}, {"payload": 2.5}))
    assert target.read_text() == f"old\na{os.linesep}{{\"n\":1}}{os.linesep}2.5{os.linesep}"
    outs = debug_values(rt, "out")
    assert [o["payload"] for o in outs] == ["a", {"n": 1}, 2.5]
    assert all(o["filename"] == str(target) for o in outs)


def test_overwrite_replaces_and_sends_only_after_the_write(tmp_path: Path) -> None:
    target = tmp_path / "state.txt"
    target.write_text("something long that must go")
    seen: list[str] = []

    async def act(rt: FlowRuntime) -> None:
        # What the file holds when each message comes out of the file node.
        rt.listen(lambda e: seen.append(target.read_text())
                  if e["kind"] == "debug" and e["id"] == "out" else None)
        rt.inject("in", {"payload": "first"})
        rt.inject("in", {"payload": "second"})

    run_flow(write_flow(filename=str(target), filenameType="str", overwriteFile="true"), act)
    assert target.read_text() == "second"
    assert seen == ["first", "second"]


def test_delete_removes_the_file_and_a_missing_one_goes_to_catch(tmp_path: Path) -> None:
    target = tmp_path / "gone.txt"
    target.write_text("x")
    rt = run_flow(write_flow(filename=str(target), filenameType="str", overwriteFile="delete"),
                  feed({"payload": "ignored"}))
    assert not target.exists()
    assert [o["payload"] for o in debug_values(rt, "out")] == ["ignored"]
    assert debug_values(rt, "err") == []

    rt = run_flow(write_flow(filename=str(target), filenameType="str", overwriteFile="delete"),
                  feed({"payload": "again"}))
    assert debug_values(rt, "out") == []
    [err] = debug_values(rt, "err")
    assert "delete" in err["error"]["message"] and err["error"]["source"]["id"] == "f"


def test_create_dir_makes_missing_folders_otherwise_the_write_fails(tmp_path: Path) -> None:
    nested = tmp_path / "a" / "b" / "out.txt"
    rt = run_flow(write_flow(filename=str(nested), filenameType="str", overwriteFile="false"),
                  feed({"payload": "x"}))
    assert not nested.exists()
    assert debug_values(rt, "out") == []
    assert "append" in debug_values(rt, "err")[0]["error"]["message"]

    rt = run_flow(write_flow(filename=str(nested), filenameType="str", overwriteFile="false",
                             createDir=True), feed({"payload": "x"}))
    assert nested.read_text() == "x"
    assert debug_values(rt, "err") == []


def test_filename_from_msg_and_bytes_written_as_they_are(tmp_path: Path) -> None:
    target = tmp_path / "blob.bin"
    data = bytes([0, 255, 10, 13])
    rt = run_flow(write_flow(filename="filename", filenameType="msg", appendNewline=True,
                             overwriteFile="true"),
                  feed({"payload": data, "filename": str(target)}))
    assert target.read_bytes() == data  # no newline after a buffer
    assert debug_values(rt, "out")[0]["filename"] == str(target)


def test_legacy_empty_filename_means_msg_filename(tmp_path: Path) -> None:
    target = tmp_path / "legacy.txt"
    run_flow(write_flow(filename="", overwriteFile="true"),
             feed({"payload": True, "filename": str(target)}))
    assert target.read_text() == "true"


def read_flow(**props: Any) -> list[dict[str, Any]]:
    return [node("in", "link in", [["r"]]), node("r", "file in", [["out"]], **props),
            node("out", "debug", complete="true"),
            node("c", "catch", [["err"]]), node("err", "debug", complete="true")]


def test_file_in_reads_utf8_text_and_bytes(tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_bytes("héllo\nwörld".encode())
    rt = run_flow(read_flow(filename=str(source), filenameType="str", format="utf8"),
                  feed({"payload": "x", "topic": "t"}))
    [out] = debug_values(rt, "out")
    assert out["payload"] == "héllo\nwörld" and out["topic"] == "t"
    assert out["filename"] == str(source)

    rt = run_flow(read_flow(filename=str(source), filenameType="str", format=""),
                  feed({"payload": "x"}))
    assert debug_values(rt, "out")[0]["payload"] == "héllo\nwörld".encode()


def test_file_in_lines_sends_one_message_per_line_with_parts(tmp_path: Path) -> None:
    source = tmp_path / "lines.txt"
    source.write_text("one\ntwo\nthree")
    rt = run_flow(read_flow(filename="path", filenameType="msg", format="lines"),
                  feed({"_msgid": "m1", "path": str(source), "topic": "t", "extra": 1}))
    outs = debug_values(rt, "out")
    assert [o["payload"] for o in outs] == ["one", "two", "three"]
    assert [o["parts"]["index"] for o in outs] == [0, 1, 2]
    assert outs[-1]["parts"]["count"] == 3 and "count" not in outs[0]["parts"]
    assert all(o["parts"]["id"] == "m1" and o["parts"]["ch"] == "\n" for o in outs)
    assert all(o["topic"] == "t" and "extra" not in o for o in outs)

    rt = run_flow(read_flow(filename="path", filenameType="msg", format="lines",
                            allProps=True),
                  feed({"path": str(source), "extra": 1}))
    assert all(o["extra"] == 1 for o in debug_values(rt, "out"))


def test_file_in_missing_file_goes_to_catch_and_output(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    rt = run_flow(read_flow(filename=str(missing), filenameType="str", format="utf8"),
                  feed({"payload": "keep?", "topic": "t"}))
    [err] = debug_values(rt, "err")
    assert "No such file" in err["error"]["message"]
    assert err["error"]["source"]["id"] == "r"
    [out] = debug_values(rt, "out")  # sendError defaults on
    assert "payload" not in out and out["error"]["code"] == "ENOENT" and out["topic"] == "t"

    rt = run_flow(read_flow(filename=str(missing), filenameType="str", format="utf8",
                            sendError=False), feed({"payload": "x"}))
    assert debug_values(rt, "out") == []
    assert len(debug_values(rt, "err")) == 1


async def wait_for(rt: FlowRuntime, count: int, timeout: float = 5.0) -> list[Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        values = debug_values(rt, "out")
        if len(values) >= count:
            return values
        await asyncio.sleep(0.05)
    raise AssertionError(f"wanted {count} watch events, got {debug_values(rt, 'out')}")


@pytest.fixture
def fast_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files.Watch, "POLL_SECONDS", 0.05)


def test_watch_reports_create_and_change_in_a_folder(tmp_path: Path, fast_watch: None) -> None:
    (tmp_path / "quiet.txt").write_text("present before the start")
    target = tmp_path / "new.txt"

    async def act(rt: FlowRuntime) -> None:
        await asyncio.sleep(0.2)
        target.write_text("1")
        [created] = await wait_for(rt, 1)
        assert created["payload"] == str(target) and created["filename"] == str(target)
        assert created["file"] == "new.txt" and created["type"] == "file"
        assert created["topic"] == str(tmp_path) and created["size"] == 1
        target.write_text("123")
        changed = (await wait_for(rt, 2))[1]
        assert changed["payload"] == str(target) and changed["size"] == 3
        (tmp_path / "sub").mkdir()
        folder = (await wait_for(rt, 3))[2]
        assert folder["type"] == "directory" and folder["file"] == "sub"

    rt = run_flow([node("w", "watch", [["out"]], files=f" {tmp_path} "),
                   node("out", "debug", complete="true")], act, settle=0.1)
    assert all(v["file"] != "quiet.txt" for v in debug_values(rt, "out"))


def test_watch_recursive_sees_nested_files_and_single_files(tmp_path: Path,
                                                            fast_watch: None) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    single = tmp_path / "single.txt"
    single.write_text("a")

    async def act(rt: FlowRuntime) -> None:
        await asyncio.sleep(0.2)
        (sub / "deep.txt").write_text("x")
        [event] = await wait_for(rt, 1)
        assert event["payload"] == str(sub / "deep.txt")

    run_flow([node("w", "watch", [["out"]], files=str(tmp_path), recursive=True),
              node("out", "debug", complete="true")], act, settle=0.1)

    async def act_single(rt: FlowRuntime) -> None:
        await asyncio.sleep(0.2)
        single.write_text("abcd")
        [event] = await wait_for(rt, 1)
        assert event["payload"] == str(single) and event["size"] == 4

    rt = run_flow([node("w", "watch", [["out"]], files=f"{single},{tmp_path / 'other'}"),
                   node("out", "debug", complete="true")], act_single, settle=0.1)
    assert debug_values(rt, "out")[0]["topic"] == f'["{single}","{tmp_path / "other"}"]'


def test_watch_without_recursive_ignores_nested_files(tmp_path: Path, fast_watch: None) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()

    async def act(rt: FlowRuntime) -> None:
        await asyncio.sleep(0.2)
        (sub / "deep.txt").write_text("x")
        await asyncio.sleep(0.4)

    rt = run_flow([node("w", "watch", [["out"]], files=str(tmp_path)),
                   node("out", "debug", complete="true")], act, settle=0.1)
    assert debug_values(rt, "out") == []
