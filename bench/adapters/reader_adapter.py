#!/usr/bin/env python3
"""reader_adapter.py setup|poll|count URLS DB -- drives lemon24's reader for reader.sh."""
import os
import sys

from reader import make_reader

mode, urls, db = sys.argv[1:4]
r = make_reader(db)
if mode == "setup":
    with open(urls) as f:
        for u in (line.strip() for line in f):
            if u:
                r.add_feed(u, exist_ok=True)
elif mode == "poll":
    r.update_feeds(scheduled=False, workers=int(os.environ.get("PAR", "8")))
    errors = sum(1 for f in r.get_feeds() if f.last_exception)
    if errors:
        print("reader: %d feeds with last_exception" % errors, file=sys.stderr)
elif mode == "count":
    print(r.get_entry_counts().total)
r.close()
