"""What resuming a job costs a restarted node.

    build/tests/python/venv/bin/python bench/platform/resume_bench.py [TRIBUTARY_BINARY]

A `tributary serve` with a 44.8 MB job (versions 0 and 1 retained, 5 of round 2's 10 updates
acknowledged) is SIGKILLed and started again on the same data directory; the time until it
serves again (its port file written, the job resumed with its 5 updates) is set against a fresh
start on an empty data directory, in the same run, 3 times. Needs the Python SDK (the venv
`ctest -R python_sdk_install` makes).
"""
import os
import shutil
import signal
import subprocess
import sys
import time

import grpc
import numpy as np

import tributary
from tributary.v1 import job_pb2, operator_pb2, operator_pb2_grpc

B = sys.argv[1] if len(sys.argv) > 1 else "build/cli/tributary"
P = 11_200_000  # float32 parameters: 44.8 MB

def start(d):
    """Starts serve on data dir `d`; returns it, its target and the seconds until it serves."""
    t0 = time.monotonic()
    p = subprocess.Popen([B, "serve", "--listen", "127.0.0.1:0", "--data-dir", d, "--insecure",
                          "--drain-timeout-s", "0"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    while not os.path.exists(d + "/port") or not open(d + "/port").read().strip():
        time.sleep(0.005)
    return p, "127.0.0.1:" + open(d + "/port").read().strip(), time.monotonic() - t0

fresh, resumed = [], []
for rep in range(3):
    d = f"/tmp/resume-bench-{rep}"
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    p, target, t = start(d)
    fresh.append(t)
    with grpc.insecure_channel(target) as ch:
        op = operator_pb2_grpc.OperatorServiceStub(ch)
        job = op.CreateJob(job_pb2.JobSpec(name="r", params=P, rounds=3, clients_per_round=10)).job_id
    cs = [tributary.Client(target, f"c{i}") for i in range(10)]
    u = np.ones(P, np.float32)
    for c in cs:
        c.join(job)
        c.push(u, 1, 1)
    cs[0].pull(1)
    while not os.path.exists(f"{d}/jobs/{job}/model-1.bin"):
        time.sleep(0.01)
    for c in cs[:5]:
        c.push(u, 1, 2)
    for c in cs:
        c.close()
    p.send_signal(signal.SIGKILL); p.wait()
    os.remove(d + "/port")
    p, target, t = start(d)
    with grpc.insecure_channel(target) as ch:
        info = operator_pb2_grpc.OperatorServiceStub(ch).GetJob(operator_pb2.JobRef(job_id=job))
    assert info.open_round == 2 and info.updates_in_round == 5, info
    resumed.append(t)
    p.send_signal(signal.SIGTERM); p.wait()
    shutil.rmtree(d, ignore_errors=True)
print("fresh start s:", ["%.3f" % x for x in fresh])
print("resume s:", ["%.3f" % x for x in resumed])
