#!/usr/bin/env python3
"""summarize.py [--floor floor.csv] results.csv [...] -- the ingest benchmark's tables, in Markdown.

1. medians per (tool, phase): wall, CPU, peak RSS, items stored and the check, 200/304 answers
2. ratios peer / feedmerge per phase (wall, CPU, peak RSS), from those medians: above 1 means
   feedmerge is faster / lighter
3. issue 3's ingest targets, checked against this run
4. with --floor: the parse floor (feed-rs alone on the same corpus) and feedmerge's first-ingest
   CPU as a multiple of it, run by run (issue 26's target: within 2x)
"""
import csv
import statistics
import sys
from collections import OrderedDict

args = sys.argv[1:]
floor_rows = []
while args[:1] == ["--floor"]:
    with open(args[1]) as f:
        floor_rows += list(csv.DictReader(f))
    args = args[2:]
rows = []
for p in args:
    with open(p) as f:
        rows += list(csv.DictReader(f))
if not rows:
    sys.exit("no rows")
groups = OrderedDict()
for r in rows:
    groups.setdefault((r["tool"], r["phase"]), []).append(r)
tools = list(OrderedDict.fromkeys(r["tool"] for r in rows))
phases = list(OrderedDict.fromkeys(r["phase"] for r in rows))


def med(rs, k):
    v = [float(r[k]) for r in rs if r.get(k) not in ("", None)]
    return statistics.median(v) if v else None


def m(tool, phase, k):
    rs = groups.get((tool, phase))
    return med(rs, k) if rs else None


def status(rs):
    return "OK" if all(r["status"] == "OK" for r in rs) else ",".join(sorted({r["status"] for r in rs}))


print("### Medians per tool and phase\n")
print("| tool | phase | runs | wall s | CPU s (user+sys) | peak RSS MiB | items stored | expected | check | 200/304 | other CPU s |")
print("|---|---|--:|--:|--:|--:|--:|---|---|---|--:|")
for (tool, phase), rs in groups.items():
    counts = "/".join(sorted({r["count"] for r in rs}))
    exp = rs[0]["exp_unique"] if tool == "feedmerge" else "%s..%s" % (rs[0]["exp_unique"], rs[0]["exp_entries"])
    codes = ""
    if rs[0].get("n200") not in ("", None):
        codes = "%d/%d" % (med(rs, "n200"), med(rs, "n304"))
        if med(rs, "nother"):
            codes += " +%d other" % med(rs, "nother")
    print("| %s | %s | %d | %.2f | %.2f (%.2f+%.2f) | %.1f | %s | %s | %s | %s | %.2f |" % (
        tool, phase, len(rs), med(rs, "wall_s"), med(rs, "cpu_s"), med(rs, "user_s"), med(rs, "sys_s"),
        med(rs, "maxrss_kb") / 1024, counts, exp, status(rs), codes, med(rs, "other_cpu_s")))

peers = [t for t in tools if t != "feedmerge"]
if "feedmerge" in tools and peers:
    print("\n### Ratios peer / feedmerge (same run; > 1: feedmerge is faster or lighter)\n")
    print("| peer | phase | wall | CPU | peak RSS |")
    print("|---|---|--:|--:|--:|")
    for peer in peers:
        for phase in phases:
            cells = []
            for k in ("wall_s", "cpu_s", "maxrss_kb"):
                a, b = m(peer, phase, k), m("feedmerge", phase, k)
                cells.append("%.1f×" % (a / b) if a is not None and b else "–")
            print("| %s | %s | %s |" % (peer, phase, " | ".join(cells)))

if "feedmerge" in tools:
    print("\n### Issue 3 ingest targets, this run\n")
    k = rows[0].get("exp_unique")
    fm_ok = all(r["status"] == "OK" for r in rows if r["tool"] == "feedmerge")
    print("- feedmerge stored exactly the unique stories in every phase: %s" % ("yes" if fm_ok else "NO"))
    if peers and ("feedmerge", "initial") in groups:
        best = min(peers, key=lambda p: m(p, "initial", "wall_s") or 1e9)
        r = m(best, "initial", "wall_s") / m("feedmerge", "initial", "wall_s")
        print("- first ingest, wall: feedmerge %.2f s, fastest peer %s %.2f s: %.1f× (target ≥ 10×): %s" % (
            m("feedmerge", "initial", "wall_s"), best, m(best, "initial", "wall_s"), r, "met" if r >= 10 else "MISSED"))
    for ph in ("unchanged", "unchanged2"):
        if peers and ("feedmerge", ph) in groups:
            best = min(peers, key=lambda p: m(p, ph, "cpu_s") or 1e9)
            fm = max(m("feedmerge", ph, "cpu_s"), 0.005)
            r = m(best, ph, "cpu_s") / fm
            print("- re-poll unchanged (%s), CPU: feedmerge %.2f s, least-CPU peer %s %.2f s: %.1f× (target ≥ 10×): %s" % (
                ph, m("feedmerge", ph, "cpu_s"), best, m(best, ph, "cpu_s"), r, "met" if r >= 10 else "MISSED"))
    for ph in ("unchanged", "unchanged2"):
        rs = groups.get(("feedmerge", ph))
        if rs and rs[0].get("n304") not in ("", None):
            print("- %s: feedmerge got %d answers 304 and %d answers 200 (all 304 expected)" % (
                ph, med(rs, "n304"), med(rs, "n200")))
    peak = max(float(r["maxrss_kb"]) for r in rows if r["tool"] == "feedmerge") / 1024
    print("- feedmerge peak RSS over all phases: %.1f MiB (target ≤ 50 MiB while ingesting 5000 feeds)" % peak)

    if peers and ("feedmerge", "initial") in groups:
        runs = sorted({r["run"] for r in rows}, key=int)
        per_run = []
        for run in runs:
            walls = {r["tool"]: float(r["wall_s"]) for r in rows if r["run"] == run and r["phase"] == "initial"}
            if "feedmerge" in walls and len(walls) > 1:
                best = min((t for t in walls if t != "feedmerge"), key=walls.get)
                per_run.append(walls[best] / walls["feedmerge"])
        if per_run:
            print("- first ingest, wall, run by run against the fastest peer of that run: %s (%d of %d runs ≥ 10×)" % (
                ", ".join("%.1f×" % r for r in per_run), sum(r >= 10 for r in per_run), len(per_run)))

if floor_rows:
    print("\n### Parse floor (feed-rs alone, one thread, the corpus from memory)\n")
    print("| run | parser | files | MB | entries | CPU s | MB per CPU s | feedmerge first ingest CPU s | multiple of the floor |")
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|")
    fm = {r["run"]: float(r["cpu_s"]) for r in rows if r["tool"] == "feedmerge" and r["phase"] == "initial"}
    multiples = []
    for r in floor_rows:
        cpu = float(r["cpu_s"])
        ingest = fm.get(r["run"])
        cell = "–"
        # The multiple is of the floor, feed-rs alone; feedmerge's parse stage is shown beside it.
        if ingest is not None and cpu > 0 and r["parser"] == "feed-rs":
            cell = "%.2f×" % (ingest / cpu)
            multiples.append(ingest / cpu)
        print("| %s | %s | %s | %.1f | %s | %.2f | %.1f | %s | %s |" % (
            r["run"], r["parser"], r["files"], int(r["bytes"]) / 1e6, r["entries"], cpu,
            float(r["bytes_per_cpu_s"]) / 1e6, "%.2f" % ingest if ingest is not None else "–", cell))
    if multiples:
        med_multiple = statistics.median(multiples)
        print("\n- first ingest CPU as a multiple of the feed-rs floor: %s, median %.2f× (target ≤ 2×): %s" % (
            ", ".join("%.2f×" % m_ for m_ in multiples), med_multiple, "met" if med_multiple <= 2 else "MISSED"))
