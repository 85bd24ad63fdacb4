#!/usr/bin/env bash
# Runs the OWASP CRS regression tests (4,674 YAML tests shipped with the
# embedded rule set) against the real gatehouse binary through go-ftw, and
# prints how many passed, failed and were ignored. CRS_TESTS='^942' (a
# regular expression over test ids) runs a subset; CRS_NO_IGNORE=1 runs
# the ignored tests too.
set -euo pipefail
cd "$(dirname "$0")/../e2e/crs"
go test -count=1 -v -timeout 20m . 2>&1 | grep -E 'CRS regression tests|failed:|^(ok|FAIL|---)'
