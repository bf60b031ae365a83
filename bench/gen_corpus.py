#!/usr/bin/env python3
"""Deterministic feed corpus for feedmerge's ingest benchmark (bench/ingest.sh).

    gen_corpus.py -K 1000 -M 20 --seed 42 [--out DIR]
    gen_corpus.py --mutate DIR -N 5 --mutate-frac 0.2

Layout written under OUT (default $BENCH_ROOT/corpus-K<k>-M<m>-s<seed>, BENCH_ROOT
defaulting to /tmp/feedmerge-bench; never inside the repository):
  feeds/fNNNNN.rss | .atom | .rdf   the feed documents
  paths.txt                         one feed path per line ("feeds/f00001.rss")
  manifest.json                     counts used to verify every tool's store

Mix: ~70% RSS 2.0, ~25% Atom 1.0, ~5% RSS 1.0. Items carry titles, 300-1500
word HTML bodies (content:encoded / Atom content), summaries, dc:creator or
Atom author, 0-4 categories, dates; ~15% of RSS 2.0 items have no <guid>; ~30%
of bodies contain an <img>; ~8% have an enclosure.  ~5% of items (--dup-frac)
are copies of an item of another feed (same link, guid/id, title, body): one
story, which a tool with cross-feed dedupe (feedmerge) must store once.
manifest.json: "entries" = items in all documents, "unique" = entries minus
those cross-feed copies.

Every URL inside the documents (item links, images, enclosures, site links)
points at http://127.0.0.1:9/ (the discard port, nothing listens), so a tool
that follows them never leaves loopback and fails fast.

Deterministic: the same (K, M, seed) gives byte-identical documents on every
machine (Python's random.Random is specified), so corpora need not be shipped.

--mutate DIR: prepend --new-items fresh items to a --mutate-frac fraction of
the feeds of an existing corpus, in place (size and mtime change, so the
server's ETag and Last-Modified change).  Deterministic for (seed, round).
Old items are kept: a tool that keeps history ends with previous + added
items, and manifest.json is updated to say so.

--base-date DATE: the newest item's date (ISO 8601, or "now"; default
2025-01-01T00:00:00Z); the items of each feed go back about nine days from it.
Dated now, about a fifth of the items are within feedmerge's near-duplicate
window (72 h) and are compared; the default date makes every item old.

Standard library only.
"""
import argparse
import json
import os
import random
import sys
from datetime import datetime, timedelta, timezone
from xml.sax.saxutils import escape

NOWHERE = "http://127.0.0.1:9"
BASE_DATE = datetime(2025, 1, 1, tzinfo=timezone.utc)
DEFAULT_ROOT = os.environ.get("BENCH_ROOT", "/tmp/feedmerge-bench")

SYLL = ["ka", "to", "ri", "men", "sa", "lo", "vi", "tor", "an", "el", "qu", "ar",
        "ne", "po", "li", "da", "ger", "ion", "us", "ba", "ce", "mo", "ra", "te",
        "pre", "con", "ste", "ful", "ness", "ing", "er", "ed", "ly", "x", "ph"]
REAL = ("the of and to in is for on that with as by this from at are be it an "
        "or was have not but they which release version server feed update "
        "performance memory database network kernel rust python linux design "
        "community open source security patch benchmark storage latency cache "
        "protocol browser compiler library framework article review research "
        "policy market energy climate city music film science history").split()
ACCENTED = ["café", "naïve", "über", "résumé", "Zürich", "São", "東京", "Ελλάδα",
            "Москва", "façade"]


def fmt_rfc822(d):
    return d.strftime("%a, %d %b %Y %H:%M:%S +0000")


def fmt_iso(d):
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


class Text:
    """Deterministic pseudo-text: a vocabulary and a pool of sentences."""

    def __init__(self, rng):
        vocab = list(REAL)
        while len(vocab) < 3000:
            w = "".join(rng.choice(SYLL) for _ in range(rng.randint(1, 4)))
            vocab.append(w)
        vocab += ACCENTED
        self.vocab = vocab
        weights = [1.0 / (i + 1) ** 0.8 for i in range(len(vocab))]
        self.sentences = []
        for _ in range(6000):
            n = rng.randint(6, 22)
            words = rng.choices(vocab, weights=weights, k=n)
            s = " ".join(words)
            self.sentences.append((s[0].upper() + s[1:] + rng.choice(".....?!"), n))
        self.title_words = [w for w in vocab[:400] if len(w) > 2]

    def title(self, rng):
        words = [w.capitalize() for w in rng.choices(self.title_words, k=rng.randint(4, 12))]
        r = rng.random()
        if r < 0.05:
            words.insert(rng.randint(0, len(words)), "Q&A:")
        elif r < 0.08:
            words.append('<"quoted">')
        return " ".join(words)

    def summary(self, rng, nwords=50):
        out, n = [], 0
        while n < nwords:
            s, k = rng.choice(self.sentences)
            out.append(s)
            n += k
        return " ".join(out)

    def body(self, rng, key, with_img):
        target = rng.randint(300, 1500)
        parts, n, para = [], 0, 0
        while n < target:
            r = rng.random()
            if para and r < 0.08:
                parts.append("<h2>%s</h2>" % escape(self.title(rng)))
            elif para and r < 0.12:
                items = "".join("<li>%s</li>" % escape(rng.choice(self.sentences)[0])
                                for _ in range(rng.randint(2, 6)))
                parts.append("<ul>%s</ul>" % items)
            elif para and r < 0.14:
                parts.append("<pre><code>fn main() { println!(\"%s\"); }</code></pre>"
                             % escape(rng.choice(self.vocab)))
            elif para and r < 0.16:
                parts.append("<blockquote><p>%s</p></blockquote>" % escape(rng.choice(self.sentences)[0]))
            sent = []
            for _ in range(rng.randint(3, 8)):
                s, k = rng.choice(self.sentences)
                n += k
                if rng.random() < 0.05:
                    s = '<a href="%s/ref/%s/%d">%s</a>' % (NOWHERE, key, len(sent), escape(s))
                elif rng.random() < 0.05:
                    s = "<strong>%s</strong>" % escape(s)
                else:
                    s = escape(s)
                sent.append(s)
            parts.append("<p>%s</p>" % " ".join(sent))
            para += 1
            if with_img and para == 1:
                parts.append('<figure><img src="%s/img/%s.jpg" alt="%s" width="800" height="450"/>'
                             '<figcaption>%s</figcaption></figure>'
                             % (NOWHERE, key, escape(rng.choice(self.vocab)), escape(rng.choice(self.sentences)[0])))
        return "\n".join(parts)


def make_item(rng, text, fi, serial, date):
    """A format-neutral item dict. `serial` is unique within the feed."""
    key = "f%05d-%d" % (fi, serial)
    slug = "-".join(rng.choice(text.title_words) for _ in range(3))
    link = "%s/site%05d/%04d/%02d/%s-%d.html" % (NOWHERE, fi, date.year, date.month, slug, serial)
    r = rng.random()
    if r < 0.15:
        guid, permalink = None, False               # no guid at all (RSS 2.0)
    elif r < 0.55:
        guid, permalink = link, True                 # guid == permalink
    else:
        guid, permalink = "urn:feedmerge-bench:%s:%08x" % (key, rng.getrandbits(32)), False
    with_img = rng.random() < 0.30
    it = {
        "key": key,
        "title": text.title(rng),
        "link": link,
        "guid": guid,
        "permalink": permalink,
        "date": date,
        "author": "%s %s" % (rng.choice(text.title_words).capitalize(), rng.choice(text.title_words).capitalize()),
        "cats": rng.sample(text.title_words[:60], rng.randint(0, 4)),
        "summary": text.summary(rng, rng.randint(30, 70)),
        "body": text.body(rng, key, with_img),
        "enclosure": None,
    }
    if rng.random() < 0.08:
        it["enclosure"] = ("%s/media/%s.mp3" % (NOWHERE, key), rng.randint(10 ** 6, 9 * 10 ** 7), "audio/mpeg")
    return it


# ---------------------------------------------------------------- renderers

def rss2_item(it):
    out = ["<item>", "<title>%s</title>" % escape(it["title"]), "<link>%s</link>" % escape(it["link"])]
    if it["guid"] is not None:
        out.append('<guid isPermaLink="%s">%s</guid>' % ("true" if it["permalink"] else "false", escape(it["guid"])))
    out.append("<pubDate>%s</pubDate>" % fmt_rfc822(it["date"]))
    out.append("<dc:creator>%s</dc:creator>" % escape(it["author"]))
    for c in it["cats"]:
        out.append("<category>%s</category>" % escape(c))
    out.append("<description>%s</description>" % escape(it["summary"]))
    out.append("<content:encoded><![CDATA[%s]]></content:encoded>" % it["body"])
    if it["enclosure"]:
        out.append('<enclosure url="%s" length="%d" type="%s"/>' % it["enclosure"])
    out.append("</item>")
    return "\n".join(out)


def atom_entry(it):
    eid = it["guid"] if it["guid"] is not None else it["link"]
    out = ["<entry>", '<title type="text">%s</title>' % escape(it["title"]),
           '<link rel="alternate" type="text/html" href="%s"/>' % escape(it["link"], {'"': "&quot;"}),
           "<id>%s</id>" % escape(eid),
           "<published>%s</published>" % fmt_iso(it["date"]),
           "<updated>%s</updated>" % fmt_iso(it["date"]),
           "<author><name>%s</name></author>" % escape(it["author"])]
    for c in it["cats"]:
        out.append('<category term="%s"/>' % escape(c, {'"': "&quot;"}))
    if it["enclosure"]:
        out.append('<link rel="enclosure" href="%s" length="%d" type="%s"/>' % it["enclosure"])
    out.append('<summary type="text">%s</summary>' % escape(it["summary"]))
    out.append('<content type="html">%s</content>' % escape(it["body"]))
    out.append("</entry>")
    return "\n".join(out)


def rss1_item(it):
    about = it["guid"] if it["guid"] is not None else it["link"]
    out = ['<item rdf:about="%s">' % escape(about, {'"': "&quot;"}),
           "<title>%s</title>" % escape(it["title"]), "<link>%s</link>" % escape(it["link"]),
           "<dc:date>%s</dc:date>" % fmt_iso(it["date"]),
           "<dc:creator>%s</dc:creator>" % escape(it["author"])]
    for c in it["cats"]:
        out.append("<dc:subject>%s</dc:subject>" % escape(c))
    out.append("<description>%s</description>" % escape(it["summary"]))
    out.append("<content:encoded><![CDATA[%s]]></content:encoded>" % it["body"])
    out.append("</item>")
    return "\n".join(out)


def rss1_about(it):
    return it["guid"] if it["guid"] is not None else it["link"]


ITEMS_MARK = "<!--bench:items-->"
SEQ_MARK = "<!--bench:seq-->"


def render_feed(fmt, fi, title, items, updated):
    site = "%s/site%05d/" % (NOWHERE, fi)
    if fmt == "rss2":
        head = ('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
                'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">\n'
                "<channel>\n<title>%s</title>\n<link>%s</link>\n<description>Feed %d of the feedmerge benchmark corpus</description>\n"
                "<language>en</language>\n<lastBuildDate>%s</lastBuildDate>\n<generator>feedmerge bench/gen_corpus.py</generator>\n<ttl>60</ttl>\n"
                % (escape(title), site, fi, fmt_rfc822(updated)))
        return head + ITEMS_MARK + "\n" + "\n".join(rss2_item(i) for i in items) + "\n</channel>\n</rss>\n"
    if fmt == "atom":
        head = ('<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n'
                "<title>%s</title>\n<subtitle>Feed %d of the feedmerge benchmark corpus</subtitle>\n"
                '<link rel="alternate" href="%s"/>\n<id>urn:feedmerge-bench:feed:%05d</id>\n<updated>%s</updated>\n'
                "<generator>feedmerge bench/gen_corpus.py</generator>\n"
                % (escape(title), fi, site, fi, fmt_iso(updated)))
        return head + ITEMS_MARK + "\n" + "\n".join(atom_entry(i) for i in items) + "\n</feed>\n"
    # RSS 1.0 (RDF)
    seq = "\n".join('<rdf:li rdf:resource="%s"/>' % escape(rss1_about(i), {'"': "&quot;"}) for i in items)
    head = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:content="http://purl.org/rss/1.0/modules/content/">\n'
            '<channel rdf:about="%s">\n<title>%s</title>\n<link>%s</link>\n<description>Feed %d of the feedmerge benchmark corpus</description>\n'
            "<dc:date>%s</dc:date>\n<items><rdf:Seq>\n%s\n%s\n</rdf:Seq></items>\n</channel>\n"
            % (site, escape(title), site, fi, fmt_iso(updated), SEQ_MARK, seq))
    return head + ITEMS_MARK + "\n" + "\n".join(rss1_item(i) for i in items) + "\n</rdf:RDF>\n"


EXT = {"rss2": "rss", "atom": "atom", "rss1": "rdf"}


def pick_format(rng):
    r = rng.random()
    return "rss2" if r < 0.70 else ("atom" if r < 0.95 else "rss1")


def generate(a):
    out = a.out or os.path.join(DEFAULT_ROOT, "corpus-K%d-M%d-s%d" % (a.feeds, a.items, a.seed))
    os.makedirs(os.path.join(out, "feeds"), exist_ok=True)
    rng = random.Random(a.seed)
    text = Text(random.Random(a.seed * 7919 + 1))
    originals = []          # items eligible to be duplicated (fi, item)
    paths, fmts = [], {"rss2": 0, "atom": 0, "rss1": 0}
    total = dups = 0
    nbytes = 0
    for fi in range(1, a.feeds + 1):
        frng = random.Random((a.seed << 20) ^ fi)
        fmt = pick_format(rng)
        fmts[fmt] += 1
        title = "Bench feed %05d: %s" % (fi, text.title(frng))
        items = []
        used_links = set()
        for j in range(a.items):
            date = BASE_DATE - timedelta(hours=fi % 97 + 6 * j, minutes=frng.randint(0, 59))
            if originals and rng.random() < a.dup_frac:
                k = rng.randrange(len(originals))
                ofi, oit = originals[k]
                if ofi != fi and oit["link"] not in used_links:
                    originals[k] = originals[-1]
                    originals.pop()
                    items.append(dict(oit))
                    used_links.add(oit["link"])
                    dups += 1
                    continue
            it = make_item(frng, text, fi, j, date)
            items.append(it)
            used_links.add(it["link"])
        for it in items:
            if it["key"].startswith("f%05d-" % fi):
                originals.append((fi, it))
        # bounded pool so memory stays flat for large K
        if len(originals) > 20000:
            del originals[: len(originals) - 20000]
        total += len(items)
        updated = max(i["date"] for i in items)
        doc = render_feed(fmt, fi, title, items, updated)
        rel = "feeds/f%05d.%s" % (fi, EXT[fmt])
        with open(os.path.join(out, rel), "w", encoding="utf-8") as f:
            f.write(doc)
        nbytes += len(doc.encode("utf-8"))
        paths.append(rel)
    with open(os.path.join(out, "paths.txt"), "w") as f:
        f.write("\n".join(paths) + "\n")
    man = {"feeds": a.feeds, "items_per_feed": a.items, "seed": a.seed, "formats": fmts,
           "base_date": BASE_DATE.isoformat(),
           "entries": total, "cross_feed_dups": dups, "unique": total - dups,
           "bytes": nbytes, "mutate_rounds": 0, "added": 0, "mutated_feeds": 0}
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(man, f, indent=1)
    print(out)
    print(json.dumps(man), file=sys.stderr)


def mutate(a):
    d = a.mutate
    with open(os.path.join(d, "manifest.json")) as f:
        man = json.load(f)
    global BASE_DATE
    BASE_DATE = datetime.fromisoformat(man.get("base_date", "2025-01-01T00:00:00+00:00"))
    with open(os.path.join(d, "paths.txt")) as f:
        paths = [p.strip() for p in f if p.strip()]
    rnd = man["mutate_rounds"] + 1
    rng = random.Random(a.seed * 1000003 + rnd)
    text = Text(random.Random(man["seed"] * 7919 + 1))
    n_feeds = max(1, int(round(len(paths) * a.mutate_frac)))
    chosen = sorted(rng.sample(range(len(paths)), n_feeds))
    added = 0
    for idx in chosen:
        rel = paths[idx]
        fi = idx + 1
        fmt = {v: k for k, v in EXT.items()}[rel.rsplit(".", 1)[1]]
        frng = random.Random((a.seed << 24) ^ (rnd << 18) ^ fi)
        new = []
        for j in range(a.new_items):
            date = BASE_DATE + timedelta(hours=rnd * 24 + j, minutes=frng.randint(0, 59))
            new.append(make_item(frng, text, fi, 100000 * rnd + j, date))
        new.reverse()  # newest first
        p = os.path.join(d, rel)
        with open(p, encoding="utf-8") as f:
            doc = f.read()
        render = {"rss2": rss2_item, "atom": atom_entry, "rss1": rss1_item}[fmt]
        doc = doc.replace(ITEMS_MARK, ITEMS_MARK + "\n" + "\n".join(render(i) for i in new), 1)
        if fmt == "rss1":
            seq = "\n".join('<rdf:li rdf:resource="%s"/>' % escape(rss1_about(i), {'"': "&quot;"}) for i in new)
            doc = doc.replace(SEQ_MARK, SEQ_MARK + "\n" + seq, 1)
        tmp = p + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(doc)
        os.replace(tmp, p)
        added += len(new)
    man["mutate_rounds"] = rnd
    man["added"] += added
    man["mutated_feeds"] += n_feeds
    man["entries"] += added
    man["unique"] += added
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(man, f, indent=1)
    print(json.dumps(man), file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--feeds", "-K", type=int, default=1000)
    ap.add_argument("--items", "-M", type=int, default=20)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--dup-frac", type=float, default=0.05, help="fraction of items copied from another feed")
    ap.add_argument("--out", help="output dir (default %s/corpus-K<k>-M<m>-s<seed>)" % DEFAULT_ROOT)
    ap.add_argument("--mutate", metavar="DIR", help="mutate an existing corpus in place")
    ap.add_argument("--new-items", "-N", type=int, default=5, help="--mutate: new items per mutated feed")
    ap.add_argument("--mutate-frac", type=float, default=0.2, help="--mutate: fraction of feeds that get new items")
    ap.add_argument("--base-date", default="2025-01-01T00:00:00Z",
                    help='the newest item\'s date: ISO 8601 or "now" (default %(default)s)')
    a = ap.parse_args()
    global BASE_DATE
    BASE_DATE = (datetime.now(timezone.utc) if a.base_date == "now"
                 else datetime.fromisoformat(a.base_date.replace("Z", "+00:00")).astimezone(timezone.utc))
    if a.mutate:
        mutate(a)
    else:
        generate(a)


if __name__ == "__main__":
    main()
