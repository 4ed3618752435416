//! Printer profiles in `$XDG_CONFIG_HOME/flashforge/config.toml` (default
//! `~/.config/flashforge/config.toml`):
//!
//! ```toml
//! default = "workshop"
//!
//! [printers.workshop]
//! address = "192.168.1.20"        # or "192.168.1.20:8899:8898" for other ports
//! serial = "SNMOMC9900728"
//! check_code = "e5c2bf77"
//!
//! [printers.old]
//! address = "192.168.1.30"        # an Adventurer 3/4: no credentials
//!
//! [serve]                         # `flashforge serve` (its flags override these)
//! printers = ["workshop", "old"]  # default: every profile
//! listen = "127.0.0.1:8870"
//! interval = 2.0
//! open_reads = false
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::exit::{Failure, EXIT_RESOURCE, EXIT_USAGE};

use serde::Deserialize;

/// One printer profile.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Profile {
    pub(crate) address: Option<String>,
    pub(crate) serial: Option<String>,
    pub(crate) check_code: Option<String>,
    /// Force the TCP-only (Adventurer 3/4) client.
    #[serde(default)]
    pub(crate) legacy: bool,
    /// The model (`a3`, `5m-pro`, …): picks the TCP dialect before the first command.
    pub(crate) model: Option<String>,
}

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    pub(crate) default: Option<String>,
    #[serde(default)]
    pub(crate) printers: BTreeMap<String, Profile>,
    /// `flashforge serve`'s settings (its flags override them).
    #[serde(default)]
    pub(crate) serve: ServeSection,
}

/// The `[serve]` table: the keys of `flashforge serve`'s flags, and which profiles to watch.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServeSection {
    /// Profiles to watch (default: every profile).
    pub(crate) printers: Option<Vec<String>>,
    pub(crate) listen: Option<std::net::SocketAddr>,
    pub(crate) interval: Option<f64>,
    pub(crate) token_file: Option<PathBuf>,
    #[serde(default)]
    pub(crate) open_reads: bool,
    pub(crate) max_upload_mib: Option<u64>,
    pub(crate) discover_every: Option<f64>,
    pub(crate) cors_origin: Option<String>,
}

/// The config path by the XDG rules.
pub(crate) fn path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("flashforge/config.toml"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config/flashforge/config.toml"))
}

/// Load the config from `explicit` or the XDG path; a missing file is an empty config.
pub(crate) fn load(explicit: Option<&PathBuf>) -> Result<Config, Failure> {
    let Some(p) = explicit.cloned().or_else(path) else {
        return Ok(Config::default());
    };
    let usage = |msg: String| Failure::new(EXIT_USAGE, msg);
    match std::fs::read_to_string(&p) {
        Ok(text) => toml::from_str(&text).map_err(|e| usage(format!("{}: {e}", p.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {
            Ok(Config::default())
        }
        // Out of descriptors (EMFILE, ENFILE) or memory: this machine's limit, not the file.
        Err(e) if matches!(e.raw_os_error(), Some(12 | 23 | 24)) => Err(Failure::new(
            EXIT_RESOURCE,
            format!(
                "{}: {e} (a limit of this machine: raise `ulimit -n` or free memory)",
                p.display()
            ),
        )),
        Err(e) => Err(usage(format!("{}: {e}", p.display()))),
    }
}
