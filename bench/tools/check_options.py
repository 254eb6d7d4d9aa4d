#!/usr/bin/env python3
"""weft_bench's options (test weft_bench_options): --repeat runs every named row once per
round (a JSON line each), --shuffle prints each round's order on stderr, and bad values are
refused with status 2 and a message. Every run is bounded by a timeout."""
import json
import subprocess
import sys


def main():
    exe = sys.argv[1]
    r = subprocess.run([exe, "--repeat", "3", "--shuffle", "9", "yield_many,chained_spawn"],
                       capture_output=True, text=True, timeout=50)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line)["workload"] for line in r.stdout.splitlines()]
    assert sorted(rows) == ["chained_spawn"] * 3 + ["yield_many"] * 3, rows
    orders = [line for line in r.stderr.splitlines() if " order:" in line]
    assert len(orders) == 3, r.stderr
    for bad in (["--repeat", "0"], ["--repeat", "x"], ["--repeat", "1001"], ["--shuffle"],
                ["--frobnicate", "1"], ["yield_many", "mutex"]):
        b = subprocess.run([exe] + bad, capture_output=True, text=True, timeout=10)
        assert b.returncode == 2 and "weft_bench" in b.stderr, (bad, b.returncode, b.stderr)
    print("OK: --repeat, --shuffle and bad values")


if __name__ == "__main__":
    main()
