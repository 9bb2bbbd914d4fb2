"""``beacon.testing`` is a public submodule: its names are listed (ruff keeps the order) and
documented, and it stays out of ``beacon.__all__``."""

from __future__ import annotations

import beacon
import beacon.testing


def test_the_testing_door_lists_documented_names() -> None:
    names = beacon.testing.__all__
    assert len(set(names)) == len(names)
    assert all(hasattr(beacon.testing, n) for n in names)
    undocumented = [n for n in names if not n.isupper() and not getattr(beacon.testing, n).__doc__]
    assert undocumented == []
    exported = {id(getattr(beacon, n)) for n in beacon.__all__}
    assert [n for n in names if id(getattr(beacon.testing, n)) in exported] == []
