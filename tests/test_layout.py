"""Imports point one way: corpus ← embeddings ← service, and inside service
api and cli → ops → answering, with nothing pointing back up (DESIGN.md, "Layout")."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("corpus", "embeddings", "service")

# Rooms, lowest first. A module may import its own room and any room of a lower rank.
RANKS: dict[str, int] = {
    "corpus": 0,
    "embeddings": 1,
    "service.settings": 2,
    "service.answering": 2,
    "service.ops": 3,
    "service.api": 4,
    "service.evaluation": 4,
    "service.cli": 5,
    "service": 5,  # the package itself: only its face, importing nothing
}


def room_of(module: str) -> str | None:
    """The room a dotted module name lives in (the longest matching prefix)."""
    rooms = [r for r in RANKS if module == r or module.startswith(r + ".")]
    return max(rooms, key=len) if rooms else None


def imports_of(source: str, module: str) -> set[str]:
    """Every absolute module name ``source`` imports, at any depth (also inside functions)."""
    found: set[str] = set()
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                found.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def violations(sources: dict[str, str]) -> list[str]:
    """``importer -> imported`` for each import that points into a higher or sibling room."""
    bad = []
    for module, source in sources.items():
        mine = room_of(module)
        assert mine is not None, f"{module} is in no room; add it to RANKS"
        for target in sorted(imports_of(source, module)):
            theirs = room_of(target)
            if theirs is None or theirs == mine:
                continue
            if RANKS[theirs] >= RANKS[mine]:
                bad.append(f"{module} -> {target}")
    return bad


def project_sources() -> dict[str, str]:
    """The project's modules by dotted name."""
    sources = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            sources[name] = path.read_text(encoding="utf-8")
    return sources


def test_imports_point_one_way() -> None:
    assert violations(project_sources()) == []


def test_every_room_exists() -> None:
    modules = project_sources()
    for room in RANKS:
        assert any(room_of(m) == room for m in modules), room


def test_the_check_catches_an_import_pointing_up() -> None:
    sources = {
        "service.answering.retrieve": "from service.ops.engine import Engine\n",
        "service.ops.engine": "def f():\n    from service.api import app\n",
        "embeddings.index": "import service.settings\n",
        "corpus.store": "from corpus.article import Article\n",
        "service.api.app": "from service.evaluation import runner\n",
    }
    assert violations(sources) == [
        "service.answering.retrieve -> service.ops.engine",
        "service.answering.retrieve -> service.ops.engine.Engine",
        "service.ops.engine -> service.api",
        "service.ops.engine -> service.api.app",
        "embeddings.index -> service.settings",
        "service.api.app -> service.evaluation",
        "service.api.app -> service.evaluation.runner",
    ]
