"""Raw framing of update and model chunks (field 2, ``bytes chunk``, of PushMessage and
PullMessage), so payloads are not copied into and out of protobuf messages."""

CHUNK_TAG = 0x12  # field 2, length-delimited
HEADER_TAG = 0x0A  # field 1, length-delimited
TRAILER_TAG = 0x1A  # field 3, length-delimited (a trailer)


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def chunk_prefix(length: int) -> bytes:
    return bytes([CHUNK_TAG]) + varint(length)


def parse_chunk(message: bytes) -> memoryview:
    """The payload of a chunk message, as a view into ``message`` (no copy)."""
    view = memoryview(message)
    if len(view) < 2 or view[0] != CHUNK_TAG:
        raise ValueError("message is not a chunk")
    length, shift, pos = 0, 0, 1
    while True:
        if pos >= len(view) or shift > 63:
            raise ValueError("malformed chunk length")
        byte = view[pos]
        pos += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    if pos + length != len(view):
        raise ValueError("chunk length does not match the message")
    return view[pos:]
