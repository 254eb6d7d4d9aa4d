"""relay end to end (several relay processes, each on its own port, every wait bounded):
- delivery: 3 subscribers get all K numbered messages of a publisher, in order, once each;
  a subscriber of another topic gets none; UNSUB stops delivery;
- bad input: unknown command, missing arguments, bad numbers, an over-long line (reported
  once, then the connection goes on), UNSUB of a topic not subscribed;
- lag: with --topic-capacity 8 a subscriber that reads nothing during a flood is told
  LAGGED, received + lagged == sent (for every subscriber), and it then gets the next message;
- rate limit: PUBs paced below --rate all pass, a burst above it gets ERR rate; CONFIG rate
  from another client reaches this one (watch);
- idle: a client that keeps talking stays, a silent one gets BYE idle after --idle-ms;
- client cap: over --max-clients a client gets ERR busy and is closed; a slot frees when a
  client quits;
- SIGINT: every connected client gets BYE shutdown and end of stream, "shutdown: N
  connections closed", exit 0; also when a client stopped reading (its connection is aborted
  after the 2 s drain);
- bad arguments: exit 2 with a usage line.
Usage: relay_test.py RELAY"""

import re
import socket
import threading
import time

from sample_proc import Failure, Sample, check, main, recv_line, recv_until_eof, run

WAIT = 10.0  # seconds, for any single wait


def relay(exe, *flags):
    """A relay on a port of its own; a failed check prints its task dump (kill -QUIT)."""
    return Sample(exe, "--port", "0", *flags, dump_on_failure=True)


class Client:
    def __init__(self, server, rcvbuf=None):
        if rcvbuf:
            # A small receive window: the server's writes block as soon as we stop reading.
            self.sock = socket.socket()
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(WAIT)
            self.sock.connect(("127.0.0.1", server.port))
        else:
            self.sock = server.connect()
        self.buf = bytearray()

    def send(self, line):
        self.sock.sendall(line.encode() + b"\n" if isinstance(line, str) else line)

    def line(self):
        try:
            return recv_line(self.sock, self.buf).decode()
        except socket.timeout:
            raise Failure(f"no line within {WAIT} s (was a command or a message lost?)") from None

    def expect(self, want, what=""):
        got = self.line()
        ok = re.fullmatch(want, got.rstrip("\n")) if want.startswith("^") else got == want + "\n"
        check(ok, f"{what}: expected {want!r}, got {got!r}")
        return got

    def cmd(self, line, want):
        self.send(line)
        return self.expect(want, line[:40] if isinstance(line, str) else "raw")

    def rest(self):
        """What is left until the server closes the connection."""
        return bytes(self.buf) + recv_until_eof(self.sock)


def count_messages(client, topic, total, deadline):
    """Reads MSG/LAGGED lines of `topic` until received + lagged == total; returns
    (received numbers, lagged). Fails on anything else or on overshoot."""
    got, lagged = [], 0
    while len(got) + lagged < total:
        check(time.monotonic() < deadline, f"{topic}: only {len(got)} + {lagged} lagged of {total}")
        line = client.line()
        parts = line.split(" ", 2)
        if parts[0] == "MSG" and parts[1] == topic:
            got.append(int(parts[2].split(":")[0]))
        elif parts[0] == "LAGGED" and parts[1] == topic:
            lagged += int(parts[2])
        else:
            raise Failure(f"unexpected line {line[:80]!r} after {len(got)} messages")
    check(len(got) + lagged == total, f"{len(got)} received + {lagged} lagged != {total} sent")
    check(all(a < b for a, b in zip(got, got[1:])), "messages out of order or repeated")
    return got, lagged


def unexpected(stderr):
    """stderr without the line weft's shuffle mode (WEFT_SHUFFLE) prints."""
    return b"".join(l for l in stderr.splitlines(True) if not l.startswith(b"weft: shuffle mode"))


def stop(server, clients, closed):
    """SIGINT: each client's stream ends with BYE shutdown; the relay reports and exits 0."""
    status, out, err = server.interrupt()
    check(status == 0, f"exit {status} after SIGINT; stderr {err!r}")
    check(unexpected(err) == b"", f"stderr: {err[:2000]!r}")  # e.g. a sanitizer's report
    check(f"shutdown: {closed} connections closed".encode() in out, f"shutdown line: {out!r}")
    for c in clients:
        rest = c.rest()
        check(rest.endswith(b"BYE shutdown\n"), f"last bytes before the close: {rest[-80:]!r}")


def test_delivery(exe):
    K = 2000
    with relay(exe, "--rate", "0", "--topic-capacity", "4096") as s:
        subs = [Client(s) for _ in range(3)]
        for c in subs:
            c.cmd("SUB news", "OK")
        other = Client(s)
        other.cmd("sub sports", "OK")  # verbs are case-insensitive
        # The publisher subscribes too: its commands and its deliveries then race in its
        # connection's select, where a losing branch must not take (and drop) either.
        pub = Client(s)
        pub.cmd("SUB news", "OK")
        results = {}

        def drain(i):
            try:
                results[i] = count_messages(subs[i], "news", K, time.monotonic() + WAIT)
            except Exception as e:  # reported by the main thread
                results[i] = e

        readers = [threading.Thread(target=drain, args=(i,)) for i in range(3)]
        for t in readers:
            t.start()
        pub.send("".join(f"PUB news {n}: item number {n}\n" for n in range(K)).encode())
        oks, echoed = 0, []
        while oks < K or len(echoed) < K:
            line = pub.line()
            if line == "OK\n":
                oks += 1
            elif line.startswith("MSG news "):
                echoed.append(int(line.split(" ")[2].rstrip(":")))
            else:
                raise Failure(f"publisher: unexpected {line[:80]!r} after {oks} OK")
            check(oks <= K and len(echoed) <= oks, f"publisher: {oks} OK, {len(echoed)} MSG")
        check(echoed == list(range(K)), "publisher: its own messages not all once in order")
        pub.cmd("UNSUB news", "OK")
        for t in readers:
            t.join(WAIT * 2)
        for i in range(3):
            r = results.get(i)
            check(isinstance(r, tuple), f"subscriber {i}: {r}")
            check(r == (list(range(K)), 0), f"subscriber {i}: not all {K} in order, or lagged")
        # The text keeps its spaces; the other topic saw nothing; UNSUB stops delivery.
        pub.cmd("PUB news  two  spaces ", "OK")
        for c in subs:
            c.expect("MSG news  two  spaces ")
        subs[2].cmd("UNSUB news", "OK")
        pub.cmd("PUB news after", "OK")
        subs[0].expect("MSG news after")
        subs[2].cmd("CONFIG", "CONFIG rate 0 idle 60000")  # and no MSG before it
        other.cmd("CONFIG", "CONFIG rate 0 idle 60000")

        # Bad input: an ERR each, and the connection goes on.
        bad = Client(s)
        for line, want in [
            ("FOO bar", "ERR unknown command 'FOO'"),
            ("SUB", "ERR usage: SUB topic"),
            ("SUB a b", "ERR usage: SUB topic"),
            ("PUB news", "ERR usage: PUB topic text"),
            ("UNSUB news", "ERR not subscribed to news"),
            ("CONFIG rate many", "^ERR rate must be a whole number.*"),
            ("CONFIG idle 0", "^ERR idle must be a whole number.*"),
            ("CONFIG colour blue", "ERR unknown CONFIG key 'colour'"),
            ("QUIT now", "ERR usage: QUIT"),
            ("", "ERR empty line"),
            ("SUB " + "t" * 65, "^ERR bad topic 't+\\.\\.\\.'"),
        ]:
            bad.cmd(line, want)
        # An over-long line (default --max-line 4096) in pieces, then more lines in the same
        # packet: reported once, the rest of it skipped, the next command answered.
        bad.send(b"PUB news " + b"x" * 3000)
        bad.send(b"y" * 6000)
        bad.send(b"z" * 100 + b"\nCONFIG\n")
        bad.expect("ERR line too long (max 4096 bytes)")
        bad.expect("CONFIG rate 0 idle 60000")
        bad.cmd("PUB news fine", "OK")
        subs[0].expect("MSG news fine")

        # A client that stopped reading: 6 MB for it fill the socket buffers (about 3 MB on
        # loopback), its outbox and its deliveries, so its connection waits in send and cannot
        # say goodbye; at SIGINT it is aborted after the 2 s drain, and the relay exits 0.
        stuck = Client(s, rcvbuf=4096)
        stuck.cmd("SUB bulk", "OK")
        payload = "p" * 3000
        for n in range(0, 2000, 100):
            pub.send("".join(f"PUB bulk {m}:{payload}\n" for m in range(n, n + 100)).encode())
            for m in range(n, n + 100):
                pub.expect("OK", f"PUB bulk {m}")
        t0 = time.monotonic()
        stop(s, subs + [other, pub, bad], 7)
        check(time.monotonic() - t0 < 8, "the shutdown with a stuck client took too long")
        stuck.sock.close()  # what it got before does not matter


def test_lag(exe):
    K = 4000
    payload = "p" * 1000
    with relay(exe, "--rate", "0", "--topic-capacity", "8") as s:
        slow = Client(s, rcvbuf=4096)
        slow.cmd("SUB flood", "OK")
        fast = Client(s)
        fast.cmd("SUB flood", "OK")
        pub = Client(s)
        result = {}

        def drain():
            try:
                result["fast"] = count_messages(fast, "flood", K, time.monotonic() + WAIT * 2)
            except Exception as e:
                result["fast"] = e

        reader = threading.Thread(target=drain)
        reader.start()
        # Replies are read by a second thread so that neither side's buffers fill up.
        acks = {}

        def read_acks():
            try:
                for n in range(K):
                    pub.expect("OK", f"PUB {n}")
                acks["ok"] = True
            except Exception as e:
                acks["ok"] = e

        acker = threading.Thread(target=read_acks)
        acker.start()
        for n in range(0, K, 100):
            pub.send("".join(f"PUB flood {m}:{payload}\n" for m in range(n, n + 100)).encode())
        acker.join(WAIT * 2)
        check(acks.get("ok") is True, f"publisher: {acks.get('ok')}")
        reader.join(WAIT * 2)
        check(isinstance(result.get("fast"), tuple), f"fast subscriber: {result.get('fast')}")
        # Only now does the slow subscriber read.
        got, lagged = count_messages(slow, "flood", K, time.monotonic() + WAIT * 2)
        check(lagged > 0, f"the slow subscriber was never told it lagged ({len(got)} received)")
        # ... and it carries on.
        pub.cmd("PUB flood 99999:next", "OK")
        slow.expect(f"MSG flood 99999:next")
        fast.expect(f"MSG flood 99999:next")

        stop(s, [slow, fast, pub], 3)


def burst_replies(c, n):
    """Reads the replies to n PUBs to topic r, which c subscribes to: each is OK (then its
    MSG comes too, in any position after it) or ERR rate. Returns (oks, errs)."""
    oks = errs = msgs = 0
    while oks + errs < n or msgs < oks:
        line = c.line()
        if line == "OK\n":
            oks += 1
        elif line == "ERR rate\n":
            errs += 1
        elif line.startswith("MSG r "):
            msgs += 1
        else:
            raise Failure(f"unexpected {line!r} in the replies to a burst")
        check(msgs <= oks, "a MSG for a PUB that was refused")
    return oks, errs


def test_rate(exe):
    with relay(exe, "--rate", "20") as s:
        c = Client(s)
        c.cmd("SUB r", "OK")
        # 10 per second, under the limit of 20: all pass.
        for n in range(10):
            c.cmd(f"PUB r slow {n}", "OK")
            c.expect(f"MSG r slow {n}")
            time.sleep(0.1)  # the pace being tested, not a synchronisation
        # A burst of 60 at once: at most a bucket's worth (20, plus what a few ms refill) pass.
        c.send("".join(f"PUB r fast {n}\n" for n in range(60)).encode())
        oks, errs = burst_replies(c, 60)
        check(errs > 0, "no ERR rate for a burst of 60 at --rate 20")
        check(1 <= oks <= 22, f"{oks} PUBs of the burst passed at --rate 20")
        # CONFIG rate from another client reaches this connection through the watch.
        other = Client(s)
        other.cmd("CONFIG rate 0", "OK")
        deadline = time.monotonic() + WAIT
        while c.cmd("CONFIG", "^CONFIG rate \\d+ idle 60000") != "CONFIG rate 0 idle 60000\n":
            check(time.monotonic() < deadline, "CONFIG rate 0 never reached the other connection")
        c.send("".join(f"PUB r unlimited {n}\n" for n in range(60)).encode())
        oks, errs = burst_replies(c, 60)
        check(errs == 0, f"{errs} ERR rate after CONFIG rate 0")
        stop(s, [c, other], 2)


def test_idle(exe):
    with relay(exe, "--idle-ms", "300") as s:
        c = Client(s)
        c.cmd("SUB quiet", "OK")
        start = time.monotonic()
        while time.monotonic() - start < 0.9:  # three idle periods, never silent for one
            last = time.monotonic()
            c.cmd("CONFIG", "CONFIG rate 100 idle 300")
            time.sleep(0.1)  # the pace being tested, not a synchronisation
        c.expect("BYE idle")
        waited = time.monotonic() - last
        check(0.25 <= waited <= 5, f"BYE idle after {waited:.2f} s of silence (idle 300 ms)")
        check(c.rest() == b"", "the idle connection was not closed")
        status, out, err = s.interrupt()
        check(status == 0 and b"shutdown: 0 connections closed" in out and unexpected(err) == b"",
              f"exit {status}, {out!r}, stderr {err[:2000]!r}")


def test_cap(exe):
    with relay(exe, "--max-clients", "2") as s:
        a, b = Client(s), Client(s)
        a.cmd("CONFIG", "CONFIG rate 100 idle 60000")
        b.cmd("CONFIG", "CONFIG rate 100 idle 60000")
        c = Client(s)
        check(c.rest() == b"ERR busy\n", "a third client at --max-clients 2 was not refused")
        a.cmd("QUIT", "BYE")
        check(a.rest() == b"", "QUIT did not close the connection")
        # a's slot comes back once its connection task has ended.
        deadline = time.monotonic() + WAIT
        while True:
            d = Client(s)
            try:
                d.send("CONFIG")
                first = d.line()
            except (ConnectionResetError, BrokenPipeError):
                first = "ERR busy\n"  # refused, and our CONFIG met the closed socket
            if first == "CONFIG rate 100 idle 60000\n":
                break
            check(first == "ERR busy\n", f"unexpected {first!r}")
            check(time.monotonic() < deadline, "the slot of a client that quit never came back")
            d.sock.close()
            time.sleep(0.05)  # retry pace
        stop(s, [b, d], 2)


def test_arguments(exe):
    for args in (["--rate", "-1"], ["--port", "70000"], ["--max-clients", "0"], ["--idle-ms", "x"],
                 ["--topic-capacity", "0"], ["--rate"], ["--colour", "blue"]):
        status, out, err = run([exe] + args)
        check(status == 2 and "usage" in err, f"{args}: exit {status}, stderr {err!r}")


def test(args):
    (exe,) = args
    for t in (test_arguments, test_delivery, test_lag, test_rate, test_idle, test_cap):
        start = time.monotonic()
        t(exe)
        print(f"{t.__name__}: ok ({time.monotonic() - start:.1f} s)")


main(test)
