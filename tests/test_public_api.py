"""The public door: ``beacon.__all__`` is exactly the public names, each documented."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

import beacon


def _resolve_lazy(module: types.ModuleType) -> None:
    """Doors may load names on first use (PEP 562): load them all before reading vars()."""
    for name in module.__all__:
        getattr(module, name)


def test_all_lists_exactly_the_public_names() -> None:
    _resolve_lazy(beacon)
    public = {
        name
        for name in vars(beacon)
        if not name.startswith("_") and not isinstance(getattr(beacon, name), type(beacon))
    }
    assert set(beacon.__all__) == public
    assert list(beacon.__all__) == sorted(beacon.__all__)


def test_every_exported_name_has_a_docstring() -> None:
    undocumented = [name for name in beacon.__all__ if not getattr(beacon, name).__doc__]
    assert undocumented == []


def test_every_error_descends_from_the_root() -> None:
    errors = [getattr(beacon, n) for n in beacon.__all__ if n.endswith(("Error", "Violation"))]
    assert errors
    assert all(issubclass(e, beacon.BeaconError) for e in errors)


# Every package's door: its __all__ is exactly the public names it defines or re-exports,
# each documented. A sub-module (a private ``_x`` or a public one) is not a name of the door.
DOORS = [
    "beacon",
    "beacon.charts",
    "beacon.client",
    "beacon.server",
    "beacon.testing",
    "beacon.demo",
    "beacon.proxy",
    "beacon.fxa",
]


@pytest.mark.parametrize("door", DOORS)
def test_each_door_lists_exactly_its_public_names(door: str) -> None:
    module = importlib.import_module(door)
    _resolve_lazy(module)
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name not in {"annotations"}
    }
    assert set(module.__all__) == public
    assert len(module.__all__) == len(set(module.__all__))


@pytest.mark.parametrize("door", DOORS)
def test_each_doors_names_are_documented(door: str) -> None:
    module = importlib.import_module(door)
    undocumented = [
        name
        for name in module.__all__
        if callable(getattr(module, name)) and not getattr(module, name).__doc__
    ]
    assert undocumented == []


def test_no_name_means_two_things_across_doors() -> None:
    # Step (a chart step / a campaign step) and replay (a trace / a campaign) once collided.
    seen: dict[str, tuple[str, object]] = {}
    for door in DOORS:
        module = importlib.import_module(door)
        for name in module.__all__:
            value = getattr(module, name)
            if name in seen and seen[name][1] is not value:
                raise AssertionError(
                    f"{name!r} is one thing in {seen[name][0]} and another in {door}"
                )
            seen.setdefault(name, (door, value))


def test_the_cli_demo_testing_and_bench_import_other_packages_only_through_their_doors() -> None:
    root = Path(__file__).resolve().parent.parent
    private = re.compile(r"^\s*(?:from|import) beacon\.(charts|client|server|testing|demo)\._")
    offenders = []
    for folder, own in (
        ("beacon/cli", None),
        ("beacon/demo", "demo"),
        ("beacon/testing", "testing"),
        ("bench", None),
    ):
        for path in sorted((root / folder).rglob("*.py")):
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                match = private.match(line)
                if match and match.group(1) != own:
                    offenders.append(f"{path.relative_to(root)}:{n}: {line.strip()}")
    assert offenders == []


def test_the_firefox_engines_are_public_engines_with_firefox_versions() -> None:
    from beacon.client import __all__ as client_names

    engines = {
        "BookmarksEngine": ("bookmarks", 2),
        "HistoryEngine": ("history", 1),
        "PasswordsEngine": ("passwords", 1),
        "TabsEngine": ("tabs", 1),
        "FormsEngine": ("forms", 1),
        "AddressesEngine": ("addresses", 1),
        "CreditCardsEngine": ("creditcards", 1),
        "PrefsEngine": ("prefs", 2),
    }
    for class_name, (collection, version) in engines.items():
        cls = getattr(beacon, class_name)
        assert class_name in client_names
        engine = cls()
        assert isinstance(engine, beacon.Engine)
        assert (engine.name, engine.version) == (collection, version)


def _loaded_after(code: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return set(done.stdout.split())


# Not on a sync's path: the server, the demo, the campaign, the renderer and the terminal UI.
_NOT_FOR_A_SYNC = (
    "beacon.server",
    "beacon.demo",
    "beacon.testing",
    "beacon.proxy",
    "beacon.charts._render",
    "beacon.cli._progress",
    "graphviz",
    "rich",
    "pygments",
    "hypothesis",
    "starlette",
    "uvicorn",
)


def test_importing_beacon_and_its_client_loads_no_server_renderer_or_terminal_ui() -> None:
    # httpx itself imports rich and pygments when they are installed (its command line):
    # what beacon must not add is what `import httpx` alone does not already load.
    baseline = _loaded_after("import httpx")
    for code in (
        "import beacon",
        "import beacon; import beacon.client",
        "from beacon import SyncClient",
    ):
        extra = (_loaded_after(code) - baseline) & set(_NOT_FOR_A_SYNC)
        assert extra == set(), f"{code!r} loaded {sorted(extra)}"
    assert "beacon.client" not in _loaded_after("import beacon")  # names load on first use


def test_the_sync_command_imports_only_its_own_subcommand() -> None:
    loaded = _loaded_after(
        "import sys\nsys.argv = ['beacon', '-v', 'sync', '--engines', 'notes', '--help']\n"
        "from beacon.cli import build_parser\nbuild_parser(None)"
    )
    baseline = _loaded_after("import httpx")
    assert "beacon.cli.sync" in loaded
    others = {f"beacon.cli.{n}" for n in ("serve", "demo", "chart", "explore", "login", "data")}
    assert loaded & others == set()
    assert (loaded - baseline) & set(_NOT_FOR_A_SYNC) == set()
    assert "beacon.fxa" not in loaded
    assert "beacon.client.engines" not in loaded
    # A no-change sync validates nothing with pydantic (a 304 has no body): the wire models
    # load on the first parse, not with the client (~15% of a no-change process).
    assert {"pydantic", "beacon._models"} & loaded == set()
    # nor does it explore its charts: the analyses load when a campaign or a check asks
    analyses = {f"beacon.charts.{m}" for m in ("_coverage", "_goals", "_paths", "_space")}
    assert analyses & loaded == set()


def test_help_and_unknown_commands_still_see_every_subcommand() -> None:
    from beacon.cli import build_parser

    parser = build_parser(["--help"])
    choices = next(a for a in parser._actions if a.dest == "command").choices
    assert choices is not None
    assert {"sync", "serve", "demo", "chart"} <= set(choices)
    parser = build_parser(["no-such-command"])
    assert "serve" in next(a for a in parser._actions if a.dest == "command").choices  # type: ignore[operator]


def test_the_sync_command_knows_which_collections_have_typed_engines() -> None:
    from beacon.cli.sync import FIREFOX_COLLECTIONS
    from beacon.client.engines import FIREFOX_ENGINES

    assert set(FIREFOX_ENGINES) == FIREFOX_COLLECTIONS  # the names that import the engines
