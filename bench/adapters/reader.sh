#!/usr/bin/env bash
# Ingest adapter for lemon24's reader (PyPI: pip install reader sgmllib3k). Subcommands: see
# feedmerge.sh.
#   setup = make_reader(db) + add_feed(url) for every feed (untimed)
#   poll  = update_feeds(scheduled=False, workers=$PAR), PAR default 8. scheduled=False makes
#           every feed be requested on every poll (the default skips feeds polled less than an
#           hour ago without any request)
#   count = get_entry_counts().total
# reader keeps one entry per (feed, id): no cross-feed dedupe, checked against the range.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
case ${1:-} in
info) printf 'reader %s\tupdate_feeds(workers=%s)\trange\n' "$(python3 -c 'import reader;print(reader.__version__)')" "${PAR:-8}" ;;
setup|poll) exec python3 "$here/reader_adapter.py" "$1" "$2" "$3/reader.sqlite" ;;
count) exec python3 "$here/reader_adapter.py" count - "$2/reader.sqlite" ;;
*) echo "usage: $0 info|setup URLS WORK|poll URLS WORK|count WORK" >&2; exit 2 ;;
esac
