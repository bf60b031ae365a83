#!/usr/bin/env bash
# Ingest adapter for feedmerge itself. Every adapter in this folder has the same four
# subcommands, so bench/ingest.sh drives every tool the same way:
#   ADAPTER info              print "version<TAB>parallelism<TAB>expect"
#                             (expect: "unique" = must store exactly the corpus's unique
#                             stories; "range" = anything from unique to entries)
#   ADAPTER setup URLS WORK   untimed preparation in a fresh folder WORK
#   ADAPTER poll  URLS WORK   ONE full poll of every feed (this is what is timed)
#   ADAPTER count WORK        print the number of stored items
#
# feedmerge: the real release binary, through its public command line only:
#   poll  = feedmerge --config CONFIG poll-once
#   count = feedmerge --config CONFIG render | grep -o '<item>' | wc -l
# CONFIG sets [storage] path, [output] max_items and one [[feeds]] url per feed; every other
# key is the default.  For the count, [output] max_items must exceed the corpus, so that the
# merged feed lists every stored item.
#   FEEDMERGE_BIN       the binary (default: target/release/feedmerge of this checkout)
#   FM_POLL_MAX_ITEMS   [output] max_items of the config that polls.  Default: the same
#                       config (max_items 10000000) polls and counts.  A number (100 is the
#                       product's default) gives the poll a config of its own with that value,
#                       and the count a second config on the same database; this matters since
#                       poll-once ends with retention, which reads every item the outputs show.
#   FM_EXTRA_TOML       more config, appended to both configs (feedmerge-near-off.sh sets
#                       [dedupe] near_duplicates = false with it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN=${FEEDMERGE_BIN:-$here/../../target/release/feedmerge}

config() {   # URLS DB MAX_ITEMS
  python3 - "$1" "$2" "$3" <<'PY'
import json, os, sys
urls, db, max_items = sys.argv[1], sys.argv[2], int(sys.argv[3])
q = json.dumps  # a JSON string is a valid TOML basic string for these values
out = ["[storage]", "path = %s" % q(db), "", "[output]", "max_items = %d" % max_items, ""]
out += [os.environ.get("FM_EXTRA_TOML", ""), ""]
for u in (line.strip() for line in open(urls)):
    if u:
        out += ["[[feeds]]", "url = %s" % q(u), ""]
print("\n".join(out))
PY
}

case ${1:-} in
info) printf '%s\tconcurrency=16 (default); poll max_items=%s%s\tunique\n' "$("$BIN" --version 2>/dev/null | head -1)" "${FM_POLL_MAX_ITEMS:-10000000}" "${FM_EXTRA_TOML:+; $(tr '\n' ' ' <<<"$FM_EXTRA_TOML")}" ;;
setup)
  config "$2" "$3/feedmerge.db" 10000000 > "$3/count.toml"
  if [[ -n ${FM_POLL_MAX_ITEMS:-} ]]; then
    config "$2" "$3/feedmerge.db" "$FM_POLL_MAX_ITEMS" > "$3/poll.toml"
  else
    cp "$3/count.toml" "$3/poll.toml"
  fi
  "$BIN" --config "$3/poll.toml" check > /dev/null ;;
poll) "$BIN" --config "$3/poll.toml" poll-once ;;
count) "$BIN" --config "$2/count.toml" render | grep -o '<item>' | wc -l ;;
*) echo "usage: $0 info|setup URLS WORK|poll URLS WORK|count WORK" >&2; exit 2 ;;
esac
