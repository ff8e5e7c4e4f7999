//! ONTAP REST roles (`security login rest-role`): a role is a list of (API path, access) tuples. A request is
//! judged by the most specific tuple whose path is a prefix of the request's path (segment by segment, `*`
//! standing for one segment, as in `/api/storage/volumes/*/snapshots`); no matching tuple means no access.
//! Access levels: `none`, `readonly` (GET), `read_create` (+ POST), `read_modify` (+ PATCH),
//! `read_create_modify` (+ POST and PATCH), `all` (+ DELETE).

use axum::http::Method;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    None,
    Readonly,
    ReadCreate,
    ReadModify,
    ReadCreateModify,
    All,
}

impl Access {
    fn permits(self, method: &Method) -> bool {
        let read = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        match self {
            Access::None => false,
            Access::Readonly => read,
            Access::ReadCreate => read || method == Method::POST,
            Access::ReadModify => read || method == Method::PATCH,
            Access::ReadCreateModify => read || method == Method::POST || method == Method::PATCH,
            Access::All => true,
        }
    }
}

/// One tuple of a REST role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Privilege {
    pub path: String,
    pub access: Access,
}

/// A REST role of the scenario (`ontap.rest_roles`), named by users' `role`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestRole {
    pub name: String,
    pub privileges: Vec<Privilege>,
}

fn segments(p: &str) -> Vec<&str> {
    p.split('/').filter(|s| !s.is_empty()).collect()
}

/// Whether `role` lets `method` reach `path` (the request path, without query).
pub fn allows(role: &RestRole, method: &Method, path: &str) -> bool {
    let request = segments(path);
    role.privileges
        .iter()
        .filter_map(|p| {
            let tuple = segments(&p.path);
            let prefix = tuple.len() <= request.len()
                && tuple.iter().zip(&request).all(|(t, r)| *t == "*" || t == r);
            prefix.then_some((tuple.len(), p.access))
        })
        .max_by_key(|(len, _)| *len)
        .is_some_and(|(_, access)| access.permits(method))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(tuples: &[(&str, Access)]) -> RestRole {
        RestRole {
            name: "r".into(),
            privileges: tuples
                .iter()
                .map(|(p, a)| Privilege {
                    path: (*p).into(),
                    access: *a,
                })
                .collect(),
        }
    }

    #[test]
    fn the_most_specific_tuple_decides() {
        let r = role(&[
            ("/api/storage/volumes", Access::Readonly),
            ("/api/storage/volumes/*/snapshots", Access::All),
        ]);
        assert!(allows(&r, &Method::GET, "/api/storage/volumes"));
        assert!(!allows(&r, &Method::POST, "/api/storage/volumes"));
        assert!(!allows(&r, &Method::DELETE, "/api/storage/volumes/u1"));
        assert!(allows(
            &r,
            &Method::POST,
            "/api/storage/volumes/u1/snapshots"
        ));
        assert!(allows(
            &r,
            &Method::DELETE,
            "/api/storage/volumes/u1/snapshots/s1"
        ));
        assert!(
            !allows(&r, &Method::GET, "/api/cluster"),
            "no tuple, no access"
        );
        assert!(!allows(&r, &Method::GET, "/api/storage/volumesx"));
    }

    #[test]
    fn access_levels() {
        let r = role(&[
            ("/a", Access::ReadCreate),
            ("/b", Access::ReadModify),
            ("/c", Access::ReadCreateModify),
            ("/d", Access::None),
        ]);
        assert!(allows(&r, &Method::POST, "/a") && !allows(&r, &Method::PATCH, "/a"));
        assert!(allows(&r, &Method::PATCH, "/b") && !allows(&r, &Method::POST, "/b"));
        assert!(allows(&r, &Method::PATCH, "/c") && !allows(&r, &Method::DELETE, "/c"));
        assert!(!allows(&r, &Method::GET, "/d"));
    }
}
