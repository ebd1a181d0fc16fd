"""Help text of the Node-RED node packages a user has installed, as passages.

Node-RED keeps each node's help in `<script type="text/html" data-help-name="TYPE">` blocks,
either in the node's own .html file or in locale files (`locales/<lang>/...html`). English
help is preferred; another language is used only when a type has no English help.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from corpus.passages import Passage

_HELP_BLOCK = re.compile(
    r"<script\s+type=[\"']text/(?:html|x-red)[\"']\s+data-help-name=[\"']([^\"']+)[\"'][^>]*>"
    r"(.*?)</script>",
    re.DOTALL | re.IGNORECASE,
)
_CHUNK_CHARS = 1200
_BLOCK_TAGS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "dl", "ul", "ol", "pre", "br", "dt"}


class NodeHelpError(ValueError):
    pass


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    path: Path


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag == "dd":
            self.parts.append(": ")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(html: str) -> str:
    extractor = _TextExtractor()
    extractor.feed(html)
    lines = (" ".join(line.split()) for line in "".join(extractor.parts).splitlines())
    return "\n".join(line for line in lines if line)


def find_node_modules(path: Path) -> Path:
    """Accept a Node-RED user directory (~/.node-red) or a node_modules folder itself."""
    path = path.expanduser().resolve()
    if not path.exists():
        raise NodeHelpError(f"{path} does not exist")
    if (path / "node_modules").is_dir():
        return path / "node_modules"
    if path.name == "node_modules" and path.is_dir():
        return path
    raise NodeHelpError(
        f"{path} has no node_modules folder; point at a Node-RED user directory such as ~/.node-red"
    )


def node_packages(node_modules: Path) -> Iterator[Package]:
    """Installed packages that provide Node-RED nodes (and Node-RED's own core nodes)."""
    candidates = []
    for entry in sorted(node_modules.iterdir()):
        if entry.name.startswith("@") and entry.is_dir():
            candidates.extend(sorted(entry.iterdir()))
        else:
            candidates.append(entry)
    for folder in candidates:
        manifest = folder / "package.json"
        if not manifest.is_file():
            continue
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a broken package must not stop the others from being indexed
        name = str(data.get("name", folder.name))
        if "node-red" in data or name == "@node-red/nodes":
            yield Package(name, str(data.get("version", "")), folder)


def _rank(path: Path) -> int:
    text = path.as_posix()
    if "/locales/en-US/" in text:
        return 0
    return 1 if "/locales/" not in text else 2


def package_help(package: Package) -> dict[str, str]:
    """Help text per node type in one package."""
    found: dict[str, tuple[int, str]] = {}
    for html_file in sorted(package.path.rglob("*.html")):
        if "node_modules" in html_file.relative_to(package.path).parts:
            continue
        try:
            content = html_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for node_type, block in _HELP_BLOCK.findall(content):
            rank = _rank(html_file)
            text = html_to_text(block)
            if text and (node_type not in found or rank < found[node_type][0]):
                found[node_type] = (rank, text)
    return {node_type: text for node_type, (_, text) in found.items()}


def _chunks(text: str) -> Iterator[str]:
    paragraph_lines: list[str] = []
    size = 0
    for line in text.splitlines():
        if size + len(line) > _CHUNK_CHARS and paragraph_lines:
            yield "\n".join(paragraph_lines)
            paragraph_lines, size = [], 0
        paragraph_lines.append(line)
        size += len(line) + 1
    if paragraph_lines:
        yield "\n".join(paragraph_lines)


def help_passages(path: Path) -> tuple[str, list[Passage], list[Package]]:
    """(origin, passages, packages) for every node package installed under `path`."""
    node_modules = find_node_modules(path)
    origin = f"node-modules:{node_modules}"
    passages: list[Passage] = []
    packages = list(node_packages(node_modules))
    for package in packages:
        source = f"{package.name}@{package.version}"
        for node_type, text in sorted(package_help(package).items()):
            for number, chunk in enumerate(_chunks(text), start=1):
                passages.append(
                    Passage(
                        id=f"help:{package.name}:{node_type}:{number}",
                        kind="help",
                        title=f"{node_type} - help from {source}",
                        text=f"{node_type} ({source}) help:\n{chunk}",
                        origin=origin,
                        source=source,
                        node_type=node_type,
                        package=package.name,
                    )
                )
    return origin, passages, packages
