#!/usr/bin/env bash
# Ingest adapter for newsboat (Debian package newsboat). Subcommands: see feedmerge.sh.
#   poll  = newsboat -u URLS -c cache.db -C config -x reload   (reload-threads $PAR, default 8)
#   count = rows of rss_item in newsboat's cache.db (sqlite3)
# max-items 0 and keep-articles-days 0 keep every item, so nothing is pruned.
# newsboat merges most cross-feed copies (its guid column is unique across feeds), so it is
# checked against the range unique..entries.
set -euo pipefail
PAR=${PAR:-8}
case ${1:-} in
info) printf 'newsboat %s\treload-threads=%s\trange\n' "$(newsboat -v 2>/dev/null | head -1 | awk '{print $2}')" "$PAR" ;;
setup)
  w=$3; mkdir -p "$w/home"
  cp "$2" "$w/urls"
  cat > "$w/config" <<CFG
reload-threads $PAR
download-timeout 60
max-items 0
keep-articles-days 0
show-read-feeds yes
CFG
  ;;
poll)
  w=$3
  HOME=$w/home XDG_CONFIG_HOME=$w/home XDG_DATA_HOME=$w/home \
    newsboat -u "$w/urls" -c "$w/cache.db" -C "$w/config" -x reload ;;
count) python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM rss_item").fetchone()[0])' "$2/cache.db" ;;
*) echo "usage: $0 info|setup URLS WORK|poll URLS WORK|count WORK" >&2; exit 2 ;;
esac
