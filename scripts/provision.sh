#!/usr/bin/env bash
# Everything the tests and the demo need beyond Rust, Go and Python 3. Idempotent; cheap when cached.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

for tool in cargo go python3; do
  command -v "$tool" >/dev/null || die "$tool is required (see README.md, Prerequisites)"
done
"$root/scripts/provision-kube.sh"
"$root/scripts/provision-helm.sh"
"$root/scripts/provision-promtool.sh"
