#!/usr/bin/env bash
# Hostile-feed benchmark: what one adversarial feed costs the real release daemon.  See
# BENCHMARKS.md, "Hostile feeds".
#
#   cargo build --release && bench/hostile.sh
#   FEEDMERGE_BIN=/path/to/old/feedmerge bench/hostile.sh      # the same for another build
#   CASES="nested categories" bench/hostile.sh                  # some cases only
#
# For each case a generated document (just under 16 MiB, the default [poller] max_body, unless
# the attack needs less) is served from 127.0.0.1 by a small Python server that answers 200
# without validators every time (so that the second poll parses and stores it again; a 304
# would cost nothing).  Then, in a fresh folder:
#   1. `feedmerge run` with one [[feeds]] entry, on a fresh database: its start-up poll fetches,
#      parses, normalises and stores the document.  Once the log says the feed was refreshed
#      (or failed), and for the article cases that every page was extracted (or not), the
#      daemon's CPU (utime + stime from /proc/PID/stat) and peak RSS (VmHWM)
#      are read: poll_cpu_s, poll_hwm_mib.
#   2. /feed.xml, /feed.atom, /feed.json and / are fetched from it (each rendered once), and the
#      CPU and VmHWM read again: total_cpu_s, total_hwm_mib (poll + store + four renderings in
#      one process, what the target bounds), with the four response sizes.
#   3. The daemon is stopped, and `feedmerge poll-once` polls the same document again into the
#      same database under /usr/bin/time -v: poll2_cpu_s, poll2_rss_mib (the second poll
#      updates what the first stored).
# A step that has not finished within STEP_TIMEOUT seconds is stopped and reported as
# ">STEP_TIMEOUT".
#
# Article cases (full_text = "always"): a feed of ARTICLES summary-only items whose links lead
# to one adversarial page on the same server; the poll fetches and extracts each.  Its CPU and
# peak RSS, over the ARTICLES pages, bound what one article costs.
#
# Environment (defaults in brackets):
#   CASES [all]   tiny_items tiny_items_json nested formatting title categories enclosures
#                 authors_links article_nested article_links items_bang items_json_escaped
#                 items_cdata repair_end_tags repair_text_end_tags repair_prefixes
#                 repair_doctypes repair_long_name base_long base_nested json_tags
#                 enclosures_dense json_lenient_dense ampersands quotes media_nested
#                 media_groups lists_spread json_lists_spread
#   FEEDMERGE_BIN [${CARGO_TARGET_DIR:-target}/release/feedmerge]
#   PORT [18280] FM_PORT [18281]  the feed server and the daemon, on 127.0.0.1
#   STEP_TIMEOUT [300]  ARTICLES [10]
#   BENCH_ROOT [/tmp/feedmerge-bench]  OUT [$BENCH_ROOT/results/<stamp>-hostile]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
CASES=${CASES:-tiny_items tiny_items_json nested formatting title categories enclosures authors_links article_nested article_links items_bang items_json_escaped items_cdata repair_end_tags repair_text_end_tags repair_prefixes repair_doctypes repair_long_name base_long base_nested json_tags enclosures_dense json_lenient_dense ampersands quotes media_nested media_groups lists_spread json_lists_spread}
FEEDMERGE_BIN=${FEEDMERGE_BIN:-${CARGO_TARGET_DIR:-$repo/target}/release/feedmerge}
PORT=${PORT:-18280}; FM_PORT=${FM_PORT:-18281}
STEP_TIMEOUT=${STEP_TIMEOUT:-300}; ARTICLES=${ARTICLES:-10}
BENCH_ROOT=${BENCH_ROOT:-/tmp/feedmerge-bench}
OUT=${OUT:-$BENCH_ROOT/results/$(date +%Y%m%d-%H%M%S)-hostile}
[[ -x $FEEDMERGE_BIN ]] || { echo "no feedmerge binary at $FEEDMERGE_BIN: run 'cargo build --release'" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "needs GNU time (/usr/bin/time; Debian package time)" >&2; exit 2; }
command -v curl >/dev/null || { echo "needs curl" >&2; exit 2; }
mkdir -p "$OUT"
docs=$BENCH_ROOT/hostile-docs
mkdir -p "$docs"

# 1. The documents: generated once (deterministic), kept in $BENCH_ROOT.
python3 - "$docs" "$PORT" "$ARTICLES" <<'PY'
import gzip, json, os, sys
out, port, articles = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
LIMIT = 16 * 1024 * 1024 - 64 * 1024   # under the default max_body (16 MiB)
base = "http://127.0.0.1:%d" % port

def rss(items, title="Hostile", extra_ns="", head=""):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"%s><channel><title>%s</title>%s'
            '<link>%s/</link><description>d</description>%s</channel></rss>\n') % (extra_ns, title, head, base, items)

def fill(text, unit, rest="", reserve=0):
    """text, then unit repeated as often as fits under LIMIT with rest, reserve more bytes and the
    RSS around it."""
    room = LIMIT - len(text) - len(rest) - reserve - 400
    return text + unit * (room // len(unit)) + rest

def write(name, text):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.rename(path + ".tmp", path)
    assert os.path.getsize(path) <= LIMIT or name.startswith("page"), name

def item(n, body=""):
    return "<item><guid>%d</guid><title>Item %d</title><link>%s/a/%d</link>%s</item>" % (n, n, base, n, body)

# 200,000 tiny items, RSS and JSON Feed
write("tiny_items.xml", rss("".join("<item><guid>%d</guid><title>Item %d</title><link>/a/%d</link></item>"
                                    % (n, n, n) for n in range(200_000))))
write("tiny_items_json.json", json.dumps({
    "version": "https://jsonfeed.org/version/1.1", "title": "Hostile",
    "items": [{"id": str(n), "title": "Item %d" % n, "url": "/a/%d" % n, "content_text": "x"}
              for n in range(200_000)]},
    separators=(",", ":")))
# one item nested 100,000 deep (escaped HTML in CDATA, as feeds carry it)
depth = 100_000
write("nested.xml", rss(item(0, "<description><![CDATA[%sdeep%s]]></description>" % ("<div>" * depth, "</div>" * depth))))
# formatting elements closed by a paragraph's end and reopened by the parser after it (the
# "reconstruction" of HTML's tree builder), 120 at a time, 800 times over (1 MB)
round = "<p>" + "".join("<b id=%d>" % k for k in range(120)) + "</p>x"
write("formatting.xml", rss(item(0, "<description><![CDATA[%s]]></description>" % (round * 800))))
# a 15 MB channel title, and 100 items that each show it as their source
write("title.xml", rss("".join(item(n, "<description>x</description>") for n in range(100)), title="T" * 15_000_000))
# 500,000 distinct categories on one item
write("categories.xml", rss(item(0, "".join("<category>c%d</category>" % n for n in range(500_000)))))
# 100,000 enclosures on one item
write("enclosures.xml", rss(item(0, "".join('<enclosure url="%s/e/%d.mp3" type="audio/mpeg" length="%d"/>' % (base, n, n)
                                           for n in range(100_000)))))
# 1 MB author names and 1 MB links, on 7 items
mb = 1_000_000
write("authors_links.xml", rss("".join(
    "<item><guid>%d</guid><title>Item %d</title><link>%s/%s</link><dc:creator>%s</dc:creator><author>%s</author></item>"
    % (n, n, base, "%d/%s" % (n, "l" * mb), "Ann Author " * (mb // 11), "x@example.org (" + "N" * mb + ")")
    for n in range(5)),
    extra_ns=' xmlns:dc="http://purl.org/dc/elements/1.1/"'))
# article pages: 45,000 nested <div>s (0.5 MB), and 5 million <a> elements (gzipped)
write("page_nested.html", "<html><body>" + "<div>" * 45_000 + "<p>" + "word " * 400 + "</p>" + "</div>" * 45_000 + "</body></html>")
links = os.path.join(out, "page_links.html.gz")
if not os.path.exists(links):
    with gzip.open(links + ".tmp", "wb", compresslevel=9) as f:
        f.write(b"<html><body><p>" + b"<a>" * 5_000_000 + b"</p></body></html>")
    os.rename(links + ".tmp", links)
# The 1000-entry cap, which must hold on every path (parse::parse): the tiny items behind a
# markup declaration quick-xml refuses (feed-rs skips it); as a JSON Feed whose "items" key is
# written with an escape; and inside a CDATA section that a well-formed document's repair (a
# title with an HTML entity sends it there) ends early, at its element's end tag.
tiny = "".join("<item><guid>%d</guid><title>Item %d</title><link>/a/%d</link></item>" % (n, n, n) for n in range(200_000))
write("items_bang.xml", rss(tiny, head="<!X>"))
write("items_json_escaped.json", open(os.path.join(out, "tiny_items_json.json")).read().replace('"items":', '"it\\u0065ms":', 1))
write("items_cdata.xml", rss('<item><guid>c</guid><title>Caf&eacute;</title><description><![CDATA[x</description></item>'
                             + tiny + '<item><description>]]></description></item>'))
# Repair (a bare & in a title sends each there): end tags that match nothing under 1000 open
# elements; end tags inside a text element under 1000 open elements; distinct undeclared
# prefixes; empty markup declarations with no [ anywhere after them; a text element whose
# prefixed name is 3 MB long, holding 2.5 million stray "<x" and 300,000 CDATA sections.
amp = "<item><guid>0</guid><title>a & b</title></item>"
write("repair_end_tags.xml", rss(fill(amp + "<x>" * 1000, "</x:b>")))
write("repair_text_end_tags.xml", rss(fill(amp + "<a>" * 1000 + "<description>", "</x>", "</description>")))
write("repair_prefixes.xml", rss(amp + "".join("<p%d:a/>" % n for n in range(1_200_000))))
write("repair_doctypes.xml", rss(fill(amp, "<!>")))
long_name = "p" * 3_000_000 + ":title"
write("repair_long_name.xml", rss(amp + "<%s>%s%s</%s>" % (long_name, "<x" * 2_500_000, "<![CDATA[x]]>" * 300_000, long_name)))
# xml:base: a 1 MB base on the root over 1000 items and 3 million empty channel elements; a
# 2 KB base under which 60,000 nested elements each set a base as long.
mb_base = ' xml:base="%s/%s/"' % (base, "b" * 1_000_000)
write("base_long.xml", rss(fill("".join(item(n) for n in range(1000)), "<x/>", reserve=len(mb_base)), extra_ns=mb_base))
write("base_nested.xml", rss(item(0) + '<x xml:base="%s/%s/c/">' % (base, "b" * 2000)
                             + '<x xml:base="../c/">' * 60_000 + "</x>" * 60_001))
# Dense lists: one JSON Feed item with 4 million tags; one RSS item with 800,000 enclosures;
# a JSON Feed the strict reading refuses (a numeric version), whose item holds an array of 8
# million numbers.
jhead = '{"version":"https://jsonfeed.org/version/1.1","title":"Hostile","items":[{"id":"0","title":"x","tags":['
write("json_tags.json", fill(jhead + '"a"', ',"a"', "]}]}"))
write("enclosures_dense.xml", rss(fill("<item><guid>0</guid><title>x</title>", '<enclosure url="a"/>', "</item>")))
write("json_lenient_dense.json", fill('{"version":1,"title":"Hostile","items":[{"id":"0","title":"x","x":[1', ",1", "]}]}"))
# Repair output larger than its input: 16 MB of bare & in a description (each written as
# &amp;), and 16 MB of " in an attribute (each written as &quot;).
write("ampersands.xml", rss(fill(amp + "<item><guid>1</guid><title>t</title><description>", "&", "</description></item>")))
write("quotes.xml", rss(fill(amp + "<item><guid>1</guid><title>t</title><description x='", '"', "'>d</description></item>")))
# What feed-rs builds of an entry's children: 100,000 nested <media:group>s on one item (feed-rs
# reads them by recursion); 2,000 thumbnails and 2,000 groups of one content on one item
# (feed-rs copies the item's thumbnails into every group without its own); items of 64 each of
# twelve names feed-rs builds a model of, as many as fit; a JSON Feed of 1000 items of 1000
# attachments each.
mrss = ' xmlns:media="http://search.yahoo.com/mrss/"'
write("media_nested.xml", rss(item(0, "<media:group>" * 100_000 + "</media:group>" * 100_000), extra_ns=mrss))
write("media_groups.xml", rss(item(0, '<media:thumbnail url="%s/t.jpg"/>' % base * 2000
                                   + '<media:group><media:content url="%s/g.mp4"/></media:group>' % base * 2000), extra_ns=mrss))
lists = "".join(unit * 64 for unit in (
    "<category>c</category>", '<enclosure url="a"/>', "<author>a</author>", "<dc:creator>a</dc:creator>",
    "<comments>a</comments>", "<link>a</link>", '<media:content url="a"/>', '<media:thumbnail url="a"/>',
    "<media:credit>a</media:credit>", "<media:text>a</media:text>", '<atom:link href="a"/>', "<wfw:commentRss>a</wfw:commentRss>"))
spread, size = [], 0
while len(spread) < 1000 and size + len(lists) + 2000 < LIMIT - 1000:
    spread.append(item(len(spread), lists)); size += len(spread[-1])
write("lists_spread.xml", rss("".join(spread), extra_ns=mrss + ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
                              ' xmlns:atom="http://www.w3.org/2005/Atom" xmlns:wfw="http://wellformedweb.org/CommentAPI/"'))
att = ",".join(['{"url":"a"}'] * 1000)
write("json_lists_spread.json", '{"version":"https://jsonfeed.org/version/1.1","title":"Hostile","items":[%s]}'
      % ",".join('{"id":"%d","title":"Item %d","content_text":"x","attachments":[%s]}' % (n, n, att) for n in range(1000)))
for kind in ("nested", "links"):
    write("article_%s.xml" % kind, rss("".join(
        "<item><guid>%d</guid><title>Item %d</title><link>/page_%s/%d</link><description>A teaser…</description></item>"
        % (n, n, kind, n) for n in range(articles))))
PY

# 2. The server: every file of $docs, 200 every time, no validators; /page_KIND/N is the page
#    of that kind (the gzipped one with Content-Encoding: gzip).
python3 - "$docs" "$PORT" > "$OUT/server.log" 2>&1 <<'PY' &
import os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
root, port = sys.argv[1], int(sys.argv[2])
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_GET(self):
        path = self.path.split("?")[0].lstrip("/")
        headers = {}
        if path.startswith("page_links/"):
            name, headers = "page_links.html.gz", {"Content-Encoding": "gzip"}
        elif path.startswith("page_nested/"):
            name = "page_nested.html"
        else:
            name = os.path.basename(path)
        file = os.path.join(root, name)
        if not os.path.isfile(file):
            self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
        body = open(file, "rb").read()
        ctype = ("text/html; charset=utf-8" if name.startswith("page") else
                 "application/feed+json" if name.endswith(".json") else "application/rss+xml")
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
srv=$!
fm=""
cleanup() {
  if [[ -n $fm ]]; then kill -TERM "$fm" 2>/dev/null || true; wait "$fm" 2>/dev/null || true; fi
  kill "$srv" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/title.xml" && break; sleep 0.1; done

HZ=$(getconf CLK_TCK)
cpu_s() { awk -v hz="$HZ" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }
hwm_mib() { awk '$1=="VmHWM:"{printf "%.0f", $2/1024}' "/proc/$1/status"; }
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(uname -srm); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') x $(nproc)"
  echo "feedmerge: $FEEDMERGE_BIN ($("$FEEDMERGE_BIN" --version))"
  echo "loadavg_at_start: $(cat /proc/loadavg)"
} | tee "$OUT/env.txt"
CSV=$OUT/hostile.csv
echo "case,doc_mib,poll_cpu_s,poll_hwm_mib,total_cpu_s,total_hwm_mib,poll2_cpu_s,poll2_rss_mib,xml_bytes,atom_bytes,json_bytes,page_bytes,items,result" > "$CSV"

for case in $CASES; do
  work=$OUT/$case; rm -rf "$work"; mkdir -p "$work"
  case $case in
    article_*) doc=$case.xml; full=always ;;
    tiny_items_json|items_json_escaped|json_*) doc=$case.json; full=never ;;
    *) doc=$case.xml; full=never ;;
  esac
  cat > "$work/config.toml" <<TOML
[server]
listen = "127.0.0.1:$FM_PORT"

[storage]
path = "$work/feedmerge.db"

[reading_time]
full_text = "$full"

[[feeds]]
url = "http://127.0.0.1:$PORT/$doc"
TOML
  : > "$work/daemon.log"
  # Article pages may be fetched after the poll's own log line: their cases wait for a debug
  # line per page ("article extracted", "article not extracted; ...") as well.
  level=info; pages=0
  if [[ $case == article_* ]]; then level=debug; pages=$ARTICLES; fi
  RUST_LOG=feedmerge=$level "$FEEDMERGE_BIN" --config "$work/config.toml" run >> "$work/daemon.log" 2>&1 &
  fm=$!
  result=ok; poll_cpu=""; poll_hwm=""; total_cpu=""; total_hwm=""; sizes=(- - - -)
  t0=$SECONDS
  until grep -q -E 'feed refreshed|feed failed' "$work/daemon.log" &&
        (( $(grep -c -E 'article (extracted|not extracted)' "$work/daemon.log") >= pages )); do
    if (( SECONDS - t0 > STEP_TIMEOUT )); then result=">${STEP_TIMEOUT}s_poll"; break; fi
    if ! kill -0 "$fm" 2>/dev/null; then result=daemon_exited; break; fi
    sleep 0.2
  done
  grep -q 'feed failed' "$work/daemon.log" && result=feed_failed
  if [[ $result == ok || $result == feed_failed ]]; then
    poll_cpu=$(cpu_s "$fm"); poll_hwm=$(hwm_mib "$fm")
    i=0
    for path in feed.xml feed.atom feed.json ""; do
      if out=$(curl -s -m "$STEP_TIMEOUT" -o "$work/out.$i" -w '%{http_code} %{size_download}' "http://127.0.0.1:$FM_PORT/$path"); then
        sizes[i]=${out#* }
        [[ ${out% *} == 200 ]] || result="status_${out% *}_/$path"
      else
        sizes[i]=">${STEP_TIMEOUT}s"; result=">${STEP_TIMEOUT}s_render"
      fi
      rm -f "$work/out.$i"
      i=$((i + 1))
    done
    total_cpu=$(cpu_s "$fm"); total_hwm=$(hwm_mib "$fm")
  fi
  # A daemon still busy with the document 30 s after SIGTERM is killed, and says so.
  kill -TERM "$fm" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$fm" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$fm" 2>/dev/null; then kill -KILL "$fm"; result="$result+killed_30s_after_SIGTERM"; fi
  wait "$fm" 2>/dev/null || true; fm=""
  items=-
  if command -v sqlite3 >/dev/null; then items=$(sqlite3 "$work/feedmerge.db" 'SELECT COUNT(*) FROM items' 2>/dev/null || echo -); fi
  poll2_cpu=""; poll2_rss=""
  if [[ -n $poll_cpu ]]; then
    set +e
    /usr/bin/time -v -o "$work/poll2.time" timeout "$STEP_TIMEOUT" "$FEEDMERGE_BIN" --config "$work/config.toml" poll-once > "$work/poll2.log" 2>&1
    rc=$?
    set -e
    if [[ $rc -eq 124 ]]; then
      poll2_cpu=">${STEP_TIMEOUT}s"
    else
      poll2_cpu=$(awk -F': ' '/User time/{u=$2} /System time/{s=$2} END{printf "%.2f", u+s}' "$work/poll2.time")
      poll2_rss=$(awk -F': ' '/Maximum resident set size/{printf "%.0f", $2/1024}' "$work/poll2.time")
    fi
  fi
  doc_mib=$(awk -v b="$(stat -c %s "$docs/$doc")" 'BEGIN{printf "%.1f", b/1048576}')
  row="$case,$doc_mib,$poll_cpu,$poll_hwm,$total_cpu,$total_hwm,$poll2_cpu,$poll2_rss,${sizes[0]},${sizes[1]},${sizes[2]},${sizes[3]},$items,$result"
  echo "$row" | tee -a "$CSV"
done

python3 - "$CSV" <<'PY' | tee "$OUT/summary.md"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print("| case | document | poll CPU s | poll peak MiB | poll + 4 renderings CPU s | peak MiB | second poll CPU s | its peak MiB | items stored | /feed.xml bytes | / bytes | result |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print("| %s | %s MiB | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        r["case"], r["doc_mib"], r["poll_cpu_s"], r["poll_hwm_mib"], r["total_cpu_s"], r["total_hwm_mib"],
        r["poll2_cpu_s"], r["poll2_rss_mib"], r["items"], r["xml_bytes"], r["page_bytes"], r["result"]))
PY
echo "results in $OUT"
