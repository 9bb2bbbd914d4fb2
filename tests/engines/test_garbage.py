"""Whatever a server sends, every engine applies it without raising: each record is applied,
reconciled or counted failed (and reported), and the next upload still works."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from beacon.client._engine_api import IncomingRecord
from beacon.client._store import Store
from beacon.client.engines import FIREFOX_ENGINES, PREFS_GUID, BookmarkItem
from beacon.client.engines._autofill import AddressEntry, CreditCardEntry
from beacon.client.engines._history import Visit
from beacon.client.engines._tabs import Tab
from tests.engines.conftest import Clock

scalars = (
    st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.floats() | st.text(max_size=6)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)


def _names(model: Any) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items() if n != "id"]


FIELDS = sorted(
    {
        "deleted",
        "_edited",
        *_names(BookmarkItem),
        *(
            n
            for cls in FIREFOX_ENGINES.values()
            if hasattr(cls, "model")
            for n in _names(cls.model)
        ),
    }
)
NESTED = sorted({*_names(Visit), *_names(AddressEntry), *_names(CreditCardEntry), *_names(Tab)})
nested = st.dictionaries(st.sampled_from(NESTED), values, max_size=5)
cleartexts = st.dictionaries(
    st.sampled_from(FIELDS),
    values
    | nested
    | st.lists(nested, max_size=3)
    | st.dictionaries(st.text(max_size=3), nested, max_size=2),
    max_size=8,
)
ids = st.sampled_from(
    ["Hx8f2LqP0aZk", "menu", "toolbar", "unfiled", "places", PREFS_GUID, "x", "a,b", ""]
)


@given(
    engine=st.sampled_from(sorted(FIREFOX_ENGINES)),
    page=st.lists(st.tuples(ids, cleartexts, st.floats(0, 2e9)), max_size=6),
)
def test_garbage_is_counted_never_raised(
    engine: str, page: list[tuple[str, dict[str, Any], float]], shared_store: Store
) -> None:
    instance = FIREFOX_ENGINES[engine](
        store=shared_store, clock=Clock(), rng=random.Random(0).randbytes
    )
    instance.wipe_local()
    records = [IncomingRecord(i, {**c, "id": i} if i else c, m) for i, c, m in page]
    counts = instance.apply_incoming(records)
    assert counts.applied + counts.reconciled + counts.failed == len(records)
    instance.outgoing()  # the merge (bookmarks) and the upload preparation run cleanly
