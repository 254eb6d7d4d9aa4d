#!/usr/bin/env python3
"""Draws scripts/bench --files's results as one chart: a panel per row (files_small in files/s,
files_random and files_seq in MB/s), a group of bars per cache state (warm, cold), a bar per
program (bar: the median over the rounds; whisker: the slowest and the fastest round).

Usage: files_chart.py RESULTS_JSONL OUT_PNG
"""
import os
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from files_table import CACHES, PROGRAMS, ROWS, load  # noqa: E402

LABELS = {"weft": "weft (io_uring)", "weft_pool": "weft (thread pool)",
          "tokio": "tokio::fs", "sync": "synchronous loop"}
# Fixed per program, so that a chart with a program missing (not built) keeps the others'.
COLORS = {"weft": "tab:blue", "weft_pool": "tab:cyan", "tokio": "tab:orange", "sync": "tab:gray"}


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: files_chart.py RESULTS_JSONL OUT_PNG")
    values, _, _ = load(argv[1])
    rows = [r for r in ROWS if any(k[0] == r[0] for k in values)]
    if not rows:
        sys.exit(f"files_chart.py: {argv[1]}: no results")
    fig, axes = plt.subplots(1, len(rows), figsize=(max(4.2 * len(rows), 6.0), 3.8), squeeze=False)
    width = 0.8 / len(PROGRAMS)
    for ax, (w, _, unit, _) in zip(axes[0], rows):
        caches = [c for c in CACHES if any((w, c, p) in values for p in PROGRAMS)]
        top = 0.0
        for i, p in enumerate(PROGRAMS):
            xs, meds, lo, hi = [], [], [], []
            for j, c in enumerate(caches):
                vals = values.get((w, c, p))
                if not vals:
                    continue
                med = statistics.median(vals)
                xs.append(j + (i - (len(PROGRAMS) - 1) / 2) * width)
                meds.append(med)
                lo.append(med - min(vals))
                hi.append(max(vals) - med)
                top = max(top, max(vals))
            if xs:
                ax.bar(xs, meds, width, yerr=[lo, hi], capsize=3, label=LABELS[p],
                       color=COLORS[p])
        ax.set_xticks(range(len(caches)))
        ax.set_xticklabels([f"{c} page cache" for c in caches])
        ax.set_ylabel(unit)
        ax.set_title(w, fontsize=10)
        ax.set_ylim(0, top * 1.35 if top > 0 else 1)  # room for the legend above the bars
        ax.legend(fontsize=7, loc="upper center", ncol=2)
    fig.suptitle("scripts/bench --files: median of the rounds, whiskers min-max, higher is better",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(argv[2], dpi=110)


if __name__ == "__main__":
    main(sys.argv)
