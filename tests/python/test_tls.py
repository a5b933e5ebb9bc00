"""The Python SDK over TLS and mutual TLS: certificates from `tributary certs`, a `tributary
serve` with --tls-cert/--tls-key (and --tls-client-ca), and the refusals a wrong CA, a missing
client certificate and a client id other than the certificate's CN meet."""

import subprocess

import grpc
import numpy as np
import pytest

import tributary
from serving import BINARY, create_job, serve


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """Two independent sets: `certs/` (the server's CA) and `other/` (a stranger's CA)."""
    root = tmp_path_factory.mktemp("tls")
    for name in ("certs", "other"):
        subprocess.run([BINARY, "certs", "--out", str(root / name), "--client", "py0",
                        "--client", "py1"], check=True, capture_output=True)
    return root


def _tls_args(certs):
    return ("--tls-cert", str(certs / "certs/server.pem"),
            "--tls-key", str(certs / "certs/server-key.pem"))


def _credentials(certs, identity=None):
    read = lambda name: (certs / "certs" / name).read_bytes()  # noqa: E731
    if identity is None:
        return grpc.ssl_channel_credentials(read("ca.pem"))
    return grpc.ssl_channel_credentials(read("ca.pem"), read(f"{identity}-key.pem"),
                                        read(f"{identity}.pem"))


def test_round_over_tls(certs):
    ca = str(certs / "certs/ca.pem")
    with serve(*_tls_args(certs)) as target:
        job = create_job(target, 1000, clients_per_round=2, credentials=_credentials(certs))
        clients = [tributary.Client(target, f"py{i}", tls_ca=ca) for i in range(2)]
        for c in clients:
            c.join(job)
        clients[0].push(np.full(1000, 1.0, np.float32), num_examples=1, round=1)
        clients[1].push(np.full(1000, 3.0, np.float32), num_examples=1, round=1)
        model = clients[0].pull(1)
        assert np.allclose(model, 2.0)
        for c in clients:
            c.close()

        with tributary.Client(target, "py0", tls_ca=str(certs / "other/ca.pem"),
                              max_attempts=1) as stranger:
            with pytest.raises(tributary.TributaryError) as refused:
                stranger.join(job)
            assert refused.value.code == grpc.StatusCode.UNAVAILABLE
        with tributary.Client(target, "py0", max_attempts=1) as plain:
            with pytest.raises(tributary.TributaryError) as refused:
                plain.join(job)
            assert refused.value.code == grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_binds_client_id_to_certificate(certs):
    ca = str(certs / "certs/ca.pem")
    cert = lambda name: str(certs / "certs" / name)  # noqa: E731
    with serve(*_tls_args(certs), "--tls-client-ca", ca) as target:
        job = create_job(target, 100, clients_per_round=1,
                         credentials=_credentials(certs, "operator"))
        with pytest.raises(grpc.RpcError) as not_operator:
            create_job(target, 100, clients_per_round=1, credentials=_credentials(certs, "py0"))
        assert not_operator.value.code() == grpc.StatusCode.PERMISSION_DENIED

        with tributary.Client(target, "py0", tls_ca=ca, max_attempts=1) as anonymous:
            with pytest.raises(tributary.TributaryError) as refused:
                anonymous.join(job)
            assert refused.value.code == grpc.StatusCode.UNAVAILABLE
        with tributary.Client(target, "py1", tls_ca=ca, tls_cert=cert("py0.pem"),
                              tls_key=cert("py0-key.pem"), max_attempts=1) as impostor:
            with pytest.raises(tributary.TributaryError) as denied:
                impostor.join(job)
            assert denied.value.code == grpc.StatusCode.PERMISSION_DENIED
            assert "'py0'" in denied.value.details and "'py1'" in denied.value.details
        with tributary.Client(target, "py0", tls_ca=ca, tls_cert=cert("py0.pem"),
                              tls_key=cert("py0-key.pem")) as own:
            own.join(job)
            update = np.arange(100, dtype=np.float32)
            own.push(update, num_examples=1, round=1)
            assert np.array_equal(own.pull(1), update)


def test_tls_cert_without_key_is_refused():
    with pytest.raises(ValueError):
        tributary.Client("127.0.0.1:1", "py0", tls_cert="x.pem")
