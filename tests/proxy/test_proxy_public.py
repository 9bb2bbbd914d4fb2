"""``beacon.proxy`` is a public submodule with one door: its names are listed (ruff keeps the
order) and documented, and the package imports only downward (primitives, never the server or
the client)."""

from __future__ import annotations

import ast
from pathlib import Path

import beacon.proxy


def test_the_proxy_door_lists_exactly_its_documented_public_names() -> None:
    names = beacon.proxy.__all__
    public = {n for n in vars(beacon.proxy) if not n.startswith("_")} - {"annotations"}
    assert set(names) == public
    undocumented = [n for n in names if not n.isupper() and not getattr(beacon.proxy, n).__doc__]
    assert undocumented == []


def test_the_proxy_imports_neither_the_server_nor_the_client() -> None:
    package = Path(beacon.proxy.__file__).parent
    imported: set[str] = set()
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    beacon_modules = {m for m in imported if m.startswith("beacon.")}
    assert beacon_modules
    forbidden = ("beacon.server", "beacon.client", "beacon.testing", "beacon.cli")
    assert [m for m in beacon_modules if m.startswith(forbidden)] == []
