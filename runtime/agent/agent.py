"""The agent's loop: register once, check in, apply what the server asks for, watch it, and
commit it or go back by itself.

Applying snapshot S while P runs (docs/fleet.md, "Device protocol"):

1. fetch the bundle and verify it (hash and signature) - a bad one is refused and reported;
2. store it (`snapshots/S.json`) and point `staged` at it          -- crash point after_stage
3. write the journal: applying S; before it current P, last_good, previous
                                                                    -- crash point after_journal
4. install its modules (Node-RED) and deploy it                     -- crash point after_deploy
5. soak: poll the runtime's health for `soak` seconds (flows started, no node errors, no
   crash), checking in meanwhile so the server's health gate sees it running
6. healthy: previous := last_good, last_good := S, current := S    -- before_commit / mid_commit
   then remove the journal (the commit)                             -- after_commit
   unhealthy: deploy last_good again, restore the pointers, remove the journal.

The result goes to the server as `last_result` on the next check-in (kept in result.json
until the server has it). On start, a journal left behind means the agent died inside an
apply: it deploys the journal's last_good and reports the attempt as failed, so after a
kill -9 at any step the device runs the old snapshot, or the new one once it is committed.
A snapshot that failed here is not applied again for `retry_failed_after` seconds even if
the server still names it, so a device never loops between a bad snapshot and its rollback.

`PLUMB_AGENT_CRASH_AT=<step>` makes the agent kill itself with SIGKILL at that step (the
crash tests use it); the steps are in CRASH_POINTS.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from runtime.agent import agent_version
from runtime.agent.client import ServerClient, ServerRefused, ServerUnreachable
from runtime.agent.state import AgentState, Identity
from runtime.agent.targets import DeployFailed, Health, Target, utc_now
from runtime.fleet.bundle import BundleError, verify_bundle

log = logging.getLogger("plumb.agent")

CRASH_ENV = "PLUMB_AGENT_CRASH_AT"
CRASH_POINTS = ("after_stage", "after_journal", "after_deploy", "before_commit",
                "mid_commit", "after_commit")
JITTER = 0.2


def crash_point(step: str) -> None:
    """Die here, as by a power cut, when PLUMB_AGENT_CRASH_AT names this step."""
    if os.environ.get(CRASH_ENV) == step:
        log.warning("%s=%s: killing the agent with SIGKILL", CRASH_ENV, step)
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os.kill(os.getpid(), signal.SIGKILL)


class AgentError(RuntimeError):
    """The agent cannot go on (no identity and no token, registration refused, ...)."""


@dataclass
class AgentConfig:
    server: str
    provision_token: str | None = None
    name: str = ""
    tags: list[str] = field(default_factory=list)
    soak: float = 30.0
    server_key_pem: str | None = None  # pinned by the operator (--server-key)
    mqtt: str | None = None            # host:port
    retry_failed_after: float = 3600.0
    max_backoff: float = 300.0
    check_in_seconds: float = 60.0     # until the server says otherwise


def check_public_key(pem: str) -> None:
    """ValueError unless `pem` is an Ed25519 public key in PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the server key is not an Ed25519 public key")


def verified(bundle: Any, public_key_pem: str, expected_id: str) -> dict[str, Any]:
    """The bundle, once its hash and signature are checked (`runtime.fleet.bundle`, the
    code the server computes ids with) and it is the snapshot that was asked for."""
    claimed = verify_bundle(bundle, public_key_pem)
    if claimed != expected_id:
        raise BundleError(f"asked for snapshot {expected_id[:12]}, got {claimed[:12]}")
    if not isinstance(bundle["flows"], list) or not all(
            isinstance(node, dict) for node in bundle["flows"]):
        raise BundleError("the bundle's flows are not a list of nodes")
    for name in ("credentials", "settings", "env", "modules"):
        if not isinstance(bundle[name], dict):
            raise BundleError(f"the bundle's {name} is not an object")
    return dict(bundle)


def jittered(seconds: float) -> float:
    return seconds * (1.0 + random.uniform(0.0, JITTER))


def short(snapshot: str | None) -> str:
    return snapshot[:12] if snapshot else "none"


class Agent:
    def __init__(self, config: AgentConfig, state: AgentState, target: Target,
                 client: ServerClient | None = None) -> None:
        self.config = config
        self.state = state
        self.target = target
        self.client = client or ServerClient(config.server)
        self.identity: Identity | None = None
        self.check_in_seconds = config.check_in_seconds
        self.status = "idle"          # idle | applying | rolled_back, as reported
        self.applying: str | None = None
        self.wake = threading.Event()  # MQTT update notices and stop() set it
        self.stopping = threading.Event()
        self._mqtt: Any = None
        self._backoff = 0.0
        self._started = False
        self._skipped: set[str] = set()

    # -- start and stop -------------------------------------------------------------------
    def start(self) -> None:
        """Everything before the first check-in: identity, runtime, recovery, MQTT."""
        self.state.ensure()
        self.identity = self.ensure_identity()
        self.target.start()
        pending = self.state.pending_result()
        if pending is not None and pending.get("ok") is False:
            self.status = "rolled_back"
        self.recover()
        self.ensure_running()
        if self.config.mqtt:
            self._start_mqtt(self.config.mqtt)
        self._started = True

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()

    def close(self) -> None:
        if self._mqtt is not None:
            self._mqtt.loop_stop()
            self._mqtt.disconnect()
        self.target.close()
        self.client.close()

    # -- identity -------------------------------------------------------------------------
    def ensure_identity(self) -> Identity:
        identity = self.state.identity()
        if identity is not None:
            if self.config.server_key_pem and \
                    self.config.server_key_pem.strip() != identity.public_key_pem.strip():
                raise AgentError("--server-key differs from the key pinned at registration "
                                 f"in {self.state.root}")
            return identity
        token = self.config.provision_token
        if not token:
            raise AgentError(f"this device is not registered ({self.state.root} has no "
                             "identity): give a provisioning token with --token")
        delay = 1.0
        while True:
            try:
                answer = self.client.register(token, self.config.name, self.config.tags,
                                              agent_version(), self.target.version())
                break
            except ServerUnreachable as exc:
                if self.stopping.is_set():
                    raise AgentError(f"stopped before registering: {exc}") from exc
                log.warning("cannot register yet (%s); retrying in %.0f s", exc, delay)
                self.stopping.wait(jittered(delay))
                delay = min(delay * 2, self.config.max_backoff)
            except ServerRefused as exc:
                raise AgentError(f"the server refused the registration: {exc}") from exc
        pem = str(answer.get("public_key") or "")
        if self.config.server_key_pem:
            if pem and pem.strip() != self.config.server_key_pem.strip():
                raise AgentError("the server's public key is not the one given with "
                                 "--server-key: refusing to register")
            pem = self.config.server_key_pem
        try:
            check_public_key(pem)
        except ValueError as exc:
            raise AgentError(f"registration answer: {exc}") from exc
        identity = Identity(device_id=str(answer["device_id"]),
                            credential=str(answer["credential"]), public_key_pem=pem,
                            server=self.config.server, name=self.config.name)
        self.state.save_identity(identity)
        if answer.get("check_in_seconds"):
            self.check_in_seconds = float(answer["check_in_seconds"])
        log.info("registered as device %s", identity.device_id)
        return identity

    # -- reporting ------------------------------------------------------------------------
    def running_snapshot(self) -> str | None:
        deployed = self.state.deployed()
        if deployed is not None:
            value = deployed.get("snapshot")
            return str(value) if value else None
        return self.state.pointer("current")

    def report(self, health: Health | None = None) -> dict[str, Any]:
        health = health or self.target.health()
        body: dict[str, Any] = {
            "running_snapshot": self.running_snapshot(),
            "state": "applying" if self.applying else self.status,
            "health": health.report(),
            "agent_version": agent_version(),
            "runtime_version": self.target.version(),
        }
        result = self.state.pending_result()
        if result is not None:  # "at" tells two equal-looking results apart
            body["last_result"] = {k: result[k] for k in ("snapshot", "ok", "reason", "at")
                                   if k in result}
        return body

    def check_in(self, health: Health | None = None) -> dict[str, Any]:
        """One check-in; ServerUnreachable / ServerRefused when it did not go through."""
        assert self.identity is not None
        body = self.report(health)
        answer = self.client.check_in(self.identity.credential, body)
        if "last_result" in body:  # the server has it now
            pending = self.state.pending_result()
            if pending is not None and pending.get("snapshot") == \
                    body["last_result"].get("snapshot"):
                self.state.set_pending_result(None)
        seconds = answer.get("check_in_seconds")
        if isinstance(seconds, int | float) and seconds > 0:
            self.check_in_seconds = float(seconds)
        return answer

    # -- the loop -------------------------------------------------------------------------
    def run(self, once: bool = False) -> int:
        """Check in until stop() (or once); the exit code: 0, or 1 when `once` failed."""
        if not self._started:
            self.start()
        while not self.stopping.is_set():
            try:
                code = self.step()
            except AgentError:
                raise
            except Exception:  # a bug or an odd answer must not end a device's agent
                if once:
                    raise
                log.exception("unexpected error; trying again later")
                code, self._backoff = 1, min(max(self._backoff * 2, 5.0),
                                             self.config.max_backoff)
            if once:
                return code
            wait = self._backoff or jittered(self.check_in_seconds)
            self.wake.wait(wait)
            self.wake.clear()
        return 0

    def step(self) -> int:
        """One round: finish a cut-short apply, keep the runtime on `current`, go back from
        a crash loop, check in, apply a new target. 0 when it all went well."""
        self.recover()
        self.ensure_running()
        self.watch_crash_loop()
        try:
            answer = self.check_in()
        except ServerUnreachable as exc:
            self._backoff = min(max(self._backoff * 2, 1.0), self.config.max_backoff)
            log.warning("server unreachable (%s); keeping %s running, next try in %.0f s",
                        exc, short(self.running_snapshot()), self._backoff)
            self._backoff = jittered(self._backoff)
            return 1
        except ServerRefused as exc:
            self._backoff = self.config.max_backoff
            log.error("the server refused the check-in (%s): decommissioned or the "
                      "credential revoked? keeping %s running", exc,
                      short(self.running_snapshot()))
            return 1
        self._backoff = 0.0
        target = answer.get("target")
        if not isinstance(target, dict) or not target.get("snapshot"):
            return 0
        snapshot = str(target["snapshot"])
        if snapshot == self.state.pointer("current") and self.state.journal() is None:
            return 0
        ok = self.apply(snapshot, str(target.get("url") or snapshot))
        if ok is None:
            return 0  # skipped (failed before); already reported
        try:
            self.check_in()  # report the result at once
        except (ServerUnreachable, ServerRefused) as exc:
            log.warning("could not report the result yet: %s", exc)
        return 0 if ok else 1

    # -- applying -------------------------------------------------------------------------
    def apply(self, snapshot: str, url: str) -> bool | None:
        """Apply `snapshot`: True committed; False refused, rolled back or not fetched;
        None skipped (it failed here before)."""
        assert self.identity is not None
        failed_at = self.state.failed().get(snapshot)
        if failed_at is not None and time.time() - failed_at < self.config.retry_failed_after:
            ago = time.time() - failed_at
            log.info("not applying %s again: it failed here %.0f s ago", short(snapshot), ago)
            if snapshot not in self._skipped:  # tell the server once, so it need not wait
                self._skipped.add(snapshot)
                self.state.set_pending_result({
                    "snapshot": snapshot, "ok": False, "at": utc_now(),
                    "reason": f"not applied again: it failed on this device {ago:.0f} s ago "
                              f"(retried after {self.config.retry_failed_after:g} s)"})
            return None
        log.info("applying snapshot %s", short(snapshot))
        try:
            raw = self.client.fetch(self.identity.credential, url)
            bundle = verified(raw, self.identity.public_key_pem, snapshot)
        except (ServerUnreachable, ServerRefused) as exc:
            # not the snapshot's fault (the server is away, or moved the target on): the
            # next check-in says what to run
            log.warning("cannot fetch snapshot %s now: %s", short(snapshot), exc)
            return False
        except BundleError as exc:
            reason = f"refused snapshot {short(snapshot)}: {exc}"
            log.error("%s", reason)
            self._finish(snapshot, False, reason)
            return False
        self.state.save_snapshot(bundle)
        self.state.set_pointer("staged", snapshot)
        crash_point("after_stage")

        self.state.begin_apply(snapshot, self.state.pointer("current"),
                               self.state.pointer("last_good"),
                               self.state.pointer("previous"))
        crash_point("after_journal")
        self.applying = snapshot
        try:
            try:
                self.target.install(bundle)
                rev = self.target.deploy(bundle)
            except DeployFailed as exc:
                self.rollback(snapshot, f"deploy failed: {exc}")
                return False
            self.state.set_deployed(snapshot, rev)
            self.state.journal_step("deployed")
            crash_point("after_deploy")
            health = self.soak()
            if self.stopping.is_set():  # stopped before the soak ended: not proven good
                self.rollback(snapshot, "the agent was stopped during the soak")
                return False
            if not health.ok:
                self.rollback(snapshot, f"unhealthy during the soak: {health.reason()}")
                return False
            crash_point("before_commit")
            self.commit(snapshot)
        finally:
            self.applying = None
        return True

    def soak(self) -> Health:
        """Watch the runtime for `soak` seconds; the first bad health, or the last good."""
        self.state.journal_step("soaking")
        deadline = time.monotonic() + self.config.soak
        next_check_in = time.monotonic() + jittered(self.check_in_seconds)
        while True:
            health = self.target.health()
            if not health.ok or time.monotonic() >= deadline or self.stopping.is_set():
                return health
            if time.monotonic() >= next_check_in:
                try:  # let the server's health gate see the snapshot running
                    self.check_in(health)
                except (ServerUnreachable, ServerRefused) as exc:
                    log.info("check-in during the soak failed: %s", exc)
                next_check_in = time.monotonic() + jittered(self.check_in_seconds)
            self.stopping.wait(min(0.25, max(0.0, deadline - time.monotonic())))

    def commit(self, snapshot: str) -> None:
        last_good = self.state.pointer("last_good")
        if last_good and last_good != snapshot:
            self.state.set_pointer("previous", last_good)
        self.state.set_pointer("last_good", snapshot)
        self.state.set_pointer("current", snapshot)
        crash_point("mid_commit")
        # the result before the commit: a crash in between is reported as a failure by
        # the recovery, which overwrites it
        self._finish(snapshot, True, f"healthy for {self.config.soak:g} s")
        self.state.set_pointer("staged", None)
        self.state.end_apply()  # the commit
        crash_point("after_commit")
        self.status = "idle"
        self.state.prune()
        log.info("snapshot %s committed", short(snapshot))

    def rollback(self, snapshot: str, reason: str) -> bool:
        """Deploy the journal's last_good again and restore the pointers; False when even
        that failed (the journal stays, and the next round tries again)."""
        journal = self.state.journal() or {}
        good = journal.get("last_good", self.state.pointer("last_good"))
        log.warning("rolling back from %s to %s: %s", short(snapshot), short(good), reason)
        try:
            bundle = self.state.load_snapshot(good) if good else None
            self.target.install(bundle)
            rev = self.target.deploy(bundle)
        except DeployFailed as exc:
            log.error("the rollback to %s failed: %s", short(good), exc)
            self._finish(snapshot, False, f"{reason}; the rollback to {short(good)} failed: "
                                          f"{exc}")
            return False
        self.state.set_deployed(good, rev)
        self.state.set_pointer("current", good)
        self.state.set_pointer("last_good", good)
        self.state.set_pointer("previous", journal.get("previous_good",
                                                       self.state.pointer("previous")))
        self.state.set_pointer("staged", None)
        self.state.end_apply()
        self.status = "rolled_back"
        self._finish(snapshot, False, f"{reason}; rolled back to {short(good)}")
        return True

    def _finish(self, snapshot: str, ok: bool, reason: str) -> None:
        if not ok:
            self.state.mark_failed(snapshot)
        self.state.set_pending_result({"snapshot": snapshot, "ok": ok,
                                       "reason": reason[:2000], "at": utc_now()})

    # -- recovery -------------------------------------------------------------------------
    def recover(self) -> None:
        """An apply that was cut short (the journal is there): go back to its last_good."""
        if self.applying:
            return
        journal = self.state.journal()
        if journal is None:
            if self.state.pointer("staged"):  # stored, never applied: the server asks again
                self.state.set_pointer("staged", None)
            return
        snapshot = str(journal.get("snapshot"))
        step = journal.get("step", "begun")
        log.warning("an apply of %s was cut short (step %s); going back to %s",
                    short(snapshot), step, short(journal.get("last_good")))
        self.rollback(snapshot, f"the agent stopped during the apply (step {step})")

    def ensure_running(self) -> None:
        """Deploy `current` again when the runtime runs something else (it restarted with
        its own flow file, or someone deployed over it)."""
        if self.state.journal() is not None:
            return
        current = self.state.pointer("current")
        deployed = self.state.deployed() or {}
        rev = self.target.running_rev()
        if rev is None:
            return  # unreachable: nothing to do until it answers
        if deployed.get("snapshot") == current and (deployed.get("rev") in (None, rev)):
            return
        if current is None and not deployed:
            return  # nothing was ever deployed by this agent: leave the runtime alone
        log.info("the runtime does not run %s (rev %s); deploying it again", short(current),
                 rev)
        try:
            bundle = self.state.load_snapshot(current) if current else None
            self.target.install(bundle)
            new_rev = self.target.deploy(bundle)
        except DeployFailed as exc:
            log.error("cannot deploy %s again: %s", short(current), exc)
            return
        self.state.set_deployed(current, new_rev)

    def watch_crash_loop(self) -> None:
        """After a commit, a runtime that keeps dying goes back to the snapshot before."""
        if not self.target.crash_loop():
            return
        current = self.state.pointer("current")
        previous = self.state.pointer("previous")
        if current is None or previous is None:
            log.error("the runtime is in a crash loop on %s and there is nothing older to "
                      "go back to", short(current))
            return
        self.state.begin_apply(current, current, previous, None)
        self.rollback(current, "the runtime is in a crash loop")

    # -- MQTT -----------------------------------------------------------------------------
    def _start_mqtt(self, address: str) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        assert self.identity is not None
        host, _, port = address.rpartition(":")
        if not host:
            host, port = address, "1883"
        topic = f"plumb/devices/{self.identity.device_id}/update"
        client = mqtt.Client(CallbackAPIVersion.VERSION2,
                             client_id=f"plumb-agent-{self.identity.device_id}")

        def on_connect(client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any,
                       _props: Any) -> None:
            if not reason.is_failure:
                client.subscribe(topic, qos=1)
                log.info("listening for updates on mqtt://%s %s", address, topic)

        def on_message(_client: mqtt.Client, _userdata: Any, message: Any) -> None:
            log.info("update notice on %s: checking in now", message.topic)
            self.wake.set()

        client.on_connect = on_connect
        client.on_message = on_message
        client.reconnect_delay_set(1, 30)
        client.connect_async(host, int(port))
        client.loop_start()
        self._mqtt = client
