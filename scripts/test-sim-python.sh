#!/usr/bin/env bash
# Runs the client-library suite (sim/python) against the simulator binary: NetApp's netapp-ontap and proxmoxer
# from PyPI drive the simulated APIs through ordinary workflows. The venv lives in the tool cache and is only
# re-installed when sim/python/requirements.txt changes. Extra arguments go to pytest.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

venv="$cache/venv"
req="$root/sim/python/requirements.txt"
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)

install_venv() {
  if [[ ! -x "$venv/bin/python" ]]; then
    log "creating $venv"
    python3 -m venv "$venv"
  fi
  if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    log "installing $req"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    echo "$want" >"$stamp"
  fi
}
with_lock "$cache/venv.lock" install_venv

log "building the simulator"
cargo build --quiet -p pve-ontap-sim --bin pve-ontap-sim --manifest-path "$root/Cargo.toml"
target_dir=$(cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" |
  "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
export PVE_ONTAP_SIM_BIN="$target_dir/debug/pve-ontap-sim"

cd "$root/sim/python"
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
