#!/usr/bin/env python3
"""The table of scripts/bench --files: throughput per program, row and cache state.

Usage: files_table.py [--meta FILE] RESULTS_JSONL

Each input line is one program's run of one row (the peers' schema plus "run":k):
  {"peer":"weft","workload":"files_small","n":...,"ns_total":...,"ns_per_op":...,
   "extra":{"files_s":...,"mb_s":...,"cache":"warm","backend":"io_uring",...},"run":1}
or a skipped line ({"peer":...,"workload":...,"skipped":true,"reason":...}).

Throughput, higher is better: files/s for files_small, MB/s (10^6 bytes/s) for the others.
Each cell is the median over the rounds, then the slowest and the fastest round.
Ratios are of medians: weft / tokio and weft / weft_pool (issue #16's goal for files_small
and files_random: at least 2 and 1.5), and weft / sync.
"""
import argparse
import collections
import json
import statistics
import sys

PROGRAMS = ["weft", "weft_pool", "tokio", "sync"]
ROWS = [("files_small", "files_s", "files/s", "each small file (4 KiB) read whole, 64 tasks "
         "(sync: one after another)"),
        ("files_random", "mb_s", "MB/s", "4 KiB reads at random aligned offsets of the big file, "
         "64 in flight (sync: 1)"),
        ("files_seq", "mb_s", "MB/s", "the big file read from start to end in 1 MiB requests "
         "(tokio: 16 KiB per blocking read, its buffer's cap)")]
CACHES = ["warm", "cold"]
GOAL = {"files_small": (2.0, 1.5), "files_random": (2.0, 1.5)}  # weft / tokio, weft / weft_pool


def load(path):
    """(workload, cache, program) -> [throughput]; skipped -> {(workload, program): reason};
    backends -> {(workload, cache): set of the backends the weft row used}."""
    values = collections.defaultdict(list)
    skipped = {}
    backends = collections.defaultdict(set)
    field = {w: f for w, f, _, _ in ROWS}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            d = json.loads(line)
            w, p = d["workload"], d["peer"]
            if d.get("skipped"):
                skipped[(w, p)] = d.get("reason", "")
                continue
            extra = d.get("extra", {})
            cache = extra.get("cache", "unspecified")
            values[(w, cache, p)].append(float(extra[field[w]]))
            if p == "weft":
                backends[(w, cache)].add(extra.get("backend", "?"))
    return values, skipped, backends


def fmt(v):
    return f"{v:,.0f}" if v >= 100 else f"{v:,.1f}"


def table(values, skipped, backends):
    out = []
    rounds = max((len(v) for v in values.values()), default=0)
    out.append(f"median of {rounds} rounds (min-max); higher is better; ratios of medians")
    out.append("")
    out.append("| row | cache | unit | " + " | ".join(PROGRAMS) +
               " | weft / tokio | weft / weft_pool | weft / sync |")
    out.append("|---|---|---|" + "---:|" * len(PROGRAMS) + "---:|---:|---:|")
    notes = []
    for w, _, unit, _ in ROWS:
        for cache in CACHES + sorted({c for (x, c, _) in values if x == w} - set(CACHES)):
            if not any((w, cache, p) in values for p in PROGRAMS):
                continue
            med = {}
            cells = []
            for p in PROGRAMS:
                xs = values.get((w, cache, p))
                if xs:
                    med[p] = statistics.median(xs)
                    cells.append(f"{fmt(med[p])} ({fmt(min(xs))}-{fmt(max(xs))})")
                elif (w, p) in skipped:
                    cells.append("not built" if p.startswith("weft") else "skipped")
                else:
                    cells.append("n/a")

            def ratio(a, b, goal=None):
                if a not in med or b not in med:
                    return "n/a"
                r = med[a] / med[b]
                return f"**{r:.2f}**" if goal is not None and r >= goal else f"{r:.2f}"

            goal = GOAL.get(w, (None, None))
            out.append(f"| {w} | {cache} | {unit} | " + " | ".join(cells) + " | " +
                       f"{ratio('weft', 'tokio', goal[0])} | {ratio('weft', 'weft_pool', goal[1])} | "
                       f"{ratio('weft', 'sync')} |")
            used = backends.get((w, cache), set())
            if used - {"io_uring"}:
                notes.append(f"{w} ({cache}): the weft row ran on {', '.join(sorted(used))}, not "
                             "io_uring only (the kernel refused io_uring?): its figure is not "
                             "io_uring's")
    out.append("")
    for w, _, _, what in ROWS:
        if any(k[0] == w for k in values):
            out.append(f"- {w}: {what}")
    out.append("- bold: issue #16's goal met (weft / tokio >= 2, weft / weft_pool >= 1.5, "
               "files_small and files_random)")
    for n in notes:
        out.append(f"- **warning**: {n}")
    return "\n".join(out)


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--meta")
    ap.add_argument("results")
    args = ap.parse_args(argv[1:])
    if args.meta:
        print("".join("> " + line for line in open(args.meta)))
    print(table(*load(args.results)))


if __name__ == "__main__":
    main(sys.argv)
