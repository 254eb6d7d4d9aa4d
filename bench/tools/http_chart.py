#!/usr/bin/env python3
"""Draws scripts/bench --http's results as one chart: requests/s per server at each connection
count (bar: the median over the rounds; whisker: the slowest and the fastest round).

Usage: http_chart.py RESULTS_CSV OUT_PNG
RESULTS_CSV rows: server,connections,requests_per_s,non2xx,socket_errors,round
"""
import collections
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

SERVERS = [("io_context", "callbacks on io_context"), ("weft", "the same callbacks on weft"),
           ("tasks", "a weft task per connection")]


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: http_chart.py RESULTS_CSV OUT_PNG")
    rps = collections.defaultdict(list)
    with open(argv[1]) as f:
        for line in f:
            fields = line.strip().split(",")
            if len(fields) != 6:
                sys.exit(f"http_chart.py: {argv[1]}: not a results row: {line.strip()!r}")
            rps[(fields[0], int(fields[1]))].append(float(fields[2]))
    conns = sorted({c for _, c in rps})
    top = max(max(v) for v in rps.values()) / 1000
    fig, ax = plt.subplots(figsize=(7, 3.6))
    width = 0.8 / len(SERVERS)
    for i, (server, label) in enumerate(SERVERS):
        xs, meds, lo, hi = [], [], [], []
        for j, c in enumerate(conns):
            vals = rps.get((server, c))
            if not vals:
                continue
            med = statistics.median(vals)
            xs.append(j + (i - 1) * width)
            meds.append(med / 1000)
            lo.append((med - min(vals)) / 1000)
            hi.append((max(vals) - med) / 1000)
        ax.bar(xs, meds, width, yerr=[lo, hi], capsize=3, label=label)
    ax.set_xticks(range(len(conns)))
    ax.set_xticklabels([f"{c:,} connections" for c in conns])
    ax.set_ylabel("thousand requests/s")
    ax.set_title("samples/http_server under wrk (median of the rounds, whiskers: min-max)")
    ax.set_ylim(0, top * 1.3)  # room for the legend above the bars
    ax.legend(fontsize=8, loc="upper center", ncol=len(SERVERS))
    fig.tight_layout()
    fig.savefig(argv[2], dpi=110)


if __name__ == "__main__":
    main(sys.argv)
