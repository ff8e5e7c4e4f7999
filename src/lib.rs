//! pve-ontap-controller: declarative ONTAP FileClone, snapshots and FlexClone mounts for Proxmox VE.
