"""The Python SDK with restricted jobs: join presents the enrolment token and keeps the access
token the job returns, which later pushes and pulls carry; a client without it is refused with
UNAUTHENTICATED, one not on the access list with PERMISSION_DENIED."""

import grpc
import numpy as np
import pytest

import tributary
from serving import create_job, serve
from tributary.v1 import job_pb2

ENROLMENT = "py-enrolment-4c1d9e"


def test_restricted_job_over_the_python_sdk():
    with serve() as target:
        access = job_pb2.JobAccess(allowed_clients=["py0", "py1"], enrolment_token=ENROLMENT)
        job = create_job(target, 100, clients_per_round=2, access=access)
        clients = [tributary.Client(target, f"py{i}", enrolment_token=ENROLMENT)
                   for i in range(2)]
        for c in clients:
            reply = c.join(job)
            assert len(reply.access_token) == 64
            assert reply.job.spec.access.enrolment_token == ""
            assert reply.job.spec.access.enrolment_token_set

        with tributary.Client(target, "py0", max_attempts=1) as no_token:
            with pytest.raises(tributary.TributaryError) as refused:
                no_token.join(job)
            assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(tributary.TributaryError) as refused:
                no_token.push(np.ones(100, np.float32), num_examples=1, round=1, job=job)
            assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED
        with tributary.Client(target, "py9", enrolment_token=ENROLMENT, max_attempts=1) as other:
            with pytest.raises(tributary.TributaryError) as refused:
                other.join(job)
            assert refused.value.code == grpc.StatusCode.PERMISSION_DENIED

        clients[0].push(np.full(100, 1.0, np.float32), num_examples=1, round=1)
        clients[1].push(np.full(100, 3.0, np.float32), num_examples=1, round=1)
        assert np.allclose(clients[0].pull(1), 2.0)
        for c in clients:
            c.close()
