"""The benchmark's statistics (scripts/bench.py): the interval printed beside each ratio."""

from __future__ import annotations

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from bench import ratio_interval  # noqa: E402


def test_rounds_are_resampled_in_pairs() -> None:
    """A machine-wide slow round moves both sides: with ours always 0.3 of theirs in the
    same round, the interval is exactly 0.3 however much the rounds differ."""
    theirs = [200 + 150 * math.sin(i) for i in range(30)]
    ours = [0.3 * t for t in theirs]
    low, high = ratio_interval(ours, theirs)
    assert math.isclose(low, 0.3) and math.isclose(high, 0.3)


def test_the_interval_covers_the_ratio_and_narrows_with_more_rounds() -> None:
    def rounds(n: int):
        theirs = [200 + 60 * math.sin(1.7 * i) for i in range(n)]
        ours = [50 + 40 * math.cos(2.3 * i) for i in range(n)]
        return ours, theirs

    few = ratio_interval(*rounds(12))
    many = ratio_interval(*rounds(120))
    assert few[0] < 0.25 < few[1] and many[0] < 0.25 < many[1]
    assert many[1] - many[0] < few[1] - few[0]


def test_too_few_rounds_or_no_peer_latency_gives_no_interval() -> None:
    assert ratio_interval([1.0] * 5, [2.0] * 5) is None
    assert ratio_interval([1.0] * 20, [0.0] * 20) is None
