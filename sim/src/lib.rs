//! pve-ontap-sim: stateful simulators of the ONTAP REST API and the Proxmox VE API sharing one world.
