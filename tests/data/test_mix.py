"""MixedDataset: several data roots drawn by weight, deterministically per (seed, epoch, slot)."""
from collections import Counter

import pytest

from training.data.dataset import DatasetConfig, NovaHumanDataset
from training.data.mix import MixedDataset, parse_weights


class Items:
    """A stand-in root: item k of root `name` is (name, k, epoch)."""

    def __init__(self, name: str, n: int):
        self.name, self.n = name, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key):
        index, epoch = key
        return self.name, index, epoch


def test_slots_follow_the_weights_and_sum_to_the_items():
    mix = MixedDataset([Items("a", 90), Items("b", 10)], (1, 1), seed=0)
    assert len(mix) == 100 and mix.slots == [50, 50]
    drawn = Counter(mix[slot, 0][0] for slot in range(len(mix)))
    assert drawn == {"a": 50, "b": 50}
    assert MixedDataset([Items("a", 90), Items("b", 10)], (), seed=0).slots == [90, 10]  # by size
    assert MixedDataset([Items("a", 7), Items("b", 3), Items("c", 1)], (1, 1, 1), seed=0).slots == [4, 4, 3]


def test_a_small_root_cycles_through_all_its_items_before_repeating():
    mix = MixedDataset([Items("a", 30), Items("b", 4)], (0.5, 0.5), seed=3)
    seen = [mix[slot, epoch][1] for epoch in range(3) for slot in range(mix.starts[1], len(mix))]
    for start in range(0, len(seen) - 3, 4):  # every window of 4 aligned to the cycles holds all 4 items
        assert sorted(seen[start:start + 4]) == [0, 1, 2, 3]


def test_a_large_root_shows_other_items_in_later_epochs_and_the_draw_is_deterministic():
    make = lambda: MixedDataset([Items("a", 40), Items("b", 40)], (0.9, 0.1), seed=1)
    mix = make()
    b_items = lambda epoch: {mix[s, epoch][1] for s in range(mix.starts[1], len(mix))}
    assert len(b_items(0)) == mix.slots[1] == 8 and b_items(0) != b_items(1)
    assert [make()[s, 2] for s in range(80)] == [mix[s, 2] for s in range(80)]


def test_zero_weight_root_is_never_drawn():
    mix = MixedDataset([Items("a", 5), Items("b", 5), Items("c", 5)], (1, 0, 1), seed=0)
    assert {mix[s, e][0] for s in range(len(mix)) for e in range(3)} == {"a", "c"}


@pytest.mark.parametrize("text, n, message", [("0.5", 2, "1 weights for 2"), ("a,b", 2, "comma-separated"),
                                              ("0,0", 2, "positive sum"), ("-1,2", 2, ">= 0")])
def test_bad_weights_are_one_line(text, n, message):
    with pytest.raises(ValueError, match=message):
        parse_weights(text, n)


def test_two_real_roots_serve_their_own_characters(body_root):
    body = NovaHumanDataset(DatasetConfig(root=str(body_root), preset="body", resolution=32, cond_resolution=32))
    other = NovaHumanDataset(DatasetConfig(root=str(body_root), preset="body", resolution=32, cond_resolution=32,
                                           split="val"))
    mix = MixedDataset([body, other], (), seed=0)  # by size: one epoch shows every character once
    ids = {mix[s, 0]["id"] for s in range(len(mix))}
    assert ids == set(body.ids) | set(other.ids)
