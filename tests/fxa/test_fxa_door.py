"""The beacon.fxa door: ``__all__`` is exactly its public names, each documented."""

from __future__ import annotations

import beacon.fxa


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name in vars(beacon.fxa)
        if not name.startswith("_") and not isinstance(getattr(beacon.fxa, name), type(beacon))
    }
    public -= {"annotations"}
    assert set(beacon.fxa.__all__) == public
    # isort-style, as ruff keeps it: constants, then classes, then functions.
    order = sorted(beacon.fxa.__all__, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
    assert list(beacon.fxa.__all__) == order


def test_every_exported_class_and_function_has_a_docstring() -> None:
    undocumented = [
        name
        for name in beacon.fxa.__all__
        if callable(getattr(beacon.fxa, name)) and not getattr(beacon.fxa, name).__doc__
    ]
    assert undocumented == []


def test_every_fxa_error_descends_from_the_root() -> None:
    errors = [
        getattr(beacon.fxa, n)
        for n in beacon.fxa.__all__
        if n.endswith(
            (
                "Error",
                "Required",
                "Password",
                "Token",
                "Account",
                "Session",
                "Case",
                "Code",
                "Blocked",
            )
        )
    ]
    errors = [e for e in errors if isinstance(e, type) and issubclass(e, Exception)]
    assert len(errors) >= 10
    assert all(issubclass(e, beacon.BeaconError) for e in errors)
