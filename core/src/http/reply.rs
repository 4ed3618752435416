//! The JSON replies of the HTTP API: the envelope and the payload of each endpoint.

use std::time::Duration;

use serde::Deserialize;

use super::detail::{normalise_color, DetailWire, MachineInfo};
use super::lenient::{Lenient, LenientObj, ObjSeq};
use super::HttpError;
use crate::gcode::Thumbnail;
use crate::model::{Family, Model};

/// The `{"code", "message"}` envelope of every JSON reply. Success ⇔ `code == 0`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    /// `code`, `None` when absent or not a number (treated as failure).
    pub code: Option<i64>,
    /// `message`, kept for diagnostics (`"Success"`, `"ok"`, `"Unauthorized"`, ...).
    pub message: Option<String>,
    /// The emulator's `"detail": "<reason>"` string on material-mapping rejections.
    pub detail_text: Option<String>,
}

impl Envelope {
    /// `code == 0`; the message text is informational only.
    pub fn is_success(&self) -> bool {
        self.code == Some(0)
    }

    /// `Ok(())` on success, else the printer's error.
    pub fn check(&self) -> Result<(), ApiError> {
        if self.is_success() {
            Ok(())
        } else {
            Err(ApiError::Printer {
                code: self.code,
                message: self.message.clone().unwrap_or_default(),
            })
        }
    }
}

/// A non-success API reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The envelope's `code` was not 0 (3 = unauthorized on most firmware, -2 = LAN mode off on
    /// the Creator 5; codes clash between firmware lines, so branch on them with care).
    #[error("printer refused: code {}, {message:?}", code.map_or("missing".to_owned(), |c| c.to_string()))]
    Printer {
        /// `code`, `None` when absent.
        code: Option<i64>,
        /// `message`.
        message: String,
    },
    /// A success envelope without the payload the endpoint must carry.
    #[error("response without {0} object (payload error, not a transport error)")]
    MissingPayload(&'static str),
}

impl ApiError {
    /// Whether this is the "wrong serial or check code" reply (`code` 3).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Self::Printer { code: Some(3), .. })
    }
}

/// One parsed JSON reply: the envelope and, when present, the payload.
///
/// The payload is extracted even from error envelopes when the keys are there (a lenient
/// fallback); [`ApiReply::into_result`] gives the strict view.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiReply<T> {
    /// The envelope.
    pub envelope: Envelope,
    /// The payload, if the reply carried one.
    pub payload: Option<T>,
    what: &'static str,
}

impl<T> ApiReply<T> {
    /// The payload if the envelope says success and the payload is present.
    pub fn into_result(self) -> Result<T, ApiError> {
        self.envelope.check()?;
        self.payload.ok_or(ApiError::MissingPayload(self.what))
    }

    /// The payload's name (`detail`, `product`, ...).
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// Whether [`ApiReply::into_result`] would be `Ok`.
    pub fn is_ok(&self) -> bool {
        self.envelope.is_success() && self.payload.is_some()
    }
}

fn envelope(
    code: &mut Lenient<i64>,
    message: &mut Lenient<String>,
    detail_text: Option<String>,
) -> Envelope {
    Envelope {
        code: std::mem::take(code).get(),
        message: std::mem::take(message).get(),
        detail_text,
    }
}

fn json<'de, T: Deserialize<'de>>(body: &'de [u8]) -> Result<T, HttpError> {
    serde_json::from_slice(body).map_err(|e| HttpError::Json(e.to_string()))
}

/// Parse a bare envelope (`/control`, `/printGcode`, `/uploadGcode`, `/checkCode`).
pub fn parse_envelope(body: &[u8]) -> Result<ApiReply<()>, HttpError> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct P {
        code: Lenient<i64>,
        message: Lenient<String>,
        detail: LenientObj<serde::de::IgnoredAny>,
    }
    let mut w: P = json(body)?;
    let text = match std::mem::take(&mut w.detail) {
        LenientObj::Text(t) => Some(t),
        _ => None,
    };
    Ok(ApiReply {
        envelope: envelope(&mut w.code, &mut w.message, text),
        payload: Some(()),
        what: "envelope",
    })
}

/// Parse a `/detail` reply.
pub fn parse_detail(body: &[u8]) -> Result<ApiReply<MachineInfo>, HttpError> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct P<'a> {
        code: Lenient<i64>,
        message: Lenient<String>,
        #[serde(borrow)]
        detail: LenientObj<DetailWire<'a>>,
    }
    let mut w: P<'_> = json(body)?;
    let (payload, text) = match std::mem::take(&mut w.detail) {
        LenientObj::Value(d) => (Some(d.into_info()), None),
        LenientObj::Text(t) => (None, Some(t)),
        _ => (None, None),
    };
    Ok(ApiReply {
        envelope: envelope(&mut w.code, &mut w.message, text),
        payload,
        what: "detail",
    })
}

/// The six `/product` control-state flags (raw ints, `None` when missing; missing = 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProductFlags {
    /// `lightCtrlState`.
    pub light: Option<i64>,
    /// `internalFanCtrlState`.
    pub internal_fan: Option<i64>,
    /// `externalFanCtrlState`.
    pub external_fan: Option<i64>,
    /// `chamberTempCtrlState`.
    pub chamber_temp: Option<i64>,
    /// `nozzleTempCtrlState`.
    pub nozzle_temp: Option<i64>,
    /// `platformTempCtrlState`.
    pub platform_temp: Option<i64>,
}

/// What `/product` says may be controlled (non-zero = available; missing = not available).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ProductCapabilities {
    /// LED (`lightCtrlState`).
    pub led: bool,
    /// Filtration (both fan flags).
    pub filtration: bool,
    /// Chamber temperature control.
    pub chamber: bool,
    /// Nozzle temperature control.
    pub nozzle: bool,
    /// Bed temperature control.
    pub platform: bool,
}

impl ProductFlags {
    fn on(v: Option<i64>) -> bool {
        v.unwrap_or(0) != 0
    }

    /// The flags taken at face value.
    pub fn capabilities(&self) -> ProductCapabilities {
        ProductCapabilities {
            led: Self::on(self.light),
            filtration: Self::on(self.internal_fan) && Self::on(self.external_fan),
            chamber: Self::on(self.chamber_temp),
            nozzle: Self::on(self.nozzle_temp),
            platform: Self::on(self.platform_temp),
        }
    }

    /// The flags corrected by model (http.md §4): the Creator 5 Pro has filtration and a chamber
    /// heater whatever its flags say; the 5M family and AD5X have no chamber heater.
    pub fn capabilities_for(&self, model: Model) -> ProductCapabilities {
        let mut c = self.capabilities();
        match model {
            Model::Creator5Pro => {
                c.filtration = true;
                c.chamber = true;
            }
            m if m.family() == Family::Adventurer5 => c.chamber = false,
            _ => {}
        }
        c
    }
}

/// Parse a `/product` reply.
pub fn parse_product(body: &[u8]) -> Result<ApiReply<ProductFlags>, HttpError> {
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct Flags {
        light_ctrl_state: Lenient<i64>,
        internal_fan_ctrl_state: Lenient<i64>,
        external_fan_ctrl_state: Lenient<i64>,
        chamber_temp_ctrl_state: Lenient<i64>,
        nozzle_temp_ctrl_state: Lenient<i64>,
        platform_temp_ctrl_state: Lenient<i64>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct P {
        code: Lenient<i64>,
        message: Lenient<String>,
        product: LenientObj<Flags>,
    }
    let mut w: P = json(body)?;
    let (payload, text) = match std::mem::take(&mut w.product) {
        LenientObj::Value(f) => (
            Some(ProductFlags {
                light: f.light_ctrl_state.get(),
                internal_fan: f.internal_fan_ctrl_state.get(),
                external_fan: f.external_fan_ctrl_state.get(),
                chamber_temp: f.chamber_temp_ctrl_state.get(),
                nozzle_temp: f.nozzle_temp_ctrl_state.get(),
                platform_temp: f.platform_temp_ctrl_state.get(),
            }),
            None,
        ),
        LenientObj::Text(t) => (None, Some(t)),
        _ => (None, None),
    };
    Ok(ApiReply {
        envelope: envelope(&mut w.code, &mut w.message, text),
        payload,
        what: "product",
    })
}

/// One tool of a `/gcodeList` entry (AD5X).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GcodeTool {
    /// 0-based tool index.
    pub tool_id: u32,
    /// Station slot, 1–4; 0 = unassigned / direct feed.
    pub slot_id: u32,
    /// Material name.
    pub material_name: String,
    /// `#RRGGBB` or empty.
    pub material_color: String,
    /// Grams.
    pub filament_weight: f64,
}

/// One file of `/gcodeList` (names only on most models, metadata on the AD5X).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GcodeFile {
    /// File name as stored (no directory).
    pub name: String,
    /// Print time (seconds on the wire); zero when unknown.
    pub printing_time: Duration,
    /// `gcodeToolCnt` as given (may disagree with `tools.len()`).
    pub tool_count: Option<u32>,
    /// `useMatlStation`.
    pub use_matl_station: Option<bool>,
    /// `totalFilamentWeight`, g.
    pub total_filament_weight: Option<f64>,
    /// `gcodeToolDatas`.
    pub tools: Vec<GcodeTool>,
}

/// Parse a `/gcodeList` reply: `gcodeListDetail` when non-empty, else the `gcodeList` names
/// (strings or objects).
pub fn parse_gcode_list(body: &[u8]) -> Result<ApiReply<Vec<GcodeFile>>, HttpError> {
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct ToolWire {
        tool_id: Lenient<i64>,
        slot_id: Lenient<i64>,
        material_name: Lenient<String>,
        material_color: Lenient<String>,
        filament_weight: Lenient<f64>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct FileWire {
        gcode_file_name: Lenient<String>,
        file_name: Lenient<String>,
        printing_time: Lenient<f64>,
        gcode_tool_cnt: Lenient<i64>,
        gcode_tool_datas: ObjSeq<ToolWire>,
        total_filament_weight: Lenient<f64>,
        use_matl_station: Lenient<bool>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct P {
        code: Lenient<i64>,
        message: Lenient<String>,
        gcode_list: ObjSeq<FileWire>,
        gcode_list_detail: ObjSeq<FileWire>,
    }
    fn u32_of(v: Option<i64>) -> u32 {
        v.map_or(0, |v| v.clamp(0, i64::from(u32::MAX)) as u32)
    }
    fn file(item: LenientObj<FileWire>) -> Option<GcodeFile> {
        let w = match item {
            LenientObj::Text(name) => {
                return Some(GcodeFile {
                    name,
                    ..GcodeFile::default()
                })
            }
            LenientObj::Value(w) => w,
            _ => return None,
        };
        let name = w.gcode_file_name.get().or_else(|| w.file_name.get())?;
        Some(GcodeFile {
            name,
            printing_time: w
                .printing_time
                .get()
                .filter(|s| s.is_finite() && *s > 0.0)
                .map_or(Duration::ZERO, |s| Duration::from_secs_f64(s.min(1e12))),
            tool_count: w.gcode_tool_cnt.get().map(|n| u32_of(Some(n))),
            use_matl_station: w.use_matl_station.get(),
            total_filament_weight: w.total_filament_weight.get(),
            tools: w
                .gcode_tool_datas
                .into_objects()
                .unwrap_or_default()
                .into_iter()
                .map(|t| GcodeTool {
                    tool_id: u32_of(t.tool_id.get()),
                    slot_id: u32_of(t.slot_id.get()),
                    material_name: t.material_name.get().unwrap_or_default(),
                    material_color: t
                        .material_color
                        .get()
                        .map(|c| normalise_color(&c))
                        .unwrap_or_default(),
                    filament_weight: t.filament_weight.get().unwrap_or(0.0),
                })
                .collect(),
        })
    }
    let mut w: P = json(body)?;
    let detail = std::mem::take(&mut w.gcode_list_detail).0.get();
    let names = std::mem::take(&mut w.gcode_list).0.get();
    let payload = match (detail, names) {
        (Some(d), _) if !d.is_empty() => Some(d.into_iter().filter_map(file).collect()),
        (_, Some(n)) => Some(n.into_iter().filter_map(file).collect()),
        (Some(d), None) => Some(d.into_iter().filter_map(file).collect()),
        (None, None) => None,
    };
    Ok(ApiReply {
        envelope: envelope(&mut w.code, &mut w.message, None),
        payload,
        what: "gcodeList",
    })
}

/// Parse a `/gcodeThumb` reply: base64 `imageData` decoded to image bytes.
///
/// Undecodable base64 is an error ([`HttpError::Base64`]): the reply cannot carry an image.
pub fn parse_gcode_thumb(body: &[u8]) -> Result<ApiReply<Thumbnail>, HttpError> {
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct P {
        code: Lenient<i64>,
        message: Lenient<String>,
        image_data: Lenient<String>,
    }
    let mut w: P = json(body)?;
    let payload = match std::mem::take(&mut w.image_data).get() {
        Some(b64) if !b64.is_empty() => Some(Thumbnail::from_image(
            super::base64::decode(b64.as_bytes()).map_err(HttpError::Base64)?,
        )),
        _ => None,
    };
    Ok(ApiReply {
        envelope: envelope(&mut w.code, &mut w.message, None),
        payload,
        what: "imageData",
    })
}
