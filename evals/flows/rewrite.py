"""Point an answer flow at the harness's servers before it runs.

Requests name plant addresses (a PLC at 192.168.1.10, a broker, an MES URL, /var/log/...);
none of those may be touched from here, so every endpoint a node would reach is rewritten to
the harness's own loopback servers and every file path is moved under a scratch folder.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

FILE_TYPES = ("file", "file in")


@dataclass(frozen=True)
class Targets:
    mqtt_port: int
    modbus_port: int
    opcua_url: str
    capture_port: int
    scratch: Path
    closed_port: int  # for clients the harness does not serve (websocket, tcp)


def scratch_path(scratch: Path, path: str) -> Path:
    """Where an absolute (or relative) path of the flow lives under the scratch folder."""
    return scratch / path.lstrip("/\\")


def point_at_harness(flow: list[dict[str, Any]], targets: Targets) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = copy.deepcopy(flow)
    for node in out:
        if not isinstance(node, dict):
            continue
        kind = node.get("type")
        if kind == "mqtt-broker":
            node.update(broker="127.0.0.1", port=targets.mqtt_port, usetls=False, tls="")
            node.pop("credentials", None)
        elif kind == "modbus-client":
            node.update(clienttype="tcp", tcpHost="127.0.0.1", tcpPort=targets.modbus_port)
        elif kind == "OpcUa-Endpoint":
            node.update(
                endpoint=targets.opcua_url,
                secpol="None",
                secmode="None",
                none=True,
                login=False,
                usercert=False,
            )
            node.pop("credentials", None)
        elif kind == "http request":
            node["url"] = _capture_url(str(node.get("url", "")), targets.capture_port)
            node.update(tls="", proxy="", authType="")
        elif kind == "websocket-client":
            node["path"] = f"ws://127.0.0.1:{targets.closed_port}/"
        elif kind in ("tcp request", "tcp in", "tcp out") and node.get("host"):
            node["host"] = "127.0.0.1"
        elif kind == "udp out" and node.get("addr"):
            node["addr"] = "127.0.0.1"
        elif kind in FILE_TYPES and str(node.get("filename", "")).strip():
            if node.get("filenameType", "str") in ("str", ""):
                moved = scratch_path(targets.scratch, str(node["filename"]))
                moved.parent.mkdir(parents=True, exist_ok=True)
                node["filename"] = str(moved)
        elif kind == "watch" and str(node.get("files", "")).strip():
            moved_paths = []
            for part in str(node["files"]).split(","):
                moved = scratch_path(targets.scratch, part.strip())
                (moved if not moved.suffix else moved.parent).mkdir(parents=True, exist_ok=True)
                moved_paths.append(str(moved))
            node["files"] = ",".join(moved_paths)
    return out


def _capture_url(url: str, port: int) -> str:
    """http://mes.local:8080/api/orders?x=1 -> http://127.0.0.1:PORT/api/orders?x=1."""
    if "://" not in url:
        if not url.strip() or url.startswith("{{"):
            return url  # the whole URL comes from the message
        url = "http://" + url
    parts = urlsplit(url)
    if "{{" in parts.netloc:
        return url  # the host is filled in from the message at run time
    return urlunsplit(("http", f"127.0.0.1:{port}", parts.path or "/", parts.query, ""))
