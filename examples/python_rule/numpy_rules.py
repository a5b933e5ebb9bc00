"""Aggregation rules written in numpy, run by Tributary's aggregator processes.

Serve:  tributary serve --python-path examples/python_rule
Use:    tributary job create ... --rule python:numpy_rules.weighted_median

Each function gets ``updates``, an n×d float32 array that is a read-only view of the clients'
updates in shared memory (nothing is copied), and ``weights``, the n clients' numbers of
examples; it returns the d-vector the round publishes.
"""

import numpy as np


def weighted_median(updates: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per coordinate, the smallest value whose cumulative weight reaches half the total."""
    order = np.argsort(updates, axis=0)
    cumulative = np.cumsum(weights[order], axis=0)
    index = np.argmax(cumulative >= 0.5 * weights.sum(), axis=0)
    rows = np.take_along_axis(order, index[None, :], axis=0)
    return np.take_along_axis(updates, rows, axis=0)[0]


def mean_of_closest(updates: np.ndarray, weights: np.ndarray, keep: float = 0.7) -> np.ndarray:
    """The weighted mean of the updates closest to the coordinate-wise median (by L2)."""
    distances = np.linalg.norm(updates - np.median(updates, axis=0), axis=1)
    chosen = np.argsort(distances)[: max(1, int(round(keep * len(updates))))]
    return np.average(updates[chosen], axis=0, weights=weights[chosen])
