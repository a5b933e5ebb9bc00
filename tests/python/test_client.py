"""The Python SDK against a real `tributary serve`: a round of numpy updates, the model pulled
back, and the server's refusals raised as TributaryError with their gRPC codes."""

import socket
import struct
import threading
import urllib.request

import grpc
import numpy as np
import pytest

import tributary
from serving import create_job, serve
from tributary.v1 import job_pb2


def test_round_of_numpy_updates_is_averaged(server):
    params = 300_001  # odd, and more than one chunk at the chunk size used below
    job = create_job(server, params, clients_per_round=3)
    rng = np.random.default_rng(5)
    updates = [rng.standard_normal(params).astype(np.float32) for _ in range(3)]
    weights = [10, 30, 60]
    clients = [tributary.Client(server, f"py{i}", chunk_bytes=256 << 10) for i in range(3)]
    for c in clients:
        reply = c.join(job)
        assert reply.job.open_round == 1
    initial = clients[0].pull(0)
    assert initial.dtype == np.float32 and initial.shape == (params,)
    assert not initial.any()
    for c, u, w in zip(clients, updates, weights):
        c.push(u, num_examples=w, round=1)
    model = clients[1].pull(1)
    expected = sum(w * u.astype(np.float64) for w, u in zip(weights, updates)) / sum(weights)
    assert np.max(np.abs(model - expected)) <= 1e-5 * np.max(np.abs(expected))
    assert np.array_equal(clients[2].pull(), model)  # latest
    for c in clients:
        c.close()


@pytest.mark.parametrize("use_bulk_port", [True, False], ids=["bulk", "grpc"])
def test_refusals_raise_with_their_grpc_codes(server, use_bulk_port):
    job = create_job(server, 1000, clients_per_round=2)
    with tributary.Client(server, "refused", max_attempts=1, use_bulk_port=use_bulk_port) as c:
        with pytest.raises(ValueError):
            c.pull()  # no job joined yet
        c.join(job)
        with pytest.raises(tributary.TributaryError) as wrong_size:
            c.push(np.zeros(999, np.float32), num_examples=1, round=1)
        assert wrong_size.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert "expects 4000" in wrong_size.value.details
        bad = np.ones(1000, np.float32)
        bad[10] = np.nan
        with pytest.raises(tributary.TributaryError) as nan:
            c.push(bad, num_examples=1, round=1)
        assert nan.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert "value 10 is not finite" in nan.value.details
        with pytest.raises(tributary.TributaryError) as future:
            c.pull(1, wait=False)
        assert future.value.code == grpc.StatusCode.NOT_FOUND
        with pytest.raises(tributary.TributaryError) as unknown:
            c.pull(job=98765)
        assert unknown.value.code == grpc.StatusCode.NOT_FOUND
        c.push(np.ones(1000, np.float32), num_examples=1, round=1)
        with pytest.raises(tributary.TributaryError) as twice:
            c.push(np.ones(1000, np.float32), num_examples=1, round=1)
        assert twice.value.code == grpc.StatusCode.ALREADY_EXISTS


def test_pushes_and_pulls_go_over_the_bulk_port_beside_grpc_ones():
    with socket.socket() as probe:  # a free port for /metrics
        probe.bind(("127.0.0.1", 0))
        metrics_port = probe.getsockname()[1]
    with serve("--metrics-listen", f"127.0.0.1:{metrics_port}") as target:
        job = create_job(target, 100_001, clients_per_round=2)
        rng = np.random.default_rng(9)
        ua, ub = (rng.standard_normal(100_001).astype(np.float32) for _ in range(2))
        with tributary.Client(target, "a") as a, \
                tributary.Client(target, "b", use_bulk_port=False) as b:
            assert a.join(job).bulk_port > 0
            b.join(job)
            a.push(ua, num_examples=10, round=1)
            b.push(ub, num_examples=30, round=1)
            model = a.pull(1)
            assert np.array_equal(b.pull(1), model)
            assert np.array_equal(a.pull(), model)  # the latest, over the same connection
        expected = (10 * ua.astype(np.float64) + 30 * ub) / 40
        assert np.max(np.abs(model - expected)) <= 1e-5 * np.max(np.abs(expected))
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics") as r:
            metrics = r.read().decode()
        assert "\ntributary_bulk_pushes_total 1\n" in metrics
        assert "\ntributary_bulk_pulls_total 2\n" in metrics


def test_pulls_that_waited_take_the_checksum_after_the_model_over_both_transports():
    # A pull waiting when its model publishes gets the model before the node has hashed it,
    # and the checksum after the bytes (a ModelTrailer over gRPC, 8 bytes over the bulk port).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        metrics_port = probe.getsockname()[1]

    def streaming_pulls():
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics") as r:
            for line in r.read().decode().splitlines():
                if line.startswith("tributary_pulls_streaming "):
                    return float(line.split()[1])
        return -1

    with serve("--metrics-listen", f"127.0.0.1:{metrics_port}") as target:
        job = create_job(target, 200_003, clients_per_round=1)
        update = np.random.default_rng(4).standard_normal(200_003).astype(np.float32)
        pulled = {}
        with tributary.Client(target, "bulk") as over_bulk, \
                tributary.Client(target, "grpc", use_bulk_port=False) as over_grpc:
            over_bulk.join(job)
            over_grpc.join(job)
            waiting = [threading.Thread(target=lambda c=c: pulled.update({c.client_id: c.pull(1)}))
                       for c in (over_bulk, over_grpc)]
            for t in waiting:
                t.start()
            for _ in range(500):
                if streaming_pulls() == 2:
                    break
                threading.Event().wait(0.01)
            assert streaming_pulls() == 2
            over_bulk.push(update, num_examples=3, round=1)
            for t in waiting:
                t.join(30)
        assert np.array_equal(pulled["bulk"], update)
        assert np.array_equal(pulled["grpc"], update)


def _loopback_connection():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        connected = socket.create_connection(listener.getsockname())
        accepted, _ = listener.accept()
    return connected, accepted


def _unsent_limit(sock):
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT)


def test_crowded_bulk_pushes_hold_their_unsent_bytes_and_a_lone_push_does_not():
    from tributary import _bulk
    (a, a_peer), (b, b_peer) = _loopback_connection(), _loopback_connection()
    pushes = _bulk._StreamingPushes()
    with a, a_peer, b, b_peer:
        pushes.begin()
        limited_a = pushes.pace(a, None)
        assert _unsent_limit(a) == 0  # a lone push keeps the kernel's default
        pushes.begin()
        limited_b = pushes.pace(b, None)
        limited_a = pushes.pace(a, limited_a)
        assert _unsent_limit(a) == _unsent_limit(b) == _bulk._CROWDED_UNSENT_BYTES
        pushes.end()
        pushes.pace(a, limited_a)
        assert _unsent_limit(a) == 0  # alone again
        assert limited_b  # b was set while crowded
        pushes.begin()
        limited_a = pushes.pace(a, False)
        assert _unsent_limit(a) == _bulk._CROWDED_UNSENT_BYTES
        for _ in range(_bulk._MOST_PACED - 1):  # one more than the most paced
            pushes.begin()
        pushes.pace(a, limited_a)
        assert _unsent_limit(a) == 0


def test_delta_updates_step_from_the_initial_model(server):
    params = 5000
    job = create_job(server, params, clients_per_round=2, rounds=2,
                     update_kind=job_pb2.UPDATE_KIND_DELTA, server_learning_rate=0.5)
    rng = np.random.default_rng(9)
    initial = rng.standard_normal(params).astype(np.float32)
    with tributary.Client(server, "operator") as op:
        op.set_initial_model(initial, job=job)
        assert np.array_equal(op.pull(0, job=job), initial)
        op.set_initial_model(initial * 2, job=job)  # replaceable until round 1 starts
        initial *= 2
    clients = [tributary.Client(server, f"d{i}") for i in range(2)]
    for c in clients:
        c.join(job)
    deltas = [rng.standard_normal(params).astype(np.float32) for _ in range(2)]
    for c, d, w in zip(clients, deltas, (1, 3)):
        c.push(d, num_examples=w, round=1)
    expected = initial + 0.5 * (deltas[0] * 0.25 + deltas[1] * 0.75)
    assert np.allclose(clients[0].pull(1), expected, atol=1e-5)
    with pytest.raises(tributary.TributaryError) as late:
        clients[0].set_initial_model(initial)  # round 1 has updates: too late
    assert late.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "only before round 1" in late.value.details
    for c in clients:
        c.close()


@pytest.mark.parametrize("scheme", ["frc", "cyclic"])
def test_coded_job_publishes_the_exact_sum_without_its_stragglers(server, scheme):
    """A gradient-coded job of 6 workers tolerating 2 stragglers: join hands each worker its
    partitions and coefficients; the first 4 coded results decode to the exact sum of the 6
    partition gradients, which is published without the 2 others, whose late pushes are
    refused."""
    params, workers, stragglers = 2000, 6, 2
    job = create_job(server, params, clients_per_round=workers, rounds=1,
                     coding=job_pb2.CodingSpec(scheme=scheme, stragglers=stragglers))
    rng = np.random.default_rng(11)
    gradients = rng.standard_normal((workers, params))
    clients = [tributary.Client(server, f"{scheme}{i}") for i in range(workers)]
    results = []
    for i, c in enumerate(clients):
        task = c.join(job).task
        assert task.worker == i and task.workers == workers
        assert len(task.partitions) == stragglers + 1 == len(task.coefficients)
        results.append(sum(k * gradients[p] for p, k in zip(task.partitions, task.coefficients)))
    for c, result in zip(clients[:workers - stragglers], results):
        c.push(result.astype(np.float32), num_examples=1, round=1)
    model = clients[0].pull(1)
    expected = gradients.sum(axis=0)
    assert np.max(np.abs(model - expected)) <= 1e-4 * np.max(np.abs(expected))
    for c, result in zip(clients[workers - stragglers:], results[workers - stragglers:]):
        with pytest.raises(tributary.TributaryError) as late:
            c.push(result.astype(np.float32), num_examples=1, round=1)
        assert late.value.code == grpc.StatusCode.FAILED_PRECONDITION
    for c in clients:
        c.close()


@pytest.mark.parametrize("scheme", ["m-sgc", "sr-sgc"])
def test_sequentially_coded_job_publishes_exact_gradient_sums(server, scheme):
    """M-SGC and SR-SGC with B = 1, W = 2, lambda = 1 (delay T = 1 for both): each round every
    worker asks for its mini-tasks and pushes one result per task; version v is the sum of all
    the partition gradients of gradient v, published by the end of round v + T (SR-SGC, with
    no straggler, in round v itself)."""
    params, workers, versions = 1000, 4, 3
    # The grace period outlasts this single-threaded loop: every round waits for all workers.
    job = create_job(server, params, clients_per_round=workers, rounds=versions, deadline_s=60,
                     coding=job_pb2.CodingSpec(scheme=scheme, burst=1, window=2,
                                               window_stragglers=1))
    rng = np.random.default_rng(3)
    clients = [tributary.Client(server, f"sgc{i}") for i in range(workers)]
    for c in clients:
        c.join(job)
    first = clients[0].tasks(1)
    gradients = {}  # (version, partition) -> its gradient

    def gradient(version, partition):
        if (version, partition) not in gradients:
            gradients[version, partition] = rng.standard_normal(params)
        return gradients[version, partition]

    published = {}
    for round in range(1, first.rounds + 1):
        if len(published) == versions:
            break  # the job completed (SR-SGC needs no round beyond the last version's)
        for c in clients:
            reply = c.tasks(round)
            assert reply.round == round and reply.workers == workers
            for task in reply.tasks:
                result = sum(k * gradient(task.version, p)
                             for p, k in zip(task.partitions, task.coefficients))
                c.push(result.astype(np.float32), num_examples=1, round=round, task=task.slot)
        # Without stragglers SR-SGC decodes gradient v in round v; M-SGC's mini-tasks spread it
        # over rounds v and v + 1. The node keeps few versions: pull each as it appears.
        version = round - 1 if scheme == "m-sgc" else round
        if 1 <= version <= versions:
            published[version] = clients[0].pull(version)
    assert sorted(published) == list(range(1, versions + 1))
    for version, model in published.items():
        expected = sum(gradient(version, p) for p in range(first.partitions))
        assert np.max(np.abs(model - expected)) <= 1e-4 * np.max(np.abs(expected))
    with pytest.raises(tributary.TributaryError) as done:
        clients[0].tasks(first.rounds + 1)
    assert done.value.code == grpc.StatusCode.OUT_OF_RANGE
    for c in clients:
        c.close()


def test_channel_tries_to_connect_at_the_clients_own_backoff():
    # A listener that resets every connection at once: each connection attempt of the client's
    # channel fails, and is counted. Retrying every 0.1 s for about 3 s, the channel connects
    # about 30 times; with gRPC's own backoff (1 s, growing) and no call polling the channel
    # between attempts, it connected twice.
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.02)
    accepted = 0
    stop = threading.Event()

    def accept_and_reset():
        nonlocal accepted
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
            accepted += 1

    thread = threading.Thread(target=accept_and_reset)
    thread.start()
    client = tributary.Client(f"127.0.0.1:{listener.getsockname()[1]}", "reconnect",
                              max_attempts=40, initial_backoff=0.05, max_backoff=0.1)
    try:
        with pytest.raises(tributary.TributaryError) as refused:
            client.join(1)
    finally:
        client.close()
        stop.set()
        thread.join()
        listener.close()
    assert refused.value.code == grpc.StatusCode.UNAVAILABLE
    assert accepted >= 10
