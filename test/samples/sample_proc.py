"""Helpers for the samples' end-to-end tests: start a sample as a subprocess, learn its port
from the "listening on ADDR:PORT" line it prints, talk to it over sockets, stop it with SIGINT.
Every wait is bounded; a failed check raises, which fails the test with its message."""

import os
import re
import select
import signal
import socket
import subprocess
import sys
import time

TIMEOUT = 10.0  # seconds, for any single wait


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


class Sample:
    """A running sample. Use as a context manager: the process is killed if still running.
    With dump_on_failure (a sample that installs weft::dump_on_signal for SIGQUIT), a failed
    check inside the `with` first asks the process for its task dump and prints it, so a
    stall names the tasks that waited and where."""

    def __init__(self, *argv, dump_on_failure=False):
        self.argv = [str(a) for a in argv]
        self.dump_on_failure = dump_on_failure
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out = b""
        line = self.read_line_matching(rb"listening on ([0-9.]+):(\d+)")
        self.port = int(re.search(rb":(\d+)", line).group(1))

    def read_line_matching(self, pattern, timeout=TIMEOUT):
        """Reads stdout until a line matches `pattern`; returns that line."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.out.split(b"\n")
            for i, line in enumerate(lines[:-1]):
                if re.search(pattern, line):
                    self.out = b"\n".join(lines[i + 1:])
                    return line
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None and not select.select([self.proc.stdout], [], [], 0)[0]:
                raise Failure(f"{self.argv[0]}: no line matching {pattern!r} (stdout so far: {self.out!r}, "
                              f"exit status {self.proc.poll()})")
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk and self.proc.poll() is not None:
                    continue
                self.out += chunk

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)
        s.settimeout(TIMEOUT)
        return s

    def interrupt(self, timeout=TIMEOUT):
        """Sends SIGINT and waits for the exit; returns (status, rest of stdout, stderr)."""
        self.proc.send_signal(signal.SIGINT)
        return self.wait(timeout)

    def wait(self, timeout=TIMEOUT):
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            raise Failure(f"{self.argv[0]} did not exit within {timeout} s; stderr: {err!r}")
        return self.proc.returncode, self.out + out, err

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.proc.poll() is None:
            if self.dump_on_failure and exc_type is not None:
                self.proc.send_signal(signal.SIGQUIT)
                time.sleep(2.0)  # the dump is written by the runtime's helper thread
            self.proc.kill()
            _, err = self.proc.communicate()
            if self.dump_on_failure and exc_type is not None:
                print(f"{self.argv[0]}: stderr, with its task dump:\n"
                      f"{err.decode(errors='replace')}", file=sys.stderr)


def run(argv, timeout=TIMEOUT * 3):
    """Runs a program to its end; returns (status, stdout, stderr) as text."""
    p = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def recv_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        check(chunk, f"connection closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def recv_line(sock, buf=None):
    """Reads one '\\n'-terminated line; `buf` is a bytearray carrying extra bytes between calls."""
    buf = bytearray() if buf is None else buf
    while b"\n" not in buf:
        chunk = sock.recv(65536)
        check(chunk, f"connection closed before a whole line (got {bytes(buf)!r})")
        buf += chunk
    i = buf.index(b"\n")
    line = bytes(buf[:i + 1])
    del buf[:i + 1]
    return line


def recv_until_eof(sock):
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def main(test):
    """Runs test(); prints the failure and exits 1 if it raised."""
    import traceback
    try:
        test(sys.argv[1:])
    except Exception:
        traceback.print_exc()
        sys.exit(1)
    print("ok")
