"""Drives the simulated ONTAP REST API with NetApp's own Python client library (netapp-ontap from PyPI)
through ordinary workflows: lookups, volume listing, snapshots, file clones with job polling, FlexClones.

The `sim` fixture (conftest.py) runs the simulator binary and resets it before each test.
"""

import pytest
from netapp_ontap import HostConnection, config
from netapp_ontap.error import NetAppRestError
from netapp_ontap.resources import CLI, Cluster, FileClone, FileInfo, IpInterface, Snapshot, Svm, Volume

GIB = 1 << 30


@pytest.fixture
def ontap(sim):
    conn = HostConnection(
        sim.ontap_host,
        port=sim.ontap_port,
        username="admin",
        password="netapp123",
        verify=str(sim.ca_path),
        poll_interval=0.1,
        poll_timeout=30,
    )
    with conn:
        yield conn
    config.CONNECTION = None


def test_wrong_password_is_rejected(sim):
    conn = HostConnection(sim.ontap_host, port=sim.ontap_port, username="admin", password="nope", verify=str(sim.ca_path))
    with conn:
        with pytest.raises(NetAppRestError) as err:
            Cluster().get()
    assert err.value.http_err_response.http_response.status_code == 401


def test_cluster_svm_and_lif_lookup(ontap):
    cluster = Cluster()
    cluster.get(fields="name,version")
    assert cluster.name == "sim-cluster"
    assert (cluster.version.generation, cluster.version.major, cluster.version.minor) == (9, 16, 1)

    svm = Svm.find(name="svm1")
    assert svm is not None
    lifs = list(IpInterface.get_collection(fields="ip,svm,state,services", **{"ip.address": "192.0.2.10"}))
    assert len(lifs) == 1
    assert lifs[0].svm.name == "svm1"
    assert lifs[0].svm.uuid == svm.uuid
    assert lifs[0].state == "up"


def test_list_volumes(ontap):
    vols = {v.name: v for v in Volume.get_collection(fields="nas.path,size,space,clone.is_flexclone", **{"svm.name": "svm1"})}
    assert set(vols) == {"pve_images", "pve_backup", "data01"}
    assert vols["pve_images"].nas.path == "/pve_images"
    assert "path" not in vols["data01"].to_dict().get("nas", {})  # unmounted: no junction path
    assert vols["pve_images"].space.logical_space.used == 56 * GIB
    assert Volume.count_collection(name="pve_*") == 2

    # Paging through netapp-ontap's own handling of _links.next.
    names = [v.name for v in Volume.get_collection(max_records=1)]
    assert sorted(names) == ["data01", "pve_backup", "pve_images"]


def test_snapshot_create_and_delete(ontap):
    vol = Volume.find(name="pve_images")
    snap = Snapshot(vol.uuid, name="py_snap", comment="from netapp-ontap")
    snap.post(poll=True)
    found = Snapshot.find(vol.uuid, name="py_snap", fields="comment,create_time")
    assert found is not None
    assert found.comment == "from netapp-ontap"
    assert found.uuid == snap.uuid
    found.delete(poll=True)
    assert Snapshot.find(vol.uuid, name="py_snap") is None

    with pytest.raises(NetAppRestError) as err:
        Snapshot(vol.uuid, name="bad name!").post(poll=True)
    assert err.value.http_err_response.http_response.status_code == 400


def test_file_clone_with_job_polling(ontap):
    vol = Volume.find(name="pve_images")
    FileInfo(vol.uuid, "images/102", type="directory", unix_permissions="755").post()
    clone = FileClone(
        volume={"uuid": vol.uuid, "name": vol.name},
        source_path="images/100/vm-100-disk-0.qcow2",
        destination_path="images/102/vm-102-disk-0.qcow2",
    )
    clone.post(poll=True)
    listing = {f.name: f for f in FileInfo.get_collection(vol.uuid, "images/102", fields="size,type")}
    assert listing["vm-102-disk-0.qcow2"].size == 32 * GIB
    assert listing["vm-102-disk-0.qcow2"].type == "file"

    vol.get(fields="space")
    assert vol.space.logical_space.used == 88 * GIB
    assert vol.space.used == 56 * GIB  # the clone shares its blocks

    # An existing destination makes the job fail; netapp-ontap raises the job's message.
    with pytest.raises(NetAppRestError) as err:
        FileClone(
            volume={"uuid": vol.uuid},
            source_path="images/100/vm-100-disk-1.raw",
            destination_path="images/102/vm-102-disk-0.qcow2",
        ).post(poll=True)
    assert "already exists" in str(err.value)
    FileClone(
        volume={"uuid": vol.uuid},
        source_path="images/100/vm-100-disk-1.raw",
        destination_path="images/102/vm-102-disk-0.qcow2",
        overwrite_destination=True,
    ).post(poll=True)


def test_flexclone_create_mount_and_delete(ontap):
    parent = Volume.find(name="pve_images")
    Snapshot(parent.uuid, name="base").post(poll=True)

    clone = Volume(
        name="py_clone",
        svm={"name": "svm1"},
        clone={"is_flexclone": True, "parent_volume": {"name": "pve_images"}, "parent_snapshot": {"name": "base"}},
    )
    clone.post(poll=True)
    assert clone.uuid
    clone.get(fields="clone,nas.path,state")
    assert clone.clone.is_flexclone is True
    assert clone.clone.parent_snapshot.name == "base"
    assert clone.state == "online"

    clone.nas = {"path": "/py_clone"}
    clone.patch(poll=True)
    mounted = Volume.find(**{"nas.path": "/py_clone"}, fields="nas.path")
    assert mounted.uuid == clone.uuid
    files = [f.name for f in FileInfo.get_collection(clone.uuid, "images/100")]
    assert "vm-100-disk-0.qcow2" in files

    # The base snapshot is busy while the clone exists.
    base = Snapshot.find(parent.uuid, name="base")
    with pytest.raises(NetAppRestError) as err:
        base.delete(poll=True)
    assert "has not expired or is locked" in str(err.value)

    clone.nas = {"path": ""}
    clone.patch(poll=True)
    clone.delete(poll=True)
    assert Volume.find(name="py_clone") is None

    # The deleted clone waits in the recovery queue and still pins the snapshot until purged.
    queued = CLI().execute("volume recovery-queue show", vserver="svm1", fields="volume,original_name")
    records = queued.http_response.json()["records"]
    assert [r["original_name"] for r in records] == ["py_clone"]
    CLI().execute("volume recovery-queue purge", body={"vserver": "svm1", "volume": records[0]["volume"]})
    base.delete(poll=True)
    assert Snapshot.find(parent.uuid, name="base") is None
