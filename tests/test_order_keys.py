"""The idempotency key of a card's order (engine.batch.orders): one per card and order, whatever the
batch id holds, and the same whether made for one card or for a batch's new cards at once."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.batch.orders import first_order_keys, order_key

IDS = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)


@given(batch=IDS, holder=IDS, earlier=st.integers(min_value=0, max_value=5))
def test_a_key_says_its_batch_holder_and_count_as_a_batch_makes_its_first_keys(batch: str, holder: str, earlier: int) -> None:
    """The batch id's `%` and `.` are encoded: the first `.` ends it, the last begins the count."""
    key = order_key({"batch_id": batch, "user_id": holder}, earlier)
    encoded, _, rest = key.partition(".")
    assert encoded.replace("%2E", ".").replace("%25", "%") == batch
    assert rest.rpartition(".") == (holder, ".", str(earlier + 1))
    assert first_order_keys(batch)(holder) == order_key({"batch_id": batch, "user_id": holder}, 0)
