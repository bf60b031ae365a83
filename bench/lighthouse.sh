#!/usr/bin/env bash
# Lighthouse on the news page: performance, accessibility, best practices and SEO, with the
# desktop and the mobile preset, against headless Chromium.  Fails when any score is below
# MIN.  See BENCHMARKS.md.
#
#   npm install -g lighthouse@13 && cargo build --release && bench/lighthouse.sh
#
# Steps: bench/gen_page_corpus.py writes five feeds of 50 stories in all, with their lead
# images and avatars (PNG); a local server (bench/static_server.sh) serves them on 127.0.0.1;
# `feedmerge poll-once` stores them in a fresh database, each feed with its tags, and
# `feedmerge run` serves the page.  Then Lighthouse loads each page of PAGES with each preset
# (mobile: a mid-range phone on a slow 4G link, simulated; desktop: a fast link) and the four
# scores are printed, one line per page and preset.  The full reports are kept as JSON and
# HTML in OUT.
#
# Environment (defaults in brackets):
#   PAGES ["/ /?tag=local"]  paths of the news page to audit
#   PRESETS ["desktop mobile"]
#   MIN [95]                 the lowest score (0-100) accepted in every category
#   STORIES [50]             stories in the corpus
#   FM_PORT [18193] CORPUS_PORT [18194] BENCH_ROOT [/tmp/feedmerge-bench]
#   FEEDMERGE_BIN [${CARGO_TARGET_DIR:-target}/release/feedmerge] (a debug build will do)
#   CHROME_PATH [/usr/bin/chromium]
#   OUT [$BENCH_ROOT/results/<stamp>-lighthouse]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
PAGES=${PAGES:-"/ /?tag=local"}; PRESETS=${PRESETS:-"desktop mobile"}; MIN=${MIN:-95}
STORIES=${STORIES:-50}; FM_PORT=${FM_PORT:-18193}; CORPUS_PORT=${CORPUS_PORT:-18194}
BENCH_ROOT=${BENCH_ROOT:-/tmp/feedmerge-bench}; export BENCH_ROOT
FEEDMERGE_BIN=${FEEDMERGE_BIN:-${CARGO_TARGET_DIR:-$repo/target}/release/feedmerge}
OUT=${OUT:-$BENCH_ROOT/results/$(date +%Y%m%d-%H%M%S)-lighthouse}
export CHROME_PATH=${CHROME_PATH:-/usr/bin/chromium}
command -v lighthouse >/dev/null || { echo "needs lighthouse (npm install -g lighthouse@13)" >&2; exit 2; }
[[ -x $CHROME_PATH ]] || { echo "needs Chromium at $CHROME_PATH (Debian: apt-get install -y chromium)" >&2; exit 2; }
[[ -x $FEEDMERGE_BIN ]] || { echo "no feedmerge binary at $FEEDMERGE_BIN: run 'cargo build --release'" >&2; exit 2; }
mkdir -p "$OUT"
work=$OUT/work; corpus=$OUT/corpus; mkdir -p "$work"

# 1. the corpus (dated from now, so generated for every run), served locally
python3 "$here/gen_page_corpus.py" --out "$corpus" --stories "$STORIES"
"$here/static_server.sh" start "$corpus" "$CORPUS_PORT" >/dev/null
fm_pid=""
cleanup() {
  if [[ -n $fm_pid ]]; then kill -TERM "$fm_pid" 2>/dev/null || true; wait "$fm_pid" 2>/dev/null || true; fi
  "$here/static_server.sh" stop "$corpus" "$CORPUS_PORT" >/dev/null 2>&1 || true
}
trap cleanup EXIT
{
  printf '[server]\nlisten = "127.0.0.1:%s"\n[storage]\npath = "%s"\n' "$FM_PORT" "$work/feedmerge.db"
  printf '[reading_time]\nfull_text = "never"\n[output]\ntitle = "Evening News"\n'
  printf 'description = "Local news, the wire, tech notes, sport and a podcast"\n'
  while read -r path tags; do
    printf '[[feeds]]\nurl = "http://127.0.0.1:%s/%s"\ntags = ["%s"]\n' "$CORPUS_PORT" "$path" "${tags//,/\", \"}"
  done < "$corpus/feeds.txt"
} > "$work/feedmerge.toml"
"$FEEDMERGE_BIN" --config "$work/feedmerge.toml" poll-once > "$work/poll-once.log" 2>&1

# 2. the daemon
"$FEEDMERGE_BIN" --config "$work/feedmerge.toml" run > "$work/daemon.log" 2>&1 &
fm_pid=$!
for _ in $(seq 1 100); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$FM_PORT/readyz") == 200 ]] && break
  sleep 0.1
done

# 3. Lighthouse, each page with each preset
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(uname -srm); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') x $(nproc)"
  echo "lighthouse: $(lighthouse --version); chromium: $("$CHROME_PATH" --version 2>/dev/null | head -1)"
  echo "feedmerge: $("$FEEDMERGE_BIN" --version); $(tail -1 "$work/poll-once.log")"
} | tee "$OUT/env.txt"
failed=0
printf '%-14s %-8s %11s %13s %14s %5s\n' page preset performance accessibility best-practices seo | tee "$OUT/scores.txt"
n=0
for page in $PAGES; do
  for preset in $PRESETS; do
    n=$((n + 1))
    flags=(); [[ $preset == desktop ]] && flags+=(--preset=desktop)
    report=$OUT/lighthouse-$n-$preset
    lighthouse "http://127.0.0.1:$FM_PORT$page" "${flags[@]}" --quiet \
      --chrome-flags="--headless=new --no-sandbox" \
      --only-categories=performance,accessibility,best-practices,seo \
      --output=json --output=html --output-path="$report" >> "$work/lighthouse.log" 2>&1
    python3 - "$report.report.json" "$page" "$preset" "$MIN" <<'PY' | tee -a "$OUT/scores.txt" || failed=1
import json, sys
path, page, preset, low = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
r = json.load(open(path))
cats = ["performance", "accessibility", "best-practices", "seo"]
scores = {c: round(100 * (r["categories"][c]["score"] or 0)) for c in cats}
print("%-14s %-8s %11d %13d %14d %5d" % (page, preset, *[scores[c] for c in cats]))
bad = [c for c in cats if scores[c] < low]
for c in bad:
    for ref in r["categories"][c]["auditRefs"]:
        a = r["audits"][ref["id"]]
        if ref["weight"] > 0 and a["score"] is not None and a["score"] < 1:
            print("    %s: %s (%s) %s" % (c, ref["id"], a["score"], a.get("displayValue", "")))
sys.exit(1 if bad else 0)
PY
  done
done
echo "reports in $OUT"
if [[ $failed != 0 ]]; then echo "a score is below $MIN" >&2; exit 1; fi
