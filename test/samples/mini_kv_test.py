"""mini_kv end to end: redis-cli drives every command and the replies are checked; raw sockets
check pipelining, inline commands, requests cut into single bytes, and malformed or oversized
requests (an error reply, then the connection survives or is closed cleanly, as the framing
allows); SIGINT -> exit 0 and the append-only log replays at the next start.
Usage: mini_kv_test.py MINI_KV"""

import os
import shutil
import subprocess
import tempfile
import time

from sample_proc import TIMEOUT, Sample, check, main, recv_exactly, recv_until_eof, run


def redis_cli():
    exe = shutil.which("redis-cli")
    check(exe, "redis-cli not found: this test needs it; install the redis-tools package "
               "(apt-get install redis-tools; scripts/test installs WEFT_TEST_PACKAGES)")
    return exe


def cli(cli_exe, port, *args):
    p = subprocess.run([cli_exe, "-p", str(port), *[str(a) for a in args]], capture_output=True,
                       text=True, timeout=10)
    check(p.returncode == 0, f"redis-cli {args}: exit {p.returncode}: {p.stderr}")
    return p.stdout.rstrip("\n")


def expect_replies(s, request, want, chunk=None):
    """Sends `request` (in pieces of `chunk` bytes if given) and checks the replies."""
    c = s.connect()
    if chunk:
        for i in range(0, len(request), chunk):
            c.sendall(request[i:i + chunk])
    else:
        c.sendall(request)
    got = recv_exactly(c, len(want))
    check(got == want, f"request {request[:60]!r}...: replies {got!r}, expected {want!r}")
    return c


def expect_error_then(s, request, error_prefix, then):
    """Sends a bad request; checks the -ERR reply, then `then`: "closed" (end of stream) or
    "alive" (a PING still answers)."""
    c = s.connect()
    c.sendall(request)
    if then == "closed":
        got = recv_until_eof(c)
        check(got.startswith(b"-" + error_prefix) and got.endswith(b"\r\n") and got.count(b"\r\n") == 1,
              f"{request[:40]!r}: got {got!r}, expected one -{error_prefix!r}... then end of stream")
    else:
        c.sendall(b"PING\r\n")
        got = b""
        while not got.endswith(b"+PONG\r\n"):
            chunk = c.recv(65536)
            check(chunk, f"{request[:40]!r}: connection closed; got {got!r}")
            got += chunk
        check(got.startswith(b"-" + error_prefix) and got.count(b"\r\n") == 2,
              f"{request[:40]!r}: got {got!r}, expected -{error_prefix!r}... then +PONG")
    c.close()


def test(args):
    (exe,) = args
    cli_exe = redis_cli()
    tmp = tempfile.mkdtemp(prefix="mini_kv_test.")
    aof = os.path.join(tmp, "kv.aof")
    flags = ["--aof", aof, "--max-bulk", "1024", "--max-args", "16"]
    try:
        with Sample(exe, "--listen", "127.0.0.1:0", *flags) as s:
            r = lambda *a: cli(cli_exe, s.port, *a)  # noqa: E731
            for argv, want in [
                (["PING"], "PONG"), (["ping", "hello there"], "hello there"), (["ECHO", "a b"], "a b"),
                (["SET", "k", "v"], "OK"), (["GET", "k"], "v"), (["GET", "missing"], ""),
                (["SET", "k", "v2", "XX"], "OK"), (["GET", "k"], "v2"), (["SET", "new", "v", "XX"], ""),
                (["GET", "new"], ""), (["SET", "k", "v3", "NX"], ""), (["GET", "k"], "v2"),
                (["SET", "n1", "v", "nx"], "OK"), (["EXISTS", "k", "n1", "missing", "k"], "3"),
                (["DEL", "k", "n1", "missing"], "2"), (["EXISTS", "k"], "0"),
                (["INCR", "c"], "1"), (["INCR", "c"], "2"), (["SET", "s", "abc"], "OK"),
                (["INCR", "s"], "ERR value is not an integer or out of range"),
                (["SET", "max", "9223372036854775807"], "OK"),
                (["INCR", "max"], "ERR increment or decrement would overflow"),
                (["SET", "x", "v", "EX", "0"], "ERR invalid expire time in 'set' command"),
                (["SET", "x", "v", "PX", "soon"], "ERR invalid expire time in 'set' command"),
                (["SET", "x", "v", "NX", "XX"], "ERR syntax error"), (["SET", "x", "v", "EX"], "ERR syntax error"),
                (["GET"], "ERR wrong number of arguments for 'get' command"),
                (["INCR", "a", "b"], "ERR wrong number of arguments for 'incr' command"),
                (["FLUSHALL"], "ERR unknown command 'FLUSHALL'"),
                (["CONFIG", "GET", "appendonly"], "appendonly\nno"), (["CONFIG", "GET", "maxmemory"], ""),
                (["SET", "ttl", "v", "PX", "300"], "OK"), (["GET", "ttl"], "v"),
                (["SET", "later", "v", "EX", "1000"], "OK"),
            ]:
                got = r(*argv)
                check(got == want, f"{argv}: {got!r}, expected {want!r}")
            check(r("SET", "abs", "v", "PXAT", int(time.time() * 1000) + 300) == "OK", "SET PXAT")
            check(r("GET", "abs") == "v", "a PXAT key expired early")
            time.sleep(0.5)
            for key in ("ttl", "abs"):
                check(r("GET", key) == "", f"{key} did not expire")
                check(r("EXISTS", key) == "0", f"{key} still exists")
            check(r("EXISTS", "later") == "1", "a key with a long expiry vanished")

            # Pipelined, binary-safe, and cut into single bytes: the parser resumes anywhere.
            pipeline = (b"PING\r\n*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$6\r\nbin\r\nk\r\n$5\r\na\r\nb\x00\r\n"
                        b"*2\r\n$3\r\nGET\r\n$6\r\nbin\r\nk\r\n*0\r\n\r\nSET inl  hello\r\nget inl\n")
            want = b"+PONG\r\n+PONG\r\n+OK\r\n$5\r\na\r\nb\x00\r\n+OK\r\n$5\r\nhello\r\n"
            expect_replies(s, pipeline, want).close()
            expect_replies(s, pipeline, want, chunk=1).close()
            expect_replies(s, b"*2\r\n$4\r\nECHO\r\n$1024\r\n" + b"e" * 1024 + b"\r\n",
                           b"$1024\r\n" + b"e" * 1024 + b"\r\n", chunk=100).close()
            # QUIT: +OK, then the server closes.
            c = s.connect()
            c.sendall(b"QUIT\r\nPING\r\n")
            check(recv_until_eof(c) == b"+OK\r\n", "QUIT did not close after +OK")

            # Malformed or oversized requests.
            over = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000\r\n" + b"z" * 2000 + b"\r\n"
            expect_error_then(s, over, b"ERR Protocol error: bulk length 2000 is over the limit", "alive")
            expect_error_then(s, b"NOSUCH cmd\r\n", b"ERR unknown command 'NOSUCH'", "alive")
            expect_error_then(s, b"*17\r\n", b"ERR Protocol error: invalid multibulk length", "closed")
            expect_error_then(s, b"*99999999999999999999999\r\n", b"ERR Protocol error: invalid multibulk", "closed")
            expect_error_then(s, b"*x\r\n", b"ERR Protocol error: invalid multibulk length", "closed")
            expect_error_then(s, b"*1\r\n$abc\r\n", b"ERR Protocol error: invalid bulk length", "closed")
            expect_error_then(s, b"*1\r\n$-5\r\n", b"ERR Protocol error: invalid bulk length", "closed")
            expect_error_then(s, b"*1\r\n+PING\r\n", b"ERR Protocol error: expected '$', got '+'", "closed")
            expect_error_then(s, b"*1\r\n$4\r\nPINGxx", b"ERR Protocol error: expected CRLF", "closed")
            expect_error_then(s, b"a" * 70000, b"ERR Protocol error: too big inline request", "closed")
            expect_error_then(s, b"*2\r\n$3\r\nGET\r\n" + b"$" + b"1" * 70000, b"ERR Protocol error: too big bulk count",
                              "closed")
            # A client that pipelines requests and never reads the replies stalls only itself:
            # its connection waits in the write, and nothing it holds there (a shard's lock,
            # say) may keep another client's command on the same key from an answer.
            check(r("SET", "big", "b" * 1000) == "OK", "SET big")
            stalled = s.connect()
            stalled.setblocking(False)
            request, sent, full = b"GET big\r\n" * 4096, 0, False
            deadline = time.monotonic() + TIMEOUT
            while not full and time.monotonic() < deadline:
                try:
                    sent += stalled.send(request)
                except BlockingIOError:
                    full = True  # the server stopped reading: its write of the replies waits
            check(full, f"the server read {sent} bytes of requests without ever blocking on its replies")
            time.sleep(0.2)
            expect_replies(s, b"EXISTS big\r\n", b":1\r\n").close()
            stalled.close()
            # A client that leaves in the middle of a request harms nobody.
            c = s.connect()
            c.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nq\r\n$100\r\npartial")
            c.close()
            check(r("PING") == "PONG", "the server stopped answering")

            # redis-benchmark's handshake (CONFIG GET save / appendonly) and a short run.
            bench = shutil.which("redis-benchmark")
            check(bench, "redis-benchmark not found: install the redis-tools package")
            p = subprocess.run([bench, "-p", str(s.port), "-q", "-t", "set,get,incr", "-n", "2000", "-c", "10"],
                               capture_output=True, text=True, timeout=60)
            check(p.returncode == 0 and "GET:" in p.stdout and "WARNING" not in p.stdout + p.stderr,
                  f"redis-benchmark: exit {p.returncode}: {p.stdout[-300:]} {p.stderr}")

            status, out, err = s.interrupt()
            check(status == 0, f"exit {status} after SIGINT; stderr {err!r}")
            check(b"stopped" in out, f"no 'stopped' line: {out!r}")

        # The log replays: the same state after a restart, expired keys still gone.
        with Sample(exe, "--listen", "127.0.0.1:0", *flags) as s:
            r = lambda *a: cli(cli_exe, s.port, *a)  # noqa: E731
            for argv, want in [(["GET", "c"], "2"), (["GET", "k"], ""), (["GET", "s"], "abc"),
                               (["GET", "inl"], "hello"), (["EXISTS", "ttl", "abs", "n1"], "0"),
                               (["EXISTS", "later"], "1"), (["GET", "max"], "9223372036854775807")]:
                got = r(*argv)
                check(got == want, f"after replay, {argv}: {got!r}, expected {want!r}")
            status, out, err = s.interrupt()
            check(status == 0, f"second run: exit {status} after SIGINT; stderr {err!r}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    # One worker (the setting scripts/bench --kv measures beside the default): the same
    # replies, and a short redis-benchmark run over 20 connections loses none of its INCRs.
    with Sample(exe, "--listen", "127.0.0.1:0", "--workers", "1") as s:
        r = lambda *a: cli(cli_exe, s.port, *a)  # noqa: E731
        for argv, want in [(["SET", "k", "v"], "OK"), (["GET", "k"], "v"), (["INCR", "c"], "1")]:
            got = r(*argv)
            check(got == want, f"--workers 1, {argv}: {got!r}, expected {want!r}")
        subprocess.run([shutil.which("redis-benchmark"), "-p", str(s.port), "-q", "-t", "incr",
                        "-n", "2000", "-c", "20", "-P", "4"],
                       check=True, capture_output=True, timeout=TIMEOUT)
        got = r("GET", "counter:__rand_int__")
        check(got == "2000", f"--workers 1: 2000 INCRs by redis-benchmark left {got!r}")
        status, out, err = s.interrupt()
        check(status == 0, f"--workers 1: exit {status} after SIGINT; stderr {err!r}")

    # --sched: the runtime's threads run under SCHED_BATCH by default (main.cpp's
    # run_as_batch says why) and under the normal policy with --sched normal; the thread
    # that called block_on keeps its own either way. Read from /proc (stat's 41st field).
    def policies(pid):
        out = {}
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
            out[int(tid)] = int(rest[38])  # fields from the 3rd on: the 41st is [38]
        return out

    sched_batch = 3
    for flags, want_batch in (([], True), (["--sched", "normal"], False)):
        with Sample(exe, "--listen", "127.0.0.1:0", "--workers", "2", *flags) as s:
            check(cli(cli_exe, s.port, "INCR", "c") == "1", f"{flags}: INCR")
            got = policies(s.proc.pid)
            batch = [t for t, p in got.items() if p == sched_batch]
            if want_batch:
                check(len(batch) >= 2 and got[s.proc.pid] != sched_batch,
                      f"default: the 2 workers under SCHED_BATCH, main thread not: {got}")
            else:
                check(not batch, f"--sched normal: no thread under SCHED_BATCH: {got}")
            status, out, err = s.interrupt()
            check(status == 0 and b"refused" not in err, f"{flags}: exit {status}; stderr {err!r}")

    for argv in ([exe, "--shards", "0"], [exe, "--workers", "0"], [exe, "--max-bulk"],
                 [exe, "--bogus", "1"], [exe, "--sched", "fifo"]):
        status, out, err = run(argv)
        check(status == 2 and "usage" in err, f"{argv[1:]}: exit {status}, stderr {err!r}")


main(test)
