"""PyTorch helpers: a model's ``state_dict`` as the one float32 vector Tributary aggregates, and
back.

    from tributary.torch_utils import flatten_state_dict, unflatten_state_dict

    vector, layout = flatten_state_dict(model.state_dict())
    client.push(vector, num_examples=len(dataset), round=r)
    model.load_state_dict(unflatten_state_dict(client.pull(r), layout))

Every tensor (parameters and buffers) is flattened in ``state_dict`` order and concatenated in
one copy. Non-float tensors (BatchNorm's ``num_batches_tracked``) travel as float32, exact up to
2**24, and are rounded back to their dtype. torch is imported lazily, so the rest of the SDK
does not need it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: Tuple[int, ...]
    dtype: str  # torch dtype name, e.g. "float32", "int64"


@dataclass(frozen=True)
class StateLayout:
    """Where each tensor of a state_dict lies in the flat vector."""

    tensors: Tuple[TensorSpec, ...]

    @property
    def sizes(self) -> List[int]:
        return [int(np.prod(t.shape, dtype=np.int64)) for t in self.tensors]

    @property
    def size(self) -> int:
        return sum(self.sizes)


def flatten_state_dict(state_dict) -> Tuple[np.ndarray, StateLayout]:
    """One float32 vector holding every tensor of ``state_dict``, and its layout."""
    import torch

    tensors = [t.detach() for t in state_dict.values()]
    layout = StateLayout(tuple(
        TensorSpec(name, tuple(t.shape), str(t.dtype).replace("torch.", ""))
        for name, t in zip(state_dict.keys(), tensors)))
    flat = torch.cat([t.reshape(-1).to(device="cpu", dtype=torch.float32) for t in tensors])
    return flat.numpy(), layout


def unflatten_state_dict(vector: np.ndarray, layout: StateLayout) -> Dict[str, "torch.Tensor"]:
    """The state_dict ``layout`` describes, with its values taken from ``vector``."""
    import torch

    vector = np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)
    if vector.size != layout.size:
        raise ValueError(f"vector has {vector.size} values; the layout needs {layout.size}")
    pieces = torch.split(torch.from_numpy(vector), layout.sizes)
    out = {}
    for spec, piece in zip(layout.tensors, pieces):
        dtype = getattr(torch, spec.dtype)
        if not dtype.is_floating_point:
            piece = torch.round(piece)
        out[spec.name] = piece.reshape(spec.shape).to(dtype)
    return out
