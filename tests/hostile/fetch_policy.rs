//! The fetch policy: where a feed, its redirects and its article links may make feedmerge
//! connect, judged on the addresses connected to.
