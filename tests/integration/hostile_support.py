"""Helpers for the hostile, deadline and supervision tests: raw FastCGI
bytes that fastcgi_wire does not build, and a look at processes in /proc."""
import os
import struct
import time

from tests.integration import fastcgi_wire as wire
# Process helpers live in support; re-exported for the hostile tests.
from tests.integration.support import (alive, children_of, footprint,  # noqa: F401
                                       proc_stat, wait_until)

WAIT_S = 5.0
# libfcgi 2.4.2-2+deb12u1 aborts (malloc assertion) on a PARAMS or
# GET_VALUES value length of 0x7ffffffe (CVE-2025-23016, half fixed).
ABORTING_LENGTH = 0x7ffffffe


def long_length(length):
    """A FastCGI name or value length in its 4-byte form, any value at all."""
    return struct.pack(">I", (length & 0x7fffffff) | 0x80000000)


def pair_with_lengths(name_length, value_length, payload=b"x" * 64):
    """A name-value pair that declares these lengths, followed by `payload`."""
    return long_length(name_length) + long_length(value_length) + payload


def aborting_request():
    """BEGIN_REQUEST then a PARAMS record whose value length aborts libfcgi."""
    return wire.begin_request() + wire.record(
        wire.PARAMS, 1, pair_with_lengths(ABORTING_LENGTH, ABORTING_LENGTH))


def header(record_type, request_id, content_length, padding=0, version=wire.VERSION):
    """A record header alone, declaring what it likes."""
    return struct.pack(">BBHHBx", version, record_type, request_id, content_length, padding)


def send_and_drain(address, data, read_timeout_s=2.0):
    """Sends `data` on a fresh connection, reads until the responder hangs up
    or goes quiet, and returns what came back. Errors are part of the game."""
    got = b""
    try:
        with wire.connect(address, timeout=read_timeout_s) as sock:
            sock.sendall(data)
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                got += chunk
    except OSError:
        pass
    return got


def processes_with_argument(argument):
    """Live processes with `argument` among their command-line words."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as cmdline:
                words = cmdline.read().split(b"\0")
        except OSError:
            continue
        if argument.encode() in words and alive(int(entry)):
            found.append(int(entry))
    return found


def cpu_seconds(pid):
    """User plus system CPU time a process has used so far."""
    fields = proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_fetch(address, timeout=5.0, **kwargs):
    """(reply or the OSError raised, seconds taken) of one request."""
    started = time.monotonic()
    try:
        reply = wire.fetch(address, timeout=timeout, **kwargs)
    except OSError as error:
        reply = error
    return reply, time.monotonic() - started
