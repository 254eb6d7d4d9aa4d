"""asio_legacy end to end: each step (1 callbacks, 2 use_fiber, 3 tcp_stream) greets with its
step number and echoes bytes to two clients at once; SIGINT -> exit 0; bad arguments -> 2.
Usage: asio_legacy_test.py ASIO_LEGACY"""

import os

from sample_proc import Sample, check, main, recv_exactly, recv_line, run


def test(args):
    (exe,) = args
    for step in (1, 2, 3):
        with Sample(exe, "--step", step, "--listen", "127.0.0.1:0") as s:
            clients = [s.connect() for _ in range(2)]
            for c in clients:
                buf = bytearray()
                line = recv_line(c, buf)
                check(line == f"asio_legacy step {step}\n".encode(), f"step {step}: greeting {line!r}")
                check(not buf, f"step {step}: unexpected bytes after the greeting")
            # Interleave the two clients: both connections are served at the same time.
            for round_ in range(3):
                for c in clients:
                    payload = os.urandom(1000 * (round_ + 1))
                    c.sendall(payload)
                    check(recv_exactly(c, len(payload)) == payload, f"step {step}: echo differs")
            for c in clients:
                c.close()
            status, out, err = s.interrupt()
            check(status == 0, f"step {step}: exit {status} after SIGINT; stderr {err!r}")

    for argv in ([exe], [exe, "--step", "4"], [exe, "--step", "1", "--listen", "nowhere"]):
        status, out, err = run(argv)
        check(status == 2 and "usage" in err, f"{argv[1:]}: exit {status}, stderr {err!r}")


main(test)
