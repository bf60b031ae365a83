#!/usr/bin/env python3
"""serve_summary.py serve.csv -- the serving benchmark's table (medians over rounds), in
Markdown, and issue 3's serving targets checked against it; then the news page (/ and
/?tag=bench) beside /feed.xml, from the same run."""
import csv
import statistics
import sys
from collections import OrderedDict

rows = list(csv.DictReader(open(sys.argv[1])))
g = OrderedDict()
for r in rows:
    g.setdefault((r["case"], r["encoding"], r["server"]), []).append(r)


def med(case, enc, server, k):
    rs = g.get((case, enc, server), [])
    return statistics.median(float(r[k]) for r in rs) if rs else float("nan")


print("| request | encoding | feedmerge req/s | nginx req/s | feedmerge / nginx | p99 ms feedmerge | p99 ms nginx | bytes/response (fm / nginx) | server CPU s (fm / nginx) |")
print("|---|---|--:|--:|--:|--:|--:|--:|--:|")
cases = list(OrderedDict.fromkeys((r["case"], r["encoding"]) for r in rows))
for case, enc in cases:
    a, b = med(case, enc, "feedmerge", "rps"), med(case, enc, "nginx", "rps")
    print("| %s | %s | %.0f | %.0f | %.0f%% | %.2f | %.2f | %.0f / %.0f | %.1f / %.1f |" % (
        "GET → 200" if case == "full" else "If-None-Match → 304", enc, a, b, 100 * a / b,
        med(case, enc, "feedmerge", "p99_ms"), med(case, enc, "nginx", "p99_ms"),
        med(case, enc, "feedmerge", "bytes_per_resp"), med(case, enc, "nginx", "bytes_per_resp"),
        med(case, enc, "feedmerge", "server_cpu_s"), med(case, enc, "nginx", "server_cpu_s")))
errs = sum(int(r["err_status"]) + int(r["err_socket"]) for r in rows)
print("\nwrk errors (non-2xx/3xx + socket) over all runs: %d; rounds: %d" % (errs, len(set(r["round"] for r in rows))))
print("\nIssue 3 serving targets, this run:")
for enc in ("identity", "gzip"):
    for case in ("full", "304"):
        r = med(case, enc, "feedmerge", "rps") / med(case, enc, "nginx", "rps")
        print("- %s %s: feedmerge at %.0f%% of nginx's requests/s (target ≥ 70%%): %s" % (
            case, enc, 100 * r, "met" if r >= 0.7 else "MISSED"))
    a, b = med("304", enc, "feedmerge", "rps"), med("full", enc, "feedmerge", "rps")
    pa, pb = med("304", enc, "feedmerge", "p99_ms"), med("full", enc, "feedmerge", "p99_ms")
    print("- %s: feedmerge 304 %.0f req/s (p99 %.2f ms) vs full %.0f req/s (p99 %.2f ms): 304s at least as fast: %s" % (
        enc, a, pa, b, pb, "met" if a >= b else "MISSED"))

if any(r["server"] == "page" for r in rows):
    print("\nThe news page beside /feed.xml, feedmerge alone, same run:\n")
    print("| request | encoding | /feed.xml req/s | / req/s | /?tag=bench req/s | / ÷ /feed.xml | p99 ms (feed / page / tag) | bytes/response (feed / page / tag) |")
    print("|---|---|--:|--:|--:|--:|--:|--:|")
    for case, enc in cases:
        f, p, t = (med(case, enc, s, "rps") for s in ("feedmerge", "page", "page_tag"))
        print("| %s | %s | %.0f | %.0f | %.0f | %.2f | %.2f / %.2f / %.2f | %.0f / %.0f / %.0f |" % (
            "GET → 200" if case == "full" else "If-None-Match → 304", enc, f, p, t, p / f,
            *(med(case, enc, s, "p99_ms") for s in ("feedmerge", "page", "page_tag")),
            *(med(case, enc, s, "bytes_per_resp") for s in ("feedmerge", "page", "page_tag"))))
