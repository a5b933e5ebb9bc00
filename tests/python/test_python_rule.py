"""python:module.func rules end to end: `serve --python-path DIR`, a job naming a numpy
function, real clients pushing; the function sees a read-only n×d view of shared memory, and
its failures fail the job with the Python error's text."""

import textwrap
from pathlib import Path

import grpc
import numpy as np
import pytest

import tributary
from serving import await_end, create_job, serve
from tributary.v1 import job_pb2

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "python_rule"

RULES = textwrap.dedent("""
    import numpy as np

    def checked_mean(updates, weights):
        # What the rule is promised: a read-only float32 n x d view it does not own.
        if updates.flags.writeable or updates.flags.owndata or updates.dtype != np.float32:
            raise AssertionError(f"not a read-only view: {updates.flags}")
        if weights.dtype != np.float64 or weights.shape != (updates.shape[0],):
            raise AssertionError("weights malformed")
        try:
            updates[0, 0] = 1
        except ValueError:
            pass
        else:
            raise AssertionError("the view is writeable")
        return np.average(updates, axis=0, weights=weights)

    def raises(updates, weights):
        raise ValueError("no aggregate for you")

    def wrong_shape(updates, weights):
        return updates[:, :3].mean(axis=0)
""")


@pytest.fixture(scope="module")
def rules_server(tmp_path_factory):
    rules_dir = tmp_path_factory.mktemp("rules")
    (rules_dir / "test_rules.py").write_text(RULES)
    with serve("--python-path", str(rules_dir), "--python-path", str(EXAMPLES)) as target:
        try:
            create_job(target, 10, 1, rule="python:test_rules.checked_mean")
        except grpc.RpcError as e:
            if "no embedded Python" in e.details():
                pytest.skip(f"this build cannot run python rules: {e.details()}")
            raise
        yield target


def run_round(target, job, updates, weights):
    for i, (u, w) in enumerate(zip(updates, weights)):
        with tributary.Client(target, f"c{i}") as c:
            c.join(job)
            c.push(u, num_examples=w, round=1)


def test_the_example_weighted_median_aggregates_a_round(rules_server):
    params, n = 20_000, 5
    rng = np.random.default_rng(3)
    updates = [rng.standard_normal(params).astype(np.float32) for _ in range(n)]
    updates[4][:] = 1e6  # an attacker; the median ignores it
    weights = [1, 2, 3, 4, 1]
    job = create_job(rules_server, params, n, rule="python:numpy_rules.weighted_median")
    run_round(rules_server, job, updates, weights)
    with tributary.Client(rules_server, "reader") as c:
        model = c.pull(1, job=job)
    stacked = np.stack(updates)
    order = np.argsort(stacked, axis=0)
    cumulative = np.cumsum(np.array(weights, np.float64)[order], axis=0)
    rows = np.take_along_axis(order, np.argmax(cumulative >= 5.5, axis=0)[None, :], axis=0)
    assert np.array_equal(model, np.take_along_axis(stacked, rows, axis=0)[0])
    assert np.abs(model).max() < 10


def test_the_rule_sees_a_read_only_view_of_shared_memory(rules_server):
    params = 3 * 4096 + 5  # rows that do not fill their last page
    updates = [np.full(params, v, np.float32) for v in (1.0, 2.0, 4.0)]
    job = create_job(rules_server, params, 3, rule="python:test_rules.checked_mean")
    run_round(rules_server, job, updates, [1, 1, 2])
    assert await_end(rules_server, job).state == job_pb2.JOB_STATE_COMPLETED
    with tributary.Client(rules_server, "reader") as c:
        assert np.allclose(c.pull(1, job=job), 2.75)


@pytest.mark.parametrize("rule, text", [
    ("python:test_rules.raises", "ValueError: no aggregate for you"),
    ("python:test_rules.wrong_shape", "(3,)"),
    ("python:no_such_module.f", "no_such_module"),
    ("python:test_rules.absent", "absent"),
])
def test_a_failing_rule_fails_its_job_with_the_reason(rules_server, rule, text):
    job = create_job(rules_server, 100, 2, rule=rule)
    run_round(rules_server, job, [np.ones(100, np.float32)] * 2, [1, 1])
    info = await_end(rules_server, job)
    assert info.state == job_pb2.JOB_STATE_FAILED
    assert text in info.message, info.message


def test_a_malformed_target_is_refused_at_creation(rules_server):
    with pytest.raises(grpc.RpcError) as refused:
        create_job(rules_server, 10, 1, rule="python:nodot")
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
