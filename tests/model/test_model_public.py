"""``beacon.testing`` is a public submodule: its names are listed, sorted and documented, and
it stays out of ``beacon.__all__``."""

from __future__ import annotations

import beacon
import beacon.testing


def test_the_testing_door_lists_documented_names() -> None:
    names = beacon.testing.__all__
    assert list(names) == sorted(names)
    assert all(hasattr(beacon.testing, n) for n in names)
    undocumented = [n for n in names if not n.isupper() and not getattr(beacon.testing, n).__doc__]
    assert undocumented == []
    assert not set(names) & set(beacon.__all__)
