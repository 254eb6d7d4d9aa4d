#!/usr/bin/env python3
"""Tables (and optional charts) from weft_bench / peer JSONL results, as scripts/bench prints them.

  table.py [--meta FILE] [--plot DIR] weft.jsonl tokio.jsonl boost_fiber.jsonl asio.jsonl
      one markdown table: the median of each runtime per workload, scored as docs/contributing.md says,
      and the ratio weft / best peer (lower is better; < 1 means weft wins)
  table.py [--meta FILE] [--plot DIR] --scaling scaling.jsonl
      weft against itself: cost per op at each size and the growth largest / smallest

Each input line is one workload of one run:
  {"peer":"weft","workload":"spawn_many","n":200000,"ns_total":...,"ns_per_op":...,"extra":{...},"run":1}
or a skipped row: {"peer":...,"workload":...,"skipped":true,"reason":"..."}.
"""
import argparse
import json
import os
import statistics
import sys
from collections import defaultdict

ROWS = ["idle_memory", "spawn_many", "spawn_remote", "yield_many", "ping_pong", "ping_pong_100",
        "chained_spawn", "mpsc", "mutex", "skynet", "timers", "tcp_echo", "select", "select_ops",
        "fan_out"]

# weft rows that the peers measure under another row's name: select_ops is weft's select over
# operations on the select workload, so the peers' select row is its comparison.
PEER_ROW = {"select_ops": "select"}

# workload -> (field, label of the figure, scale to the shown unit, decimals)
FIGURE = {
    "timers": ("mean_overshoot_ns", "mean overshoot, µs", 1e-3, 1),
    "idle_memory": ("rss_per_task_bytes", "RSS bytes / parked task", 1.0, 0),
    "tcp_echo": ("ns_per_op", "ns / round trip", 1.0, 0),
}
DEFAULT_FIGURE = ("ns_per_op", "ns / op", 1.0, 0)
IDLE_TARGET = 8192  # a stackful runtime's floor, one or two touched pages per task

SCALING_GROUPS = [
    ("spawn_many", ["spawn_many_10k", "spawn_many_100k", "spawn_many_1m"], "ns_per_op",
     "ns / task", "tasks"),
    ("tcp_echo", ["tcp_echo_10", "tcp_echo_100", "tcp_echo_1000"], "ns_per_op",
     "ns / round trip", "connections"),
    ("idle_memory", ["idle_memory_10k", "idle_memory_100k"], "rss_per_task_bytes",
     "RSS bytes / parked task", "tasks"),
]


def figure_of(workload):
    return FIGURE.get(workload, DEFAULT_FIGURE)


def value_of(record, field):
    if field in record:
        return record[field]
    return record.get("extra", {}).get(field)


class Results:
    """Every value per (runtime, workload), in input order of runtimes."""

    def __init__(self, paths):
        self.runtimes = []
        self.records = defaultdict(list)       # (runtime, workload) -> [record]
        self.skipped = {}                      # (runtime, workload) -> reason
        for path in paths:
            if not os.path.exists(path):
                continue
            with open(path) as f:
                for line in f:
                    line = line.strip()
                    if not line:
                        continue
                    d = json.loads(line)
                    rt, w = d["peer"], d["workload"]
                    if rt not in self.runtimes:
                        self.runtimes.append(rt)
                    if d.get("skipped"):
                        self.skipped[(rt, w)] = d.get("reason", "")
                    else:
                        self.records[(rt, w)].append(d)

    def workloads(self):
        seen = {w for (_, w) in self.records} | {w for (_, w) in self.skipped}
        return [w for w in ROWS if w in seen] + sorted(w for w in seen if w not in ROWS)

    def values(self, rt, w, field):
        return [v for v in (value_of(r, field) for r in self.records.get((rt, w), []))
                if v is not None]

    def median(self, rt, w, field):
        xs = self.values(rt, w, field)
        return statistics.median(xs) if xs else None

    def by_run(self, rt, w, field):
        """{run number: value} for one runtime's row (records without a "run" count from 1)."""
        out = {}
        for i, r in enumerate(self.records.get((rt, w), []), 1):
            v = value_of(r, field)
            if v is not None:
                out[r.get("run", i)] = v
        return out

    def runs(self):
        return max((len(v) for v in self.records.values()), default=0)


def fmt(v, nd=0):
    return "n/a" if v is None else f"{v:,.{nd}f}"


def rounds_ahead(res, w, field, peers, row_of):
    """"k/n": in how many of the n rounds every peer measured weft's figure beat the best peer's
    figure of the same round. A median can win while single rounds lose; the bar for a row is
    every round (issue #18), so the table shows it rather than leaving it to the raw files."""
    mine = res.by_run("weft", w, field)
    theirs = [res.by_run(p, row_of(p), field) for p in peers]
    theirs = [t for t in theirs if t]
    rounds = [k for k in mine if theirs and all(k in t for t in theirs)]
    if not rounds:
        return "n/a"
    ahead = sum(1 for k in rounds if mine[k] < min(t[k] for t in theirs))
    return f"{ahead}/{len(rounds)}"


def compare_table(res):
    peers = [r for r in res.runtimes if r != "weft"]
    out = []
    out.append(f"median of {res.runs()} alternating runs per runtime; lower is better in every "
               "row; ratio = weft / best peer (< 1: weft wins)")
    out.append("")
    out.append("| workload | figure | weft | " + " | ".join(peers) +
               " | weft / best peer | weft max/min | rounds ahead |")
    out.append("|---|---|---:|" + "---:|" * len(peers) + "---:|---:|---:|")
    ratios = {}
    for w in res.workloads():
        field, label, scale, nd = figure_of(w)

        def row_of(rt):
            return w if rt == "weft" else PEER_ROW.get(w, w)

        def cell(rt):
            if (rt, row_of(rt)) in res.skipped and not res.records.get((rt, row_of(rt))):
                return "skipped" if rt != "weft" else "not built"
            m = res.median(rt, row_of(rt), field)
            return fmt(m * scale if m is not None else None, nd)

        mine = res.median("weft", w, field)
        best = [(res.median(p, row_of(p), field), p) for p in peers]
        best = [b for b in best if b[0] is not None]
        ratio_cell = "n/a"
        if mine is not None and best:
            bv, bp = min(best)
            ratio = mine / bv if bv > 0 else float("inf")
            ratios[w] = ratio
            ratio_cell = f"{ratio:.2f} ({bp})"
            if ratio < 1.0:
                ratio_cell = f"**{ratio:.2f}** ({bp})"
            if w == "idle_memory":
                verdict = "met" if mine <= IDLE_TARGET else "missed"
                ratio_cell += f"; target <= 8 KiB {verdict}"
        xs = res.values("weft", w, field)
        spread = f"{max(xs) / min(xs):.2f}" if xs and min(xs) > 0 else "n/a"
        out.append(f"| {w} | {label} | {cell('weft')} | " +
                   " | ".join(cell(p) for p in peers) +
                   f" | {ratio_cell} | {spread} | {rounds_ahead(res, w, field, peers, row_of)} |")
    rps = {rt: res.median(rt, "tcp_echo", "rps") for rt in res.runtimes}
    if any(v is not None for v in rps.values()):
        out.append("")
        out.append("tcp_echo requests/s (median): " + ", ".join(
            f"{rt} {fmt(v)}" for rt, v in rps.items() if v is not None))
    return "\n".join(out), ratios


def scaling_table(res):
    out = ["weft against itself; median of "
           f"{res.runs()} runs, each row in a process of its own", "",
           "| row | size | figure | median | max/min | vs smallest size |",
           "|---|---:|---|---:|---:|---:|"]
    series = {}
    for group, rows, field, label, unit in SCALING_GROUPS:
        base = None
        pts = []
        for row in rows:
            recs = res.records.get(("weft", row), [])
            if not recs:
                continue
            size = recs[0].get("extra", {}).get("clients", recs[0]["n"])
            m = res.median("weft", row, field)
            xs = res.values("weft", row, field)
            if m is None:
                continue
            if base is None:
                base = m
            pts.append((size, m))
            growth = f"{m / base:.2f}x" if base else "n/a"
            spread = f"{max(xs) / min(xs):.2f}" if min(xs) > 0 else "n/a"
            out.append(f"| {row} | {size:,} {unit} | {label} | {fmt(m, 1)} | {spread} | {growth} |")
        if pts:
            series[group] = (pts, label, unit)
    return "\n".join(out), series


def plot_compare(res, ratios, outdir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(outdir, exist_ok=True)
    ws = [w for w in res.workloads() if w in ratios]
    if ws:
        fig, ax = plt.subplots(figsize=(8, 0.45 * len(ws) + 1.5))
        vals = [ratios[w] for w in ws]
        # idle_memory is judged against the 8 KiB stackful floor, not against Tokio: grey
        colors = ["#aaaaaa" if w == "idle_memory" else "#2a9d8f" if v < 1.0 else "#e76f51"
                  for w, v in zip(ws, vals)]
        labels = [f"{w} (RSS; not chased)" if w == "idle_memory" else w for w in ws]
        ax.barh(labels[::-1], vals[::-1], color=colors[::-1])
        ax.axvline(1.0, color="black", linewidth=1)
        ax.set_xscale("log")
        ax.set_xlabel("weft / best peer (log scale; < 1: weft wins)")
        for y, v in enumerate(vals[::-1]):
            ax.text(v, y, f" {v:.2f}", va="center", fontsize=8)
        ax.set_title("weft against the best peer, per workload")
        fig.tight_layout()
        fig.savefig(os.path.join(outdir, "bench_ratio.png"), dpi=110)
        plt.close(fig)

    ws = [w for w in res.workloads() if any(res.records.get((rt, w)) for rt in res.runtimes)]
    if ws:
        cols = 4
        rows = (len(ws) + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
        palette = {"weft": "#264653", "tokio": "#e9c46a", "boost_fiber": "#f4a261",
                   "asio": "#8ab17d"}
        for i, w in enumerate(ws):
            ax = axes[i // cols][i % cols]
            field, label, scale, _ = figure_of(w)
            names, vals = [], []
            for rt in res.runtimes:
                m = res.median(rt, w, field)
                if m is not None:
                    names.append(rt)
                    vals.append(m * scale)
            ax.bar(names, vals, color=[palette.get(n, "#999999") for n in names])
            ax.set_title(w, fontsize=10)
            ax.set_ylabel(label, fontsize=8)
            ax.tick_params(axis="x", labelsize=8, rotation=20)
            if vals and max(vals) / max(min(vals), 1e-9) > 30:
                ax.set_yscale("log")
        for j in range(len(ws), rows * cols):
            axes[j // cols][j % cols].axis("off")
        fig.suptitle("median per runtime (lower is better)")
        fig.tight_layout()
        fig.savefig(os.path.join(outdir, "bench_workloads.png"), dpi=100)
        plt.close(fig)


def plot_scaling(series, outdir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not series:
        return
    os.makedirs(outdir, exist_ok=True)
    fig, axes = plt.subplots(1, len(series), figsize=(4.5 * len(series), 3.5), squeeze=False)
    for ax, (group, (pts, label, unit)) in zip(axes[0], series.items()):
        xs = [p[0] for p in pts]
        ys = [p[1] for p in pts]
        ax.plot(xs, ys, marker="o", color="#264653")
        ax.set_xscale("log")
        ax.set_xlabel(unit)
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.set_title(group)
    fig.suptitle("weft scaling: cost per op against size")
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "bench_scaling.png"), dpi=110)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--meta", help="a file of 'key: value' lines printed above the table")
    ap.add_argument("--plot", metavar="DIR", help="also write PNG charts into DIR")
    ap.add_argument("--scaling", action="store_true", help="inputs hold weft's scaling rows")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()

    res = Results(args.files)
    if args.meta and os.path.exists(args.meta):
        with open(args.meta) as f:
            for line in f:
                if line.strip():
                    print(f"- {line.strip()}")
        print()
    if args.scaling:
        text, series = scaling_table(res)
        print(text)
        if args.plot:
            plot_scaling(series, args.plot)
    else:
        text, ratios = compare_table(res)
        print(text)
        if args.plot:
            plot_compare(res, ratios, args.plot)
    if args.plot:
        print(f"\ncharts written to {args.plot}", file=sys.stderr)


if __name__ == "__main__":
    main()
