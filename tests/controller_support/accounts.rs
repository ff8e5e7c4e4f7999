//! The least-privilege accounts the README documents, read from it as written: the Proxmox role's privileges and
//! the ONTAP REST role's `(api, access)` tuples. `PVEONTAP_TEST_ACCOUNTS=least-privilege` runs every harness whose
//! test does not pick its own accounts under them (`make test-least-privilege`), so a privilege the controller
//! needs but the README forgets fails a test, not a customer.

use serde_json::{json, Value};

pub const LP_TOKEN_SECRET: &str = "7b1e2c3d-4f5a-4b6c-8d7e-9f0a1b2c3d4e";
pub const LP_ONTAP_PASSWORD: &str = "least-privilege-1";
pub const LP_PVE_TOKEN_ID: &str = "k8s@pve!controller";
pub const LP_ONTAP_LOGIN: &str = "pveontap";

fn readme() -> String {
    // The workspace root, not this crate's directory: the plugin crate's tests share this harness.
    std::fs::read_to_string(testkit::paths::workspace_root().join("README.md")).expect("README.md")
}

/// Whether this run uses the documented least-privilege accounts by default.
pub fn least_privilege_by_default() -> bool {
    std::env::var("PVEONTAP_TEST_ACCOUNTS").is_ok_and(|v| v == "least-privilege")
}

/// The privileges of `pveum role add PVEOntapController -privs "..."` in the README.
pub fn readme_pve_privileges() -> Vec<String> {
    let text = readme();
    let line = text
        .lines()
        .find(|l| {
            l.trim_start()
                .starts_with("pveum role add PVEOntapController -privs")
        })
        .expect("the README documents the Proxmox role");
    let privs = line.split('"').nth(1).expect("quoted privileges");
    privs.split(',').map(|p| p.trim().to_owned()).collect()
}

/// The `(api, access)` tuples of the README's `security login rest-role create` lines.
pub fn readme_ontap_tuples() -> Vec<(String, String)> {
    readme()
        .lines()
        .filter(|l| {
            l.trim_start()
                .starts_with("security login rest-role create")
        })
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let after = |flag: &str| {
                let i = words.iter().position(|w| *w == flag).expect(flag);
                words[i + 1].to_owned()
            };
            (after("-api"), after("-access"))
        })
        .collect()
}

/// `scenario` with the README's accounts added: Proxmox user `k8s@pve` (token `controller`) with `privileges`
/// on `/`, and ONTAP login `pveontap` with a REST role of `tuples`.
pub fn with_accounts(
    scenario: pve_ontap_sim::Scenario,
    privileges: &[String],
    tuples: &[(String, String)],
) -> pve_ontap_sim::Scenario {
    let mut s = serde_json::to_value(scenario).unwrap();
    s["pve"]["users"].as_array_mut().unwrap().push(json!({
        "userid": "k8s@pve",
        "acl": [{ "path": "/", "privileges": privileges }],
        "tokens": [{ "id": "controller", "secret": LP_TOKEN_SECRET, "privsep": false }],
    }));
    s["ontap"]["users"].as_array_mut().unwrap().push(json!({
        "username": LP_ONTAP_LOGIN, "password": LP_ONTAP_PASSWORD, "role": "pveontap",
    }));
    let roles = s["ontap"]["rest_roles"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut roles: Vec<Value> = roles;
    roles.push(json!({
        "name": "pveontap",
        "privileges": tuples.iter().map(|(p, a)| json!({ "path": p, "access": a })).collect::<Vec<Value>>(),
    }));
    s["ontap"]["rest_roles"] = Value::Array(roles);
    serde_json::from_value(s).expect("scenario")
}
