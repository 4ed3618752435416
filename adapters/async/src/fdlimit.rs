//! The process's descriptor limit, raised once so a farm fits.

use std::sync::OnceLock;

/// Set to `1` to keep the soft descriptor limit as it is (see [`raise_fd_limit`]).
pub const KEEP_FD_LIMIT_ENV: &str = "FLASHFORGE_KEEP_FD_LIMIT";

/// Raise this process's soft `RLIMIT_NOFILE` to its hard limit and return the soft limit now
/// in force (on platforms without the limit: nothing, `Ok(u64::MAX)`).
///
/// The client calls this once per process, before its first connection or discovery, unless
/// the environment variable [`KEEP_FD_LIMIT_ENV`] is `1`. Every printer holds one HTTP
/// connection, and a TCP session while one is open: the usual default soft limit of 1,024
/// would stop a farm at a few hundred printers while the hard limit (often 524,288) allows
/// far more. Go's runtime does the same at start-up. Running out anyway is
/// [`Error::ResourceExhausted`](crate::Error::ResourceExhausted), never "unreachable".
///
/// Keep the limit (set the variable) in a program that passes descriptors above 1,023 to
/// `select(2)`, or that starts children which expect the low soft limit.
///
/// ```
#[doc = concat!("let soft = ", env!("CARGO_CRATE_NAME"), "::raise_fd_limit().unwrap();")]
/// assert!(soft >= 1);
/// ```
pub fn raise_fd_limit() -> std::io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// [`raise_fd_limit`], the first time only, unless [`KEEP_FD_LIMIT_ENV`] says to keep it.
pub(crate) fn raise_once() {
    static RAISED: OnceLock<()> = OnceLock::new();
    RAISED.get_or_init(|| {
        if std::env::var_os(KEEP_FD_LIMIT_ENV).is_some_and(|v| v == "1") {
            return;
        }
        match raise_fd_limit() {
            Ok(soft) => tracing::debug!(soft, "descriptor limit raised to the hard limit"),
            Err(e) => tracing::debug!(error = %e, "descriptor limit left as it is"),
        }
    });
}
