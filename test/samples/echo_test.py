"""echo_server / echo_load end to end: the finite demo, a plain server driven by echo_load and
by a raw socket (bytes checked), SIGINT -> exit 0, bad arguments -> exit 2.
Usage: echo_test.py ECHO_SERVER ECHO_LOAD"""

import os
import re
import threading

from sample_proc import Sample, check, main, recv_until_eof, run


def test(args):
    server, load = args

    # The showcase: ends by itself, every reply verified.
    status, out, err = run([server, "--demo", "--seconds", "1", "--connections", "4"])
    check(status == 0, f"--demo exited {status}: {out}{err}")
    m = re.search(r"(\d+) requests, (\d+) requests/s, 0 mismatched replies, 0 failed", out)
    check(m and int(m.group(1)) > 0, f"--demo printed no requests/s line: {out!r}")

    with Sample(server, "--listen", "127.0.0.1:0") as s:
        # Several raw connections at once, each echoing its own random bytes.
        failures = []

        def client(i):
            try:
                payload = os.urandom(200_000 + i)
                c = s.connect()
                sender = threading.Thread(target=lambda: (c.sendall(payload), c.shutdown(1)))
                sender.start()
                got = recv_until_eof(c)
                sender.join()
                c.close()
                if got != payload:
                    failures.append(f"client {i}: {len(got)} bytes back, expected {len(payload)} equal ones")
            except Exception as e:  # noqa: BLE001 - reported below
                failures.append(f"client {i}: {e!r}")

        threads = [threading.Thread(target=client, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        check(not failures, "; ".join(failures))

        status, out, err = run([load, "--connect", f"127.0.0.1:{s.port}", "--connections", "3", "--seconds", "1"])
        check(status == 0 and "requests/s" in out, f"echo_load exited {status}: {out}{err}")

        status, out, err = s.interrupt()
        check(status == 0, f"echo_server exited {status} after SIGINT: {err!r}")
        check(b"stopped" in out, f"no 'stopped' line: {out!r}")

    for argv in ([server], [server, "--listen"], [server, "--demo", "--seconds", "x"],
                 [load, "--connections", "3"], [load, "--connect", "127.0.0.1:1", "--bogus", "1"]):
        status, out, err = run(argv)
        check(status == 2 and "usage" in err, f"{argv[1:]}: exit {status}, stderr {err!r}")


main(test)
