//! Which printer, and how to reach it: flags, environment, the config file's profiles and
//! discovery by name give the endpoint, the credentials and the model hint; then connect.

use std::time::Duration;

use flashforge_proto::Model;
use flashforge_tokio::{
    discover, ClientOptions, Credentials, DiscoverOptions, DiscoveredPrinter, Endpoint,
    LegacyPrinter, Printer,
};

use crate::args::{parse_model, Global};
use crate::config;
use crate::exit::{Failure, Result, EXIT_UNREACHABLE, EXIT_USAGE};

/// A connected printer of either kind.
pub(crate) enum Conn {
    Http(Printer),
    Legacy(LegacyPrinter),
}

impl std::ops::Deref for Conn {
    type Target = Printer;
    fn deref(&self) -> &Printer {
        match self {
            Self::Http(p) => p,
            Self::Legacy(p) => p,
        }
    }
}

pub(crate) fn options(global: &Global) -> ClientOptions {
    let t = Duration::from_secs_f64(global.timeout.clamp(0.1, 600.0));
    ClientOptions::default().reply_timeout(t).connect_timeout(t)
}

/// Where and how to connect, from flags, environment, config and discovery.
#[derive(Clone)]
pub(crate) struct Selected {
    pub(crate) label: String,
    pub(crate) endpoint: Endpoint,
    pub(crate) credentials: Option<Credentials>,
    pub(crate) legacy: bool,
    /// The model when known before connecting: `--printer-model`, the profile, discovery.
    pub(crate) model: Option<Model>,
}

pub(crate) async fn select(global: &Global, wanted: Option<&str>) -> Result<Selected> {
    let cfg = config::load(global.config.as_ref()).map_err(|e| Failure::new(EXIT_USAGE, e))?;
    let name = wanted
        .map(str::to_owned)
        .or_else(|| cfg.default.clone())
        .ok_or_else(|| {
            Failure::new(
                EXIT_USAGE,
                "no printer given: use --printer ADDR (or a profile in the config file)",
            )
        })?;
    let profile = cfg.printers.get(&name).cloned().unwrap_or_default();
    let address = profile.address.clone().unwrap_or_else(|| name.clone());
    let profile_model = match profile.model.as_deref() {
        Some(m) => Some(parse_model(m).map_err(|e| Failure::new(EXIT_USAGE, e))?),
        None => None,
    };
    let (endpoint, found_model) = match address.parse::<Endpoint>() {
        Ok(ep) => (ep, None),
        Err(_) => find_by_name(global, &address).await?,
    };
    let model = global.printer_model.or(profile_model).or(found_model);
    let serial = global.serial.clone().or(profile.serial);
    let code = global.check_code.clone().or(profile.check_code);
    let credentials = match (serial, code) {
        (Some(s), Some(c)) => {
            Some(Credentials::new(s, c).map_err(|e| Failure::new(EXIT_USAGE, e.to_string()))?)
        }
        (None, None) => None,
        _ => {
            return Err(Failure::new(
                EXIT_USAGE,
                "give both --serial and --check-code (or neither for an Adventurer 3/4)",
            ))
        }
    };
    Ok(Selected {
        label: name,
        endpoint,
        credentials,
        legacy: global.legacy || profile.legacy || model.is_some_and(Model::is_tcp_only),
        model,
    })
}

/// The printer that answered discovery under `name` (or serial), with the model its reply
/// named.
async fn find_by_name(global: &Global, name: &str) -> Result<(Endpoint, Option<Model>)> {
    let found = run_discovery(global, 3.0).await?;
    found
        .iter()
        .find(|p| {
            p.reply.name.eq_ignore_ascii_case(name)
                || p.reply.serial_number.as_deref() == Some(name)
        })
        .map(|p| {
            let model = Some(p.reply.model).filter(|m| *m != Model::Unknown);
            (Endpoint::from(p), model)
        })
        .ok_or_else(|| {
            Failure::new(
                EXIT_UNREACHABLE,
                format!("no printer named or numbered `{name}` answered discovery"),
            )
        })
}

pub(crate) async fn run_discovery(global: &Global, seconds: f64) -> Result<Vec<DiscoveredPrinter>> {
    let opts = if global.target.is_empty() {
        DiscoverOptions::default()
    } else {
        DiscoverOptions::unicast(global.target.iter().copied())
    };
    Ok(discover(&opts.timeout(Duration::from_secs_f64(seconds.clamp(0.2, 60.0)))).await?)
}

pub(crate) async fn connect(global: &Global, s: &Selected) -> Result<Conn> {
    let b = Printer::builder().options(options(global).model(s.model));
    match (&s.credentials, s.legacy) {
        (Some(c), false) => Ok(Conn::Http(b.connect(s.endpoint, c.clone()).await?)),
        _ => Ok(Conn::Legacy(b.connect_legacy(s.endpoint).await?)),
    }
}
