"""Client: the Python face of Tributary's client API, with the names and semantics of the C++ SDK
(``clients/cpp/client.h``).

Updates and models travel as raw float32 chunks with an XXH3-64 checksum. A push sends the
array's own buffer chunk by chunk; a pull writes the chunks into one preallocated array. Calls
failing with UNAVAILABLE or RESOURCE_EXHAUSTED (server busy, pool full) are retried with
exponential backoff and jitter; every other error raises :class:`TributaryError` at once.
"""

from __future__ import annotations

import random
import time
from typing import Callable, Optional, TypeVar

import grpc
import numpy as np
import xxhash
from google.protobuf.message import DecodeError

from tributary import _bulk, _wire
from tributary.v1 import client_pb2, job_pb2

_PUSH = "/tributary.v1.ClientService/Push"
_TASKS = "/tributary.v1.ClientService/Tasks"
_PULL = "/tributary.v1.ClientService/Pull"
_JOIN = "/tributary.v1.ClientService/Join"
_RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)
T = TypeVar("T")


class TributaryError(Exception):
    """A call the server refused: ``code`` is the grpc.StatusCode, ``details`` its message."""

    def __init__(self, code: grpc.StatusCode, details: str):
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


class _Connection:
    """A channel to one gateway and the calls of the client service on it."""

    def __init__(self, target: str, credentials, options):
        self.target = target
        if credentials is None:
            self.channel = grpc.insecure_channel(target, options=options)
        else:
            self.channel = grpc.secure_channel(target, credentials, options=options)
        identity = lambda b: b  # noqa: E731 - raw bytes in and out
        self.join = self.channel.unary_unary(
            _JOIN, request_serializer=client_pb2.JoinRequest.SerializeToString,
            response_deserializer=client_pb2.JoinReply.FromString)
        self.push = self.channel.stream_unary(
            _PUSH, request_serializer=identity,
            response_deserializer=client_pb2.PushReply.FromString)
        self.tasks = self.channel.unary_unary(
            _TASKS, request_serializer=client_pb2.TasksRequest.SerializeToString,
            response_deserializer=client_pb2.TasksReply.FromString)
        self.pull = self.channel.unary_stream(
            _PULL, request_serializer=client_pb2.PullRequest.SerializeToString,
            response_deserializer=identity)

    def wait_out(self, seconds: float) -> None:
        """Waits ``seconds`` watching this channel's connectivity. A synchronous client polls
        its connections only inside calls, and a call on a channel that failed to connect
        fails at once without polling: a reconnection begun after a gateway restart would then
        wait for gRPC's backup poller (every 5 s) to complete. Watching polls it, and asks to
        connect."""
        deadline = time.monotonic() + seconds
        ready = grpc.channel_ready_future(self.channel)
        try:
            ready.result(timeout=seconds)
        except grpc.FutureTimeoutError:
            pass
        finally:
            ready.cancel()
        time.sleep(max(0.0, deadline - time.monotonic()))


def _read(path: Optional[str]) -> Optional[bytes]:
    if path is None:
        return None
    with open(path, "rb") as f:
        return f.read()


class Client:
    """A client of one gateway.

    Parameters
    ----------
    target : str
        ``HOST:PORT`` of a gateway.
    client_id : str
        This client's id within its jobs (1 to 128 printable characters).
    enrolment_token : str, optional
        Presented by :meth:`join` to restricted jobs that have an enrolment token. Default: None.
    access_token : str, optional
        Sent as ``authorization: Bearer`` metadata with the calls of jobs this client has not
        joined (after :meth:`join`, the access token the job returned is sent instead); for
        example the operator token, with which :meth:`set_initial_model` sets a restricted
        job's initial model. Default: None.
    max_attempts : int, optional
        Attempts per call, the first included. Default: 8.
    initial_backoff : float, optional
        Seconds before the first retry; doubles up to ``max_backoff``. Default: 0.05.
    max_backoff : float, optional
        Longest wait between retries, in seconds. Default: 2.0.
    chunk_bytes : int, optional
        Push chunk size, at most 4 MiB. Default: 1 MiB.
    timeout : float, optional
        Deadline of one attempt, in seconds. Default: 600.
    tls_ca : str, optional
        Path of the PEM CA that signed the gateway's certificate; connects over TLS. Default:
        None (plaintext, unless ``tls_cert`` is given: then the system's roots).
    tls_cert, tls_key : str, optional
        Paths of this client's PEM certificate and key, for gateways that require client
        certificates (mutual TLS); the certificate's CN must equal ``client_id``. Give both or
        neither. Default: None.
    use_bulk_port : bool, optional
        Push and pull over the node's bulk port (``JoinReply.bulk_port``: plain TCP, to and
        from shared memory with no other copy) where it names one and this client does not use
        TLS; over gRPC otherwise, and when that port cannot be reached. Default: True.
    """

    def __init__(self, target: str, client_id: str, *, enrolment_token: Optional[str] = None,
                 access_token: Optional[str] = None,
                 max_attempts: int = 8, initial_backoff: float = 0.05,
                 max_backoff: float = 2.0, chunk_bytes: int = 1 << 20,
                 timeout: float = 600.0, tls_ca: Optional[str] = None,
                 tls_cert: Optional[str] = None, tls_key: Optional[str] = None,
                 use_bulk_port: bool = True):
        # The channels reconnect at the pace of this client's retries: with gRPC's own backoff
        # (1 s, growing to 120 s) the attempts after a gateway restart would fail fast,
        # unconnected.
        self._options = [("grpc.max_receive_message_length", 8 << 20),
                         ("grpc.initial_reconnect_backoff_ms", max(1, int(initial_backoff * 1000))),
                         ("grpc.max_reconnect_backoff_ms", max(1, int(max_backoff * 1000)))]
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        self._credentials = None
        if tls_ca is not None or tls_cert is not None:
            self._credentials = grpc.ssl_channel_credentials(
                root_certificates=_read(tls_ca), private_key=_read(tls_key),
                certificate_chain=_read(tls_cert))
        self.target = target
        self._home = _Connection(target, self._credentials, self._options)
        # Jobs placed on another node of a group (JoinReply.node): their connection there.
        self._placed: dict = {}
        self.client_id = client_id
        self._enrolment_token = enrolment_token or ""
        self._access_token = access_token
        self._access_tokens: dict = {}  # job id -> the access token its Join returned
        self._max_attempts = max_attempts
        self._initial_backoff = initial_backoff
        self._max_backoff = max_backoff
        self._chunk_bytes = max(4, min(chunk_bytes, 4 << 20) // 4 * 4)
        self._timeout = timeout
        self._bulk = _bulk.BulkClient(timeout) if use_bulk_port and self._credentials is None \
            else None
        self._bulk_ports: dict = {}  # job id -> its node's bulk port (0: none)
        self.job: Optional[int] = None

    def close(self) -> None:
        for connection in self._placed.values():
            connection.channel.close()
        self._home.channel.close()
        if self._bulk is not None:
            self._bulk.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def join(self, job: int) -> client_pb2.JoinReply:
        """Joins ``job`` (and makes it this client's default job); returns its spec and state.
        The job's access token in the reply is sent with this client's later calls of ``job``.
        In a group of nodes the job's home may place the client on another node
        (``reply.node``): the client joins there and makes its later calls of ``job`` there;
        when that node becomes unreachable, it joins again through ``target``, which places it
        anew."""
        request = client_pb2.JoinRequest(job_id=job, client_id=self.client_id,
                                         enrolment_token=self._enrolment_token)
        placed = self._placed.pop(job, None)
        if placed is not None:
            placed.channel.close()
        reply = self._with_retries(
            self._home, lambda: self._home.join(request, timeout=self._timeout))
        if reply.node and reply.node != self.target:
            there = _Connection(reply.node, self._credentials, self._options)
            reply = self._with_retries(
                there, lambda: there.join(request, timeout=self._timeout))
            self._placed[job] = there
        self._access_tokens[job] = reply.access_token
        self._bulk_ports[job] = reply.bulk_port
        self.job = job
        return reply

    def node(self, job: Optional[int] = None) -> str:
        """Where the calls of ``job`` go: the node it was placed on, or ``target``."""
        placed = self._placed.get(self._job(job))
        return placed.target if placed is not None else self.target

    def _on_node(self, job: int, call: Callable[[_Connection], T]) -> T:
        """Runs ``call`` on the connection of ``job``'s node; when that node is unreachable
        (and is not ``target``), joins again through ``target`` and runs it once more."""
        try:
            return call(self._placed.get(job, self._home))
        except TributaryError as e:
            if e.code != grpc.StatusCode.UNAVAILABLE or job not in self._placed:
                raise
        self.join(job)
        return call(self._placed.get(job, self._home))

    def pull(self, round: Optional[int] = None, *, wait: bool = True,
             job: Optional[int] = None) -> np.ndarray:
        """The global model after ``round`` (0: the initial model; None: the latest) as a
        float32 array. With ``wait``, blocks until that version is published."""
        request = client_pb2.PullRequest(job_id=self._job(job), client_id=self.client_id,
                                         version=-1 if round is None else round, wait=wait)
        return self._on_node(request.job_id, lambda node: self._with_retries(
            node, lambda: self._pull_once(node, request)))

    def _bulk_port_of(self, job: int, node: "_Connection"):
        """(host, port) of the bulk port to use for ``job`` on ``node``, or None."""
        host = _bulk.target_host(node.target)
        port = self._bulk_ports.get(job, 0)
        return (host, port) if self._bulk is not None and host is not None and port else None

    def push(self, update: np.ndarray, num_examples: int, round: int, *,
             job: Optional[int] = None, task: int = 0) -> client_pb2.PushReply:
        """Pushes ``update`` (float32, any shape; flattened in C order) for ``round``, weighted
        by ``num_examples``. Sequentially coded jobs: ``task`` is the ``MiniTask.slot`` the
        update is the result of (see :meth:`tasks`)."""
        data = np.ascontiguousarray(update, dtype=np.float32).reshape(-1)
        view = memoryview(data).cast("B")
        # The checksum follows the last chunk (an UpdateTrailer): each chunk is hashed as it
        # goes out, with no pass over the whole update before the first byte.
        header = client_pb2.PushMessage(header=client_pb2.UpdateHeader(
            job_id=self._job(job), round=round, client_id=self.client_id,
            num_examples=num_examples, dtype=job_pb2.DTYPE_FLOAT32, total_bytes=len(view),
            checksum_in_trailer=True, task=task))

        def messages():  # one fresh stream, and hash, per attempt
            yield header.SerializeToString()
            digest = xxhash.xxh3_64()
            for off in range(0, len(view), self._chunk_bytes):
                piece = view[off:off + self._chunk_bytes]
                digest.update(piece)
                yield b"".join((_wire.chunk_prefix(len(piece)), piece))
            yield client_pb2.PushMessage(trailer=client_pb2.UpdateTrailer(
                checksum=digest.intdigest())).SerializeToString()

        job_id = header.header.job_id

        def attempt(node: _Connection) -> client_pb2.PushReply:
            bulk_port = self._bulk_port_of(job_id, node)
            if bulk_port is not None:
                reply = self._bulk.push(*bulk_port, header.header, self._token(job_id), view)
                if reply is not None:
                    return reply
                self._bulk_ports[job_id] = 0  # unreachable: gRPC from now on
            return node.push(messages(), timeout=self._timeout, metadata=self._metadata(job_id))

        return self._on_node(job_id, lambda node: self._with_retries(node, lambda: attempt(node)))

    def tasks(self, round: int, *, wait: bool = True,
              job: Optional[int] = None) -> client_pb2.TasksReply:
        """Sequentially coded jobs (SR-SGC, M-SGC): this worker's mini-tasks in ``round``. With
        ``wait``, blocks until the round opens. For each task, push
        ``sum_k task.coefficients[k] * gradient(task.version, task.partitions[k])`` with
        ``push(result, 1, round, task=task.slot)``. OUT_OF_RANGE once the job completed."""
        request = client_pb2.TasksRequest(job_id=self._job(job), client_id=self.client_id,
                                          round=round, wait=wait)
        return self._on_node(request.job_id, lambda node: self._with_retries(
            node, lambda: node.tasks(request, timeout=self._timeout,
                                     metadata=self._metadata(request.job_id))))

    def set_initial_model(self, model: np.ndarray, *,
                          job: Optional[int] = None) -> client_pb2.PushReply:
        """Sets the job's initial model (version 0, zeros unless set). Accepted until round 1
        receives its first update; joining is not required."""
        return self.push(model, num_examples=1, round=0, job=job)

    def _token(self, job: int) -> str:
        return self._access_tokens.get(job) or self._access_token or ""

    def _metadata(self, job: int):
        token = self._token(job)
        return (("authorization", f"Bearer {token}"),) if token else None

    def _job(self, job: Optional[int]) -> int:
        if job is not None:
            return job
        if self.job is None:
            raise ValueError("join a job first, or pass job=")
        return self.job

    def _pull_once(self, node: _Connection, request: client_pb2.PullRequest) -> np.ndarray:
        bulk_port = self._bulk_port_of(request.job_id, node)
        if bulk_port is not None:
            model = self._bulk.pull(*bulk_port, request, self._token(request.job_id))
            if model is not None:
                return model
            self._bulk_ports[request.job_id] = 0  # unreachable: gRPC from now on
        stream = node.pull(request, timeout=self._timeout,
                           metadata=self._metadata(request.job_id))
        header = None
        out = None
        received = 0
        checksum = None  # from the header, or from the ModelTrailer where it announced one
        for message in stream:
            if header is None:
                header = client_pb2.PullMessage.FromString(message).header
                if header.total_bytes % 4:
                    raise TributaryError(grpc.StatusCode.DATA_LOSS, "model size is not float32")
                out = np.empty(header.total_bytes // 4, dtype=np.float32)
                dest = memoryview(out).cast("B")
                if not header.checksum_in_trailer:
                    checksum = header.checksum
                continue
            if message[:1] == bytes([_wire.TRAILER_TAG]):
                if (not header.checksum_in_trailer or checksum is not None
                        or received != header.total_bytes):
                    raise TributaryError(grpc.StatusCode.DATA_LOSS, "unexpected ModelTrailer")
                try:
                    checksum = client_pb2.PullMessage.FromString(message).trailer.checksum
                except DecodeError:
                    raise TributaryError(grpc.StatusCode.DATA_LOSS,
                                         "malformed ModelTrailer") from None
                continue
            payload = _wire.parse_chunk(message)
            if received + len(payload) > header.total_bytes:
                raise TributaryError(grpc.StatusCode.DATA_LOSS, "model stream is too long")
            dest[received:received + len(payload)] = payload
            received += len(payload)
        if header is None or received != header.total_bytes:
            raise TributaryError(grpc.StatusCode.DATA_LOSS,
                                 f"model stream ended after {received} bytes")
        if checksum is None:
            raise TributaryError(grpc.StatusCode.DATA_LOSS,
                                 "model stream ended without the ModelTrailer its header "
                                 "announced")
        if xxhash.xxh3_64_intdigest(dest) != checksum:
            raise TributaryError(grpc.StatusCode.DATA_LOSS,
                                 "model checksum does not match its bytes")
        return out

    def _with_retries(self, node: "_Connection", attempt: Callable[[], T]) -> T:
        """Runs ``attempt`` until it succeeds, fails for good or ``max_attempts`` ran out;
        between two attempts waits the backoff on ``node``'s channel."""
        backoff = self._initial_backoff
        for n in range(1, self._max_attempts + 1):
            try:
                return attempt()
            except grpc.RpcError as e:
                if e.code() not in _RETRYABLE or n == self._max_attempts:
                    raise TributaryError(e.code(), e.details()) from None
            except _bulk.Refused as e:
                if e.code not in _RETRYABLE or n == self._max_attempts:
                    raise TributaryError(e.code, e.details) from None
            node.wait_out(random.uniform(backoff / 2, backoff))
            backoff = min(self._max_backoff, backoff * 2)
        raise AssertionError("unreachable")
