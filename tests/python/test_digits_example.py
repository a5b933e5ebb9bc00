"""The digits example (examples/digits) end to end through a real `tributary serve` and 20
client processes: a short run in which trimmed-mean survives sign flipping that sinks FedAvg,
and matches FedAvg without attack."""

import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("sklearn", reason="the digits example needs scikit-learn (load_digits)")

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "digits"))
import federated_digits as fd  # noqa: E402

ROUNDS = 8


def test_trimmed_mean_survives_sign_flipping_that_sinks_fedavg():
    start = time.monotonic()
    results = fd.run_matrix(["fedavg", "trimmed-mean"], ["none", "signflip"], ROUNDS,
                            fd.TrainConfig(), fd.default_binary())
    final = {(r.rule, r.attack): r.accuracy[-1] for r in results}
    print(f"final accuracy after {ROUNDS} rounds: {final} "
          f"({time.monotonic() - start:.1f}s)")
    assert all(len(r.accuracy) == ROUNDS + 1 for r in results)
    # Without attack both learn, and the robust rule costs little.
    assert final["fedavg", "none"] >= 0.8
    assert final["trimmed-mean", "none"] >= 0.8
    assert abs(final["fedavg", "none"] - final["trimmed-mean", "none"]) <= 0.08
    # Three of twenty clients pushing -10x the honest mean: FedAvg climbs the loss, the
    # trimmed mean (f = 3) drops them.
    assert final["fedavg", "signflip"] <= 0.3
    assert final["trimmed-mean", "signflip"] - final["fedavg", "signflip"] >= 0.4
