"""The public door: ``beacon.__all__`` is exactly the public names, each documented."""

from __future__ import annotations

import beacon


def test_all_lists_exactly_the_public_names() -> None:
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
