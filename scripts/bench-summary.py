#!/usr/bin/env python3
"""Print criterion results (target/criterion/*/*/new/estimates.json) as a
markdown table: benchmark, mean time, and throughput per element when the
bench declared one. Usage: scripts/bench-summary.py [GROUP_PREFIX...]"""
import json
import os
import sys

root = os.path.join(os.path.dirname(__file__), "..", "target", "criterion")
prefixes = sys.argv[1:]


def fmt(ns):
    if ns >= 1e6:
        return "%.2f ms" % (ns / 1e6)
    if ns >= 1e3:
        return "%.2f µs" % (ns / 1e3)
    return "%.1f ns" % ns


rows = []
for dirpath, dirnames, filenames in os.walk(root):
    if os.path.basename(dirpath) != "new" or "estimates.json" not in filenames:
        continue
    bench = os.path.relpath(os.path.dirname(dirpath), root)
    if prefixes and not any(bench.startswith(p) for p in prefixes):
        continue
    est = json.load(open(os.path.join(dirpath, "estimates.json")))
    mean = est["mean"]["point_estimate"]
    per = ""
    try:
        b = json.load(open(os.path.join(dirpath, "benchmark.json")))
        t = b.get("throughput") or {}
        n = t.get("Elements")
        if n:
            per = fmt(mean / n)
    except (OSError, ValueError):
        pass
    rows.append((bench, fmt(mean), per))

print("| benchmark | mean per iteration | per element |")
print("|---|---|---|")
for r in sorted(rows):
    print("| %s | %s | %s |" % r)
