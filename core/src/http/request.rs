//! Typed requests for every endpoint of http.md, encoded to exact HTTP/1.1 bytes.

use std::fmt;

use super::control::Control;
use super::job::{mappings_json, JobOptions};
use super::json::Obj;
use super::Secret;
use crate::error::UsageError;
use crate::model::{JobFormat, Model, Palette};

/// The printer's serial number and LAN-mode check code.
///
/// `Debug` and `Display` never show the check code; it is zeroed when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    serial: String,
    check_code: Secret,
}

fn check_token(what: &'static str, s: &str) -> Result<(), UsageError> {
    if s.is_empty() {
        return Err(UsageError::Empty { what });
    }
    if s.len() > 128 {
        return Err(UsageError::OutOfRange { what });
    }
    if s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(UsageError::LineInjection { what });
    }
    if !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(UsageError::OutOfRange { what });
    }
    Ok(())
}

impl Credentials {
    /// Checked credentials: both non-empty printable ASCII without spaces (they travel in HTTP
    /// headers for uploads), at most 128 bytes.
    pub fn new(
        serial: impl Into<String>,
        check_code: impl Into<String>,
    ) -> Result<Self, UsageError> {
        let serial = serial.into();
        let check_code = Secret::new(check_code.into());
        check_token("serial number", &serial)?;
        check_token("check code", check_code.expose())?;
        Ok(Self { serial, check_code })
    }

    /// The serial number.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// The check code, for code that must put it on the wire.
    pub fn expose_check_code(&self) -> &str {
        self.check_code.expose()
    }

    fn write_json(&self, o: &mut Obj<'_>) {
        o.str("serialNumber", &self.serial)
            .str("checkCode", self.check_code.expose());
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("serial", &self.serial)
            .field("check_code", &self.check_code)
            .finish()
    }
}

impl fmt::Display for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (check code hidden)", self.serial)
    }
}

/// One HTTP request to the printer (every endpoint of http.md §2 except the upload, which
/// streams: `http::Upload`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Request {
    /// `POST /detail`.
    Detail,
    /// `POST /product`.
    Product,
    /// `POST /control` with the model's palette for colours.
    Control {
        /// The command.
        command: Control,
        /// The printer's model (palette for colours; `Unknown` = AD5X palette).
        model: Model,
    },
    /// `POST /gcodeList`.
    GcodeList,
    /// `POST /gcodeThumb`.
    GcodeThumb {
        /// File name as in the list.
        file_name: String,
    },
    /// `POST /printGcode`.
    PrintGcode {
        /// File name as stored.
        file_name: String,
        /// Body variant.
        format: JobFormat,
        /// Options.
        options: JobOptions,
    },
    /// `POST /checkCode`: validate the credentials.
    CheckCode,
    /// `POST /notifyWanBind`: body `{"serialNumber"}` only.
    NotifyWanBind,
    /// `GET /getThum`: thumbnail of the current job (no credentials).
    GetThum,
    /// `POST /deleteGcode` (emulator only).
    DeleteGcode {
        /// File name.
        file_name: String,
    },
}

/// The HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
}

/// Which FIFO a request runs in (protocol/README.md "Serialising requests").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Commands (`/control`, `/product`, `/printGcode`, `/checkCode`, ...): strictly FIFO,
    /// one at a time.
    Command,
    /// Reads (`/detail`, `/gcodeList`, `/gcodeThumb`, `/getThum`): outside the command queue.
    Read,
    /// Uploads: their own connection, never in front of a command.
    Upload,
}

/// How to parse the response body of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseKind {
    /// `/detail`.
    Detail,
    /// `/product`.
    Product,
    /// `/gcodeList`.
    GcodeList,
    /// `/gcodeThumb`.
    GcodeThumb,
    /// Envelope only.
    Envelope,
    /// A raw image (`/getThum`): BMP or PNG, or a JSON envelope on error.
    Image,
}

impl Request {
    /// The endpoint path.
    pub fn path(&self) -> &'static str {
        match self {
            Self::Detail => "/detail",
            Self::Product => "/product",
            Self::Control { .. } => "/control",
            Self::GcodeList => "/gcodeList",
            Self::GcodeThumb { .. } => "/gcodeThumb",
            Self::PrintGcode { .. } => "/printGcode",
            Self::CheckCode => "/checkCode",
            Self::NotifyWanBind => "/notifyWanBind",
            Self::GetThum => "/getThum",
            Self::DeleteGcode { .. } => "/deleteGcode",
        }
    }

    /// GET for `/getThum`, POST for everything else.
    pub fn method(&self) -> Method {
        if matches!(self, Self::GetThum) {
            Method::Get
        } else {
            Method::Post
        }
    }

    /// Which FIFO the request belongs to.
    pub fn lane(&self) -> Lane {
        match self {
            Self::Detail | Self::GcodeList | Self::GcodeThumb { .. } | Self::GetThum => Lane::Read,
            _ => Lane::Command,
        }
    }

    /// How to parse the reply.
    pub fn response_kind(&self) -> ResponseKind {
        match self {
            Self::Detail => ResponseKind::Detail,
            Self::Product => ResponseKind::Product,
            Self::GcodeList => ResponseKind::GcodeList,
            Self::GcodeThumb { .. } => ResponseKind::GcodeThumb,
            Self::GetThum => ResponseKind::Image,
            _ => ResponseKind::Envelope,
        }
    }

    /// Append the JSON body (empty for GET).
    pub fn write_body(&self, creds: &Credentials, out: &mut Vec<u8>) -> Result<(), UsageError> {
        let start = out.len();
        let r = self.write_body_inner(creds, out);
        if r.is_err() {
            out.truncate(start);
        }
        r
    }

    fn write_body_inner(&self, creds: &Credentials, out: &mut Vec<u8>) -> Result<(), UsageError> {
        if matches!(self, Self::GetThum) {
            return Ok(());
        }
        let mut o = Obj::new(out);
        match self {
            Self::NotifyWanBind => {
                o.str("serialNumber", creds.serial());
            }
            _ => creds.write_json(&mut o),
        }
        match self {
            Self::Control { command, model } => {
                let palette = Palette::for_model(*model);
                o.obj("payload", |p| {
                    p.str("cmd", command.cmd());
                    p.obj("args", |a| command.write_args(a, palette))?;
                    Ok::<_, UsageError>(())
                })?;
            }
            Self::GcodeThumb { file_name } | Self::DeleteGcode { file_name } => {
                super::job::check_file_name(file_name)?;
                o.str("fileName", file_name);
            }
            Self::PrintGcode {
                file_name,
                format,
                options,
            } => {
                super::job::check_file_name(file_name)?;
                options.check(*format)?;
                o.str("fileName", file_name)
                    .bool("levelingBeforePrint", options.leveling);
                let n = options.mappings.len() as i64;
                match format {
                    JobFormat::Legacy => {}
                    JobFormat::Generic => {
                        o.bool("flowCalibration", options.flow_calibration)
                            .bool("useMatlStation", false)
                            .int("gcodeToolCnt", 0)
                            .raw("materialMappings", b"[]");
                    }
                    JobFormat::Ad5x => {
                        o.bool("firstLayerInspection", options.first_layer_inspection)
                            .bool("flowCalibration", options.flow_calibration)
                            .bool("timeLapseVideo", options.time_lapse)
                            .bool("useMatlStation", n > 0)
                            .int("gcodeToolCnt", n)
                            .raw("materialMappings", &mappings_json(&options.mappings));
                    }
                    JobFormat::Creator5 => {
                        o.bool("flowCalibration", options.flow_calibration)
                            .bool("timeLapseVideo", options.time_lapse);
                        if n > 0 {
                            o.raw("materialMappings", &mappings_json(&options.mappings));
                        }
                    }
                }
            }
            _ => {}
        }
        o.end();
        Ok(())
    }

    /// Append the whole request (head and body) for `host` (`ip:port`). On error `out` is
    /// unchanged.
    pub fn encode(
        &self,
        host: &str,
        creds: &Credentials,
        out: &mut Vec<u8>,
    ) -> Result<(), UsageError> {
        check_host(host)?;
        let mut body = Vec::with_capacity(256);
        self.write_body(creds, &mut body)?;
        let method = match self.method() {
            Method::Get => "GET",
            Method::Post => "POST",
        };
        out.reserve(160 + body.len());
        out.extend_from_slice(method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.path().as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        out.extend_from_slice(host.as_bytes());
        if self.method() == Method::Post {
            out.extend_from_slice(
                b"\r\nContent-Type: application/json\r\nAccept: */*\r\nContent-Length: ",
            );
            out.extend_from_slice(body.len().to_string().as_bytes());
            out.extend_from_slice(b"\r\n\r\n");
            out.extend_from_slice(&body);
        } else {
            out.extend_from_slice(b"\r\nAccept: */*\r\n\r\n");
        }
        Ok(())
    }
}

/// A `Host` value: `name-or-ip[:port]`, visible ASCII only.
pub(crate) fn check_host(host: &str) -> Result<(), UsageError> {
    if host.is_empty() {
        return Err(UsageError::Empty { what: "host" });
    }
    if host.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(UsageError::LineInjection { what: "host" });
    }
    if host.len() > 255 || !host.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(UsageError::OutOfRange { what: "host" });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::color::Rgb;
    use super::super::control::*;
    use super::super::job::*;
    use super::*;

    fn creds() -> Credentials {
        Credentials::new("SNADVA5M00000", "12345678").unwrap()
    }

    #[test]
    fn detail_bytes_exact() {
        let mut out = Vec::new();
        Request::Detail
            .encode("192.168.1.120:8898", &creds(), &mut out)
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /detail HTTP/1.1\r\nHost: 192.168.1.120:8898\r\nContent-Type: application/json\r\nAccept: */*\r\nContent-Length: 55\r\n\r\n{\"serialNumber\":\"SNADVA5M00000\",\"checkCode\":\"12345678\"}"
        );
    }

    #[test]
    fn credentials_hidden() {
        let c = creds();
        assert!(!format!("{c:?}").contains("12345678"));
        assert!(!format!("{c}").contains("12345678"));
        assert!(Credentials::new("SN\r\nX", "1").is_err());
        assert!(Credentials::new("SN", "").is_err());
    }

    #[test]
    fn partial_settings_send_only_set_fields() {
        let mut out = Vec::new();
        let r = Request::Control {
            command: Control::PrinterSettings(PrinterSettings {
                speed: Some(120),
                ..Default::default()
            }),
            model: Model::Adventurer5M,
        };
        r.write_body(&creds(), &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["payload"]["args"], serde_json::json!({"speed": 120}));
        let empty = Request::Control {
            command: Control::PrinterSettings(PrinterSettings::default()),
            model: Model::Adventurer5M,
        };
        let mut out = b"keep".to_vec();
        assert!(empty.write_body(&creds(), &mut out).is_err());
        assert_eq!(out, b"keep");
    }

    #[test]
    fn slot_colour_snapped_to_palette() {
        let mut out = Vec::new();
        Request::Control {
            command: Control::SlotConfig {
                slot: 2,
                material: "PLA".into(),
                color: Rgb([255, 0, 0]),
            },
            model: Model::Creator5,
        }
        .write_body(&creds(), &mut out)
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v["payload"]["args"],
            serde_json::json!({"slot": 2, "mt": "PLA", "rgb": "#F82D29"})
        );
    }

    #[test]
    fn model_gating() {
        assert!(Control::Home.supported_by(Model::AD5X));
        assert!(!Control::Home.supported_by(Model::Creator5));
        assert!(Control::Job(JobAction::Pause).supported_by(Model::Creator5Pro));
        assert!(!Control::Slot {
            slot: 1,
            action: SlotAction::Load
        }
        .supported_by(Model::Creator5));
    }

    #[test]
    fn mapping_rules() {
        let m = |t, s| MaterialMapping {
            tool_id: t,
            slot_id: s,
            material_name: "PLA".into(),
            tool_color: Rgb::WHITE,
            slot_color: Rgb::WHITE,
        };
        assert!(check_mappings(&[m(0, 1), m(1, 2)]).is_ok());
        assert!(check_mappings(&[m(0, 0)]).is_err());
        assert!(check_mappings(&[m(4, 1)]).is_err());
        assert!(check_mappings(&[m(0, 1), m(0, 2)]).is_err());
        assert!(check_mappings(&[m(0, 1), m(1, 1)]).is_err());
        assert!(check_mappings(&[m(0, 1), m(1, 2), m(2, 3), m(3, 4), m(3, 4)]).is_err());
    }
}
