#!/usr/bin/env bash
# Prints `export` lines that put the provisioned tools first on PATH: eval "$(scripts/env.sh)".
set -euo pipefail
. "$(dirname "$0")/lib.sh"
printf 'export PVE_ONTAP_CACHE=%q\n' "$cache"
printf 'export PATH=%q:%q:$PATH\n' "$kube_bin" "$helm_bin"
