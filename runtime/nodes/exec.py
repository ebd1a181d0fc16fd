"""The exec node: runs a command on the machine the runtime runs on. OFF BY DEFAULT.

An exec node runs whatever its flow (or a message) tells it to, with the runtime's user
and permissions, so the runtime refuses it unless it was started with `allow_exec=True`
(`ask run --allow-exec`, or `PLUMB_ALLOW_EXEC=1`). Three locks, each enough on its own:
`RuntimeManager.check` refuses the deploy (`{"error": "exec_disabled", "nodes": [...]}`),
`FlowRuntime.start` refuses to start the flow, and the node refuses to be built.

Behaviour follows Node-RED 4's exec node (properties `command`, `addpay`, `append`,
`useSpawn`, `timer`, `winHide`, `oldrc`; outputs stdout, stderr, return code):

- exec mode (`useSpawn` "false"): the command line goes to a shell (/bin/bash on Linux
  when there is one, else /bin/sh); when it ends, output 1 gets all of stdout, output 2 all
  of stderr (only when there is some), output 3 `{code: 0}`, or `{code, message[, signal]}`
  when it failed (msg.rc on the other two then holds the same). Each stream is capped at
  `MAX_BUFFER` bytes, as Node-RED's maxBuffer: past that the command is stopped and fails.
- spawn mode (`useSpawn` "true"): the line is split into words (double quotes group, no
  shell) and run directly; stdout and stderr go out chunk by chunk as the command writes
  them, and output 3 gets `{code[, signal]}` when it ends (with `oldrc`, the bare code).
- `timer` seconds (empty or 0: none) kills the command with SIGTERM; `msg.kill` (a signal
  name, SIGTERM when not one) signals the one running command, or the one `msg.pid` names.
- Payloads are strings, or bytes when the output is not UTF-8. The status shows `pid:N`
  while it runs, then `rc:N`, `error:N` or `killed`.

Differences from Node-RED: each command runs in its own process group and kills (timer,
msg.kill, close) go to the whole group, so a shell's children do not outlive it; closing
the node (redeploy, stop) kills what is still running; a timeout, an overflow or a close
follows SIGTERM with SIGKILL when the command is still there `KILL_GRACE` seconds later;
stdin is /dev/null rather than an open pipe, so a command waiting for input ends instead
of hanging; a command that cannot be started (spawn mode), or that the shell cannot find
(exec mode, exit status 127), is also reported with `node.error`, so Catch nodes hear it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from runtime.jsvalues import js_string
from runtime.message import Message, clone_message
from runtime.node import Done, Node, Send
from runtime.registry import register
from runtime.values import _split_path

EXEC_TYPE = "exec"
ENV_SWITCH = "PLUMB_ALLOW_EXEC"
HOW_TO_ENABLE = ("exec nodes run commands on this machine with the runtime's permissions, so "
                 "they are off by default; to allow them, start `ask run` with --allow-exec "
                 f"(or set {ENV_SWITCH}=1), or create the runtime with allow_exec=True")
# Bytes read from a pipe at a time; in spawn mode, the most one message carries.
CHUNK = 64 * 1024
# What the shell answers for a command it cannot find.
NOT_FOUND_STATUS = 127
POSIX = os.name == "posix"
HARD_KILL = getattr(signal, "SIGKILL", signal.SIGTERM)


class ExecDisabledError(RuntimeError):
    """The flow has exec nodes that would run, and the runtime was not told to allow them."""

    def __init__(self, nodes: list[str]) -> None:
        super().__init__(f"the flow has {len(nodes)} enabled exec node(s) "
                         f"({', '.join(nodes)}); {HOW_TO_ENABLE}")
        self.nodes = nodes

    def as_dict(self) -> dict[str, Any]:
        return {"error": "exec_disabled", "nodes": self.nodes}


def allow_exec_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """True when PLUMB_ALLOW_EXEC says yes ("1", "true" or "yes"); anything else is no."""
    value = (os.environ if environ is None else environ).get(ENV_SWITCH, "")
    return value.strip().lower() in ("1", "true", "yes")


def refuse_exec(entries: Iterable[dict[str, Any]]) -> None:
    """ExecDisabledError naming the exec nodes among `entries` (nodes that will run)."""
    found = [str(e.get("id")) for e in entries if e.get("type") == EXEC_TYPE]
    if found:
        raise ExecDisabledError(found)


def enabled_exec_nodes(flow: list[dict[str, Any]]) -> list[str]:
    """The ids of the exec nodes in `flow` that would run: not disabled, not on a disabled
    tab, and inside a subflow only through an instance (the instance's copy is named). When
    the flow cannot be expanded, every exec node not marked disabled counts."""
    from runtime.subflows import SubflowError, expand

    tabs = {str(n.get("id")): n for n in flow if n.get("type") == "tab"}
    off = {i for i, t in tabs.items() if t.get("disabled")}
    off |= {str(n.get("id")) for n in flow if n.get("type") == "subflow"}
    try:
        expanded = expand(flow)
    except (SubflowError, KeyError, TypeError, ValueError):
        return [str(n.get("id")) for n in flow if n.get("type") == EXEC_TYPE and not n.get("d")]
    return [str(n.get("id")) for n in expanded
            if n.get("type") == EXEC_TYPE and not n.get("d") and str(n.get("z") or "") not in off]


# A word is a run of characters that are not blanks or quotes, and "quoted parts" (which
# may hold blanks); a word that is quoted as a whole loses its quotes.
_WORD = re.compile(r'(?:[^\s"]+|"[^"]*")+')


def split_words(line: str) -> list[str]:
    """The command line of spawn mode as program and arguments, split as Node-RED does."""
    words = []
    for word in _WORD.findall(line):
        if len(word) >= 2 and word.startswith('"') and word.endswith('"'):
            word = word[1:-1]
        words.append(word)
    return words


def _payload(data: bytes) -> str | bytes:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def _shell() -> str | None:
    """Node-RED runs exec mode with bash on Linux when there is one."""
    if sys.platform.startswith("linux") and os.path.exists("/bin/bash"):
        return "/bin/bash"
    return None


class _Running:
    """One command the node has started."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.live = True  # False once the node closes: nothing more is sent
        self.timer: asyncio.TimerHandle | None = None
        self.hard_kill: asyncio.TimerHandle | None = None

    def stop(self, grace: float) -> None:
        """SIGTERM now, and SIGKILL if the command has not finished `grace` s later."""
        self.signal(signal.SIGTERM)
        if self.hard_kill is None:
            self.hard_kill = asyncio.get_running_loop().call_later(grace, self.signal,
                                                                  HARD_KILL)

    def forget(self) -> None:
        for handle in (self.timer, self.hard_kill):
            if handle is not None:
                handle.cancel()

    def signal(self, sig: int) -> None:
        """Send `sig` to the command and everything it started."""
        with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
            if POSIX:
                os.killpg(self.pid, sig)
            elif self.proc.returncode is None:
                self.proc.send_signal(sig)


@register(EXEC_TYPE)
class Exec(Node):
    """Runs a command per message; see the module's doc for the details."""

    MAX_BUFFER = 10_000_000  # bytes of stdout (and of stderr) kept in exec mode
    KILL_GRACE = 2.0  # seconds from SIGTERM to SIGKILL (timeout, overflow, close)

    def __init__(self, config: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, runtime)
        if getattr(runtime, "allow_exec", False) is not True:
            raise ExecDisabledError([self.id])
        self.command = str(config.get("command") or "").strip()
        addpay = config.get("addpay", True)  # absent in very old flows: append msg.payload
        if addpay is True:
            addpay = "payload"
        self.addpay = addpay.strip() if isinstance(addpay, str) else ""
        self.append = str(config.get("append") or "").strip()
        self.use_spawn = config.get("useSpawn") == "true"
        try:
            timer = float(config.get("timer") or 0)
        except (TypeError, ValueError):
            timer = 0.0
        self.timer = timer if 0 < timer < math.inf else None
        self.old_rc = js_string(config.get("oldrc") or False) != "false"
        self.win_hide = config.get("winHide") is True
        self._running: dict[int, _Running] = {}

    # -- input -------------------------------------------------------------------------------
    async def on_input(self, msg: Message, send: Send, done: Done) -> None:
        if "kill" in msg:
            self._kill(msg, done)
            return
        try:
            line = self._command_line(msg)
        except LookupError as exc:
            done(str(exc))
            return
        if self.use_spawn:
            await self._spawn(line, msg, send, done)
        else:
            await self._exec(line, msg, send, done)

    def _command_line(self, msg: Message) -> str:
        """The command, then the addpay property's value (when the message has it), then
        `append`. A missing step on the way to the property (msg.a when addpay is a.b) is
        an error, as in Node-RED, and nothing runs."""
        line = self.command
        if self.addpay:
            path = self.addpay.removeprefix("msg.")
            parts = _split_path(path)
            if _step(msg, parts[:-1]) is None:
                raise LookupError(f"cannot read msg.{path}: a step on the way is missing")
            value = _step(msg, parts)
            if value is not None:
                line += " " + js_string(value)
        if self.append:
            line += " " + self.append
        return line

    def _kill(self, msg: Message, done: Done) -> None:
        name = msg.get("kill")
        if not isinstance(name, str) or not name.upper().startswith("SIG"):
            name = "SIGTERM"
        sig = getattr(signal, name.upper(), None)
        if not isinstance(sig, signal.Signals):
            done(f"unknown signal {name!r}")
            return
        target: _Running | None = None
        if "pid" in msg:
            pid = _pid(msg.get("pid"))
            target = self._running.get(pid) if pid is not None else None
        elif len(self._running) == 1:
            target = next(iter(self._running.values()))
        if target is not None:
            target.signal(sig)
            self.status("red", "dot", "killed")
        done()

    # -- starting and ending a command -------------------------------------------------------
    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"stdin": subprocess.DEVNULL, "stdout": subprocess.PIPE,
                                   "stderr": subprocess.PIPE}
        if POSIX:
            options["start_new_session"] = True  # its own process group, killed as one
        elif self.win_hide:
            options["creationflags"] = getattr(subprocess, "CREATE_NO_WINDOW", 0)
        return options

    def _started(self, proc: asyncio.subprocess.Process) -> _Running:
        running = _Running(proc)
        self._running[running.pid] = running
        if self.timer is not None:
            running.timer = asyncio.get_running_loop().call_later(
                self.timer, running.stop, self.KILL_GRACE)
        self.status("blue", "dot", f"pid:{running.pid}")
        return running

    def _ended(self, running: _Running) -> None:
        running.forget()
        self._running.pop(running.pid, None)

    def _failed_to_start(self, exc: OSError, line: str, msg: Message, send: Send,
                         done: Done) -> None:
        code = -exc.errno if exc.errno else -1
        text = f"cannot run {line!r}: {exc.strerror or exc}"
        rc = clone_message(msg)
        if self.old_rc:
            rc["payload"] = code
        elif self.use_spawn:
            rc["payload"] = {"code": code}  # as Node-RED; the text goes to Catch
        else:
            rc["payload"] = {"code": code, "message": text}
        self.status("red", "dot", f"rc:{code}")
        send([None, None, rc])
        self.error(text, clone_message(msg))
        done()

    # -- spawn mode: output as it comes ----------------------------------------------------
    async def _spawn(self, line: str, msg: Message, send: Send, done: Done) -> None:
        words = split_words(line)
        if not words:
            done("no command to run")
            return
        try:
            proc = await asyncio.create_subprocess_exec(*words, **self._options())
        except OSError as exc:
            self._failed_to_start(exc, line, msg, send, done)
            return
        running = self._started(proc)
        returncode: int | None = None
        try:
            await asyncio.gather(self._stream(running, proc.stdout, 0, msg, send),
                                 self._stream(running, proc.stderr, 1, msg, send))
            returncode = await proc.wait()
        finally:
            self._ended(running)
            if returncode is None:
                _abandon(running)
        if not running.live:
            done()
            return
        code, sig = _code(returncode)
        rc = clone_message(msg)
        if self.old_rc:
            rc["payload"] = code
        else:
            rc["payload"] = {"code": code, **({"signal": sig} if sig else {})}
        if code is None:
            self.status("red", "dot", "killed")
        else:
            self.status("yellow", "dot", f"rc:{code}")
        send([None, None, rc])
        done()

    async def _stream(self, running: _Running, stream: asyncio.StreamReader | None, port: int,
                      msg: Message, send: Send) -> None:
        if stream is None:
            return
        while chunk := await stream.read(CHUNK):
            if running.live:
                out = clone_message(msg)
                out["payload"] = _payload(chunk)
                ports: list[Message | None] = [None, None, None]
                ports[port] = out
                send(ports)

    # -- exec mode: output when it ends ----------------------------------------------------
    async def _exec(self, line: str, msg: Message, send: Send, done: Done) -> None:
        shell = _shell()
        try:
            if shell is not None:
                proc = await asyncio.create_subprocess_exec(shell, "-c", line,
                                                            **self._options())
            else:
                proc = await asyncio.create_subprocess_shell(line, **self._options())
        except OSError as exc:
            self._failed_to_start(exc, line, msg, send, done)
            return
        running = self._started(proc)
        overflow: list[str] = []
        returncode: int | None = None
        try:
            stdout, stderr = await asyncio.gather(
                self._collect(running, proc.stdout, "stdout", overflow),
                self._collect(running, proc.stderr, "stderr", overflow))
            returncode = await proc.wait()
        finally:
            self._ended(running)
            if returncode is None:
                _abandon(running)
        if not running.live:
            done()
            return
        out2: Message | None = None
        if stderr:
            out2 = clone_message(msg)
            out2["payload"] = _payload(stderr)
        msg["payload"] = _payload(stdout)
        code, sig = _code(returncode)
        rc: dict[str, Any] | None = None
        if overflow:
            rc = {"code": "ERR_CHILD_PROCESS_STDIO_MAXBUFFER",
                  "message": f"{overflow[0]} maxBuffer length exceeded"}
        elif returncode != 0:
            rc = {"code": code, "message": f"Command failed: {line}\n"
                                           + stderr.decode("utf-8", "replace")}
            if sig:
                rc["signal"] = sig
        elif not self.old_rc:
            rc = {"code": 0}
        out3: Message | None = None
        if rc is None:
            self.status()
        else:
            out3 = clone_message(msg)
            out3["payload"] = rc
            msg["rc"] = dict(rc)
            if out2 is not None:
                out2["rc"] = dict(rc)
            if rc["code"] is None:
                self.status("red", "dot", "killed")
            elif rc["code"] == 0:
                self.status()
            else:
                self.status("red", "dot", f"error:{rc['code']}")
        send([msg, out2, out3])
        if returncode == NOT_FOUND_STATUS and not overflow:
            self.error(f"command not found (exit status {NOT_FOUND_STATUS}): {line}",
                       clone_message(msg))
        done()

    async def _collect(self, running: _Running, stream: asyncio.StreamReader | None,
                       name: str, overflow: list[str]) -> bytes:
        """All of a stream, up to MAX_BUFFER bytes; past that the command is stopped, and
        the rest is read and dropped so it never blocks on a full pipe."""
        data = bytearray()
        if stream is None:
            return b""
        while chunk := await stream.read(CHUNK):
            if overflow:
                continue
            room = self.MAX_BUFFER - len(data)
            if len(chunk) > room:
                data += chunk[:room]
                overflow.append(name)
                running.stop(self.KILL_GRACE)
                continue
            data += chunk
        return bytes(data)

    # -- closing -----------------------------------------------------------------------------
    async def on_close(self) -> None:
        """Kill every running command (its whole process group): SIGTERM, then SIGKILL
        for what is left after KILL_GRACE seconds. Nothing more is sent."""
        running = list(self._running.values())
        self._running.clear()
        for entry in running:
            entry.live = False
            entry.forget()
            entry.signal(signal.SIGTERM)
        if running:
            waits = [asyncio.ensure_future(e.proc.wait()) for e in running]
            try:
                await asyncio.wait(waits, timeout=self.KILL_GRACE)
            finally:  # even when the runtime's close timeout cuts the wait short
                for entry in running:
                    # The group may outlive its leader: SIGKILL whatever is left of it.
                    entry.signal(HARD_KILL)
            try:
                await asyncio.wait(waits, timeout=self.KILL_GRACE)
            finally:
                for wait in waits:
                    wait.cancel()
        self.status()


def _abandon(running: _Running) -> None:
    """The task reading a command was cancelled (the flow stopped before the command
    ended): kill what is left of it and close its pipes now, while the loop still runs."""
    running.live = False
    if running.proc.returncode is None:
        running.signal(HARD_KILL)
    transport = getattr(running.proc, "_transport", None)
    if transport is not None:
        transport.close()


def _code(returncode: int) -> tuple[int | None, str | None]:
    """Node's (code, signal): a command ended by a signal has no code."""
    if returncode < 0:
        try:
            return None, signal.Signals(-returncode).name
        except ValueError:
            return None, str(-returncode)
    return returncode, None


def _pid(value: Any) -> int | None:
    """msg.pid as a number: Node-RED accepts 1234 and "1234"."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None


def _step(msg: Message, parts: list[str | int]) -> Any:
    """The value at `parts` in `msg`; None where a step is missing."""
    current: Any = msg
    for part in parts:
        if isinstance(current, dict) and isinstance(part, str):
            current = current.get(part)
        elif isinstance(current, list) and isinstance(part, int) and part < len(current):
            current = current[part]
        else:
            return None
    return current
