"""One paho-mqtt client driven by an asyncio event loop, for the `mqtt-broker` node.

paho's network I/O runs on the flow's event loop through paho's external-loop interface:
the socket is watched with `add_reader`, `loop_read()` runs when it is readable, writes are
flushed with `loop_write()` once per loop pass (and through `add_writer` only while the
kernel's buffer is full), and `loop_misc()` runs every second for the keepalive. So every
paho callback (connects, drops, messages, acknowledgements) runs on the event loop.

Only the blocking part of a connect (DNS, TCP connect, the TLS or websocket handshake,
sending CONNECT: `client.reconnect()`) runs in a short-lived daemon thread, so a broker
that is slow or does not answer never stalls the loop. While that thread owns the client,
nothing on the loop touches it: QoS 1/2 publishes wait in a queue of our own (QoS 0 ones
are dropped, as paho drops them when not connected) and go to paho, in order, once the
CONNACK is in (after the broker node has subscribed again), or when the try failed (paho
then keeps them for the next one). When the connection fails or drops it is retried after
1, 2, 4 ... up to `reconnect_max` seconds, the delay back at the minimum after a CONNACK.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.properties import Properties

READ_BATCH = 64  # packets read per readable event before other callbacks get a turn
MISC_INTERVAL = 1.0  # seconds between loop_misc() calls (keepalive pings and timeouts)
_Held = tuple[str, bytes, int, bool, Properties | None]


class LoopConnection:
    """Keeps `client` connected (connect_async must have been called on it), with its I/O
    on `loop`. Set the client's on_message before making one: it is wrapped to count
    messages. `failed(text)` hears each failed connect, `warn(text)` what was lost."""

    def __init__(self, client: mqtt.Client, loop: asyncio.AbstractEventLoop, *, name: str,
                 reconnect_min: float, reconnect_max: float, queue_limit: int,
                 failed: Callable[[str], None], warn: Callable[[str], None]) -> None:
        self.client = client
        self.loop = loop
        self.name = name
        self.reconnect_min = reconnect_min
        self.reconnect_max = reconnect_max
        self.queue_limit = queue_limit
        self.closed = False
        self._failed = failed
        self._warn = warn
        self._delay: float | None = None  # the last wait before a retry; None after a CONNACK
        self._task: asyncio.Task[None] | None = None
        self._gone = asyncio.Event()  # set when the socket closes
        self._fd: int | None = None  # the socket the loop watches
        self._writing = False  # add_writer is on: the kernel's send buffer was full
        self._flush_due = False
        self._misc: asyncio.TimerHandle | None = None
        self._holding = False  # a connect is in a thread: publishes wait in _held
        self._held: deque[_Held] = deque()
        # Between the connect thread and close(): who cleans up when close() comes first.
        self._lock = threading.Lock()
        self._opening = False
        self._abandoned = False
        self._messages = 0  # messages handed over: how a read batch knows it made progress
        self._on_message = client.on_message
        client.on_message = self._message

    def start(self) -> None:
        self._task = self.loop.create_task(self._run(), name=f"mqtt-{self.name}")

    # -- what the broker node calls -------------------------------------------------------
    def publish(self, topic: str, payload: bytes, qos: int, retain: bool,
                properties: Properties | None = None) -> MQTTErrorCode:
        """paho's publish; MQTT_ERR_NO_CONN when not connected (QoS 0 is then lost, QoS 1/2
        go out after the reconnect), MQTT_ERR_QUEUE_SIZE when too many wait for that."""
        if self.closed:
            return MQTTErrorCode.MQTT_ERR_NO_CONN
        if qos and (self._holding or self._held):  # behind the ones already waiting
            if len(self._held) >= self.queue_limit:
                return MQTTErrorCode.MQTT_ERR_QUEUE_SIZE
            self._held.append((topic, payload, qos, retain, properties))
            return MQTTErrorCode.MQTT_ERR_NO_CONN
        if self._holding:
            return MQTTErrorCode.MQTT_ERR_NO_CONN
        return self.client.publish(topic, payload, qos, retain, properties).rc

    def connected(self) -> None:
        """A CONNACK came (paho calls on_connect, then resends what it kept): the next
        retry waits the minimum again, and what waits here goes out after paho's."""
        self._delay = None
        if self._held:
            self.loop.call_soon(self._release)

    async def close(self, timeout: float, message: tuple[str, str, int, bool] | None) -> bool:
        """Stop reconnecting; when connected publish `message` (topic, payload, qos,
        retain) and wait for it, then DISCONNECT and wait for the socket to close, all
        within `timeout` s. False when the socket had to be dropped without that."""
        self.closed = True
        deadline = time.monotonic() + timeout
        if self._task is not None:
            self._task.cancel()
        self._held.clear()
        with self._lock:
            if self._opening:  # the connect thread disconnects when it is done
                self._abandoned = True
                return True
        client = self.client
        if message is not None and client.is_connected():
            info = client.publish(*message)
            await wait_until(info.is_published, min(1.0, timeout / 2))
        if client.socket() is not None:
            client.disconnect()  # goes out on the next flush; paho then closes the socket
            await wait_until(lambda: client.socket() is None, deadline - time.monotonic())
        clean = client.socket() is None
        sock = client.socket()
        self._detach()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
        return clean

    # -- connecting -----------------------------------------------------------------------
    async def _run(self) -> None:
        while not self.closed:
            if await self._open():
                while True:  # until the socket closes (paho may reopen it in place)
                    self._gone.clear()
                    if self.client.socket() is None:
                        break
                    await self._gone.wait()
            if self.closed:
                return
            self._release()  # no CONNACK came: paho keeps them for the next try
            self._delay = (self.reconnect_min if self._delay is None
                           else min(self._delay * 2, self.reconnect_max))
            await asyncio.sleep(self._delay)

    async def _open(self) -> bool:
        """One connect: the blocking part in a thread, then the socket on the loop."""
        client = self.client
        self._hooks(False)
        self._holding = True
        done: asyncio.Future[str | None] = self.loop.create_future()
        with self._lock:
            self._opening = True
        threading.Thread(target=self._connect_thread, args=(done,), daemon=True,
                         name=f"mqtt-connect-{self.name}").start()
        error = await done
        self._holding = False
        if error is not None:
            self._failed(error)
            self._release()
            return False
        self._hooks(True)
        sock = client.socket()
        if sock is not None:
            self._attach(sock)
        return True

    def _release(self) -> None:
        """Hand what was published while connecting to paho, in order: sent now when
        connected, else kept by paho (which refuses QoS 1/2 only when its queue is full)."""
        if self.closed or not self._held:
            return
        held, self._held = self._held, deque()
        lost = sum(self.client.publish(*entry).rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE
                   for entry in held)
        if lost:
            self._warn(f"{lost} queued message(s) dropped: the queue is full")

    def _connect_thread(self, done: asyncio.Future[str | None]) -> None:
        client = self.client
        error: str | None = None
        try:
            rc = client.reconnect()
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or client.socket() is None:
                error = mqtt.error_string(rc)
        except Exception as exc:  # OSError, TLS and websocket failures, bad addresses
            error = str(exc) or type(exc).__name__
        with self._lock:
            self._opening = False
            abandoned = self._abandoned
        if abandoned:  # the node closed meanwhile: leave cleanly, telling no one
            for hook in ("on_connect", "on_disconnect", "on_message", "on_subscribe"):
                setattr(client, hook, None)
            if client.socket() is not None:
                with contextlib.suppress(Exception):
                    client.disconnect()
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            self.loop.call_soon_threadsafe(_settle, done, error)

    def _hooks(self, on: bool) -> None:
        """paho's socket callbacks: off while the connect thread owns the client (paho
        then writes CONNECT itself), on while the loop does."""
        self.client.on_socket_open = self._socket_open if on else None
        self.client.on_socket_close = self._socket_close if on else None
        self.client.on_socket_register_write = self._want_write if on else None
        self.client.on_socket_unregister_write = self._done_writing if on else None

    # -- the socket on the loop -----------------------------------------------------------
    def _attach(self, sock: Any) -> None:
        self._detach()
        self._fd = sock.fileno()
        self.loop.add_reader(self._fd, self._readable)
        self._misc = self.loop.call_later(MISC_INTERVAL, self._tick)
        if self.client.want_write():
            self._want_write()
        if _pending(sock):
            self.loop.call_soon(self._readable)

    def _detach(self) -> None:
        if self._fd is not None:
            self.loop.remove_reader(self._fd)
            if self._writing:
                self.loop.remove_writer(self._fd)
            self._fd = None
        self._writing = False
        if self._misc is not None:
            self._misc.cancel()
            self._misc = None

    def _socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._attach(sock)  # paho reconnected in place (a protocol downgrade)

    def _socket_close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._detach()  # before paho closes the file descriptor
        self._gone.set()

    def _message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._messages += 1
        if self._on_message is not None:
            self._on_message(client, userdata, message)

    def _readable(self) -> None:
        client = self.client
        if self._fd is None:  # detached meanwhile: a connect thread may own the client
            return
        for _ in range(READ_BATCH):
            before = self._messages
            if client.loop_read() != MQTTErrorCode.MQTT_ERR_SUCCESS or client.socket() is None:
                return  # paho closed the socket and said so through on_disconnect
            if self._messages == before:  # nothing more to read, or not a whole packet
                break
        if _pending(client.socket()):  # TLS bytes already decrypted: the fd will not say
            self.loop.call_soon(self._readable)

    def _want_write(self, *_: Any) -> None:
        """paho queued a packet: write it (and whatever follows it in this pass) soon."""
        if not self._flush_due:
            self._flush_due = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_due = False
        client = self.client
        if self._fd is None or client.socket() is None:
            return
        client.loop_write()
        if client.want_write() and self._fd is not None and not self._writing:
            self._writing = True  # the kernel's buffer is full: write when it drains
            self.loop.add_writer(self._fd, self._flush)

    def _done_writing(self, *_: Any) -> None:
        if self._writing and self._fd is not None:
            self.loop.remove_writer(self._fd)
        self._writing = False

    def _tick(self) -> None:
        self._misc = None
        if self.client.socket() is None or self._fd is None:
            return
        self._misc = self.loop.call_later(MISC_INTERVAL, self._tick)
        self.client.loop_misc()


def _settle(done: asyncio.Future[str | None], error: str | None) -> None:
    if not done.done():
        done.set_result(error)


def _pending(sock: Any) -> int:
    pending = getattr(sock, "pending", None)
    return int(pending()) if pending is not None else 0


async def wait_until(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + max(0.0, timeout)
    while not check() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
