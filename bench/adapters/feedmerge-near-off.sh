#!/usr/bin/env bash
# feedmerge with near-duplicate detection off ([dedupe] near_duplicates = false), the same
# binary and otherwise the same config as feedmerge.sh: run it beside feedmerge to measure
# what detection costs, in the same run.
#   PEERS=feedmerge-near-off bench/ingest.sh
# The corpus's cross-feed copies share their links, so the count is the same either way.
here=$(cd "$(dirname "$0")" && pwd)
FM_EXTRA_TOML=$'[dedupe]\nnear_duplicates = false' exec "$here/feedmerge.sh" "$@"
