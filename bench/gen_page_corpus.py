#!/usr/bin/env python3
"""A news page's worth of feeds, with their images, for bench/lighthouse.sh.

    gen_page_corpus.py --out DIR [--stories 50] [--seed 7]

Writes under DIR, to be served from one local server (every URL in the documents is
relative, so any host and port will do):
  feeds/city.rss      RSS 2.0: media:content in two sizes (srcset), media:description as
                      caption, media:credit, dc:creator, categories, content:encoded
  feeds/wire.atom     Atom 1.0: authors with a uri, the picture as a <figure> with a
                      <figcaption> at the top of the content
  feeds/notes.json    JSON Feed 1.1: image, authors with url and avatar, content_html
  feeds/sport.rss     RSS 2.0: portrait photos as image enclosures
  feeds/podcast.rss   a podcast: itunes:author, itunes:image, audio enclosures
  images/*.png        the lead images (landscape 600x315 and 1200x630, portrait 400x600)
                      and avatars (96x96): plain PNGs, 1 to 5 KB each
  feeds.txt           one line per feed: path, then its tags (comma-separated)

The stories are spread evenly over the feeds, newest first, one hour apart, the newest an
hour before the moment of generation (so that the page says "1 hour ago"). Deterministic
for a seed, apart from those dates. Standard library only.
"""
import argparse
import json
import os
import random
import struct
import zlib
from datetime import datetime, timedelta, timezone
from xml.sax.saxutils import escape

WORDS = ("the council city bridge river school budget vote market park street housing "
         "transport energy water plan residents mayor report study data night weekend "
         "season team match coach players fans league final goal open new old public "
         "after before during while because said says will would could about more "
         "than first last year month week today local national world science health "
         "climate rain summer winter library museum festival music film book").split()

# (path, format, tags): the sources of the page.
FEEDS = [
    ("feeds/city.rss", "city", ["local", "news"]),
    ("feeds/wire.atom", "wire", ["world", "news"]),
    ("feeds/notes.json", "notes", ["tech"]),
    ("feeds/sport.rss", "sport", ["sport", "local"]),
    ("feeds/podcast.rss", "podcast", ["podcasts"]),
]
AUTHORS = ["Ann Lee", "Bo Chen", "Carla Diaz", "Dev Patel", "Eva Novak"]


def png(width, height, a, b):
    """A PNG of a vertical gradient from colour a to colour b, with a darker band."""
    rows = []
    for y in range(height):
        t = y / height
        band = 0.7 if abs(y - height * 0.6) < height * 0.08 else 1.0
        pixel = bytes(int((a[i] + (b[i] - a[i]) * t) * band) for i in range(3))
        rows.append(b"\0" + pixel * width)
    raw = zlib.compress(b"".join(rows), 9)

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


def sentence(rng):
    words = [rng.choice(WORDS) for _ in range(rng.randint(8, 18))]
    return " ".join(words).capitalize() + "."


def story_html(rng, paragraphs):
    return "".join("<p>%s</p>" % " ".join(sentence(rng) for _ in range(rng.randint(3, 6)))
                   for _ in range(paragraphs))


def rfc822(d):
    return d.strftime("%a, %d %b %Y %H:%M:%S +0000")


def iso(d):
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--stories", type=int, default=50)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    os.makedirs(os.path.join(args.out, "feeds"), exist_ok=True)
    os.makedirs(os.path.join(args.out, "images"), exist_ok=True)

    def image(name, w, h):
        a = [rng.randint(40, 200) for _ in range(3)]
        b = [rng.randint(40, 200) for _ in range(3)]
        with open(os.path.join(args.out, "images", name), "wb") as f:
            f.write(png(w, h, a, b))
        return "../images/" + name

    now = datetime.now(timezone.utc).replace(microsecond=0)
    per_feed = {kind: [] for _, kind, _ in FEEDS}
    for i in range(args.stories):
        kind = FEEDS[i % len(FEEDS)][1]
        per_feed[kind].append((i, now - timedelta(hours=i + 1)))
    avatars = {name: image("avatar-%d.png" % n, 96, 96) for n, name in enumerate(AUTHORS)}

    def title(i):
        return "%s: %s" % (rng.choice(["City", "Council", "Harbour", "Valley", "Station"]),
                           sentence(rng)[:-1])

    for path, kind, _tags in FEEDS:
        items = []
        for i, date in per_feed[kind]:
            author = AUTHORS[i % len(AUTHORS)]
            body = story_html(rng, rng.randint(4, 12))
            link = "https://news.invalid/%s/%d" % (kind, i)
            caption = "The %s seen from the %s" % (rng.choice(WORDS), rng.choice(WORDS))
            if kind == "city":
                small, big = image("city-%d-600.png" % i, 600, 315), image("city-%d.png" % i, 1200, 630)
                items.append(
                    "<item><guid>%s</guid><title>%s</title><link>%s</link><pubDate>%s</pubDate>"
                    "<dc:creator>%s</dc:creator><category>%s</category>"
                    "<media:content url=\"%s\" type=\"image/png\" width=\"600\" height=\"315\"/>"
                    "<media:content url=\"%s\" type=\"image/png\" width=\"1200\" height=\"630\">"
                    "<media:description>%s</media:description><media:credit>Photo desk</media:credit>"
                    "</media:content><description>%s</description>"
                    "<content:encoded><![CDATA[%s]]></content:encoded></item>"
                    % (link, escape(title(i)), link, rfc822(date), author, rng.choice(WORDS),
                       small, big, caption, escape(sentence(rng)), body))
            elif kind == "wire":
                img = image("wire-%d.png" % i, 600, 315)
                content = ("<figure><img src=\"%s\" width=\"600\" height=\"315\" alt=\"\">"
                           "<figcaption>%s. Photo: wire</figcaption></figure>%s" % (img, caption, body))
                items.append(
                    "<entry><id>%s</id><title>%s</title><link href=\"%s\"/><updated>%s</updated>"
                    "<author><name>%s</name><uri>https://news.invalid/people/%d</uri></author>"
                    "<summary>%s</summary><content type=\"html\">%s</content></entry>"
                    % (link, escape(title(i)), link, iso(date), author, i % len(AUTHORS),
                       escape(sentence(rng)), escape(content)))
            elif kind == "notes":
                items.append({
                    "id": link, "url": link, "title": title(i), "date_published": iso(date),
                    "image": image("notes-%d.png" % i, 600, 315),
                    "summary": sentence(rng), "content_html": body,
                    "authors": [{"name": author, "url": "https://news.invalid/people/%d" % i,
                                 "avatar": avatars[author]}],
                    "tags": [rng.choice(WORDS)],
                })
            elif kind == "sport":
                img = image("sport-%d.png" % i, 400, 600)
                items.append(
                    "<item><guid>%s</guid><title>%s</title><link>%s</link><pubDate>%s</pubDate>"
                    "<author>desk@news.invalid (%s)</author>"
                    "<enclosure url=\"%s\" type=\"image/png\" length=\"0\"/>"
                    "<description><![CDATA[%s]]></description></item>"
                    % (link, escape(title(i)), link, rfc822(date), author, img, body))
            else:
                cover = image("podcast-%d.png" % i, 600, 600)
                items.append(
                    "<item><guid>%s</guid><title>Episode %d: %s</title><link>%s</link>"
                    "<pubDate>%s</pubDate><itunes:author>%s</itunes:author>"
                    "<itunes:image href=\"%s\"/>"
                    "<enclosure url=\"https://news.invalid/audio/%d.mp3\" type=\"audio/mpeg\" length=\"1000\"/>"
                    "<description><![CDATA[%s]]></description></item>"
                    % (link, i, escape(sentence(rng)[:-1]), link, rfc822(date), author, cover, i,
                       story_html(rng, 2)))
        with open(os.path.join(args.out, path), "w", encoding="utf-8") as f:
            if kind == "wire":
                f.write("<?xml version=\"1.0\" encoding=\"utf-8\"?>"
                        "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>Morning Wire</title>"
                        "<id>urn:wire</id><updated>%s</updated>%s</feed>" % (iso(now), "".join(items)))
            elif kind == "notes":
                json.dump({"version": "https://jsonfeed.org/version/1.1", "title": "Tech Notes",
                           "home_page_url": "https://news.invalid/notes", "items": items}, f)
            else:
                name = {"city": "City Desk", "sport": "Sport Daily",
                        "podcast": "Green Streets Podcast"}[kind]
                f.write("<?xml version=\"1.0\" encoding=\"utf-8\"?>"
                        "<rss version=\"2.0\" xmlns:media=\"http://search.yahoo.com/mrss/\" "
                        "xmlns:dc=\"http://purl.org/dc/elements/1.1/\" "
                        "xmlns:content=\"http://purl.org/rss/1.0/modules/content/\" "
                        "xmlns:itunes=\"http://www.itunes.com/dtds/podcast-1.0.dtd\">"
                        "<channel><title>%s</title><link>https://news.invalid/%s</link>"
                        "<description>%s</description>%s</channel></rss>"
                        % (name, kind, name, "".join(items)))
    with open(os.path.join(args.out, "feeds.txt"), "w") as f:
        for path, _, tags in FEEDS:
            f.write("%s %s\n" % (path, ",".join(tags)))


if __name__ == "__main__":
    main()
