#!/usr/bin/env python3
"""Headless Chromium against weft::console.

Starts the console_server executable (argv[1]), loads its page with ?bt=1 in headless Chromium
with --dump-dom after a virtual-time budget, and checks that the page's script filled the task
table (a known task name and its stack), the metrics tables and the latency histograms from
/tasks.json?bt=1 and /metrics. Chromium missing is a
failure, not a skip: this suite exists to run it. Every step is bounded by a timeout.

Environment: WEFT_CHROMIUM names the browser binary (default: chromium, chromium-browser,
google-chrome, whichever is found first).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading

SERVER_START_TIMEOUT = 20
CHROMIUM_TIMEOUT = 90
SERVER_EXIT_TIMEOUT = 15


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def find_chromium():
    names = [os.environ["WEFT_CHROMIUM"]] if os.environ.get("WEFT_CHROMIUM") else []
    names += ["chromium", "chromium-browser", "google-chrome"]
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    fail("no Chromium found (looked for " + ", ".join(names) + "). The browser suite needs it: "
         "install the Debian package 'chromium' (scripts/test --browser does), or point "
         "WEFT_CHROMIUM at a Chromium or Chrome binary.")


def read_port(server):
    """The port from the server's first line, or None after SERVER_START_TIMEOUT."""
    result = {}

    def reader():
        result["line"] = server.stdout.readline()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    t.join(SERVER_START_TIMEOUT)
    m = re.fullmatch(r"PORT (\d+)\n", result.get("line") or "")
    return int(m.group(1)) if m else None


def stop(server):
    try:
        server.stdin.close()
    except OSError:
        pass
    try:
        return server.wait(SERVER_EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
        fail(f"console_server did not exit within {SERVER_EXIT_TIMEOUT} s of its stdin closing")


def main():
    if len(sys.argv) != 2:
        fail("usage: console_browser_test.py CONSOLE_SERVER")
    chromium = find_chromium()
    server = subprocess.Popen([sys.argv[1]], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    profile = tempfile.mkdtemp(prefix="weft-chromium-")
    try:
        port = read_port(server)
        if port is None:
            server.kill()
            fail(f"console_server did not print its port within {SERVER_START_TIMEOUT} s")
        url = f"http://127.0.0.1:{port}/?bt=1"
        cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=5000",
               "--dump-dom", url]
        print("running:", " ".join(cmd), flush=True)
        try:
            run = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 timeout=CHROMIUM_TIMEOUT)
        except subprocess.TimeoutExpired:
            fail(f"chromium did not finish within {CHROMIUM_TIMEOUT} s")
        dom = run.stdout
        if run.returncode != 0 or not dom.strip():
            fail(f"chromium exited with {run.returncode} and {len(dom)} bytes of DOM; "
                 f"its stderr:\n{run.stderr[-4000:]}")

        checks = [
            ("the task table lists the known task",
             r'<tr class="task suspended">(?:(?!</tr>).)*<td class="name">browser-test-sleeper</td>'),
            ("the task table shows what it waits on",
             r'<td class="name">browser-test-sleeper</td><td class="state">suspended</td><td>sleep</td>'),
            ("the console's own listener task is listed",
             r'<td class="name">weft::console</td>'),
            ("the runtime metrics table has weft_workers = 2",
             r'<tr class="metric"><td>weft_workers</td><td class="num">2</td></tr>'),
            ("the runtime metrics table has weft_alive_tasks",
             r'<tr class="metric"><td>weft_alive_tasks</td><td class="num">\d+</td></tr>'),
            ("the worker table has a row for worker 0 and one for worker 1",
             r'<tr class="worker"><td class="num">0</td>.*<tr class="worker"><td class="num">1</td>'),
            ("the worker table has a polls_total column",
             r'<th>polls_total</th>'),
            ("the stack column shows the sleeper's own frame",
             r'<td class="name">browser-test-sleeper</td>(?:(?!</tr>).)*<td class="bt">[^<]*browser_test_parked_here'),
            ("the latency table has worker 0's schedule latency with a count",
             r'<tr class="histogram"><td class="num">0</td><td>schedule_latency</td><td class="num">[1-9]\d*</td>'),
            ("the latency table has worker 1's run time",
             r'<tr class="histogram"><td class="num">1</td><td>run_time</td><td class="num">\d+</td>'),
            ("the histogram rows have quantiles in time units",
             r'<tr class="histogram">(?:(?!</tr>).)*<td class="num">\d[\d.]* (?:ns|\u00b5s|ms|s)</td>'),
            ("the histogram rows draw bars",
             r'<td class="bars">(?:<span[^>]*></span>)*?<span [^>]*style="height: [1-9]'),
            ("the status line says the page updated",
             r'<div id="status" class="ok">updated '),
        ]
        failed = [what for what, pattern in checks if not re.search(pattern, dom, re.S)]
        if failed:
            print(dom[:20000], file=sys.stderr)
            fail("the DOM Chromium rendered misses: " + "; ".join(failed))
        print(f"OK: {len(checks)} checks on the DOM of {url} ({len(dom)} bytes)")
    finally:
        rc = stop(server)
        shutil.rmtree(profile, ignore_errors=True)
    if rc != 0:
        fail(f"console_server exited with {rc}")


if __name__ == "__main__":
    main()
