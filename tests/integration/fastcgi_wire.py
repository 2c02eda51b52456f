"""A small FastCGI client over raw sockets, for tests.

Speaks the responder role well enough to drive the real binary, and exposes
the record layer so hostile tests can send anything at all.
"""
import socket
import struct

VERSION = 1
BEGIN_REQUEST, ABORT_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR = 1, 2, 3, 4, 5, 6, 7
GET_VALUES, GET_VALUES_RESULT, UNKNOWN_TYPE = 9, 10, 11
RESPONDER = 1
KEEP_CONN = 1
MAX_CONTENT = 65535


def record(record_type, request_id, content=b"", version=VERSION, padding=0):
    """One record: header, content, padding."""
    header = struct.pack(">BBHHBx", version, record_type, request_id, len(content), padding)
    return header + content + b"\0" * padding


def stream_records(record_type, request_id, data):
    """A stream split into records, ended by an empty one."""
    out = b""
    for start in range(0, len(data), MAX_CONTENT):
        out += record(record_type, request_id, data[start:start + MAX_CONTENT])
    return out + record(record_type, request_id)


def encode_length(length):
    if length < 128:
        return struct.pack(">B", length)
    return struct.pack(">I", length | 0x80000000)


def encode_params(params):
    out = b""
    for name, value in params.items():
        name, value = name.encode(), value.encode()
        out += encode_length(len(name)) + encode_length(len(value)) + name + value
    return out


def begin_request(request_id=1, keep_conn=False):
    body = struct.pack(">HB5x", RESPONDER, KEEP_CONN if keep_conn else 0)
    return record(BEGIN_REQUEST, request_id, body)


def request_bytes(params, body=b"", request_id=1, keep_conn=False):
    """Every record of one request."""
    return (begin_request(request_id, keep_conn) +
            stream_records(PARAMS, request_id, encode_params(params)) +
            stream_records(STDIN, request_id, body))


def connect(address, timeout=5.0):
    """A socket to a unix socket path or a (host, port) pair."""
    if isinstance(address, str):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(address)
    except OSError:
        sock.close()
        raise
    return sock


def read_exactly(sock, count):
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("connection closed after %d of %d bytes" % (len(data), count))
        data += chunk
    return data


def read_record(sock):
    """(type, request_id, content) of the next record."""
    version, record_type, request_id, length, padding = struct.unpack(
        ">BBHHBx", read_exactly(sock, 8))
    content = read_exactly(sock, length)
    read_exactly(sock, padding)
    return record_type, request_id, content


class Reply:
    """What came back for one request."""

    def __init__(self, stdout, stderr, app_status):
        self.stdout, self.stderr, self.app_status = stdout, stderr, app_status
        head, _, self.body = stdout.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.headers = dict(line.split(": ", 1) for line in lines if ": " in line)
        self.status = int(self.headers.get("Status", "200").split()[0])


def read_reply(sock, request_id=1):
    stdout, stderr = b"", b""
    while True:
        record_type, rid, content = read_record(sock)
        if rid != request_id:
            continue
        if record_type == STDOUT:
            stdout += content
        elif record_type == STDERR:
            stderr += content
        elif record_type == END_REQUEST:
            return Reply(stdout, stderr, struct.unpack(">IB3x", content)[0])


def fetch(address, method="GET", body=b"", extra_params=None, timeout=5.0):
    """One request on a fresh connection."""
    params = {"REQUEST_METHOD": method, "SCRIPT_NAME": "/health", "REQUEST_URI": "/health",
              "SERVER_PROTOCOL": "HTTP/1.1", "CONTENT_LENGTH": str(len(body))}
    params.update(extra_params or {})
    with connect(address, timeout) as sock:
        sock.sendall(request_bytes(params, body))
        return read_reply(sock)
