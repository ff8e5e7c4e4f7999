use std::path::PathBuf;

/// Everything that can go wrong while bringing up or using the test control plane.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what} not found at {path}; run `make provision` (or set {env_var})")]
    MissingBinary {
        what: &'static str,
        path: PathBuf,
        env_var: &'static str,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("generating certificates: {0}")]
    Pki(#[from] rcgen::Error),
    #[error("{component} exited during startup ({status}); last log lines:\n{log_tail}")]
    ComponentExited {
        component: &'static str,
        status: String,
        log_tail: String,
    },
    #[error("timed out after {seconds}s waiting for {what}{details}")]
    Timeout {
        what: String,
        seconds: u64,
        details: String,
    },
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("kubeconfig: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    #[error("invalid YAML in {origin}: {source}")]
    Yaml {
        origin: String,
        #[source]
        source: serde_yaml::Error,
    },
    #[error("{origin}: {message}")]
    Manifest { origin: String, message: String },
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("shared control plane failed to start: {0}")]
    Shared(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}
