#!/usr/bin/env bash
# The kill -9 soak of `bosun serve` (issue 14): N ops, random SIGKILLs of
# the controller, a side-effect log outside the workspace; prints lost ops,
# finished steps re-run, non-idempotent doubles, overlapping steps per
# host, unknown and recovered outcomes, and checks the ledger. Exits 1 on
# any loss, re-run, double or overlap. See scripts/soak.py for the options;
# the defaults are the issue's bar (400 ops, 100 kills, 10 hosts).
#   scripts/soak.sh                       # release binary, full soak
#   scripts/soak.sh --ops 30 --kills 8    # the short version CI runs
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 scripts/soak.py "$@"
