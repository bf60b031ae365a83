#!/usr/bin/env bash
# Scale benchmark: N feeds (100,000 by default) on one machine.  See BENCHMARKS.md.
#
#   cargo build --release && bench/scale.sh            # N=100000: a 4.3 GB corpus, ~40 minutes
#   N=10000 bench/scale.sh                             # the same per-feed rate, 1/10 of the feeds
#   N=2000 M=2 bench/scale.sh                          # a quick check of the script
#
# Steps, with a corpus of N feeds x M items (bench/gen_corpus.py with short bodies, BODY_WORDS
# words: about 2.2 KB per item against the ingest corpus's 7 KB) and a reference corpus of REF_N
# feeds served by nginx on 127.0.0.1 (ETag and Last-Modified on static files, so an unchanged
# feed answers 304):
#   1. import    `feedmerge poll-once` of all N feeds into a fresh database, under
#                /usr/bin/time -v: wall, CPU, peak RSS; then the database's size and the CPU
#                per stored item.  The reference store (REF_N feeds) is imported the same way.
#   2. cycle     MUTATE_FRAC of the feeds get NEW_ITEMS new items; `feedmerge run` polls every
#                feed once more (most answer 304) while its CPU (utime + stime of /proc/PID/stat)
#                and resident size (VmRSS, every second; VmHWM) are read.  The window starts
#                when the daemon is ready and ends when it has polled N feeds.  The cycle is
#                not waited for: before the daemon starts, every feed's stored next poll is
#                moved back by one amount, so that the first falls due CYCLE_LEAD_S after the
#                start and the others keep the spread the import and the schedule's jitter gave
#                them, as if the interval had passed; the daemon schedules with INTERVAL_S.
#   3. serve     per store (N, then REF_N): `feedmerge render` (the query and the rendering from
#                the database, process start included), RENDERS times; against a running
#                daemon, the first GET /feed.xml (query + render), the first GET again from a
#                restarted daemon (the store's pages it reads now in the system's cache) and
#                wrk for WRK_S seconds (the cached rendering).
#
# The interval.  Every feed's interval is INTERVAL_S ([poller] interval, min_interval and
# max_interval, so that no feed's hints, such as the corpus's <ttl>60</ttl>, lengthen it), by
# default the one that gives the same polls per second as TARGET_N feeds at TARGET_INTERVAL_S
# (100,000 at 30 minutes: 55.6 polls/s), so that N=10000 polls every 180 s: the CPU share of
# a cycle is then the one of the
# target, while the memory and the store are those of N feeds.  The feeds of one import fall
# due within the import's duration and the schedule's 10 % jitter, so a cycle here is shorter
# than the interval; its CPU is given as a share of the interval (cycle CPU / INTERVAL_S),
# which is the average over a cycle however the polls are spread.
#
# Disk: the corpus, its served copy (hard links) and the databases need about
# N * M * 8 KB at the default BODY_WORDS; the script checks the free space of BENCH_ROOT
# first, and at the end deletes the generated corpora and databases unless KEEP=1.
#
# Environment (defaults in brackets):
#   N [100000] M [20] SEED [42]    the corpus; REF_N [1000] the reference store (x M items)
#   BODY_WORDS [60-200]            words per item body (gen_corpus.py --body-words)
#   CYCLE_LEAD_S [5]               seconds from the daemon's start to the cycle's first poll
#   KEEP [0]                       1: keep the corpora and databases
#   TARGET_N [100000] TARGET_INTERVAL_S [1800] INTERVAL_S [TARGET_INTERVAL_S * N / TARGET_N]
#   MUTATE_FRAC [0.02] NEW_ITEMS [5]   what changes before the cycle
#   RENDERS [5] WRK_S [5]          renderings timed per store; seconds of wrk per store
#   PORT [18280] (nginx) FM_PORT [18281] (the daemon)
#   BENCH_ROOT [/tmp/feedmerge-bench] FEEDMERGE_BIN [${CARGO_TARGET_DIR:-target}/release/feedmerge]
#   OUT [$BENCH_ROOT/results/<stamp>-scale-N<n>]   summary.md, results.txt, logs
# Stops only the processes it started, by their recorded PIDs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
N=${N:-100000}; M=${M:-20}; SEED=${SEED:-42}; REF_N=${REF_N:-1000}
TARGET_N=${TARGET_N:-100000}; TARGET_INTERVAL_S=${TARGET_INTERVAL_S:-1800}
INTERVAL_S=${INTERVAL_S:-$(( TARGET_INTERVAL_S * N / TARGET_N ))}
(( INTERVAL_S >= 1 )) || INTERVAL_S=1
BODY_WORDS=${BODY_WORDS:-60-200}; CYCLE_LEAD_S=${CYCLE_LEAD_S:-5}; KEEP=${KEEP:-0}
MUTATE_FRAC=${MUTATE_FRAC:-0.02}; NEW_ITEMS=${NEW_ITEMS:-5}
RENDERS=${RENDERS:-5}; WRK_S=${WRK_S:-5}
PORT=${PORT:-18280}; FM_PORT=${FM_PORT:-18281}
BENCH_ROOT=${BENCH_ROOT:-/tmp/feedmerge-bench}; export BENCH_ROOT
FEEDMERGE_BIN=${FEEDMERGE_BIN:-${CARGO_TARGET_DIR:-$repo/target}/release/feedmerge}
OUT=${OUT:-$BENCH_ROOT/results/$(date +%Y%m%d-%H%M%S)-scale-N$N}
[[ -x $FEEDMERGE_BIN ]] || { echo "no feedmerge binary at $FEEDMERGE_BIN: run 'cargo build --release'" >&2; exit 2; }
for t in curl wrk /usr/bin/time sqlite3; do
  command -v "$t" >/dev/null || { echo "needs $t (Debian: curl wrk time sqlite3)" >&2; exit 2; }
done
mkdir -p "$OUT"
# Free space: the corpus (7 bytes per body word, 1 KB of the rest per item), the databases
# (about 2.5 times the corpus, their logs included), twice that margin for the reference.
need_mb=$(awk -v n="$N" -v r="$REF_N" -v m="$M" -v w="$BODY_WORDS" 'BEGIN{
  split(w, b, "-"); if (b[2] == "") b[2] = b[1]
  printf "%d", (n + r) * m * ((b[1] + b[2]) / 2 * 7 + 1000) * 3.5 / 1048576 + 500 }')
free_mb=$(df -Pm "$BENCH_ROOT" | awk 'NR==2{print $4}')
(( free_mb >= need_mb )) || { echo "needs about $need_mb MB free in $BENCH_ROOT, has $free_mb" >&2; exit 2; }
RES=$OUT/results.txt; : > "$RES"
say() { echo "$1=$2" | tee -a "$RES"; }

corpus() {   # K -> the pristine corpus folder, generated once
  local dir=$BENCH_ROOT/corpus-K$1-M$M-s$SEED-w$BODY_WORDS s e
  if [[ ! -f $dir/manifest.json ]]; then
    echo "generating corpus $dir" >&2
    rm -rf "$dir.tmp"
    s=$(date +%s)
    python3 "$here/gen_corpus.py" -K "$1" -M "$M" --seed "$SEED" --body-words "$BODY_WORDS" \
      --out "$dir.tmp" >/dev/null
    e=$(date +%s)
    mv "$dir.tmp" "$dir"
    echo "generated $dir in $(( e - s )) s" >&2
  fi
  echo "$dir"
}
big=$(corpus "$N"); ref=$(corpus "$REF_N")
# Served from one folder: the big corpus as hard links (gen_corpus.py --mutate replaces a
# document by renaming a new file over it, so the pristine copy is never changed), the
# reference one as it is.
serve=$BENCH_ROOT/scale-serve-$PORT
rm -rf "$serve"; mkdir -p "$serve"
cp -al "$big" "$serve/big"; rm "$serve/big/manifest.json"; cp "$big/manifest.json" "$serve/big/"
ln -s "$ref" "$serve/ref"
# Short URLs (http://127.1:PORT/b/f00001.rss), so that the config of 100,000 feeds stays small
# (4.1 MB; the config file is read up to 16 MiB).
ln -s big/feeds "$serve/b"; ln -s ref/feeds "$serve/r"
"$here/static_server.sh" start "$serve" "$PORT" >/dev/null
daemon=""
cleanup() {
  if [[ -n $daemon ]]; then kill -TERM "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; fi
  "$here/static_server.sh" stop "$serve" "$PORT" >/dev/null 2>&1 || true
}
trap cleanup EXIT
discard() {   # the generated data, unless KEEP=1
  [[ $KEEP == 1 ]] && return 0
  rm -rf "$serve" "$big" "$ref" "$OUT/big/feedmerge.db"* "$OUT/ref/feedmerge.db"*
  echo "deleted the corpora and databases (KEEP=1 keeps them)" >&2
}

# The feeds as one array of inline tables, 41 bytes a feed: 100,000 `[[feeds]]` tables with
# the corpus's URLs are 6.3 MB, and loading a config costs memory by its size.
config() {   # NAME CORPUS_PATH_PREFIX PATHS_FILE -> a config file for that store
  local dir=$OUT/$1; mkdir -p "$dir"
  python3 - "$dir" "$2" "$3" "$INTERVAL_S" "$FM_PORT" > "$dir/config.toml" <<'PY'
import json, sys
dir, prefix, paths, interval, port = sys.argv[1:6]
q = json.dumps  # a JSON string is a valid TOML basic string for these values
feeds = ["{url=%s}," % q(prefix + line.strip().split("/", 1)[1]) for line in open(paths) if line.strip()]
out = ["feeds = ["] + feeds + ["]", "",
       "[server]", "listen = %s" % q("127.0.0.1:" + port), "",
       "[storage]", "path = %s" % q(dir + "/feedmerge.db"), "",
       "[poller]", "interval = %s" % q(interval + "s"), "min_interval = %s" % q(interval + "s"),
       "max_interval = %s" % q(interval + "s"), "",
       "[reading_time]", 'full_text = "never"', ""]
print("\n".join(out))
PY
  echo "$dir/config.toml"
}
big_cfg=$(config big "http://127.1:$PORT/b/" "$big/paths.txt")
ref_cfg=$(config ref "http://127.1:$PORT/r/" "$ref/paths.txt")

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(uname -srm), $(nproc) CPUs, $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "params: N=$N M=$M REF_N=$REF_N INTERVAL_S=$INTERVAL_S (target $TARGET_N feeds at ${TARGET_INTERVAL_S}s) MUTATE_FRAC=$MUTATE_FRAC NEW_ITEMS=$NEW_ITEMS"
  echo "corpus: $(tr -d '\n ' < "$big/manifest.json")"
  echo "feedmerge_bin: $FEEDMERGE_BIN ($("$FEEDMERGE_BIN" --version))"
  echo "loadavg_at_start: $(cat /proc/loadavg)"
} | tee "$OUT/env.txt"

time_field() { awk -F': ' -v k="$2" '$1 ~ k {print $2}' "$1"; }
import() {   # NAME CONFIG
  local tf=$OUT/$1/import.time db
  sync
  /usr/bin/time -v -o "$tf" "$FEEDMERGE_BIN" --config "$2" poll-once > "$OUT/$1/import.log" 2>&1
  db=$OUT/$1/feedmerge.db
  say "$1.import_wall_s" "$(time_field "$tf" 'Elapsed' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')"
  say "$1.import_cpu_s" "$(awk -F': ' '/User time/{u=$2} /System time/{s=$2} END{printf "%.2f", u+s}' "$tf")"
  say "$1.import_peak_rss_mib" "$(awk -F': ' '/Maximum resident/{printf "%.1f", $2/1024}' "$tf")"
  say "$1.db_mib" "$(du -cb "$db" "$db-wal" 2>/dev/null | tail -1 | awk '{printf "%.1f", $1/1048576}')"
  say "$1.import_summary" "\"$(tail -1 "$OUT/$1/import.log")\""
}
echo "== import: $N feeds" >&2
import big "$big_cfg"
echo "== import: $REF_N feeds (reference)" >&2
import ref "$ref_cfg"
items=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["unique"])' "$big/manifest.json")
say big.items_unique "$items"
say big.corpus_bytes_per_item "$(python3 -c 'import json,sys;m=json.load(open(sys.argv[1]));print(m["bytes"]//m["entries"])' "$big/manifest.json")"
say big.db_kb_per_item "$(awk -v d="$(grep '^big.db_mib=' "$RES" | cut -d= -f2)" -v n="$items" 'BEGIN{printf "%.1f", d * 1048576 / n / 1000}')"
say big.import_cpu_us_per_item "$(awk -v c="$(grep '^big.import_cpu_s=' "$RES" | cut -d= -f2)" -v n="$items" 'BEGIN{printf "%.0f", c * 1e6 / n}')"

proc_cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
start_daemon() {   # CONFIG NAME: starts `feedmerge run`, waits until it is ready
  "$FEEDMERGE_BIN" --config "$1" run > "$OUT/$2/run.log" 2>&1 &
  daemon=$!
  for _ in $(seq 1 600); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$FM_PORT/readyz") == 200 ]] && return 0
    kill -0 "$daemon" 2>/dev/null || { echo "the daemon exited: see $OUT/$2/run.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "the daemon was not ready within 60 s" >&2; exit 1
}
stop_daemon() { kill -TERM "$daemon"; wait "$daemon" 2>/dev/null || true; daemon=""; }
# Polls are counted in the daemon's log (one "feed refreshed" line each), not through
# /metrics, whose rendering (a gauge per feed) would add to the CPU being measured.
polls() { grep -c 'feed refreshed' "$OUT/big/run.log" || true; }
polls_by() { grep 'feed refreshed' "$OUT/big/run.log" | grep -c " status=$1 " || true; }

echo "== cycle: $N feeds every ${INTERVAL_S}s, $MUTATE_FRAC of them changed" >&2
python3 "$here/gen_corpus.py" --mutate "$serve/big" --seed "$SEED" -N "$NEW_ITEMS" --mutate-frac "$MUTATE_FRAC" 2>/dev/null
HZ=$(getconf CLK_TCK)
# The cycle falls due CYCLE_LEAD_S after the daemon starts (above): every stored next poll
# moved back by the same amount.
sqlite3 "$OUT/big/feedmerge.db" "UPDATE feeds SET next_poll_at = next_poll_at
  - (SELECT min(next_poll_at) FROM feeds) + CAST(strftime('%s', 'now') AS INTEGER) + $CYCLE_LEAD_S
  WHERE next_poll_at IS NOT NULL"
say cycle.due_spread_s "$(sqlite3 "$OUT/big/feedmerge.db" 'SELECT max(next_poll_at) - min(next_poll_at) FROM feeds')"
start_daemon "$big_cfg" big
t0=$(date +%s.%N); c0=$(proc_cpu "$daemon"); rss_log=$OUT/big/rss.txt; : > "$rss_log"
deadline=$(( $(date +%s) + INTERVAL_S * 12 / 10 + 120 ))
while (( $(date +%s) < deadline )); do
  awk '/^VmRSS/{print $2}' "/proc/$daemon/status" >> "$rss_log"
  (( $(polls) >= N )) && break
  sleep 1
done
t1=$(date +%s.%N); c1=$(proc_cpu "$daemon")
cycle_cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" 'BEGIN{printf "%.2f", (b - a) / hz}')
say cycle.window_s "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b - a}')"
say cycle.polls "$(polls)"
say cycle.polls_ok "$(polls_by 200)"
say cycle.polls_not_modified "$(polls_by 304)"
say cycle.cpu_s "$cycle_cpu"
say cycle.cpu_ms_per_poll "$(awk -v c="$cycle_cpu" -v n="$(polls)" 'BEGIN{printf "%.3f", c * 1000 / (n > 0 ? n : 1)}')"
say cycle.cpu_pct_of_one_core "$(awk -v c="$cycle_cpu" -v i="$INTERVAL_S" 'BEGIN{printf "%.2f", c * 100 / i}')"
say cycle.rss_at_ready_mib "$(head -1 "$rss_log" | awk '{printf "%.1f", $1/1024}')"
say cycle.rss_steady_mib "$(sort -n "$rss_log" | awk '{v[NR]=$1} END{printf "%.1f", v[int((NR+1)/2)]/1024}')"
say cycle.rss_max_sampled_mib "$(sort -n "$rss_log" | tail -1 | awk '{printf "%.1f", $1/1024}')"
say cycle.vmhwm_mib "$(awk '/^VmHWM/{printf "%.1f", $2/1024}' "/proc/$daemon/status")"

serve_times() {   # NAME CONFIG: renderings from the database, then a daemon's /feed.xml
  local i s e
  for i in $(seq 1 "$RENDERS"); do
    s=$(date +%s.%N); "$FEEDMERGE_BIN" --config "$2" render > "$OUT/$1/render.xml"; e=$(date +%s.%N)
    awk -v s="$s" -v e="$e" 'BEGIN{printf "%.3f\n", e - s}'
  done | sort -n > "$OUT/$1/render.times"
  say "$1.render_median_s" "$(awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}' "$OUT/$1/render.times")"
  say "$1.render_items" "$(grep -o '<item>' "$OUT/$1/render.xml" | wc -l)"
  [[ -n $daemon ]] || start_daemon "$2" "$1"
  say "$1.first_get_s" "$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$FM_PORT/feed.xml")"
  # Again from a new daemon: the first rendering once more, the pages it reads now in the
  # system's cache (the first one may have read them from the disk).
  stop_daemon; start_daemon "$2" "$1"
  say "$1.first_get_again_s" "$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$FM_PORT/feed.xml")"
  say "$1.wrk_req_per_s" "$(wrk -t1 -c8 -d"${WRK_S}s" "http://127.0.0.1:$FM_PORT/feed.xml" | awk '/Requests\/sec/{print $2}')"
  say "$1.rss_after_serving_mib" "$(awk '/^VmRSS/{printf "%.1f", $2/1024}' "/proc/$daemon/status")"
  stop_daemon
}
echo "== serve: $N feeds, then $REF_N" >&2
stop_daemon
serve_times big "$big_cfg"
serve_times ref "$ref_cfg"

python3 - "$RES" "$N" "$REF_N" "$INTERVAL_S" "$TARGET_N" "$TARGET_INTERVAL_S" <<'PY' | tee "$OUT/summary.md"
import sys
res, n, ref_n, interval, target_n, target_interval = sys.argv[1], *map(int, sys.argv[2:])
r = dict(l.rstrip("\n").split("=", 1) for l in open(res) if "=" in l)
f = lambda k: float(r[k])
print("### Scale: %d feeds, %d at the reference, every %d s\n" % (n, ref_n, interval))
print("| measure | %d feeds | %d feeds |" % (n, ref_n))
print("|---|--:|--:|")
for label, key in [("first import, wall s", "import_wall_s"), ("first import, CPU s", "import_cpu_s"),
                   ("first import, peak RSS MiB", "import_peak_rss_mib"), ("database MiB", "db_mib"),
                   ("`render` (query + RSS), median s", "render_median_s"), ("first GET /feed.xml s", "first_get_s"),
                   ("first GET again, after a restart, s", "first_get_again_s"),
                   ("GET /feed.xml req/s (cached)", "wrk_req_per_s"), ("RSS after serving MiB", "rss_after_serving_mib")]:
    print("| %s | %s | %s |" % (label, r.get("big." + key, "–"), r.get("ref." + key, "–")))
print("\n- first import: %s unique items (%s bytes per item in the corpus), %s µs of CPU and %s KB of database per item" % (
    r["big.items_unique"], r["big.corpus_bytes_per_item"], r["big.import_cpu_us_per_item"], r["big.db_kb_per_item"]))
polls = f("cycle.polls")
print("- the cycle's polls fell due over %s s (the import's spread and the jitter)" % r["cycle.due_spread_s"])
print("- one cycle: %d polls (%d 200, %d 304) in %s s: %s s CPU, %s ms per poll; %s %% of one core over the %d-s interval" % (
    polls, f("cycle.polls_ok"), f("cycle.polls_not_modified"), r["cycle.window_s"], r["cycle.cpu_s"],
    r["cycle.cpu_ms_per_poll"], r["cycle.cpu_pct_of_one_core"], interval))
per_poll = f("cycle.cpu_ms_per_poll") / 1000
print("- at the target rate (%d feeds every %d s): %.2f %% of one core (target ≤ 2 %%)" % (
    target_n, target_interval, per_poll * target_n / target_interval * 100))
print("- resident when ready, before the cycle's first poll: %s MiB" % r["cycle.rss_at_ready_mib"])
print("- resident during the cycle: %s MiB median, %s MiB highest sampled, VmHWM %s MiB (the import ran in another process)" % (
    r["cycle.rss_steady_mib"], r["cycle.rss_max_sampled_mib"], r["cycle.vmhwm_mib"]))
print("- feeds one core carries at 30 min at this per-poll cost, 10 %% busy: %d" % (0.10 * 1800 / max(per_poll, 1e-6)))
PY
discard
echo "results in $OUT"
