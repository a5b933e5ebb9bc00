"""The Flower-style serverful baseline (bench/baseline/flower_style_server.py): its
aggregate_inplace against the weighted mean computed directly, and a round over gRPC against
the server run as the benchmarks run it."""

import io
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import numpy as np
import pytest

BASELINE = Path(__file__).resolve().parents[2] / "bench" / "baseline"
sys.path.insert(0, str(BASELINE))
import flower_style_server as fss  # noqa: E402

pb2 = fss.proto_module()
METHOD = "/tributary.bench.baseline.FlowerStyleServer/"


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def fit_res(client: str, round_: int, arrays: list, num_examples: int):
    return pb2.FitRes(client_id=client, round=round_, num_examples=num_examples,
                      parameters=pb2.Parameters(tensors=[npy(a) for a in arrays],
                                                tensor_type="numpy.ndarray"))


def weighted_mean(arrays: list, weights: list) -> np.ndarray:
    return sum(w * a.astype(np.float64) for a, w in zip(arrays, weights)) / sum(weights)


def test_aggregate_inplace_is_the_weighted_mean():
    rng = np.random.default_rng(1)
    shapes = [(3, 4), (7,), (2, 2, 5)]
    weights = [5, 1, 12, 3]
    models = [[rng.random(s, dtype=np.float32) for s in shapes] for _ in weights]
    results = [fit_res(f"c{i}", 1, m, w) for i, (m, w) in enumerate(zip(models, weights))]
    aggregated = fss.aggregate_inplace(results)
    assert len(aggregated) == len(shapes)
    for i, tensor in enumerate(aggregated):
        assert tensor.dtype == np.float32
        assert np.allclose(tensor, weighted_mean([m[i] for m in models], weights), rtol=1e-6)


@pytest.fixture()
def baseline(tmp_path):
    """The server as a subprocess on a free port; yields (process, HOST:PORT)."""
    port_file = tmp_path / "port"
    proc = subprocess.Popen([sys.executable, str(BASELINE / "flower_style_server.py"),
                             "--port", "0", "--port-file", str(port_file),
                             "--clients-per-round", "3"])
    try:
        deadline = time.monotonic() + 10
        while not port_file.exists():
            assert proc.poll() is None, f"the server exited with status {proc.returncode}"
            assert time.monotonic() < deadline, "the server wrote no port file"
            time.sleep(0.02)
        yield proc, f"127.0.0.1:{port_file.read_text().strip()}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_round_over_grpc(baseline):
    proc, target = baseline
    rng = np.random.default_rng(2)
    updates = [rng.random(100_001, dtype=np.float32) for _ in range(3)]
    weights = [10, 30, 60]
    with grpc.insecure_channel(target) as channel:
        fit = channel.unary_unary(METHOD + "Fit", request_serializer=pb2.FitRes.SerializeToString,
                                  response_deserializer=pb2.FitAck.FromString)
        get_parameters = channel.unary_unary(
            METHOD + "GetParameters", request_serializer=pb2.GetParametersIns.SerializeToString,
            response_deserializer=pb2.GetParametersRes.FromString)

        ack = fit(fit_res("c0", 1, [updates[0]], weights[0]), timeout=5)
        assert (ack.round, ack.results_in_round) == (1, 1)
        with pytest.raises(grpc.RpcError) as again:
            fit(fit_res("c0", 1, [updates[0]], weights[0]), timeout=5)
        assert again.value.code() == grpc.StatusCode.ALREADY_EXISTS
        with pytest.raises(grpc.RpcError) as early:
            fit(fit_res("c1", 2, [updates[1]], weights[1]), timeout=5)
        assert early.value.code() == grpc.StatusCode.INVALID_ARGUMENT

        pending = get_parameters.future(pb2.GetParametersIns(round=1), timeout=5)
        for client in (1, 2):
            ack = fit(fit_res(f"c{client}", 1, [updates[client]], weights[client]), timeout=5)
            assert (ack.round, ack.results_in_round) == (1, client + 1)
        reply = pending.result()

    assert reply.parameters.tensor_type == "numpy.ndarray"
    assert len(reply.parameters.tensors) == 1
    model = np.load(io.BytesIO(reply.parameters.tensors[0]), allow_pickle=False)
    assert model.dtype == np.float32 and model.shape == (100_001,)
    assert np.allclose(model, weighted_mean(updates, weights), rtol=1e-6)
    assert reply.aggregate_seconds > 0

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
