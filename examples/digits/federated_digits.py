"""Federated training of a small MLP on scikit-learn's digits, with Byzantine clients.

The pieces, each a plain function of numpy data, then the two process roles that use them:

* the data: ``load_split`` holds out a stratified test set and splits the rest over the clients
  by a Dirichlet(alpha) draw of each class's share per client (non-IID), all from one seed;
* the model: a 64-32-10 ReLU MLP with softmax cross-entropy whose parameters are one float32
  vector (layout in ``LAYOUT``), with a hand-written forward and backward pass;
* local training: ``local_delta`` runs E epochs of minibatch SGD from the pulled global model
  and returns the change (local model - pulled model), which is what clients push
  (``UPDATE_KIND_DELTA``: the server publishes previous + server_learning_rate * aggregate);
* the attacks (``byzantine_update``), with the names and definitions of robust/attacks.h;
* ``client_main``: one long-lived client process that runs the jobs it is handed on stdin;
* ``run_job``/``Matrix``: the driver side, which creates jobs through the operator API, sets
  the initial model and evaluates every published version on the test set.

Threat model: the attacker is omniscient, the standard assumption of the robust-aggregation
literature (Blanchard et al. 2017; Baruch et al. 2019). The Byzantine clients know the data
split, the training recipe and the global model they pulled, so they recompute the honest
clients' deltas of the round themselves (local training is deterministic per seed, round and
client) and craft their update from those. They do not see the server's rule, and all of them
push the same vector. Each reports ``num_examples`` equal to the honest clients' mean, so under
FedAvg the attackers weigh exactly f/n.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

NUM_CLIENTS = 20
BYZANTINE = (17, 18, 19)  # indices of the Byzantine clients (client ids "c17", "c18", "c19")
RULES = ("fedavg", "flag", "median", "krum", "bulyan", "trimmed-mean")
ATTACKS = ("none", "signflip", "gaussian", "alie", "ipm")
# Rule parameters the server gets: the declared number of Byzantine clients, where the rule
# takes it (Bulyan needs n >= 4f+3 = 15, Krum n >= 2f+3; flag, median, fedavg take no f).
RULE_PARAMS = {"krum": {"f": 3}, "bulyan": {"f": 3}, "trimmed-mean": {"f": 3}}

# ---------------------------------------------------------------------------------------------
# Data


@dataclasses.dataclass
class Split:
    """The test set and one (x, y) shard per client; x is float32 in [0, 1], y int64."""
    x_test: np.ndarray
    y_test: np.ndarray
    clients: List[Tuple[np.ndarray, np.ndarray]]


def load_split(seed: int = 0, *, num_clients: int = NUM_CLIENTS, alpha: float = 0.5,
               test_fraction: float = 0.2, min_samples: int = 10) -> Split:
    """Digits (1,797 8x8 images, pixel values 0..16 scaled to [0, 1]), a stratified test set of
    ``test_fraction``, and the rest split over ``num_clients`` by label: for each class, the
    shares per client are one Dirichlet(alpha) draw. Draws repeat (same generator) until every
    client holds at least ``min_samples`` examples. Deterministic in ``seed``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, stratify=y, random_state=seed)
    rng = np.random.default_rng(seed)
    classes = np.unique(y_train)
    while True:
        parts: List[List[int]] = [[] for _ in range(num_clients)]
        for k in classes:
            idx = rng.permutation(np.flatnonzero(y_train == k))
            shares = rng.dirichlet(np.full(num_clients, alpha))
            cuts = (np.cumsum(shares)[:-1] * len(idx)).astype(int)
            for part, piece in zip(parts, np.split(idx, cuts)):
                part.extend(piece.tolist())
        if min(len(p) for p in parts) >= min_samples:
            break
    clients = []
    for part in parts:
        part = np.sort(np.asarray(part, dtype=np.int64))
        clients.append((x_train[part], y_train[part]))
    return Split(x_test, y_test, clients)


def save_split(split: Split, path: Path) -> None:
    """Writes ``split`` as one .npz, which client processes read without importing sklearn."""
    arrays = {"x_test": split.x_test, "y_test": split.y_test}
    for i, (x, y) in enumerate(split.clients):
        arrays[f"x{i}"], arrays[f"y{i}"] = x, y
    np.savez(path, **arrays)


def read_split(path: Path) -> Split:
    with np.load(path) as f:
        n = sum(1 for k in f.files if k.startswith("y") and k != "y_test")
        return Split(f["x_test"], f["y_test"], [(f[f"x{i}"], f[f"y{i}"]) for i in range(n)])


# ---------------------------------------------------------------------------------------------
# Model: a 64-32-10 MLP in one float32 vector

IN, HIDDEN, OUT = 64, 32, 10
# The flat layout, in order: W1 (64x32, row-major: h = x @ W1 + b1), b1 (32), W2 (32x10,
# row-major: logits = relu(h) @ W2 + b2), b2 (10). 2,410 float32 values in all.
LAYOUT = (("W1", (IN, HIDDEN)), ("b1", (HIDDEN,)), ("W2", (HIDDEN, OUT)), ("b2", (OUT,)))
NUM_PARAMS = sum(math.prod(shape) for _, shape in LAYOUT)


def unflatten(theta: np.ndarray) -> Tuple[np.ndarray, ...]:
    """Views (W1, b1, W2, b2) into ``theta``: writing them writes ``theta``."""
    views, off = [], 0
    for _, shape in LAYOUT:
        size = math.prod(shape)
        views.append(theta[off:off + size].reshape(shape))
        off += size
    return tuple(views)


def init_model(seed: int = 0) -> np.ndarray:
    """He-normal weights, zero biases, from ``seed``."""
    rng = np.random.default_rng([seed, 0x1417])
    theta = np.zeros(NUM_PARAMS, dtype=np.float32)
    w1, _, w2, _ = unflatten(theta)
    w1[...] = rng.normal(0.0, math.sqrt(2.0 / IN), w1.shape)
    w2[...] = rng.normal(0.0, math.sqrt(2.0 / HIDDEN), w2.shape)
    return theta


def logits(theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    w1, b1, w2, b2 = unflatten(theta)
    return np.maximum(x @ w1 + b1, 0.0) @ w2 + b2


def accuracy(theta: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """Test accuracy; a model holding Inf/NaN scores as it predicts (NaN logits: class 0)."""
    with np.errstate(all="ignore"):
        pred = np.nan_to_num(logits(theta, x), nan=-np.inf).argmax(axis=1)
    return float(np.mean(pred == y))


def loss_and_grad(theta: np.ndarray, x: np.ndarray, y: np.ndarray,
                  grad: np.ndarray) -> float:
    """Mean softmax cross-entropy over the batch; writes its gradient (same layout) to ``grad``."""
    p = _backward(unflatten(theta), unflatten(grad), x, y)
    return -float(np.mean(np.log(p[np.arange(len(y)), y] + 1e-12)))


def _backward(params, grads, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Forward and backward over one batch: writes the gradient of the mean cross-entropy into
    the views ``grads``; returns the softmax probabilities."""
    w1, b1, w2, b2 = params
    gw1, gb1, gw2, gb2 = grads
    pre = x @ w1
    pre += b1
    h = np.maximum(pre, 0.0)
    z = h @ w2
    z += b2
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    dz = p.copy()
    dz[np.arange(len(y)), y] -= 1.0
    dz /= len(y)
    np.matmul(h.T, dz, out=gw2)
    np.sum(dz, axis=0, out=gb2)
    dpre = dz @ w2.T
    dpre *= pre > 0
    np.matmul(x.T, dpre, out=gw1)
    np.sum(dpre, axis=0, out=gb1)
    return p


# ---------------------------------------------------------------------------------------------
# Local training


@dataclasses.dataclass
class TrainConfig:
    """The training recipe every client follows, and the server's step."""
    seed: int = 0               # data split, initial model and minibatch order
    local_epochs: int = 5       # E: passes over the client's shard per round
    batch_size: int = 16
    lr: float = 0.2             # client SGD step
    server_lr: float = 1.0      # previous + server_lr * aggregate of the deltas
    signflip_k: float = 10.0    # signflip: push -k * mean honest delta
    gaussian_sigma: float = 20.0 # gaussian: N(0, sigma^2) per coordinate
    ipm_epsilon: float = 0.5    # ipm: push -epsilon * mean honest delta


def local_delta(model: np.ndarray, x: np.ndarray, y: np.ndarray, cfg: TrainConfig,
                round_: int, client: int) -> np.ndarray:
    """E epochs of minibatch SGD from ``model`` on (x, y); returns local - model (float32).
    The minibatch order depends only on (seed, round, client), so anyone holding the shard and
    the model recomputes the same delta."""
    rng = np.random.default_rng([cfg.seed, round_, client])
    theta = model.astype(np.float32, copy=True)
    grad = np.empty_like(theta)
    params, grads = unflatten(theta), unflatten(grad)
    lr = np.float32(cfg.lr)
    for _ in range(cfg.local_epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y), cfg.batch_size):
            batch = order[start:start + cfg.batch_size]
            _backward(params, grads, x[batch], y[batch])
            grad *= lr
            theta -= grad
    return theta - model


def honest_deltas(split: Split, model: np.ndarray, cfg: TrainConfig, round_: int,
                  byzantine: Sequence[int] = BYZANTINE) -> Tuple[np.ndarray, np.ndarray]:
    """The round's deltas of every honest client, stacked (honest x params), and their
    example counts: what the omniscient attacker computes."""
    ids = [c for c in range(len(split.clients)) if c not in byzantine]
    deltas = np.stack([local_delta(model, *split.clients[c], cfg, round_, c) for c in ids])
    counts = np.array([len(split.clients[c][1]) for c in ids])
    return deltas, counts


# ---------------------------------------------------------------------------------------------
# Attacks (robust/attacks.h)


def alie_z(n: int, f: int) -> float:
    """Baruch et al.'s z for n clients of which f are Byzantine: s = floor(n/2 + 1) - f,
    z = Phi^-1((n - s) / n). n = 20, f = 3: s = 8, z = Phi^-1(0.6) = 0.2533."""
    s = math.floor(n / 2 + 1) - f
    return statistics.NormalDist().inv_cdf((n - s) / n)


def byzantine_update(attack: str, honest: Optional[np.ndarray], cfg: TrainConfig, *,
                     n: int = NUM_CLIENTS, f: int = len(BYZANTINE),
                     round_: int = 0) -> np.ndarray:
    """The vector every Byzantine client pushes for the round. ``honest`` (honest x params) is
    needed by all attacks but gaussian; mu and sigma are its coordinate-wise mean and sample
    standard deviation (ddof = 1).

    signflip: -k * mu (k = cfg.signflip_k; ByzFL's SignFlipping is k = 1)
    gaussian: N(0, sigma^2) per coordinate (sigma = cfg.gaussian_sigma), seeded by the round
    alie:     mu + z * sigma, z = alie_z(n, f) ("a little is enough")
    ipm:      -epsilon * mu (epsilon = cfg.ipm_epsilon; inner-product manipulation)
    """
    if attack == "gaussian":
        rng = np.random.default_rng([cfg.seed, round_, 0xB12])
        return rng.normal(0.0, cfg.gaussian_sigma, NUM_PARAMS).astype(np.float32)
    assert honest is not None, attack
    mu = honest.mean(axis=0, dtype=np.float64)
    if attack == "signflip":
        out = -cfg.signflip_k * mu
    elif attack == "ipm":
        out = -cfg.ipm_epsilon * mu
    elif attack == "alie":
        out = mu + alie_z(n, f) * honest.std(axis=0, ddof=1, dtype=np.float64)
    else:
        raise ValueError(f"unknown attack {attack!r} (known: {', '.join(ATTACKS)})")
    return out.astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Client process


def client_id(index: int) -> str:
    return f"c{index:02d}"


def client_main(argv: Sequence[str]) -> int:
    """One client for the whole matrix: reads one job per stdin line (JSON: job, attack,
    rounds, config), runs its rounds, and exits when stdin closes. Rounds: pull version r-1
    (blocks until published), compute the update, push it to round r. The split (written by
    the driver with save_split, from the same seed as the jobs' config) is read once."""
    p = argparse.ArgumentParser(prog="federated_digits.py client")
    p.add_argument("--target", required=True)
    p.add_argument("--index", type=int, required=True)
    p.add_argument("--split", required=True, help=".npz written by save_split")
    args = p.parse_args(argv)
    import tributary

    split = read_split(Path(args.split))
    x, y = split.clients[args.index]
    # Byzantine clients claim the honest clients' mean example count.
    byzantine_weight = round(float(np.mean(
        [len(c[1]) for i, c in enumerate(split.clients) if i not in BYZANTINE])))
    with tributary.Client(args.target, client_id(args.index)) as client:
        for line in sys.stdin:
            job = json.loads(line)
            cfg = TrainConfig(**job["config"])
            attacking = args.index in BYZANTINE and job["attack"] != "none"
            client.join(job["job"])
            for r in range(1, job["rounds"] + 1):
                model = client.pull(r - 1)
                if not attacking:
                    update, weight = local_delta(model, x, y, cfg, r, args.index), len(y)
                else:
                    honest = None
                    if job["attack"] != "gaussian":
                        honest, _ = honest_deltas(split, model, cfg, r)
                    update = byzantine_update(job["attack"], honest, cfg, round_=r)
                    weight = byzantine_weight
                client.push(update, num_examples=weight, round=r)
    return 0


# ---------------------------------------------------------------------------------------------
# Driver: server, client processes, jobs


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


class Server:
    """``tributary serve --listen 127.0.0.1:0`` in a temporary data dir; stopped by SIGTERM."""

    def __init__(self, binary: str):
        self._dir = tempfile.TemporaryDirectory(prefix="digits-serve-")
        self._log = open(Path(self._dir.name) / "serve.log", "wb")
        try:
            self.proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0",
                                          "--data-dir", self._dir.name],
                                         stdout=self._log, stderr=subprocess.STDOUT)
        except OSError as e:
            self._log.close()
            self._dir.cleanup()
            raise RuntimeError(f"cannot run {binary} (--binary, $TRIBUTARY_BINARY): {e}"
                               ) from None
        port_file = Path(self._dir.name) / "port"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log_tail()
                self.stop()
                raise RuntimeError(f"tributary serve did not start:\n{tail}")
            time.sleep(0.02)
        self.target = f"127.0.0.1:{port_file.read_text().strip()}"

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        text = (Path(self._dir.name) / "serve.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        self._dir.cleanup()


class Clients:
    """NUM_CLIENTS long-lived client processes (one BLAS thread each); a job is handed to all
    of them as one JSON line on their stdin."""

    def __init__(self, target: str, split_path: Path):
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
                   MKL_NUM_THREADS="1")
        self.procs = [subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "client",
                                        "--target", target, "--index", str(i),
                                        "--split", str(split_path)],
                                       stdin=subprocess.PIPE, env=env, text=True)
                      for i in range(NUM_CLIENTS)]

    def start_job(self, message: dict) -> None:
        line = json.dumps(message) + "\n"
        for p in self.procs:
            p.stdin.write(line)
            p.stdin.flush()

    def check(self) -> None:
        for i, p in enumerate(self.procs):
            if p.poll() is not None:
                raise RuntimeError(f"client {client_id(i)} exited with status {p.returncode}")

    def stop(self, timeout: float = 10.0) -> None:
        """Closes their stdin (the end of the job list) and waits up to ``timeout`` seconds in
        all; kills those still running then (timeout 0: at once)."""
        for p in self.procs:
            try:
                p.stdin.close()
            except BrokenPipeError:
                pass
        deadline = time.monotonic() + timeout
        for p in self.procs:
            try:
                p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@dataclasses.dataclass
class JobResult:
    rule: str
    attack: str
    accuracy: List[float]  # test accuracy of versions 0..R
    seconds: float


class Matrix:
    """A server, the client processes and an operator channel, for running jobs one by one.

    Parameters
    ----------
    binary : str
        Path of the ``tributary`` binary.
    cfg : TrainConfig
        The training recipe and attack strengths.
    """

    def __init__(self, binary: str, cfg: TrainConfig):
        import grpc
        import tributary
        from tributary.v1 import operator_pb2_grpc

        self.cfg = cfg
        self.split = load_split(cfg.seed)
        self._work = tempfile.TemporaryDirectory(prefix="digits-")
        self.server = Server(binary)
        try:
            split_path = Path(self._work.name) / "split.npz"
            save_split(self.split, split_path)
            self.clients = Clients(self.server.target, split_path)
            self._channel = grpc.insecure_channel(self.server.target)
            self._operator = operator_pb2_grpc.OperatorServiceStub(self._channel)
            # Short deadlines: a pull that times out is retried after checking that the job
            # and the clients are alive, so a dead client fails the run instead of hanging it.
            self._reader = tributary.Client(self.server.target, "driver", timeout=2.0,
                                            max_attempts=3)
        except BaseException:
            self.server.stop()
            self._work.cleanup()
            raise

    def close(self, failed: bool = False) -> None:
        """Ends the clients (killed at once when ``failed``: they may be blocked in a pull),
        then the server."""
        self.clients.stop(timeout=0.0 if failed else 10.0)
        self._reader.close()
        self._channel.close()
        self.server.stop()
        self._work.cleanup()

    def __enter__(self) -> "Matrix":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close(failed=exc_type is not None)

    def run_job(self, rule: str, attack: str, rounds: int) -> JobResult:
        """Creates the job, sets the seeded initial model, hands the job to the clients and
        evaluates versions 0..rounds as they are published."""
        import grpc
        from tributary.v1 import job_pb2

        start = time.monotonic()
        spec = job_pb2.JobSpec(
            name=f"digits-{rule}-{attack}", params=NUM_PARAMS, rounds=rounds,
            clients_per_round=NUM_CLIENTS, rule=rule, rule_params=RULE_PARAMS.get(rule, {}),
            update_kind=job_pb2.UPDATE_KIND_DELTA, server_learning_rate=self.cfg.server_lr)
        try:
            job = self._operator.CreateJob(spec).job_id
        except grpc.RpcError as e:
            raise RuntimeError(f"CreateJob (rule {rule}) failed: {e.code().name}: "
                               f"{e.details()}") from None
        self._reader.set_initial_model(init_model(self.cfg.seed), job=job)
        self.clients.start_job({"job": job, "attack": attack, "rounds": rounds,
                                "config": dataclasses.asdict(self.cfg)})
        acc = [accuracy(self._pull(job, v), self.split.x_test, self.split.y_test)
               for v in range(rounds + 1)]
        return JobResult(rule, attack, acc, time.monotonic() - start)

    def _pull(self, job: int, version: int) -> np.ndarray:
        import grpc
        import tributary
        from tributary.v1 import job_pb2, operator_pb2

        while True:
            try:
                return self._reader.pull(version, job=job)
            except tributary.TributaryError as e:
                if e.code != grpc.StatusCode.DEADLINE_EXCEEDED:
                    raise
            info = self._operator.GetJob(operator_pb2.JobRef(job_id=job))
            if info.state in (job_pb2.JOB_STATE_FAILED, job_pb2.JOB_STATE_CANCELLED):
                raise RuntimeError(f"job {job} ({info.spec.rule}) "
                                   f"{job_pb2.JobState.Name(info.state)} waiting for version "
                                   f"{version}: {info.message}")
            self.clients.check()
            if self.server.proc.poll() is not None:
                raise RuntimeError(f"tributary serve exited:\n{self.server.log_tail()}")


def run_matrix(rules: Sequence[str], attacks: Sequence[str], rounds: int, cfg: TrainConfig,
               binary: str, progress: Callable[[JobResult], None] = lambda r: None
               ) -> List[JobResult]:
    """Every (rule, attack) job in turn through one server and one set of client processes."""
    results = []
    with Matrix(binary, cfg) as m:
        for attack in attacks:
            for rule in rules:
                results.append(m.run_job(rule, attack, rounds))
                progress(results[-1])
    return results


def default_binary() -> str:
    return os.environ.get("TRIBUTARY_BINARY", str(repo_root() / "build" / "cli" / "tributary"))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "client":
        try:
            sys.exit(client_main(sys.argv[2:]))
        except KeyboardInterrupt:  # Ctrl-C reaches the driver's whole process group
            sys.exit(130)
    sys.exit("usage: federated_digits.py client --target HOST:PORT --index I "
             "(the driver is run_matrix.py)")
