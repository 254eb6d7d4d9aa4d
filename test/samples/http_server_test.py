"""http_server end to end: each way of running it (callbacks on io_context, the same callbacks
on weft, a task per connection) answers GET / with its name, 404 and 400 where due, HEAD with
headers only, several requests on one keep-alive connection, eight clients at once, a request
sent in pieces; SIGINT -> exit 0; bad arguments -> 2.
Usage: http_server_test.py HTTP_SERVER"""

import http.client
import threading

from sample_proc import TIMEOUT, Sample, check, main, run


def get(conn, method, target):
    conn.request(method, target)
    res = conn.getresponse()
    return res.status, res.getheader("Content-Length"), res.read()


def test(args):
    (exe,) = args
    for name in ("io_context", "weft", "tasks"):
        with Sample(exe, "--run", name, "--listen", "127.0.0.1:0", "--threads", 2) as s:
            hello = f"hello from {name}\n".encode()
            conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=TIMEOUT)
            for _ in range(3):  # one keep-alive connection, several requests
                status, length, body = get(conn, "GET", "/")
                check(status == 200 and body == hello, f"{name}: GET / -> {status} {body!r}")
            status, length, body = get(conn, "HEAD", "/")
            check(status == 200 and body == b"" and length == str(len(hello)),
                  f"{name}: HEAD / -> {status}, length {length}, body {body!r}")
            status, _, body = get(conn, "GET", "/missing")
            check(status == 404 and b"/missing" in body, f"{name}: GET /missing -> {status}")
            status, _, _ = get(conn, "POST", "/")
            check(status == 400, f"{name}: POST / -> {status}")
            conn.close()

            # A request that arrives in pieces is parsed across reads.
            raw = s.connect()
            request = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            for i in range(0, len(request), 7):
                raw.sendall(request[i:i + 7])
            reply = b""
            while True:
                chunk = raw.recv(4096)
                if not chunk:
                    break
                reply += chunk
            raw.close()
            check(reply.startswith(b"HTTP/1.1 200") and reply.endswith(hello),
                  f"{name}: piecewise request -> {reply!r}")

            # Eight clients at once, each with a few requests.
            failures = []

            def client():
                try:
                    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=TIMEOUT)
                    for _ in range(20):
                        st, _, b = get(c, "GET", "/")
                        if st != 200 or b != hello:
                            failures.append((st, b))
                    c.close()
                except Exception as e:  # reported below; the thread must not die silently
                    failures.append(repr(e))

            threads = [threading.Thread(target=client) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(TIMEOUT)
            check(not any(t.is_alive() for t in threads), f"{name}: a client hung")
            check(not failures, f"{name}: concurrent clients saw {failures[:3]}")

            status, out, err = s.interrupt()
            check(status == 0, f"{name}: exit {status} after SIGINT; stderr {err!r}")

    for argv in ([exe], [exe, "--run", "nginx"], [exe, "--run", "weft", "--threads", "0"],
                 [exe, "--run", "weft", "--listen", "nowhere"]):
        status, out, err = run(argv)
        check(status == 2 and "usage" in err, f"{argv[1:]}: exit {status}, stderr {err!r}")


main(test)
