"""The bulk protocol (``proto/bulk.h``): pushes and pulls over a plain TCP connection to a
node's bulk port (``JoinReply.bulk_port``), which the node moves straight between the socket and
shared memory. Connections are kept between requests (a few per node); one the node has closed
while it sat idle is noticed before any payload moves, and the request takes a fresh one."""

from __future__ import annotations

import socket
import struct
import threading
import time
from typing import Optional

import grpc
import numpy as np
import xxhash
from google.protobuf.message import DecodeError

from tributary.v1 import client_pb2

MAGIC = 0x31504254  # "TBP1"
KIND_PUSH, KIND_PULL = 0, 1
_PREFIX = struct.Struct("<IIII")
_MAX_BODY = 64 << 10
_CHUNK_BYTES = 256 << 10  # hashed while still in cache: sent or received
_MAX_IDLE = 4            # kept connections per node
_MAX_IDLE_AGE = 30.0     # seconds; half the node's default idle timeout
_CODES = {code.value[0]: code for code in grpc.StatusCode}
# Where two to _MOST_PACED pushes of this process stream at once (many simulated clients in one
# process), each socket keeps at most _CROWDED_UNSENT_BYTES queued unsent (TCP_NOTSENT_LOWAT);
# otherwise the kernel's default holds. The C++ SDK does the same (clients/cpp/push_pacing.h
# says why).
_CROWDED_UNSENT_BYTES = 128 << 10
_MOST_PACED = 64


class _StreamingPushes:
    """Counts this process's streaming pushes and paces each one's socket to match."""

    def __init__(self):
        self._lock = threading.Lock()
        self._count = 0

    def begin(self):
        with self._lock:
            self._count += 1

    def end(self):
        with self._lock:
            self._count -= 1

    def pace(self, sock: socket.socket, limited: Optional[bool]) -> bool:
        """Before each piece: sets the socket's limit on unsent bytes when what it should be
        changed since ``limited`` (None: not yet set); returns what it is now."""
        crowded = 1 < self._count <= _MOST_PACED
        option = getattr(socket, "TCP_NOTSENT_LOWAT", None)  # Linux has it; not every system
        if limited is not crowded and option is not None:
            try:  # a hint: a socket that refuses it is sent as it was, which is still correct
                sock.setsockopt(socket.IPPROTO_TCP, option,
                                _CROWDED_UNSENT_BYTES if crowded else 0)  # 0: kernel's default
            except OSError:
                pass
        return crowded


_STREAMING = _StreamingPushes()


class Refused(Exception):
    """The node's answer was not OK: ``code`` is the grpc.StatusCode, ``details`` its text."""

    def __init__(self, code: grpc.StatusCode, details: str):
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


class _Broken(Exception):
    """The connection failed in the middle of an exchange."""


def target_host(target: str) -> Optional[str]:
    """The host of a gRPC target (``HOST:PORT``, ``[V6]:PORT``, ``dns:///HOST:PORT``), or None
    when it names none a socket can reach directly."""
    if target.startswith("dns:///"):
        target = target[7:]
    if "://" in target or target.startswith(("unix:", "ipv4:", "ipv6:")):
        return None
    host, sep, _ = target.rpartition(":")
    if not sep or not host:
        return None
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        piece = sock.recv(n - len(out))
        if not piece:
            raise _Broken("connection closed by the node")
        out += piece
    return bytes(out)


def _answer(sock: socket.socket) -> bytes:
    """Reads one Answer: the reply's bytes, or Refused."""
    code, message_len, reply_len, _ = _PREFIX.unpack(_recv_exact(sock, _PREFIX.size))
    if code not in _CODES or message_len > _MAX_BODY or reply_len > _MAX_BODY:
        raise _Broken("malformed answer")
    body = _recv_exact(sock, message_len + reply_len)
    if code != 0:
        raise Refused(_CODES[code], body[:message_len].decode(errors="replace"))
    return body[message_len:]


def _hello(kind: int, header, token: str) -> bytes:
    header_bytes = header.SerializeToString()
    token_bytes = token.encode()
    return _PREFIX.pack(MAGIC, len(header_bytes), len(token_bytes), kind) + header_bytes + \
        token_bytes


class BulkClient:
    """Pushes and pulls over bulk ports; thread-safe."""

    def __init__(self, timeout: float):
        self._timeout = timeout
        self._lock = threading.Lock()
        self._idle: dict = {}  # (host, port) -> [(socket, idle since)]

    def _take_idle(self, endpoint) -> Optional[socket.socket]:
        with self._lock:
            idle = self._idle.get(endpoint, [])
            while idle:
                sock, since = idle.pop()
                # A connection the node closed reads as end of stream; a live one has nothing.
                sock.setblocking(False)
                try:
                    closed = (time.monotonic() - since > _MAX_IDLE_AGE or
                              sock.recv(1, socket.MSG_PEEK) == b"")
                except BlockingIOError:
                    closed = False
                except OSError:
                    closed = True
                sock.settimeout(self._timeout)
                if not closed:
                    return sock
                sock.close()
        return None

    def _keep_idle(self, endpoint, sock: socket.socket) -> None:
        with self._lock:
            idle = self._idle.setdefault(endpoint, [])
            if len(idle) < _MAX_IDLE:
                idle.append((sock, time.monotonic()))
                return
        sock.close()

    def _open(self, endpoint, hello: bytes):
        """Sends ``hello`` over a kept or fresh connection: (the connection, the reply of the
        node's OK answer). Refused with its answer (the connection kept: nothing follows a
        refused Hello); None when no connection could be made."""
        while True:
            sock = self._take_idle(endpoint)
            kept = sock is not None
            if not kept:
                try:
                    sock = socket.create_connection(endpoint, timeout=min(self._timeout, 3.0))
                except OSError:
                    return None
                sock.settimeout(self._timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                sock.sendall(hello)
                return sock, _answer(sock)
            except (_Broken, OSError) as e:
                sock.close()
                if kept:
                    continue  # the node let it go while idle: a fresh connection
                raise Refused(grpc.StatusCode.UNAVAILABLE, f"bulk connection: {e}") from None
            except Refused:
                self._keep_idle(endpoint, sock)
                raise

    def push(self, host: str, port: int, header: client_pb2.UpdateHeader, token: str,
             payload: memoryview) -> Optional[client_pb2.PushReply]:
        """Pushes ``payload`` as ``header`` describes; the node's PushReply, Refused with its
        answer, or Refused(UNAVAILABLE) when the connection broke in the middle. None when no
        connection could be made (push over gRPC instead)."""
        endpoint = (host, port)
        opened = self._open(endpoint, _hello(KIND_PUSH, header, token))
        if opened is None:
            return None
        sock, _ = opened
        _STREAMING.begin()
        try:
            digest = xxhash.xxh3_64()
            limited = None
            for off in range(0, len(payload), _CHUNK_BYTES):
                piece = payload[off:off + _CHUNK_BYTES]
                limited = _STREAMING.pace(sock, limited)
                digest.update(piece)
                sock.sendall(piece)
            sock.sendall(struct.pack("<Q", digest.intdigest()))
            try:
                reply = client_pb2.PushReply.FromString(_answer(sock))
            except Refused as e:
                if e.code not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DATA_LOSS):
                    self._keep_idle(endpoint, sock)
                else:
                    sock.close()
                raise
            self._keep_idle(endpoint, sock)
            return reply
        except (_Broken, OSError) as e:
            sock.close()
            raise Refused(grpc.StatusCode.UNAVAILABLE, f"bulk connection: {e}") from None
        finally:
            _STREAMING.end()

    def pull(self, host: str, port: int, request: client_pb2.PullRequest,
             token: str) -> Optional[np.ndarray]:
        """The model ``request`` names, received straight into a new float32 array and checked
        against its checksum; Refused with the node's answer, Refused(DATA_LOSS) for a model
        that does not match its checksum, or Refused(UNAVAILABLE) when the connection broke in
        the middle. None when no connection could be made (pull over gRPC instead)."""
        endpoint = (host, port)
        opened = self._open(endpoint, _hello(KIND_PULL, request, token))
        if opened is None:
            return None
        sock, reply = opened
        try:
            try:
                header = client_pb2.ModelHeader.FromString(reply)
            except DecodeError:
                header = None
            if header is None or header.total_bytes % 4:
                sock.close()
                raise Refused(grpc.StatusCode.DATA_LOSS,
                              "model stream does not start with a valid header")
            out = np.empty(header.total_bytes // 4, dtype=np.float32)
            dest = memoryview(out).cast("B")
            digest = xxhash.xxh3_64()
            for off in range(0, len(dest), _CHUNK_BYTES):
                piece = dest[off:off + _CHUNK_BYTES]
                got = 0
                while got < len(piece):
                    n = sock.recv_into(piece[got:])
                    if n == 0:
                        raise _Broken("connection closed by the node")
                    got += n
                digest.update(piece)  # while the piece is still in cache
            checksum = header.checksum
            if header.checksum_in_trailer:  # the node was still hashing the model: it follows
                checksum, = struct.unpack("<Q", _recv_exact(sock, 8))
            self._keep_idle(endpoint, sock)
        except (_Broken, OSError) as e:
            sock.close()
            raise Refused(grpc.StatusCode.UNAVAILABLE, f"bulk connection: {e}") from None
        if digest.intdigest() != checksum:
            raise Refused(grpc.StatusCode.DATA_LOSS, "model checksum does not match its bytes")
        return out

    def close(self) -> None:
        with self._lock:
            for idle in self._idle.values():
                for sock, _ in idle:
                    sock.close()
            self._idle.clear()
