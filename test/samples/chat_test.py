"""chat_server end to end: three named clients see each other's lines; a client that stops
reading during a flood is told how many lines it missed and then continues; SIGINT -> every
client is told "* server shutting down", its connection closes, the server exits 0.
Usage: chat_test.py CHAT_SERVER"""

import socket
import threading

from sample_proc import Sample, check, main, recv_line, recv_until_eof, run

FLOOD_LINES = 8000
FLOOD_LINE = b"x" * 1000


class Client:
    def __init__(self, server, name, rcvbuf=None):
        if rcvbuf:
            # A tiny receive window: the server's writes to us block as soon as we stop reading.
            self.sock = socket.socket()
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(10)
            self.sock.connect(("127.0.0.1", server.port))
        else:
            self.sock = server.connect()
        self.buf = bytearray()
        self.name = name
        check(self.line() == b"welcome! what is your name?\n", f"{name}: no welcome")
        self.sock.sendall(name.encode() + b"\r\n")
        check(self.line() == f"* hello {name}\n".encode(), f"{name}: no hello")

    def line(self):
        return recv_line(self.sock, self.buf)

    def expect(self, want, lag_notices_ok=False):
        got = self.line()
        while lag_notices_ok and got.startswith(b"* you missed "):
            got = self.line()
        check(got == want, f"{self.name}: expected {want!r}, got {got!r}")

    def say(self, text):
        self.sock.sendall(text.encode() + b"\n")


def test(args):
    (exe,) = args
    with Sample(exe, "--listen", "127.0.0.1:0", "--capacity", "16") as s:
        alice = Client(s, "alice")
        bob = Client(s, "bob")
        alice.expect(b"* bob joined\n")
        carol = Client(s, "carol")
        alice.expect(b"* carol joined\n")
        bob.expect(b"* carol joined\n")

        alice.say("hi all")
        bob.expect(b"alice: hi all\n")
        carol.expect(b"alice: hi all\n")
        carol.say("hello alice")
        alice.expect(b"carol: hello alice\n")
        bob.expect(b"carol: hello alice\n")

        # The lag: dave does not read while bob floods the room, so the server's writes to
        # dave block and the room's 16-line buffer overflows for him.
        dave = Client(s, "dave", rcvbuf=4096)
        for c in (alice, bob, carol):
            c.expect(b"* dave joined\n")
        stats = {}

        def drain(c):
            # Reads up to the line after the flood; counts flood lines and "missed" notices.
            seen = missed = 0
            while True:
                line = c.line()
                if line == b"bob: " + FLOOD_LINE + b"\n":
                    seen += 1
                elif line.startswith(b"* you missed "):
                    missed += int(line.split()[3])
                elif line == b"bob: flood over\n":
                    stats[c.name] = (seen, missed)
                    return
                else:
                    stats[c.name] = f"unexpected line {line[:80]!r}"
                    return

        readers = [threading.Thread(target=drain, args=(c,)) for c in (alice, carol)]
        for t in readers:
            t.start()
        bob.sock.sendall((FLOOD_LINE + b"\n") * FLOOD_LINES)
        bob.say("flood over")
        for t in readers:
            t.join(30)
        drain(dave)  # only now does dave read
        for name in ("alice", "carol", "dave"):
            r = stats.get(name)
            check(isinstance(r, tuple), f"{name}: {r}")
            seen, missed = r
            check(seen + missed == FLOOD_LINES, f"{name}: {seen} lines seen + {missed} missed != {FLOOD_LINES}")
        check(stats["dave"][1] > 0, f"dave was never told he lagged: {stats['dave']}")
        # ... and continues: he is still in the room.
        alice.say("still there, dave?")
        dave.expect(b"alice: still there, dave?\n")
        # bob may have lagged too, on his own flood lines: his writer branch shares the task
        # with the reader branch that was busy broadcasting them.
        bob.expect(b"alice: still there, dave?\n", lag_notices_ok=True)
        carol.expect(b"alice: still there, dave?\n")

        status, out, err = s.interrupt()
        check(status == 0, f"exit {status} after SIGINT; stderr {err!r}")
        check(b"every client task joined" in out, f"no clean shutdown line: {out!r}")
        for c in (alice, bob, carol, dave):
            rest = bytes(c.buf) + recv_until_eof(c.sock)  # ends: the server closed us
            check(rest.endswith(b"* server shutting down\n"), f"{c.name}: last bytes {rest[-80:]!r}")

    status, out, err = run([exe, "--capacity", "0"])
    check(status == 2 and "usage" in err, f"--capacity 0: exit {status}, stderr {err!r}")


main(test)
