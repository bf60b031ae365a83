// Progressive enhancement for the news page: "Show more" appends the next page in place
// (without JavaScript the link simply opens it), and times read "3 hours ago" in the
// reader's own clock. No inline script: the Content-Security-Policy forbids it.
"use strict";

function ago(date) {
  const s = Math.round((Date.now() - date.getTime()) / 1000);
  const units = [["year", 31536000], ["month", 2592000], ["day", 86400], ["hour", 3600], ["minute", 60]];
  if (s < 60) return "just now";
  for (const [name, size] of units) {
    const n = Math.floor(s / size);
    if (n >= 1) return n + " " + name + (n > 1 ? "s" : "") + " ago";
  }
  return "just now";
}

function refreshTimes(root) {
  for (const t of root.querySelectorAll("time[datetime]")) {
    const d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d)) t.textContent = ago(d);
  }
}

async function showMore(event) {
  const link = event.currentTarget;
  event.preventDefault();
  if (link.getAttribute("aria-busy") === "true") return;
  link.setAttribute("aria-busy", "true");
  try {
    const response = await fetch(link.href, { headers: { "Accept": "text/html" } });
    if (!response.ok) throw new Error(response.status);
    const next = new DOMParser().parseFromString(await response.text(), "text/html");
    const stories = document.getElementById("stories");
    for (const card of next.querySelectorAll("#stories > article")) {
      stories.appendChild(document.adoptNode(card));
    }
    refreshTimes(stories);
    const nextMore = next.getElementById("more");
    if (nextMore) {
      link.href = nextMore.getAttribute("href");
      link.removeAttribute("aria-busy");
    } else {
      link.parentElement.remove();
    }
  } catch (e) {
    // Fall back to plain navigation.
    window.location.href = link.href;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  refreshTimes(document);
  const more = document.getElementById("more");
  if (more) more.addEventListener("click", showMore);
});
