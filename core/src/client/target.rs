//! What a printer is, as far as the client's decisions go: [`Target`] (model, capabilities,
//! firmware, dialect) and how it is learnt while connecting.

use crate::gcode::PrinterInfo;
use crate::http::MachineInfo;
use crate::model::Family;
use crate::{Capabilities, Dialect, Model, Reply};

use super::{ClientError, Output, Overrides};

/// What a printer is, as far as the client's decisions go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The model.
    pub model: Model,
    /// What it can do (model defaults, refined by `/detail` and the caller's overrides).
    pub capabilities: Capabilities,
    /// Firmware version (chooses the `/printGcode` and upload body format).
    pub firmware: String,
    /// Host name or IP address (for the camera URL when the printer reports none).
    pub host: String,
    /// The TCP dialect.
    pub dialect: Dialect,
}

impl Target {
    /// A target with the model's default capabilities.
    ///
    /// The Creator 5 Pro has filtration fans, but its firmware acknowledges `circulateCtl_cmd`
    /// without running them (models.md §6 note 5), so filtration starts off here: a success
    /// would be a lie. [`Overrides::filtration`] turns it back on.
    pub fn new(model: Model, firmware: &str, host: &str) -> Self {
        let mut capabilities = model.capabilities();
        if model == Model::Creator5Pro {
            capabilities.filtration = false;
        }
        Self {
            model,
            capabilities,
            firmware: firmware.to_owned(),
            host: host.to_owned(),
            dialect: dialect_of(model),
        }
    }

    /// The target described by a `/detail` reply.
    pub fn from_detail(info: &MachineInfo, host: &str) -> Self {
        let mut t = Self::new(info.model, &info.firmware_version, host);
        t.capabilities = t.capabilities.with_detail(info);
        t
    }

    /// The target described by an `~M115` reply.
    pub fn from_printer_info(info: &PrinterInfo, host: &str) -> Self {
        Self::new(
            Model::from_machine_type(&info.machine_type),
            &info.firmware,
            host,
        )
    }

    /// The target of a printer being connected over HTTP, before `/detail` answers.
    pub fn connecting_http(host: &str) -> Self {
        let mut t = Self::new(Model::Unknown, "", host);
        t.capabilities.http = true;
        t
    }

    /// The target of a printer being connected over TCP, before `~M115` answers: the dialect
    /// of the `hint`ed model, or [`Dialect::Unknown`] (both reply shapes) without one.
    pub fn connecting_tcp(host: &str, hint: Option<Model>) -> Self {
        let mut t = Self::new(Model::Unknown, "", host);
        t.dialect = hint.map_or(Dialect::Unknown, dialect_of);
        t.capabilities.tcp = true;
        t
    }

    /// The target once the `Op::Info` of [`Target::connecting_http`] answered.
    pub fn connected_http(info: Output, host: &str, o: &Overrides) -> Result<Self, ClientError> {
        let detail = info
            .info()?
            .detail
            .ok_or(ClientError::UnexpectedReply("/detail"))?;
        let mut t = Self::from_detail(&detail, host).with_overrides(o);
        t.capabilities.http = true;
        Ok(t)
    }

    /// The target once `~M115` answered on a legacy (TCP-only) connection. The reply decides
    /// the model; the caller's `hint` only fills in a `Machine Type` no table knows.
    pub fn connected_tcp(
        reply: Reply,
        host: &str,
        o: &Overrides,
        hint: Option<Model>,
    ) -> Result<Self, ClientError> {
        let Reply::PrinterInfo(info) = reply else {
            return Err(ClientError::UnexpectedReply("an M115 reply"));
        };
        let mut t = Self::from_printer_info(&info, host);
        if let Some(h) = hint.filter(|_| t.model == Model::Unknown) {
            t = Self::new(h, &info.firmware, host);
        }
        let mut t = t.with_overrides(o);
        t.capabilities.http = false;
        t.capabilities.tcp = true;
        Ok(t)
    }

    /// Apply the caller's overrides.
    pub fn with_overrides(mut self, o: &Overrides) -> Self {
        let c = &mut self.capabilities;
        o.led.apply(&mut c.led);
        o.filtration.apply(&mut c.filtration);
        o.camera.apply(&mut c.camera);
        o.camera.apply(&mut c.camera_toggle);
        o.material_station.apply(&mut c.material_station);
        o.motion.apply(&mut c.tcp_motion);
        o.motion.apply(&mut c.http_motion);
        o.chamber_heater.apply(&mut c.chamber_heater);
        self
    }

    pub(super) fn http(&self) -> bool {
        self.capabilities.http
    }
    pub(super) fn tcp(&self) -> bool {
        self.capabilities.tcp
    }
}

/// The TCP dialect a model speaks ([`Dialect::Unknown`] for [`Model::Unknown`]).
pub fn dialect_of(model: Model) -> Dialect {
    match model.family() {
        Family::Adventurer3 => Dialect::Adventurer3,
        Family::Unknown => Dialect::Unknown,
        _ => Dialect::Modern,
    }
}

/// A fresh [`Credentials`](crate::http::Credentials) check: both parts non-empty. (The printer decides whether they are
/// right.)
pub fn check_credentials(c: &crate::http::Credentials) -> Result<(), ClientError> {
    if c.serial().is_empty() || c.expose_check_code().is_empty() {
        return Err(crate::UsageError::Empty {
            what: "serial number or check code",
        }
        .into());
    }
    Ok(())
}
