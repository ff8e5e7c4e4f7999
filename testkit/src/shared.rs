//! One control plane per test binary, shared by all its tests.
//!
//! A `static` is never dropped, so teardown runs from an `atexit` handler (normal exit, including after failed
//! tests); if the process is killed instead, the children die with it (`PR_SET_PDEATHSIG`) and the next run
//! sweeps the directory.

use std::sync::OnceLock;

use crate::control_plane::ControlPlane;
use crate::error::{Error, Result};

static SHARED: OnceLock<std::result::Result<ControlPlane, String>> = OnceLock::new();

/// The shared control plane, started on first use. Safe to call from any test, sync or async (it never runs
/// the startup on the caller's runtime).
pub fn shared_blocking() -> Result<&'static ControlPlane> {
    let result = SHARED.get_or_init(|| {
        let started = std::thread::spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("building a runtime: {e}"))?;
            runtime
                .block_on(ControlPlane::start())
                .map_err(|e| e.to_string())
        })
        .join()
        .unwrap_or_else(|_| Err("control plane startup panicked".to_string()));
        if started.is_ok() {
            // SAFETY: registering a plain extern "C" function without arguments.
            unsafe { libc::atexit(teardown_at_exit) };
        }
        started
    });
    result.as_ref().map_err(|e| Error::Shared(e.clone()))
}

/// Async flavour of [`shared_blocking`] for `#[tokio::test]`s.
pub async fn shared() -> Result<&'static ControlPlane> {
    match tokio::task::spawn_blocking(shared_blocking).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(Error::Shared(e.to_string())),
    }
}

extern "C" fn teardown_at_exit() {
    // Unwinding out of an extern "C" function aborts; a failed cleanup must not turn a test run into a crash.
    let _ = std::panic::catch_unwind(|| {
        if let Some(Ok(control_plane)) = SHARED.get() {
            control_plane.shutdown();
        }
    });
}
