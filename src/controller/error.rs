//! The one error type of the reconcilers: wraps the client errors, names a static category (metric label and
//! Event reason) and a retry class that `error_policy` acts on.

use std::time::Duration;

use crate::ontap::OntapError;
use crate::proxmox::ProxmoxError;

/// What the runtime does after an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryClass {
    /// Retry with per-object exponential backoff; status shows the last error.
    Transient,
    /// Retrying cannot help until something changes (the spec, a backend, a Secret): phase Failed, slow requeue.
    Permanent,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),

    #[error("{kind} {name:?} not found: create it or fix the reference")]
    BackendNotFound { kind: &'static str, name: String },

    #[error("{kind} {name:?} is not ready: {message}")]
    BackendNotReady {
        kind: &'static str,
        name: String,
        message: String,
    },

    #[error(
        "{kind} {name:?} does not allow namespace {namespace:?}: add it to spec.allowedNamespaces"
    )]
    NamespaceForbidden {
        kind: &'static str,
        name: String,
        namespace: String,
    },

    /// Inside a backend the namespace may use, something outside the scope it grants that namespace. The
    /// message names only what the object itself named or what lies in its own scope.
    #[error(
        "{what} is outside what {kind} {name:?} grants namespace {namespace:?}: ask the owner of the {kind} to \
         add it to spec.scopes, or choose one inside the scope"
    )]
    OutOfScope {
        kind: &'static str,
        name: String,
        namespace: String,
        what: String,
    },

    #[error("Secret {namespace}/{name}: {reason}")]
    Secret {
        namespace: String,
        name: String,
        reason: String,
    },

    #[error("invalid spec: {0}")]
    InvalidSpec(String),

    /// The external world is not in a state the request can be fulfilled from (VM missing, disk on a
    /// non-ONTAP storage, an object with our name owned by someone else). Needs a human.
    #[error("{0}")]
    Precondition(String),

    /// Waiting for something outside our control that will likely resolve itself (VM locked, task running).
    #[error("{0}")]
    Waiting(String),

    #[error("ONTAP: {0}")]
    Ontap(#[from] OntapError),

    #[error("Proxmox VE: {0}")]
    Proxmox(#[from] ProxmoxError),

    /// A VolumeSnapshot's snapshot was destroyed by a restore to an older snapshot: nothing left to manage.
    #[error(
        "snapshot {snapshot} was destroyed by VolumeSnapshotRestore {restore} (it was newer than the snapshot \
         restored to); deleting this object only removes the object"
    )]
    DestroyedByRestore { snapshot: String, restore: String },

    #[error("{what} did not finish within {after:?}")]
    Timeout { what: String, after: Duration },
}

impl Error {
    /// Static category: metric label and Event reason.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube(_) => "KubernetesApiError",
            Error::BackendNotFound { .. } => "BackendNotFound",
            Error::BackendNotReady { .. } => "BackendNotReady",
            Error::NamespaceForbidden { .. } => "NamespaceForbidden",
            Error::OutOfScope { .. } => "Forbidden",
            Error::Secret { .. } => "SecretInvalid",
            Error::InvalidSpec(_) => "InvalidSpec",
            Error::Precondition(_) => "PreconditionFailed",
            Error::Waiting(_) => "Waiting",
            Error::Ontap(e) => match e {
                OntapError::NotFound { .. } => "OntapNotFound",
                OntapError::AlreadyExists { .. } => "OntapAlreadyExists",
                OntapError::Busy { .. } => "OntapBusy",
                OntapError::Unauthorized { .. } => "OntapUnauthorized",
                OntapError::Forbidden { .. } => "OntapForbidden",
                OntapError::Invalid { .. } => "OntapInvalid",
                OntapError::Transient { .. } => "OntapTransient",
                OntapError::JobFailed { .. } => "OntapJobFailed",
                OntapError::Protocol(_) => "OntapProtocol",
                OntapError::Config(_) => "OntapConfig",
            },
            Error::Proxmox(e) => match e {
                ProxmoxError::NotFound { .. } => "ProxmoxNotFound",
                ProxmoxError::AlreadyExists { .. } => "ProxmoxAlreadyExists",
                ProxmoxError::Unauthorized { .. } => "ProxmoxUnauthorized",
                ProxmoxError::Forbidden { .. } => "ProxmoxForbidden",
                ProxmoxError::Invalid { .. } => "ProxmoxInvalid",
                ProxmoxError::Locked { .. } => "ProxmoxLocked",
                ProxmoxError::Conflict { .. } => "ProxmoxConflict",
                ProxmoxError::AgentUnavailable { .. } => "GuestAgentUnavailable",
                ProxmoxError::WrongState { .. } => "ProxmoxWrongState",
                ProxmoxError::Refused { .. } => "ProxmoxRefused",
                ProxmoxError::Transient { .. } => "ProxmoxTransient",
                ProxmoxError::TaskFailed { .. } => "ProxmoxTaskFailed",
                ProxmoxError::Protocol(_) => "ProxmoxProtocol",
                ProxmoxError::Config(_) => "ProxmoxConfig",
            },
            Error::Timeout { .. } => "Timeout",
            Error::DestroyedByRestore { .. } => "DestroyedByRestore",
        }
    }

    pub fn retry_class(&self) -> RetryClass {
        match self {
            Error::Kube(kube::Error::Api(e)) if e.code == 403 || e.code == 422 => {
                RetryClass::Permanent
            }
            Error::Kube(_) => RetryClass::Transient,
            // A backend may be created or fixed any time; its controller does not wake ours, so keep polling.
            Error::BackendNotFound { .. } | Error::BackendNotReady { .. } => RetryClass::Transient,
            Error::NamespaceForbidden { .. }
            | Error::OutOfScope { .. }
            | Error::Secret { .. }
            | Error::InvalidSpec(_)
            | Error::Precondition(_)
            | Error::DestroyedByRestore { .. } => RetryClass::Permanent,
            Error::Waiting(_) | Error::Timeout { .. } => RetryClass::Transient,
            Error::Ontap(e) if e.is_transient() || e.is_busy() => RetryClass::Transient,
            Error::Ontap(_) => RetryClass::Permanent,
            // A VM in the wrong state for an operation (e.g. not running yet) usually changes by itself. A power
            // task that ran and failed (a pause, a shutdown) is one failed attempt: the VM is put back and the
            // attempt is made again with backoff, not left Failed until the resync.
            Error::Proxmox(e)
                if e.is_transient()
                    || matches!(
                        e,
                        ProxmoxError::WrongState { .. } | ProxmoxError::TaskFailed { .. }
                    ) =>
            {
                RetryClass::Transient
            }
            Error::Proxmox(_) => RetryClass::Permanent,
        }
    }

    pub fn is_permanent(&self) -> bool {
        self.retry_class() == RetryClass::Permanent
    }

    /// A Proxmox task (or ONTAP job) ran and ended in failure.
    pub fn is_task_failed(&self) -> bool {
        matches!(
            self,
            Error::Proxmox(ProxmoxError::TaskFailed { .. })
                | Error::Ontap(OntapError::JobFailed { .. })
        )
    }

    /// A write was refused because the object changed since it was read (Proxmox's config digest).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Proxmox(ProxmoxError::Conflict { .. }))
    }

    /// The backend does not know the object (a VM on another node, a file or volume that is gone).
    pub fn is_not_found(&self) -> bool {
        match self {
            Error::Proxmox(e) => e.is_not_found(),
            Error::Ontap(e) => matches!(e, OntapError::NotFound { .. }),
            _ => false,
        }
    }

    /// ONTAP refused because the object is busy (e.g. a snapshot a FlexClone still depends on).
    pub fn is_busy(&self) -> bool {
        matches!(self, Error::Ontap(e) if e.is_busy())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_categories() {
        let e = Error::NamespaceForbidden {
            kind: "OntapCluster",
            name: "a".into(),
            namespace: "x".into(),
        };
        assert_eq!(e.retry_class(), RetryClass::Permanent);
        assert_eq!(e.category(), "NamespaceForbidden");
        assert!(e.to_string().contains("spec.allowedNamespaces"));
        assert_eq!(
            Error::Waiting("VM is locked".into()).retry_class(),
            RetryClass::Transient
        );
        assert_eq!(
            Error::InvalidSpec("x".into()).retry_class(),
            RetryClass::Permanent
        );
        let e = Error::from(OntapError::Transient {
            message: "HTTP 503".into(),
        });
        assert_eq!(
            (e.retry_class(), e.category()),
            (RetryClass::Transient, "OntapTransient")
        );
        let e = Error::from(OntapError::JobFailed {
            code: 13565952,
            message: "Clone start failed".into(),
        });
        assert_eq!(e.retry_class(), RetryClass::Permanent);
        assert!(e.to_string().contains("Clone start failed"));
        let e = Error::from(ProxmoxError::Locked {
            message: "VM is locked (backup)".into(),
        });
        assert_eq!(
            (e.retry_class(), e.category()),
            (RetryClass::Transient, "ProxmoxLocked")
        );
        let e = Error::from(ProxmoxError::TaskFailed {
            upid: "UPID:pve1:00001234:00005678:65000000:qmpause:100:root@pam:".into(),
            exitstatus: "pause failed".into(),
        });
        assert_eq!(
            (e.retry_class(), e.category()),
            (RetryClass::Transient, "ProxmoxTaskFailed")
        );
        let e = Error::from(ProxmoxError::Forbidden {
            message: "Permission check failed".into(),
        });
        assert_eq!(e.retry_class(), RetryClass::Permanent);
    }
}
