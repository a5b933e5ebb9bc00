"""A real `tributary serve` for the Python tests: started on a free port with its own run
directory and node id, stopped with SIGTERM, and what it left (pools, BPF pins) removed. The
binary comes from TRIBUTARY_BINARY (set by ctest)."""

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import grpc

from tributary.v1 import job_pb2, operator_pb2, operator_pb2_grpc

BINARY = os.environ.get("TRIBUTARY_BINARY", "build/cli/tributary")


@contextlib.contextmanager
def serve(*extra_args: str, listen: str = "127.0.0.1:0"):
    """Yields the gateway's HOST:PORT."""
    node = f"py{os.getpid()}-{secrets.token_hex(4)}"
    with tempfile.TemporaryDirectory() as run_dir:
        # Tests stop serve whenever they are done: no drain of rounds left in progress.
        proc = subprocess.Popen([BINARY, "serve", "--listen", listen, "--data-dir", run_dir,
                                 "--node-id", node, "--drain-timeout-s", "0", *extra_args])
        port_file = Path(run_dir) / "port"
        try:
            for _ in range(400):
                if port_file.exists() and port_file.read_text().strip():
                    break
                if proc.poll() is not None:
                    raise RuntimeError(f"serve exited with status {proc.returncode}")
                time.sleep(0.025)
            yield f"127.0.0.1:{port_file.read_text().strip()}"
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            _remove_node_state(node)


def _remove_node_state(node: str) -> None:
    """The pools of unfinished rounds and the BPF pins a stopped serve left behind: with its
    run directory gone, nothing can resume them."""
    for pools in ("/dev/shm", "/run/tributary/shm"):
        for pool in Path(pools).glob(f"tributary-{node}-*"):
            pool.unlink(missing_ok=True)
    shutil.rmtree(f"/sys/fs/bpf/tributary/{node}", ignore_errors=True)


def _channel(target: str, credentials) -> grpc.Channel:
    if credentials is None:
        return grpc.insecure_channel(target)
    return grpc.secure_channel(target, credentials)


def create_job(target: str, params: int, clients_per_round: int, rounds: int = 1, *,
               credentials=None, **spec) -> int:
    """Creates a job (extra JobSpec fields by keyword) and returns its id; `credentials`:
    grpc.ChannelCredentials of a TLS gateway."""
    with _channel(target, credentials) as channel:
        stub = operator_pb2_grpc.OperatorServiceStub(channel)
        info = stub.CreateJob(job_pb2.JobSpec(name="py", params=params, rounds=rounds,
                                              clients_per_round=clients_per_round, **spec))
        return info.job_id


def await_end(target: str, job: int, timeout: float = 60.0) -> job_pb2.JobInfo:
    """The job's info once it has left RUNNING (or when `timeout` seconds have passed)."""
    with grpc.insecure_channel(target) as channel:
        stub = operator_pb2_grpc.OperatorServiceStub(channel)
        deadline = time.monotonic() + timeout
        while True:
            info = stub.GetJob(operator_pb2.JobRef(job_id=job))
            if info.state != job_pb2.JOB_STATE_RUNNING or time.monotonic() > deadline:
                return info
            time.sleep(0.05)
