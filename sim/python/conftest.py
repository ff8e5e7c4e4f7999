"""Fixtures for the client-library suite: one simulator process per session, reset before every test.

The simulator binary comes from $PVE_ONTAP_SIM_BIN (scripts/test-sim-python.sh builds it and sets it).
"""

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

# requests lets these variables override a session's `verify`, which would make the client libraries ignore the
# simulator's CA (netapp-ontap and proxmoxer pass it through session.verify).
for _var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
    os.environ.pop(_var, None)


@dataclass
class Sim:
    ontap_url: str
    pve_url: str
    ca_path: Path

    @property
    def ontap_host(self) -> str:
        return urlparse(self.ontap_url).hostname

    @property
    def ontap_port(self) -> int:
        return urlparse(self.ontap_url).port

    @property
    def pve_host(self) -> str:
        return urlparse(self.pve_url).hostname

    @property
    def pve_port(self) -> int:
        return urlparse(self.pve_url).port

    def hook(self, method: str, path: str, **kwargs):
        """Calls a /_sim/ test hook (no auth) on the ONTAP port."""
        resp = requests.request(method, f"{self.ontap_url}/_sim/{path}", verify=str(self.ca_path), timeout=30, **kwargs)
        resp.raise_for_status()
        return resp.json() if resp.content else None


@pytest.fixture(scope="session")
def sim_process():
    binary = os.environ.get("PVE_ONTAP_SIM_BIN")
    if not binary:
        pytest.fail("PVE_ONTAP_SIM_BIN is not set; run scripts/test-sim-python.sh")
    with tempfile.TemporaryDirectory() as tmp:
        tls = Path(tmp) / "tls"
        proc = subprocess.Popen(
            [binary, "--ontap-addr", "127.0.0.1:0", "--pve-addr", "127.0.0.1:0", "--tls-dir", str(tls)],
            stdout=subprocess.PIPE,
            stderr=open(Path(tmp) / "sim.log", "w"),
            text=True,
        )
        try:
            line = proc.stdout.readline()
            if not line.startswith("pve-ontap-sim ready"):
                pytest.fail(f"simulator did not start: {line!r}; log: {(Path(tmp) / 'sim.log').read_text()}")
            fields = dict(part.split("=", 1) for part in line.split()[2:])
            yield Sim(ontap_url=fields["ontap"], pve_url=fields["pve"], ca_path=Path(fields["ca"]))
        finally:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.fixture
def sim(sim_process):
    """The running simulator, reset to the default scenario."""
    sim_process.hook("POST", "reset")
    return sim_process
