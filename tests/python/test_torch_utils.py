"""state_dict <-> flat float32 vector, alone and through a real round."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="python3-torch is not installed")

import tributary  # noqa: E402
from tributary.torch_utils import flatten_state_dict, unflatten_state_dict  # noqa: E402
from serving import create_job  # noqa: E402


def small_model():
    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4),
                                torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 10))
    model.train()
    model(torch.randn(8, 1, 8, 8))  # moves the BatchNorm statistics and its int64 counter
    return model


def test_round_trip_keeps_names_shapes_dtypes_and_values():
    state = small_model().state_dict()
    vector, layout = flatten_state_dict(state)
    assert vector.dtype == np.float32
    assert vector.size == sum(t.numel() for t in state.values())
    back = unflatten_state_dict(vector, layout)
    assert list(back) == list(state)
    for name, t in state.items():
        assert back[name].dtype == t.dtype and back[name].shape == t.shape, name
        assert torch.equal(back[name], t), name
    assert state["1.num_batches_tracked"].dtype == torch.int64
    with pytest.raises(ValueError):
        unflatten_state_dict(vector[:-1], layout)


def test_a_model_travels_through_a_round(server):
    model = small_model()
    vector, layout = flatten_state_dict(model.state_dict())
    job = create_job(server, vector.size, clients_per_round=1)
    with tributary.Client(server, "torch") as client:
        client.join(job)
        client.push(vector, num_examples=32, round=1)
        restored = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4),
                                       torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 10))
        restored.load_state_dict(unflatten_state_dict(client.pull(1), layout))
    for (name, a), b in zip(model.state_dict().items(), restored.state_dict().values()):
        assert torch.allclose(a.float(), b.float()), name
