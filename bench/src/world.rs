//! The simulated worlds the benchmarks run against, generated as simulator scenarios.
//!
//! The simulator has no knob for "N nodes, M VMs", so the worlds are built here from its default scenario (users,
//! tokens, cluster identity) by replacing the ONTAP volumes and the Proxmox nodes, storages and VMs. Every VM is
//! running with a guest agent and keeps its disks on one of the ONTAP-backed NFS storages; every volume is
//! mounted (has a junction path), as on a real SVM, so listing volumes costs what it would cost there.

use pve_ontap_sim::Scenario;
use serde_json::{json, Value};

/// Storage ids are `ONTAP01`, `ONTAP02`, … (`ONTAP01` matches the examples).
pub fn storage_id(index: usize) -> String {
    format!("ONTAP{:02}", index + 1)
}

const SVM_LIF: &str = "192.0.2.10";
const FIRST_VMID: u32 = 1000;
const DISK_SIZE: &str = "4G";

/// The size of a generated world.
#[derive(Debug, Clone)]
pub struct WorldSpec {
    /// Short name: becomes part of namespaces and backend names.
    pub name: &'static str,
    pub nodes: usize,
    /// NFS storages (one ONTAP volume each) holding the VM disks.
    pub datastores: usize,
    /// ONTAP volumes in total (datastores included; the rest are mounted data volumes).
    pub volumes: usize,
    pub vms: usize,
    /// Every `four_disk_every`-th VM (offset 1) has 4 disks, the others 1.
    pub four_disk_every: usize,
    /// Jobs and tasks finish at once ("simulator latency 0") instead of the default scenario's durations.
    pub instant: bool,
}

impl WorldSpec {
    /// A world like the default scenario: 2 nodes, one datastore, a few volumes.
    pub fn small() -> Self {
        WorldSpec {
            name: "small",
            nodes: 2,
            datastores: 1,
            volumes: 3,
            vms: 4,
            four_disk_every: 2,
            instant: false,
        }
    }

    /// The issue's large world: 2,000 volumes, 20 nodes, 500 VMs.
    pub fn large() -> Self {
        WorldSpec {
            name: "large",
            nodes: 20,
            datastores: 10,
            volumes: 2000,
            vms: 500,
            four_disk_every: 50,
            instant: false,
        }
    }

    /// The large world with instant jobs and tasks, for latency, throughput, idle cost and footprint.
    pub fn perf() -> Self {
        WorldSpec {
            name: "perf",
            instant: true,
            ..Self::large()
        }
    }

    pub fn disks_of(&self, index: usize) -> usize {
        if self.four_disk_every > 0 && index % self.four_disk_every == 1 {
            4
        } else {
            1
        }
    }

    pub fn vmid(index: usize) -> u32 {
        FIRST_VMID + index as u32
    }

    /// The first VM with `disks` disks.
    pub fn vm_with_disks(&self, disks: usize) -> Option<u32> {
        (0..self.vms)
            .find(|&i| self.disks_of(i) == disks)
            .map(Self::vmid)
    }

    /// VMs with exactly one disk, in vmid order.
    pub fn one_disk_vms(&self) -> Vec<u32> {
        (0..self.vms)
            .filter(|&i| self.disks_of(i) == 1)
            .map(Self::vmid)
            .collect()
    }

    /// The simulator scenario of this world.
    pub fn scenario(&self) -> Result<Scenario, serde_json::Error> {
        let mut s = serde_json::to_value(Scenario::default_scenario())?;
        s["ontap"]["generate_volumes"] = json!(0);
        s["ontap"]["svms"][0]["volumes"] = Value::Array(self.volumes_json());
        s["pve"]["nodes"] = Value::Array(
            (0..self.nodes).map(|n| json!({ "name": node_name(n), "online": true, "cpus": 32, "memory": 256u64 << 30 })).collect(),
        );
        let mut storages: Vec<Value> = (0..self.datastores)
            .map(|d| {
                json!({
                    "storage": storage_id(d), "type": "nfs", "server": SVM_LIF, "export": export(d),
                    "path": format!("/mnt/pve/{}", storage_id(d)), "content": "images", "options": "vers=4.2,nconnect=4",
                })
            })
            .collect();
        // Keep the node-local storage of the default scenario: a world always has non-ONTAP storage too.
        if let Some(local) = s["pve"]["storages"]
            .as_array()
            .and_then(|a| a.iter().find(|st| st["storage"] == "local"))
            .cloned()
        {
            storages.push(local);
        }
        s["pve"]["storages"] = Value::Array(storages);
        s["pve"]["vms"] = Value::Array((0..self.vms).map(|i| self.vm_json(i)).collect());
        if self.instant {
            s["timings"]["ontap"] = json!({
                "job_queued_ms": 0, "job_running_ms": 0, "file_clone_ms": 0, "flexclone_ms": 0,
                "clone_split_ms": 0, "job_retention_secs": 300,
            });
            s["timings"]["pve"]["default_task_ms"] = json!(0);
            s["timings"]["pve"]["tasks"] = json!({});
        }
        serde_json::from_value(s)
    }

    fn datastore_of(&self, index: usize) -> usize {
        index % self.datastores.max(1)
    }

    fn volumes_json(&self) -> Vec<Value> {
        let mut files: Vec<Vec<Value>> = vec![Vec::new(); self.datastores];
        let mut dirs: Vec<Vec<String>> = vec![Vec::new(); self.datastores];
        for i in 0..self.vms {
            let vmid = Self::vmid(i);
            let d = self.datastore_of(i);
            dirs[d].push(format!("images/{vmid}"));
            for k in 0..self.disks_of(i) {
                files[d].push(json!({ "path": format!("images/{vmid}/{}", disk_file(vmid, k)), "size": DISK_SIZE }));
            }
        }
        let mut volumes: Vec<Value> = (0..self.datastores)
            .map(|d| {
                json!({
                    "name": format!("pve_images_{:02}", d + 1), "size": "20T", "nas_path": export(d),
                    "comment": "Proxmox VE disk images", "directories": dirs[d], "files": files[d],
                })
            })
            .collect();
        for v in self.datastores..self.volumes {
            volumes.push(json!({ "name": format!("data_{v:04}"), "size": "100G", "nas_path": format!("/data_{v:04}") }));
        }
        volumes
    }

    fn vm_json(&self, index: usize) -> Value {
        let vmid = Self::vmid(index);
        let storage = storage_id(self.datastore_of(index));
        let mut config = json!({
            "name": format!("vm{vmid}"), "agent": "1", "cores": 2, "sockets": 1, "memory": "4096",
            "ostype": "l26", "scsihw": "virtio-scsi-single", "boot": "order=scsi0;net0",
            "net0": format!("virtio=BC:24:11:{:02X}:{:02X}:{:02X},bridge=vmbr0", (vmid >> 16) & 0xff, (vmid >> 8) & 0xff, vmid & 0xff),
        });
        for k in 0..self.disks_of(index) {
            config[format!("scsi{k}")] = json!(format!(
                "{storage}:{vmid}/{},iothread=1,size={DISK_SIZE}",
                disk_file(vmid, k)
            ));
        }
        json!({
            "vmid": vmid, "node": node_name(index % self.nodes.max(1)), "status": "running",
            "agent_running": true, "config": config,
        })
    }
}

fn node_name(n: usize) -> String {
    format!("pve{:02}", n + 1)
}

fn export(d: usize) -> String {
    format!("/pve_images_{:02}", d + 1)
}

fn disk_file(vmid: u32, k: usize) -> String {
    format!("vm-{vmid}-disk-{k}.raw")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_world_has_the_issue_sizes() {
        let spec = WorldSpec::large();
        let s = spec.scenario().expect("scenario builds");
        assert_eq!(s.pve.nodes.len(), 20);
        assert_eq!(s.pve.vms.len(), 500);
        let v = serde_json::to_value(&s.ontap).unwrap();
        assert_eq!(v["svms"][0]["volumes"].as_array().unwrap().len(), 2000);
        assert_eq!(spec.vm_with_disks(4), Some(1001));
        assert_eq!(spec.vm_with_disks(1), Some(1000));
    }

    #[test]
    fn vm_disks_live_on_their_datastore() {
        let spec = WorldSpec::small();
        let s = spec.scenario().unwrap();
        let vm = s.pve.vms.iter().find(|v| v.vmid == 1001).unwrap();
        assert_eq!(
            vm.config["scsi3"],
            json!("ONTAP01:1001/vm-1001-disk-3.raw,iothread=1,size=4G")
        );
        let v = serde_json::to_value(&s.ontap).unwrap();
        let files = v["svms"][0]["volumes"][0]["files"].as_array().unwrap();
        assert!(files
            .iter()
            .any(|f| f["path"] == "images/1001/vm-1001-disk-3.raw"));
    }

    #[test]
    fn perf_world_has_instant_timings() {
        let s = WorldSpec::perf().scenario().unwrap();
        assert_eq!(s.timings.ontap.file_clone_ms, 0);
        assert_eq!(s.timings.pve.default_task_ms, 0);
    }
}
