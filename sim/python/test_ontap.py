"""Drives the simulated ONTAP REST API with NetApp's own Python client library (netapp-ontap from PyPI)
through ordinary workflows: lookups, volume listing, snapshots, file clones with job polling, FlexClones, volume
snapshot restores (REST and CLI passthrough).

The `sim` fixture (conftest.py) runs the simulator binary and resets it before each test.
"""

import pytest
from netapp_ontap import HostConnection, config
from netapp_ontap.error import NetAppRestError
from netapp_ontap.resources import CLI, Cluster, FileClone, FileInfo, IpInterface, Job, Snapshot, Svm, Volume

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


# --- Volume snapshot restore -------------------------------------------------------------------------------------
# NetApp documents `restore_to.snapshot.name|uuid` as query parameters of PATCH /storage/volumes/{uuid}
# (https://docs.netapp.com/us-en/ontap-restapi/patch-storage-volumes-.html); netapp-ontap sends the keyword arguments
# of `patch()` as query parameters. Its Volume schema has no `restore_to` field, so setting `vol.restore_to` sends
# nothing.

AFTER = "images/100/after.raw"


def _names(vol_uuid, path="images/100"):
    return {f.name for f in FileInfo.get_collection(vol_uuid, path)}


def _snapshots(vol_uuid):
    # Sorted: ONTAP lists snapshots in no documented order.
    return sorted(s.name for s in Snapshot.get_collection(vol_uuid))


def _diverge(vol):
    """Snapshot "before", then a file created after it and a newer snapshot "later"."""
    Snapshot(vol.uuid, name="before").post(poll=True)
    FileClone(volume={"uuid": vol.uuid}, source_path="images/100/vm-100-disk-1.raw", destination_path=AFTER).post(poll=True)
    Snapshot(vol.uuid, name="later").post(poll=True)
    assert "after.raw" in _names(vol.uuid)


def test_restore_volume_with_patch_restore_to(ontap):
    vol = Volume.find(name="pve_images")
    _diverge(vol)
    vol.get(fields="space")
    assert vol.space.logical_space.used == 64 * GIB

    # `restore_to` as an attribute is not part of netapp-ontap's Volume schema: the PATCH goes out empty.
    vol.restore_to = {"snapshot": {"name": "before"}}
    resp = vol.patch(poll=False)
    assert resp.http_response.request.body in (b"{}", "{}")
    assert "restore_to" not in resp.http_response.request.url
    resp.poll()
    assert "after.raw" in _names(vol.uuid)

    vol.patch(poll=True, **{"restore_to.snapshot.name": "before"})
    assert "after.raw" not in _names(vol.uuid)
    assert _snapshots(vol.uuid) == ["before"]  # the target stays, the newer snapshot is deleted
    vol.get(fields="space")
    assert vol.space.logical_space.used == 56 * GIB
    assert vol.space.used == 56 * GIB
    assert vol.space.snapshot.used == 0

    # By UUID as well.
    before = Snapshot.find(vol.uuid, name="before")
    vol.patch(poll=True, **{"restore_to.snapshot.uuid": before.uuid})
    assert _snapshots(vol.uuid) == ["before"]


def test_restore_to_missing_snapshot_is_refused(ontap):
    vol = Volume.find(name="pve_images")
    _diverge(vol)
    with pytest.raises(NetAppRestError) as err:
        vol.patch(poll=True, **{"restore_to.snapshot.name": "nosuch"})
    resp = err.value.http_err_response.http_response
    assert resp.status_code == 400
    assert resp.json()["error"] == {
        "code": "918251",
        "message": 'Snapshot copy "nosuch" does not exist in volume "pve_images".',
        "target": "restore_to.snapshot.name",
    }
    assert "after.raw" in _names(vol.uuid)
    assert _snapshots(vol.uuid) == ["before", "later"]


def test_restore_refused_while_newer_snapshot_backs_a_flexclone(ontap):
    vol = Volume.find(name="pve_images")
    _diverge(vol)
    clone = Volume(
        name="py_restore_clone",
        svm={"name": "svm1"},
        clone={"is_flexclone": True, "parent_volume": {"name": "pve_images"}, "parent_snapshot": {"name": "later"}},
    )
    clone.post(poll=True)

    # The job fails; netapp-ontap raises its message, the job record carries the code.
    resp = vol.patch(poll=False, **{"restore_to.snapshot.name": "before"})
    with pytest.raises(NetAppRestError) as err:
        resp.poll()
    assert 'Failed to restore snapshot "before"' in str(err.value)
    assert 'newer snapshot "later" is in use by FlexClone volume(s): py_restore_clone.' in str(err.value)
    job = Job(uuid=resp.http_response.json()["job"]["uuid"])
    job.get(fields="state,code,message")
    assert (job.state, job.code) == ("failure", 524511)

    # Nothing changed.
    assert "after.raw" in _names(vol.uuid)
    assert _snapshots(vol.uuid) == ["before", "later"]
    assert "after.raw" in _names(clone.uuid)

    # A FlexClone of the target snapshot itself does not block the restore.
    clone.delete(poll=True)
    CLI().execute("volume recovery-queue purge", body={"vserver": "svm1", "volume": "*"})
    Volume(
        name="py_before_clone",
        svm={"name": "svm1"},
        clone={"is_flexclone": True, "parent_volume": {"name": "pve_images"}, "parent_snapshot": {"name": "before"}},
    ).post(poll=True)
    vol.patch(poll=True, **{"restore_to.snapshot.name": "before"})
    assert "after.raw" not in _names(vol.uuid)
    assert _snapshots(vol.uuid) == ["before"]


def test_restore_with_cli_passthrough(ontap):
    vol = Volume.find(name="pve_images")
    _diverge(vol)
    args = {"vserver": "svm1", "volume": "pve_images", "snapshot": "before"}

    # CLI.execute turns keyword arguments into query parameters of a PATCH (a "modify" of the matching objects);
    # an action command such as `volume snapshot restore` takes its parameters in the body of a POST.
    with pytest.raises(NetAppRestError) as err:
        CLI().execute("volume snapshot restore", **args)
    assert err.value.http_err_response.http_response.request.method == "PATCH"
    assert err.value.http_err_response.http_response.status_code == 405
    assert "after.raw" in _names(vol.uuid)

    with pytest.raises(NetAppRestError) as err:
        CLI().execute("volume snapshot restore", body={**args, "snapshot": "nosuch"})
    assert err.value.http_err_response.http_response.json()["error"]["message"] == (
        'Snapshot copy "nosuch" does not exist in volume "pve_images".'
    )
    with pytest.raises(NetAppRestError) as err:
        CLI().execute("volume snapshot restore", body={**args, "bogus": True})
    assert err.value.http_err_response.http_response.json()["error"]["code"] == "262179"

    resp = CLI().execute("volume snapshot restore", body={**args, "force": True})
    assert resp.http_response.request.method == "POST"
    assert resp.http_response.status_code == 200
    assert "after.raw" not in _names(vol.uuid)
    assert _snapshots(vol.uuid) == ["before"]


def test_single_file_restore_with_file_clone_from_snapshot(ontap):
    vol = Volume.find(name="pve_images")
    Snapshot(vol.uuid, name="before").post(poll=True)
    disk = "images/100/vm-100-disk-1.raw"
    # The live file becomes another (16 GiB) file.
    FileClone(volume={"uuid": vol.uuid}, source_path="images/101/vm-101-disk-0.raw", destination_path=disk,
              overwrite_destination=True).post(poll=True)
    sizes = {f.name: f.size for f in FileInfo.get_collection(vol.uuid, "images/100", fields="size")}
    assert sizes["vm-100-disk-1.raw"] == 16 * GIB

    with pytest.raises(NetAppRestError) as err:
        FileClone(volume={"uuid": vol.uuid}, source_path=f".snapshot/before/{disk}", destination_path=disk).post(poll=True)
    assert "already exists" in str(err.value)

    FileClone(volume={"uuid": vol.uuid}, source_path=f".snapshot/before/{disk}", destination_path=disk,
              overwrite_destination=True).post(poll=True)
    sizes = {f.name: f.size for f in FileInfo.get_collection(vol.uuid, "images/100", fields="size")}
    assert sizes["vm-100-disk-1.raw"] == 8 * GIB
    assert _snapshots(vol.uuid) == ["before"]
