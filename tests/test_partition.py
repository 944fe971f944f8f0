"""The pieces the workers of a vector search share: mailboxes, share merging, key ranges."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kvolt.checker.explicit.partition import (
    Gather,
    Share,
    WorkerError,
    _least_order_per_key,
    _Mailbox,
    _merge_shares,
    first_occurrences,
)


def test_a_mailbox_carries_arrays_of_any_type_and_grows(tmp_path: Path) -> None:
    sender, receiver = _Mailbox(str(tmp_path / "0-1-candidates")), _Mailbox(str(tmp_path / "0-1-candidates"))
    rows = np.arange(24, dtype=np.int8).reshape(6, 4)
    keys = rows.view(np.dtype((np.void, 4))).ravel()  # exact keys are whole rows
    sender.send(1, [np.array([5, 3], dtype=np.uint64), keys, rows])
    got = receiver.receive(1)
    assert got[0].tolist() == [5, 3] and (got[1] == keys).all() and (got[2] == rows).all()
    big = np.arange(1_000_000, dtype=np.int64)  # past the file's first size: the sender grows it, the reader remaps
    sender.send(2, [big, np.zeros(0, dtype=np.uint64)])
    got = receiver.receive(2)
    assert (got[0] == big).all() and len(got[1]) == 0


def test_a_mailbox_writes_gathered_rows_as_the_rows_they_select(tmp_path: Path) -> None:
    sender, receiver = _Mailbox(str(tmp_path / "0-1-candidates")), _Mailbox(str(tmp_path / "0-1-candidates"))
    rows = np.arange(40, dtype=np.int16).reshape(10, 4)
    nothing = np.zeros(0, dtype=np.int64)
    sender.send(3, [np.array([1], dtype=np.uint64), Gather(rows, np.array([7, 2, 2, 9])), Gather(rows, nothing)])
    got = receiver.receive(3)
    assert got[1].dtype == rows.dtype and (got[1] == rows[[7, 2, 2, 9]]).all() and got[2].shape == (0, 4)


def test_a_message_read_out_of_turn_is_caught(tmp_path: Path) -> None:
    path = str(tmp_path / "1-0-candidates")
    _Mailbox(path).send(7, [np.zeros(3)])
    with pytest.raises(WorkerError, match="chunk 8, found one of chunk 7"):
        _Mailbox(path).receive(8)


def test_merging_shares_keeps_each_keys_least_order_key() -> None:
    """Each sender's keys ascend; a key two senders found goes to the one that met it first."""
    mine = Share(np.array([1, 4, 9], dtype=np.uint64), np.array([30, 10, 50]))
    theirs = Share(np.array([4, 5, 9], dtype=np.uint64), np.array([20, 40, 5]))
    keys, sender, position = _merge_shares([mine, theirs])
    assert keys.tolist() == [1, 4, 5, 9]
    assert list(zip(sender.tolist(), position.tolist(), strict=True)) == [(0, 0), (0, 1), (1, 1), (1, 2)]


def _merged_naively(shares: list[tuple[list[int], list[int]]]) -> list[tuple[int, int, int]]:
    """(key, sender, position) of each key's least order key, by brute force."""
    best: dict[int, tuple[int, int, int]] = {}
    for sender, (keys, orders) in enumerate(shares):
        for position, (key, order) in enumerate(zip(keys, orders, strict=True)):
            if key not in best or order < best[key][0]:
                best[key] = (order, sender, position)
    return [(key, best[key][1], best[key][2]) for key in sorted(best)]


_SHARE = st.dictionaries(st.integers(0, 40), st.integers(0, 10**6), max_size=30)


@given(st.lists(_SHARE, min_size=2, max_size=4), st.randoms(use_true_random=False))
def test_merging_shares_agrees_with_a_naive_merge(shares: list[dict[int, int]], rng) -> None:
    """Keys are few, so most appear in several shares (runs of two and more); order keys are distinct."""
    orders = rng.sample(range(10**6), sum(len(share) for share in shares))
    built, start = [], 0
    for share in shares:
        keys = sorted(share)
        built.append((keys, orders[start:start + len(keys)]))
        start += len(keys)
    merged = _merge_shares([Share(np.array(k, dtype=np.uint64), np.array(o, dtype=np.int64)) for k, o in built])
    got = list(zip(*(array.tolist() for array in merged), strict=True))
    assert got == _merged_naively(built)


def test_an_empty_share_of_another_key_type_is_ignored() -> None:
    rows = np.arange(8, dtype=np.int8).reshape(2, 4)
    exact = Share(rows.view(np.dtype((np.void, 4))).ravel(), np.array([2, 1]))
    empty = Share(np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64))
    keys, sender, position = _merge_shares([empty, exact])
    assert len(keys) == 2 and sender.tolist() == [1, 1] and position.tolist() == [0, 1]


def _first_occurrences_naively(keys: list[int]) -> tuple[list[int], list[int]]:
    first = sorted({key: position for position, key in reversed(list(enumerate(keys)))}.values())
    return first, sorted(range(len(first)), key=lambda i: keys[first[i]])


# keys from a small pool, some differing only in their lowest bits: such keys interleave in the
# fast path's tagged sort, so the fallback is exercised as well
_POOL = [0, 1, 2, 3, 5 << 40, (5 << 40) | 1, (5 << 40) | 6, 2**64 - 1, 2**64 - 2, 2**63, 12345678901234567]


@given(st.lists(st.sampled_from(_POOL) | st.integers(0, 2**64 - 1), max_size=300))
def test_first_occurrences_of_fingerprints_agree_with_a_naive_scan(keys: list[int]) -> None:
    first, by_key = first_occurrences(np.array(keys, dtype=np.uint64))
    expected_first, expected_by_key = _first_occurrences_naively(keys)
    assert first.tolist() == expected_first and by_key.tolist() == expected_by_key


def test_first_occurrences_of_exact_keys_agree_with_a_naive_scan() -> None:
    rows = np.array([[1, 2], [0, 0], [1, 2], [0, 1], [0, 0]], dtype=np.int8)
    keys = rows.view(np.dtype((np.void, 2))).ravel()
    first, by_key = first_occurrences(keys)
    assert first.tolist() == [0, 1, 3] and by_key.tolist() == [1, 2, 0]


@given(st.lists(st.sampled_from(_POOL) | st.integers(0, 2**64 - 1), max_size=300), st.randoms(use_true_random=False))
def test_least_order_per_key_agrees_with_a_naive_scan(keys: list[int], rng) -> None:
    """For each distinct key, the position of its least order key (order keys are distinct), by key."""
    order = rng.sample(range(10**9), len(keys))
    best: dict[int, int] = {}
    for position, key in enumerate(keys):
        if key not in best or order[position] < order[best[key]]:
            best[key] = position
    got = _least_order_per_key(np.array(keys, dtype=np.uint64), np.array(order, dtype=np.int64))
    assert got.tolist() == [best[key] for key in sorted(best)]
