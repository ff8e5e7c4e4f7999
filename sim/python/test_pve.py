"""Drives the simulated Proxmox VE API with proxmoxer, an independent client library, through ordinary workflows.

The `sim` fixture (conftest.py) runs the simulator binary, resets it before each test and exposes `pve_host`,
`pve_port` and `ca_path`.
"""

import pytest
from proxmoxer import AuthenticationError, ProxmoxAPI, ResourceException
from proxmoxer.tools import Tasks

PASSWORD = "proxmox123"
TOKEN_SECRET = "d5e8c7a2-0b1f-4e3a-9c6d-2f4b8a1e7c90"


def _endpoint(sim):
    return sim.pve_host, sim.pve_port


@pytest.fixture
def pve_password(sim):
    host, port = _endpoint(sim)
    return ProxmoxAPI(host, port=port, user="root@pam", password=PASSWORD, verify_ssl=str(sim.ca_path), timeout=30)


@pytest.fixture
def pve_token(sim):
    host, port = _endpoint(sim)
    return ProxmoxAPI(
        host,
        port=port,
        user="root@pam",
        token_name="ci",
        token_value=TOKEN_SECRET,
        verify_ssl=str(sim.ca_path),
        timeout=30,
    )


def _wait(pve, upid):
    status = Tasks.blocking_status(pve, upid, timeout=30, polling_interval=0.05)
    assert status is not None, f"task {upid} did not finish"
    return status


def test_login_with_password_and_list(pve_password):
    nodes = sorted(n["node"] for n in pve_password.nodes.get())
    assert nodes == ["pve1", "pve2"]
    assert pve_password.version.get()["release"].startswith("8")
    vms = {vm["vmid"]: vm for vm in pve_password.cluster.resources.get(type="vm")}
    assert vms[100]["name"] == "web01" and vms[100]["status"] == "running"
    assert vms[101]["node"] == "pve2" and vms[101]["status"] == "stopped"


def test_wrong_password_is_refused(sim):
    host, port = _endpoint(sim)
    with pytest.raises(AuthenticationError):
        ProxmoxAPI(host, port=port, user="root@pam", password="wrong", verify_ssl=str(sim.ca_path), timeout=30)


def test_token_lists_vms_and_config(pve_token):
    vms = pve_token.nodes("pve1").qemu.get()
    assert [vm["vmid"] for vm in vms] == [100]
    config = pve_token.nodes("pve1").qemu(100).config.get()
    assert config["scsi0"] == "ONTAP01:100/vm-100-disk-0.qcow2,iothread=1,size=32G"
    assert config["ide2"] == "none,media=cdrom"
    assert len(config["digest"]) == 40


def test_missing_vm_is_a_500(pve_token):
    with pytest.raises(ResourceException) as err:
        pve_token.nodes("pve2").qemu(100).config.get()
    assert err.value.status_code == 500
    assert "does not exist" in str(err.value)


def test_suspend_resume_with_task_polling(pve_password):
    vm = pve_password.nodes("pve1").qemu(100)
    upid = vm.status.suspend.post()
    decoded = Tasks.decode_upid(upid)
    assert decoded["node"] == "pve1" and decoded["type"] == "qmpause" and decoded["id"] == "100"
    assert _wait(pve_password, upid)["exitstatus"] == "OK"
    assert vm.status.current.get()["qmpstatus"] == "paused"

    assert _wait(pve_password, vm.status.resume.post())["exitstatus"] == "OK"
    assert vm.status.current.get()["qmpstatus"] == "running"


def test_hibernate_and_resume(pve_token):
    vm = pve_token.nodes("pve1").qemu(100)
    assert _wait(pve_token, vm.status.suspend.post(todisk=1))["exitstatus"] == "OK"
    current = vm.status.current.get()
    assert current["status"] == "stopped" and current["lock"] == "suspended"
    vmstate = vm.config.get()["vmstate"]
    assert vmstate.startswith("ONTAP01:100/vm-100-state-suspend-")

    upid = vm.status.resume.post()
    assert _wait(pve_token, upid)["exitstatus"] == "OK"
    log = Tasks.decode_log(pve_token.nodes("pve1").tasks(upid).log.get())
    assert "TASK OK" in log
    status = vm.status.current.get()
    assert status["status"] == "running"
    assert "lock" not in status
    assert "vmstate" not in vm.config.get()


def test_storage_add_and_remove(pve_password):
    pve_password.storage.post(
        storage="BACKUP1", type="nfs", server="192.0.2.10", export="/pve_backup", content="backup", options="vers=4.2"
    )
    ids = [s["storage"] for s in pve_password.storage.get(type="nfs")]
    assert "BACKUP1" in ids
    status = pve_password.nodes("pve1").storage("BACKUP1").status.get()
    assert status["active"] == 1
    with pytest.raises(ResourceException) as err:
        pve_password.storage.post(storage="BACKUP1", type="nfs", server="192.0.2.10", export="/pve_backup")
    assert "already defined" in str(err.value)

    pve_password.storage("BACKUP1").delete()
    assert "BACKUP1" not in [s["storage"] for s in pve_password.storage.get()]


def test_storage_content_lists_images(pve_token):
    content = pve_token.nodes("pve1").storage("ONTAP01").content.get(content="images")
    volids = [c["volid"] for c in content]
    assert "ONTAP01:100/vm-100-disk-0.qcow2" in volids
    assert "ONTAP01:101/vm-101-disk-0.raw" in volids


def test_config_update_with_digest(pve_token):
    vm = pve_token.nodes("pve2").qemu(101)
    digest = vm.config.get()["digest"]
    vm.config.put(description="managed by tests", digest=digest)
    with pytest.raises(ResourceException) as err:
        vm.config.put(description="stale", digest=digest)
    assert "checksum mismatch" in str(err.value)
    upid = vm.config.post(delete="description")
    assert _wait(pve_token, upid)["exitstatus"] == "OK"
    assert "description" not in vm.config.get()


def test_task_list_finds_tasks_of_a_vm(pve_token):
    node = pve_token.nodes("pve2")
    upid = node.qemu(101).status.start.post()
    assert _wait(pve_token, upid)["exitstatus"] == "OK"
    finished = node.tasks.get(vmid=101, typefilter="qmstart")
    assert [t["upid"] for t in finished] == [upid]
    entry = finished[0]
    assert entry["status"] == "OK" and entry["user"] == "root@pam" and entry["tokenid"] == "ci"
    assert entry["endtime"] >= entry["starttime"]
    assert node.tasks.get(vmid=101, source="active") == []
    assert node.tasks.get(vmid=100) == []
