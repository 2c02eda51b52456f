"""What the flood shield's tests share: check programs that count their
runs, and a look at the shared file's lock."""
import fcntl
import os
import signal


def write_program(path, body):
    with open(path, "w") as out:
        out.write("#!/bin/sh\n" + body + "\n")
    os.chmod(path, 0o755)


def runs_of(program):
    """How many times the counting `program` ran (it appends a line to
    PROGRAM.runs per run)."""
    try:
        with open(program + ".runs") as runs:
            return len(runs.readlines())
    except FileNotFoundError:
        return 0


def lock_is_held(path):
    """Whether some process holds the flock of the shared file `path` (a
    leader running its check)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def kill_at_cleanup(test, process):
    """Makes sure `process` (perhaps stopped with SIGSTOP) is gone when
    `test` ends."""
    def stop():
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.kill()
        process.wait(5)
    test.addCleanup(stop)
