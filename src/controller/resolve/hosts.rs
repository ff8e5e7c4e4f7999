//! Names of NFS servers: a Proxmox storage's `server` may be a host name (common in storage.cfg). It is
//! resolved to addresses and matched against the data LIFs by address.
//!
//! Static entries (an `/etc/hosts`-style file given to the controller, e.g. the names the pod's hostAliases or
//! the site's DNS would give) are asked first, then the system resolver (which reads the pod's /etc/hosts and
//! DNS). Addresses are compared parsed, so `2001:db8::1` and `2001:DB8:0::1` are one address.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// Host name → addresses.
#[derive(Clone, Debug, Default)]
pub struct HostResolver {
    static_hosts: BTreeMap<String, Vec<IpAddr>>,
    /// Ask the system resolver for names without a static entry (off in tests: only the world's names count).
    system: bool,
}

/// A malformed line of a hosts file.
#[derive(Debug, thiserror::Error)]
#[error("hosts file line {line}: {reason}")]
pub struct HostsFileError {
    pub line: usize,
    pub reason: String,
}

impl HostResolver {
    /// The system resolver only.
    pub fn system() -> Self {
        Self {
            static_hosts: BTreeMap::new(),
            system: true,
        }
    }

    /// Only the given names (no system lookups).
    pub fn fixed(entries: impl IntoIterator<Item = (String, IpAddr)>) -> Self {
        let mut r = Self::default();
        for (name, ip) in entries {
            r.add(&name, ip);
        }
        r
    }

    fn add(&mut self, name: &str, ip: IpAddr) {
        let ips = self
            .static_hosts
            .entry(name.to_ascii_lowercase())
            .or_default();
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }

    /// Adds the entries of an `/etc/hosts`-style text (`<address> <name> [<alias>…]`, `#` comments).
    pub fn with_hosts_text(mut self, text: &str) -> Result<Self, HostsFileError> {
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let mut words = line.split_whitespace();
            let addr = words.next().unwrap_or_default();
            let ip: IpAddr = addr.parse().map_err(|_| HostsFileError {
                line: i + 1,
                reason: format!("{addr:?} is not an IP address"),
            })?;
            let names: Vec<&str> = words.collect();
            if names.is_empty() {
                return Err(HostsFileError {
                    line: i + 1,
                    reason: "no host name after the address".into(),
                });
            }
            for n in names {
                self.add(n, ip);
            }
        }
        Ok(self)
    }

    /// The addresses of `server`: itself when it is an address, else its static entry, else (when enabled)
    /// what the system resolver answers. Empty when nothing knows the name.
    pub async fn addresses(&self, server: &str) -> Vec<IpAddr> {
        let host = server.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            return vec![ip];
        }
        if let Some(ips) = self.static_hosts.get(&host.to_ascii_lowercase()) {
            return ips.clone();
        }
        if !self.system {
            return Vec::new();
        }
        match tokio::net::lookup_host((host, 2049)).await {
            Ok(addrs) => {
                let mut out: Vec<IpAddr> = Vec::new();
                for a in addrs {
                    if !out.contains(&a.ip()) {
                        out.push(a.ip());
                    }
                }
                out
            }
            Err(e) => {
                tracing::debug!(server = host, error = %e, "NFS server name did not resolve");
                Vec::new()
            }
        }
    }
}

/// Whether a LIF address is one of `addresses` (compared parsed; an unparsable LIF address never matches).
pub fn serves(lif_address: &str, addresses: &[IpAddr]) -> bool {
    lif_address
        .parse::<IpAddr>()
        .is_ok_and(|ip| addresses.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn literals_static_names_and_unknown_names() {
        let r = HostResolver::default()
            .with_hosts_text(
                "# site filers\n192.0.2.10 filer1.example.com filer1\n2001:db8::1 filer6\n",
            )
            .unwrap();
        assert_eq!(
            r.addresses("192.0.2.7").await,
            ["192.0.2.7".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            r.addresses("FILER1").await,
            ["192.0.2.10".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(r.addresses("[2001:DB8:0::1]").await.len(), 1);
        assert!(r.addresses("filer9.example.com").await.is_empty());
        assert!(serves("2001:db8:0:0::1", &r.addresses("filer6").await));
        assert!(!serves("not-an-ip", &r.addresses("filer6").await));
    }

    #[test]
    fn bad_hosts_lines_are_refused() {
        let e = HostResolver::default()
            .with_hosts_text("filer1 192.0.2.10\n")
            .unwrap_err();
        assert_eq!(e.line, 1);
        assert!(HostResolver::default()
            .with_hosts_text("192.0.2.1\n")
            .is_err());
    }
}
