#!/usr/bin/env bash
# Serving benchmark: feedmerge's /feed.xml (100 items) under load, against nginx serving the
# same bytes as a static file, in the same run; and feedmerge's news page, / and /?tag=bench
# (the first page of 30 stories), beside it.  See BENCHMARKS.md.
#
#   cargo build --release && bench/serve.sh
#
# Steps: a corpus of SERVE_K feeds (bench/gen_corpus.py) is polled once into a fresh database
# (feedmerge poll-once); `feedmerge run` serves the merged feed ([output] max_items = 100, the
# default).  Its /feed.xml, plain and gzip, is saved byte for byte as feed.xml and feed.xml.gz,
# which nginx serves from disk (gzip_static: the .gz file to clients that accept gzip, so both
# servers send the same compressed bytes).  Then wrk loads each server in turn, ROUNDS times,
# alternating: full GETs (200) and conditional GETs with the current ETag in If-None-Match (304),
# each without and with Accept-Encoding: gzip; then the same four cases for the news page
# (server "page") and the page narrowed to a tag that every other feed has ("page_tag"),
# from feedmerge alone.  Every case is checked with curl first (status, Content-Encoding);
# wrk's bytes per response are recorded as a second check.
#
# Environment (defaults in brackets):
#   SERVE_K [50]            feeds in the corpus (x 20 items; the merged feed keeps the newest 100)
#   DURATION [10] WARMUP [2] seconds per measured wrk run / untimed warm-up before it
#   CONNECTIONS [32] THREADS [1]  wrk -c / -t
#   ROUNDS [3]              repetitions; medians reported
#   IDLE_WAIT [10]          seconds after the daemon is ready (its start-up polls, all 304, done)
#                           before the idle RSS reading; the next is taken after serving
#                           /feed.xml (plain and gzip) and the news page /
#   PIN [1]                 with >= 2 CPUs: servers on SERVER_CPUS [0], wrk on CLIENT_CPUS [1],
#                           so that a server never competes with the load generator for a core
#   FM_PORT [18190] NGINX_PORT [18191] CORPUS_PORT [18192] BENCH_ROOT [/tmp/feedmerge-bench]
#   FEEDMERGE_BIN [${CARGO_TARGET_DIR:-target}/release/feedmerge]
#   OPEN_FILE_CACHE [0]     1: nginx caches open files and stat() (open_file_cache), its fastest static setup
#   OUT [$BENCH_ROOT/results/<stamp>-serve]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
SERVE_K=${SERVE_K:-50}; DURATION=${DURATION:-10}; WARMUP=${WARMUP:-2}; IDLE_WAIT=${IDLE_WAIT:-10}
CONNECTIONS=${CONNECTIONS:-32}; THREADS=${THREADS:-1}; ROUNDS=${ROUNDS:-3}
FM_PORT=${FM_PORT:-18190}; NGINX_PORT=${NGINX_PORT:-18191}; CORPUS_PORT=${CORPUS_PORT:-18192}
BENCH_ROOT=${BENCH_ROOT:-/tmp/feedmerge-bench}; export BENCH_ROOT
FEEDMERGE_BIN=${FEEDMERGE_BIN:-${CARGO_TARGET_DIR:-$repo/target}/release/feedmerge}
OUT=${OUT:-$BENCH_ROOT/results/$(date +%Y%m%d-%H%M%S)-serve}
for t in wrk curl; do
  command -v $t >/dev/null || { echo "needs $t (Debian: apt-get install -y $t)" >&2; exit 2; }
done
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || { echo "needs nginx (Debian: apt-get install -y nginx-light)" >&2; exit 2; }
[[ -x $FEEDMERGE_BIN ]] || { echo "no feedmerge binary at $FEEDMERGE_BIN: run 'cargo build --release'" >&2; exit 2; }

spin=(); cpin=()
if [[ ${PIN:-1} == 1 && $(nproc) -ge 2 ]]; then
  spin=(taskset -c "${SERVER_CPUS:-0}"); cpin=(taskset -c "${CLIENT_CPUS:-1}")
fi
mkdir -p "$OUT"
work=$OUT/work; static=$OUT/static; mkdir -p "$work" "$static"

# 1. corpus and database
corpus=$BENCH_ROOT/corpus-K$SERVE_K-M20-s42
if [[ ! -f $corpus/manifest.json ]]; then
  python3 "$here/gen_corpus.py" -K "$SERVE_K" -M 20 --seed 42 --out "$corpus.tmp" >/dev/null
  mv "$corpus.tmp" "$corpus"
fi
"$here/static_server.sh" start "$corpus" "$CORPUS_PORT" >/dev/null
fm_pid=""
cleanup() {
  if [[ -n $fm_pid ]]; then kill -TERM "$fm_pid" 2>/dev/null || true; wait "$fm_pid" 2>/dev/null || true; fi
  "$here/static_server.sh" stop "$static" "$NGINX_PORT" >/dev/null 2>&1 || true
  "$here/static_server.sh" stop "$corpus" "$CORPUS_PORT" >/dev/null 2>&1 || true
}
trap cleanup EXIT
python3 - "$corpus/paths.txt" "$CORPUS_PORT" "$FM_PORT" "$work/feedmerge.db" > "$work/feedmerge.toml" <<'PY'
import json, sys
paths, cport, fport, db = sys.argv[1:5]
q = json.dumps
out = ["[server]", "listen = %s" % q("127.0.0.1:" + fport), "", "[storage]", "path = %s" % q(db), ""]
for n, p in enumerate(line.strip() for line in open(paths)):
    if p:
        out += ["[[feeds]]", "url = %s" % q("http://127.0.0.1:%s/%s" % (cport, p))]
        # Every other feed is tagged, for the narrowed page /?tag=bench.
        out += ['tags = ["bench"]', ""] if n % 2 == 0 else [""]
print("\n".join(out))
PY
"$FEEDMERGE_BIN" --config "$work/feedmerge.toml" poll-once > "$work/poll-once.log" 2>&1

# 2. the daemon, and the same bytes for nginx
"${spin[@]}" "$FEEDMERGE_BIN" --config "$work/feedmerge.toml" run > "$work/daemon.log" 2>&1 &
fm_pid=$!
for _ in $(seq 1 100); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$FM_PORT/readyz") == 200 ]] && break
  sleep 0.1
done
rss() { awk -v k="$1:" '$1==k{printf "%.1f", $2/1024}' "/proc/$fm_pid/status"; }
sleep "$IDLE_WAIT"
idle_rss=$(rss VmRSS)
fm=http://127.0.0.1:$FM_PORT/feed.xml
ngx=http://127.0.0.1:$NGINX_PORT/feed.xml
curl -sf -o "$static/feed.xml" "$fm"
curl -sf -H 'Accept-Encoding: gzip' -o "$static/feed.xml.gz" "$fm"
gunzip -c "$static/feed.xml.gz" | cmp -s - "$static/feed.xml" || { echo "gzip body is not the same feed" >&2; exit 1; }
touch -r "$static/feed.xml" "$static/feed.xml.gz"
curl -sf -o /dev/null "http://127.0.0.1:$FM_PORT/"
after_render_rss=$(rss VmRSS)
items=$(grep -o '<item>' "$static/feed.xml" | wc -l)
GZIP_STATIC=1 WORKERS=1 CPUS=${spin[2]:-} "$here/static_server.sh" start "$static" "$NGINX_PORT" >/dev/null

etag() { curl -sf -o /dev/null -D - "${@:2}" "$1" | awk -F': ' 'tolower($1)=="etag"{sub(/\r$/,"",$2); print $2}'; }
fm_etag_id=$(etag "$fm"); fm_etag_gz=$(etag "$fm" -H 'Accept-Encoding: gzip')
ngx_etag_id=$(etag "$ngx"); ngx_etag_gz=$(etag "$ngx" -H 'Accept-Encoding: gzip')
page=http://127.0.0.1:$FM_PORT/; page_tag=http://127.0.0.1:$FM_PORT/?tag=bench
page_etag_id=$(etag "$page"); page_etag_gz=$(etag "$page" -H 'Accept-Encoding: gzip')
tag_etag_id=$(etag "$page_tag"); tag_etag_gz=$(etag "$page_tag" -H 'Accept-Encoding: gzip')

cat > "$work/report.lua" <<'LUA'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT requests=%d duration_us=%d bytes=%d p50_us=%d p99_us=%d max_us=%d err_status=%d err_socket=%d\n",
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(99), latency.max,
    e.status, e.connect + e.read + e.write + e.timeout))
end
LUA

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(uname -srm); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') x $(nproc)"
  echo "nginx: $(nginx -v 2>&1 | sed 's/.*: //'), 1 worker, sendfile, gzip_static, open_file_cache=${OPEN_FILE_CACHE:-0}; wrk: $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
  echo "feedmerge: $("$FEEDMERGE_BIN" --version)"
  echo "feed: $items items, $(stat -c %s "$static/feed.xml") bytes plain, $(stat -c %s "$static/feed.xml.gz") bytes gzip"
  echo "page: $(curl -sf "$page" | grep -c '<article') stories, $(curl -sf "$page" | wc -c) bytes plain; /?tag=bench: $(curl -sf "$page_tag" | grep -c '<article') stories"
  echo "etags: feedmerge $fm_etag_id / $fm_etag_gz; nginx $ngx_etag_id / $ngx_etag_gz"
  echo "params: SERVE_K=$SERVE_K DURATION=$DURATION WARMUP=$WARMUP CONNECTIONS=$CONNECTIONS THREADS=$THREADS ROUNDS=$ROUNDS pin=server:${spin[*]:-none} client:${cpin[*]:-none}"
  echo "feedmerge_rss_mib ($SERVE_K feeds): idle_after_start=$idle_rss after_first_render=$after_render_rss"
  echo "loadavg_at_start: $(cat /proc/loadavg)"
} | tee "$OUT/env.txt"

busy_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
HZ=$(getconf CLK_TCK)
pid_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
ngx_workers() { pgrep -P "$(cat "$BENCH_ROOT/srv-$NGINX_PORT/server.pid")" | tr '\n' ' '; }

CSV=$OUT/serve.csv
echo "round,server,case,encoding,status,rps,p50_ms,p99_ms,max_ms,bytes_per_resp,requests,err_status,err_socket,server_cpu_s,other_cpu_s" > "$CSV"
for round in $(seq 1 "$ROUNDS"); do
  for case in full 304; do
    for enc in identity gzip; do
      for server in feedmerge nginx page page_tag; do
        case $server in
          feedmerge) url=$fm; et_id=$fm_etag_id; et_gz=$fm_etag_gz; spid=$fm_pid ;;
          nginx) url=$ngx; et_id=$ngx_etag_id; et_gz=$ngx_etag_gz; spid=$(ngx_workers) ;;
          page) url=$page; et_id=$page_etag_id; et_gz=$page_etag_gz; spid=$fm_pid ;;
          page_tag) url=$page_tag; et_id=$tag_etag_id; et_gz=$tag_etag_gz; spid=$fm_pid ;;
        esac
        hdr=()
        [[ $enc == gzip ]] && hdr+=(-H 'Accept-Encoding: gzip')
        if [[ $case == 304 ]]; then
          if [[ $enc == gzip ]]; then hdr+=(-H "If-None-Match: $et_gz"); else hdr+=(-H "If-None-Match: $et_id"); fi
        fi
        check=$(curl -s -o /dev/null -D - -w 'STATUS %{http_code}\n' "${hdr[@]}" "$url" | tr -d '\r')
        status=$(awk '/^STATUS/{print $2}' <<<"$check")
        ce=$(awk -F': ' 'tolower($1)=="content-encoding"{print $2}' <<<"$check")
        want=200; [[ $case == 304 ]] && want=304
        if [[ $status != "$want" ]] || { [[ $case == full && $enc == gzip ]] && [[ $ce != gzip ]]; }; then
          echo "check failed: $server $case $enc -> status $status content-encoding '$ce'" >&2; exit 1
        fi
        "${cpin[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" "${hdr[@]}" "$url" > /dev/null
        t0=0; for p in $spid; do t0=$((t0 + $(pid_ticks "$p"))); done
        b0=$(busy_ticks)
        res=$("${cpin[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$work/report.lua" "${hdr[@]}" "$url" | grep '^RESULT')
        b1=$(busy_ticks)
        t1=0; for p in $spid; do t1=$((t1 + $(pid_ticks "$p"))); done
        row=$(awk -v r="$round" -v s="$server" -v c="$case" -v e="$enc" -v st="$status" -v hz="$HZ" \
                  -v sc="$((t1 - t0))" -v bz="$((b1 - b0))" '
          { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
          END {
            sec = v["duration_us"] / 1e6
            printf "%s,%s,%s,%s,%s,%.0f,%.3f,%.3f,%.3f,%.0f,%d,%d,%d,%.2f,%.2f\n", r, s, c, e, st,
              v["requests"] / sec, v["p50_us"] / 1000, v["p99_us"] / 1000, v["max_us"] / 1000,
              v["bytes"] / (v["requests"] ? v["requests"] : 1), v["requests"], v["err_status"], v["err_socket"],
              sc / hz, bz / hz - sc / hz
          }' <<<"$res")
        echo "$row" | tee -a "$CSV"
      done
    done
  done
done
echo "feedmerge_rss_mib_after_load: VmRSS=$(rss VmRSS) VmHWM=$(rss VmHWM)" | tee -a "$OUT/env.txt"
python3 "$here/serve_summary.py" "$CSV" | tee "$OUT/summary.md"
echo "results in $OUT"
