#!/usr/bin/env bash
# Ingest benchmark: feedmerge (the real release binary) and, side by side in the same run,
# the peer feed readers that are installed, polling one deterministic corpus served by nginx
# on 127.0.0.1.  See BENCHMARKS.md.
#
#   cargo build --release && bench/ingest.sh                 # quick: K=200 feeds x M=20 items
#   K=1000 bench/ingest.sh                                   # the reference size
#   K=1000 RUNS=3 BENCH_NICE=-5 bench/ingest.sh              # medians of 3, reniced (root)
#   K=5000 PEERS=none bench/ingest.sh                        # feedmerge alone
#
# Environment (defaults in brackets):
#   K [200] M [20] SEED [42]   corpus size; generated once into $BENCH_ROOT (cached)
#   BASE_DATE [unset]          the corpus's newest item date (gen_corpus.py --base-date):
#                              ISO 8601, or "now" (this hour, UTC), for a corpus of which
#                              about a fifth is news to near-duplicate detection; unset, every
#                              item is dated before 2025 (old: not compared)
#   RUNS [1]                   repetitions; the summary shows medians
#   PEERS [auto]               adapters: names in bench/adapters (newsboat, reader) or paths;
#                              "auto" = newsboat and reader when installed; "none" = feedmerge only
#   PAR [8]                    parallelism for peers (newsboat reload-threads, reader workers)
#   FEEDMERGE_BIN              [${CARGO_TARGET_DIR:-target}/release/feedmerge]
#   FM_POLL_MAX_ITEMS          [unset] feedmerge polls with its own config with this [output]
#                              max_items (100 = the default) and counts with a second one; unset:
#                              one config (max_items 10000000) polls and counts (adapters/feedmerge.sh)
#   PHASES ["initial unchanged mutated unchanged2"]
#   NEW_ITEMS [5] MUTATE_FRAC [0.2]  what "mutated" adds: 5 new items to 20% of the feeds
#   PORT [18180] BENCH_ROOT [/tmp/feedmerge-bench] POLL_TIMEOUT [1800] s
#   ACCESS_LOG [1]             count 200/304 answers per phase from nginx's access log
#   QUIET_PCT [25] QUIET_MAX [120]  before each poll, wait (at most QUIET_MAX s) until the
#                              machine is below QUIET_PCT % busy
#   PHASE_GAP [1]              untimed sleep before each poll (1-s mtime granularity); then
#                              `sync`, so that no poll pays for the writes of the one before
#   BENCH_NICE                 renice the benchmark and everything it starts (root)
#   OUT [$BENCH_ROOT/results/<stamp>-K<k>-M<m>]  CSV, logs, summary.md
#   PARSE_FLOOR_BIN            [${CARGO_TARGET_DIR:-target}/release/examples/parse_floor]
#                              (cargo build --release --example parse_floor); FLOOR=0 skips it
#
# Phases, per (run, tool), each with a fresh store and a fresh copy of the pristine corpus:
#   initial    first poll of all K feeds (every answer 200)
#   unchanged  re-poll, nothing changed (a conditional-GET client gets only 304s)
#   mutated    re-poll after NEW_ITEMS new items in MUTATE_FRAC of the feeds
#   unchanged2 re-poll, nothing changed, again (steady state)
# Each poll runs under /usr/bin/time -v: wall, user, sys (the whole process tree) and the peak
# RSS of its largest process.  Then the tool's store is counted: feedmerge must hold exactly the
# corpus's unique stories; a peer anything from unique (all cross-feed copies merged) to entries
# (none merged).  A tool that stored anything else -- nothing included -- is a FAIL, not a fast
# run.  other_cpu_s = CPU used by the whole machine during the poll minus the poll's own:
# nginx, the kernel, and whatever else runs on this machine.
# Once per run, before the tools poll, the parse floor (examples/parse_floor.rs) parses the
# same corpus from disk with feed-rs alone, then with feedmerge's parse stage (floor.csv); the
# summary gives feedmerge's first-ingest CPU as a multiple of the floor's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
K=${K:-200}; M=${M:-20}; SEED=${SEED:-42}; RUNS=${RUNS:-1}; PAR=${PAR:-8}; export PAR
NEW_ITEMS=${NEW_ITEMS:-5}; MUTATE_FRAC=${MUTATE_FRAC:-0.2}
PORT=${PORT:-18180}; BENCH_ROOT=${BENCH_ROOT:-/tmp/feedmerge-bench}; export BENCH_ROOT
POLL_TIMEOUT=${POLL_TIMEOUT:-1800}
PHASES=${PHASES:-initial unchanged mutated unchanged2}
FEEDMERGE_BIN=${FEEDMERGE_BIN:-${CARGO_TARGET_DIR:-$repo/target}/release/feedmerge}
export FEEDMERGE_BIN
PARSE_FLOOR_BIN=${PARSE_FLOOR_BIN:-${CARGO_TARGET_DIR:-$repo/target}/release/examples/parse_floor}
if [[ ${FLOOR:-1} == 1 && ! -x $PARSE_FLOOR_BIN ]]; then
  echo "no parse floor at $PARSE_FLOOR_BIN: run 'cargo build --release --example parse_floor' (or FLOOR=0)" >&2
  exit 2
fi
if [[ ! -x $FEEDMERGE_BIN ]]; then
  echo "no feedmerge binary at $FEEDMERGE_BIN: run 'cargo build --release' (or set FEEDMERGE_BIN)" >&2
  exit 2
fi
[[ -x /usr/bin/time ]] || { echo "needs GNU time (/usr/bin/time; Debian package time)" >&2; exit 2; }

PEERS=${PEERS:-auto}
if [[ $PEERS == auto ]]; then
  PEERS=""
  command -v newsboat >/dev/null 2>&1 && PEERS="$PEERS newsboat"
  python3 -c 'import reader' 2>/dev/null && PEERS="$PEERS reader"
elif [[ $PEERS == none ]]; then
  PEERS=""
fi
TOOLS="feedmerge $PEERS"
if [[ -n ${BENCH_NICE:-} ]]; then renice -n "$BENCH_NICE" -p $$ >/dev/null; fi

OUT=${OUT:-$BENCH_ROOT/results/$(date +%Y%m%d-%H%M%S)-K$K-M$M}
mkdir -p "$OUT"
CSV=$OUT/results.csv
FLOOR_CSV=$OUT/floor.csv

pristine=$BENCH_ROOT/corpus-K$K-M$M-s$SEED
dated=()
if [[ -n ${BASE_DATE:-} ]]; then
  [[ $BASE_DATE == now ]] && BASE_DATE=$(date -u +%Y-%m-%dT%H:00:00Z)
  pristine=$pristine-d$BASE_DATE; dated=(--base-date "$BASE_DATE")
fi
if [[ ! -f $pristine/manifest.json ]]; then
  echo "generating corpus $pristine"
  rm -rf "$pristine"
  python3 "$here/gen_corpus.py" -K "$K" -M "$M" --seed "$SEED" "${dated[@]}" --out "$pristine.tmp" >/dev/null
  mv "$pristine.tmp" "$pristine"
fi
serve=$BENCH_ROOT/serve-$PORT
urls=$OUT/urls.txt
sed "s|^|http://127.0.0.1:$PORT/|" "$pristine/paths.txt" > "$urls"
alog=""; [[ ${ACCESS_LOG:-1} == 1 ]] && alog=$OUT/access.log

reset_corpus() { rm -rf "$serve"; mkdir -p "$serve"; cp -a "$pristine/." "$serve/"; }
reset_corpus
ACCESS_LOG=$alog "$here/static_server.sh" start "$serve" "$PORT"
cleanup() { "$here/static_server.sh" stop "$serve" "$PORT" >/dev/null 2>&1 || true; }
trap cleanup EXIT

adapter_path() { if [[ -x $1 ]]; then echo "$1"; else echo "$here/adapters/$1.sh"; fi; }
tool_name() { basename "$1" .sh; }

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(uname -srm)"
  echo "os: $(. /etc/os-release; echo "$PRETTY_NAME")"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') x $(nproc)"
  echo "mem: $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "server: $(nginx -v 2>&1 || echo python static_server.py)"
  echo "corpus: $(tr -d '\n ' < "$pristine/manifest.json")"
  echo "corpus_bytes_on_disk: $(du -sb "$pristine/feeds" | cut -f1)"
  echo "params: K=$K M=$M SEED=$SEED RUNS=$RUNS PAR=$PAR NEW_ITEMS=$NEW_ITEMS MUTATE_FRAC=$MUTATE_FRAC PHASES=\"$PHASES\" nice=$(ps -o ni= -p $$ | tr -d ' ')"
  echo "feedmerge_bin: $FEEDMERGE_BIN"
  for t in $TOOLS; do echo "tool: $(tool_name "$t")	$("$(adapter_path "$t")" info)"; done
  echo "loadavg_at_start: $(cat /proc/loadavg)"
  echo "busiest_processes_at_start:"
  ps -eo pid,pcpu,etime,comm --sort=-pcpu | head -6 | sed 's/^/  /'
} | tee "$OUT/env.txt"

echo "run,tool,phase,wall_s,user_s,sys_s,cpu_s,maxrss_kb,rc,count,exp_unique,exp_entries,status,n200,n304,nother,load1,other_cpu_s" > "$CSV"

busy_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
HZ=$(getconf CLK_TCK); NCPU=$(nproc)
QUIET_PCT=${QUIET_PCT:-25}; QUIET_MAX=${QUIET_MAX:-120}
wait_quiet() {
  local t0=$SECONDS a b pct=0
  while (( SECONDS - t0 < QUIET_MAX )); do
    a=$(busy_ticks); sleep 1; b=$(busy_ticks)
    pct=$(( (b - a) * 100 / HZ / NCPU ))
    (( pct < QUIET_PCT )) && return 0
  done
  echo "warning: machine still ${pct}% busy after ${QUIET_MAX}s; measuring anyway" >&2
}
to_secs() { awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }' <<<"$1"; }
cpid=""
trap 'if [[ -n $cpid ]]; then kill -TERM -- -"$cpid" 2>/dev/null; fi; exit 143' TERM INT

measure_tool() {   # run tool
  local run=$1 t=$2 ad name expect work phase exp_u exp_e mark tf load1 b0 b1 rc wall user sys rss cnt st n200 n304 nother cpu other
  ad=$(adapter_path "$t"); name=$(tool_name "$t")
  expect=$("$ad" info | cut -f3)
  reset_corpus
  work=$BENCH_ROOT/work/$name; rm -rf "$work"; mkdir -p "$work"
  "$ad" setup "$urls" "$work" > "$OUT/$name-r$run-setup.log" 2>&1
  for phase in $PHASES; do
    if [[ $phase == mutated ]]; then
      python3 "$here/gen_corpus.py" --mutate "$serve" --seed "$SEED" -N "$NEW_ITEMS" --mutate-frac "$MUTATE_FRAC" 2>/dev/null
    fi
    read -r exp_u exp_e < <(python3 -c 'import json,sys;m=json.load(open(sys.argv[1]));print(m["unique"],m["entries"])' "$serve/manifest.json")
    mark=0; [[ -n $alog ]] && mark=$(wc -l < "$alog")
    tf=$OUT/$name-r$run-$phase.time
    sleep "${PHASE_GAP:-1}"
    # What the previous poll, the corpus copy and the store reset left in the page cache is
    # written out first: otherwise the disk is still busy with it during the next poll, which
    # a short poll pays for in full and a long one hardly notices.
    sync
    wait_quiet
    load1=$(cut -d' ' -f1 /proc/loadavg); b0=$(busy_ticks)
    set +e
    setsid /usr/bin/time -v -o "$tf" timeout "$POLL_TIMEOUT" "$ad" poll "$urls" "$work" > "$OUT/$name-r$run-$phase.log" 2>&1 &
    cpid=$!
    wait "$cpid"; rc=$?
    cpid=""
    set -e
    b1=$(busy_ticks)
    wall=$(to_secs "$(grep 'Elapsed (wall clock)' "$tf" | awk '{print $NF}')")
    user=$(awk -F': ' '/User time/{print $2}' "$tf"); sys=$(awk -F': ' '/System time/{print $2}' "$tf")
    rss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$tf")
    cnt=$("$ad" count "$work" 2>/dev/null | tail -1 | tr -d ' '); cnt=${cnt:-0}
    st=OK
    if [[ $rc -ne 0 ]]; then st=FAIL_rc$rc; fi
    if ! [[ $cnt =~ ^[0-9]+$ ]] || (( cnt < exp_u || cnt > exp_e )); then st=FAIL_count
    elif [[ $expect == unique ]] && (( cnt != exp_u )); then st=FAIL_dedupe; fi
    n200=""; n304=""; nother=""
    if [[ -n $alog ]]; then
      sleep 0.2   # nginx writes its log line after the response
      read -r n200 n304 nother < <(tail -n +"$((mark + 1))" "$alog" | awk '$1==200{a++} $1==304{b++} $1!=200&&$1!=304{c++} END{print a+0, b+0, c+0}')
    fi
    cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN{printf "%.2f", u+s}')
    other=$(awk -v d="$((b1 - b0))" -v hz="$HZ" -v c="$cpu" 'BEGIN{printf "%.2f", d/hz - c}')
    echo "$run,$name,$phase,$wall,$user,$sys,$cpu,$rss,$rc,$cnt,$exp_u,$exp_e,$st,$n200,$n304,$nother,$load1,$other" | tee -a "$CSV"
  done
}

echo "run,parser,files,bytes,entries,wall_s,cpu_s,bytes_per_cpu_s" > "$FLOOR_CSV"
measure_floor() {   # run: the corpus parsed from disk, one thread, feed-rs alone and ours
  sync
  wait_quiet
  "$PARSE_FLOOR_BIN" "$pristine" | while read -r line; do
    echo "$line" >&2
    # key=value fields -> one CSV row in the header's order
    awk -v run="$1" '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      print run "," v["parser"] "," v["files"] "," v["bytes"] "," v["entries"] "," v["wall_s"] "," v["cpu_s"] "," v["bytes_per_cpu_s"] }' <<<"$line"
  done >> "$FLOOR_CSV"
}

for run in $(seq 1 "$RUNS"); do
  if [[ ${FLOOR:-1} == 1 ]]; then measure_floor "$run"; fi
  for t in $TOOLS; do
    measure_tool "$run" "$t"
  done
done
floor_arg=(); [[ ${FLOOR:-1} == 1 ]] && floor_arg=(--floor "$FLOOR_CSV")
python3 "$here/summarize.py" "${floor_arg[@]}" "$CSV" | tee "$OUT/summary.md"
echo "results in $OUT"
