//! The HTTP client both backend clients use: rustls, the backend's CA bundle (or, only when asked, no
//! verification), bounded timeouts, kept-alive connections, and never a redirect.

use std::time::Duration;

/// Builds an HTTPS client. `ca_bundle_pem` replaces the built-in roots; the error says what is wrong with it.
pub fn build_client(
    ca_bundle_pem: Option<&[u8]>,
    insecure: bool,
    request_timeout: Duration,
    connect_timeout: Duration,
) -> std::result::Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(request_timeout)
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(Duration::from_secs(60))
        .tcp_keepalive(Duration::from_secs(30))
        .user_agent(concat!("pve-ontap-controller/", env!("CARGO_PKG_VERSION")))
        // Management APIs never redirect; following one could leak the Authorization header elsewhere.
        .redirect(reqwest::redirect::Policy::none());
    if let Some(pem) = ca_bundle_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| format!("invalid CA bundle: {e}"))?;
        if certs.is_empty() {
            return Err("CA bundle contains no certificate".into());
        }
        builder = builder.tls_built_in_root_certs(false);
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    if insecure {
        builder = builder.danger_accept_invalid_certs(true);
    }
    builder
        .build()
        .map_err(|e| format!("building HTTP client: {e}"))
}
