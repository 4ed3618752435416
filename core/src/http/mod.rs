//! The HTTP API on port 8898 (Adventurer 5M / 5M Pro / AD5X, Creator 5 / 5 Pro), without I/O.
//!
//! * **Requests**: [`Request`] (every JSON endpoint, [`Control`] for every `/control` command)
//!   encodes exact HTTP/1.1 bytes; [`Upload`] frames a streaming multipart `/uploadGcode`.
//!   [`Credentials`] never show the check code.
//! * **Responses**: [`ResponseParser`] reads a response from bytes in pieces of any size
//!   (`Content-Length`, chunked, until close; interim `100 Continue`), bounded by
//!   [`crate::HttpConfig`]. The JSON bodies parse into lenient typed models: [`parse_detail`]
//!   ([`MachineInfo`]), [`parse_product`], [`parse_gcode_list`], [`parse_gcode_thumb`],
//!   [`parse_envelope`]. One odd field never fails a reply.
//! * **Driving**: [`HttpConnection`](crate::driver::HttpConnection) is one lane's connection cycle (keep-alive reuse,
//!   must-close, the one retry of a read on a stale kept-alive connection, one request at a
//!   time); [`HttpExchange`] is the single request/response inside it, against deadlines from
//!   the caller.
//!
//! ```
//! use flashforge_proto::http::{self, Control, Credentials, Request};
//! use flashforge_proto::Model;
//!
//! let creds = Credentials::new("SN0001", "12345678")?;
//! let mut wire = Vec::new();
//! Request::Control { command: Control::Light(true), model: Model::Adventurer5M }
//!     .encode("192.168.1.20:8898", &creds, &mut wire)?;
//! assert!(wire.ends_with(br#""payload":{"cmd":"lightControl_cmd","args":{"status":"open"}}}"#));
//!
//! let reply = http::parse_detail(br#"{"code":0,"message":"Success",
//!     "detail":{"pid":40,"status":"pause","chamberTemp":-108,"printProgress":0.5}}"#)?;
//! let info = reply.into_result()?;
//! assert_eq!(info.model, Model::Creator5);
//! assert_eq!(info.state, http::MachineState::Paused);
//! assert_eq!(info.chamber, None); // -108 = no sensor
//! assert_eq!(info.progress_percent(), 50);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub(crate) mod base64;
mod capabilities;
mod color;
pub(crate) mod connection;
mod control;
mod detail;
mod exchange;
mod job;
mod json;
mod lenient;
mod reply;
pub(crate) mod request;
mod response;
mod upload;

#[cfg(feature = "serde")]
mod report;

use std::fmt;

pub use self::base64::Base64Error;
pub use crate::model::{JobFormat, Palette};
pub use color::{Rgb, COLOR_NAMES};
pub use control::{
    Axis, Control, Filtration, Heat, JobAction, PrinterSettings, SlotAction, Temperatures,
};
pub use detail::{
    BuildVolume, DirectFeed, JobFilament, MachineInfo, MachineState, MaterialStation, Slot,
    Temperature,
};
pub use exchange::{ExchangeEvent, HttpExchange};
pub use job::{
    check_file_name, check_mappings, check_upload_name, JobOptions, MaterialMapping, MAX_FILE_NAME,
    MAX_NAME_LEN,
};
pub use reply::{
    parse_detail, parse_envelope, parse_gcode_list, parse_gcode_thumb, parse_product, ApiError,
    ApiReply, Envelope, GcodeFile, GcodeTool, ProductCapabilities, ProductFlags,
};
#[cfg(feature = "serde")]
pub use report::{decode, DecodeOutcome};
pub use request::{Credentials, Method, Request, ResponseKind};
pub use response::{Progress, Response, ResponseEvent, ResponseParser};
pub use upload::{Upload, UploadSpec};

use crate::error::CapacityError;
use crate::gcode::Thumbnail;

/// Why an HTTP exchange or a reply body failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The response head is not HTTP (httparse's reason).
    #[error("malformed HTTP response: {0}")]
    Malformed(String),
    /// More headers than the parser's header array holds.
    #[error("more than {max} response headers")]
    TooManyHeaders {
        /// The array size.
        max: usize,
    },
    /// A framing header is unusable (`Content-Length` not a number or conflicting, ...).
    #[error("bad header: {0}")]
    BadHeader(&'static str),
    /// Chunked transfer coding broken.
    #[error("bad chunked encoding: {0}")]
    BadChunk(&'static str),
    /// A bound of [`crate::HttpConfig`] was exceeded.
    #[error(transparent)]
    Capacity(#[from] CapacityError),
    /// The connection closed inside the head or body.
    #[error("connection closed inside the response {0}")]
    Truncated(&'static str),
    /// The connection closed before any response byte.
    #[error("connection closed before a response")]
    Closed,
    /// No complete response before the deadline.
    #[error("no response before the deadline")]
    TimedOut,
    /// The parser already failed on this connection.
    #[error("response parser failed earlier; reconnect")]
    Failed,
    /// The printer reported an upload's success before the whole body was sent (http.md §9):
    /// it cannot have the file, so this is not a success.
    #[error("the printer confirmed the upload after {sent} of {total} file bytes, before the whole body was sent")]
    EarlySuccess {
        /// File bytes written when the answer came.
        sent: u64,
        /// File size.
        total: u64,
    },
    /// A non-2xx HTTP status.
    #[error("HTTP status {0}")]
    Status(u16),
    /// The body is not the JSON the endpoint returns.
    #[error("invalid JSON body: {0}")]
    Json(String),
    /// `imageData` is not base64.
    #[error(transparent)]
    Base64(#[from] Base64Error),
}

/// A secret string (check code, cloud registration codes): `Debug` shows `"<redacted>"`, and the
/// bytes are overwritten when dropped.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret.
    pub fn new(s: String) -> Self {
        Self(s)
    }

    /// The secret, for code that must put it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("<redacted>")
        }
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.fill(0);
        std::hint::black_box(&bytes);
    }
}

/// A typed response body.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Body {
    /// `/detail`.
    Detail(Box<ApiReply<MachineInfo>>),
    /// `/product`.
    Product(ApiReply<ProductFlags>),
    /// `/gcodeList`.
    GcodeList(ApiReply<Vec<GcodeFile>>),
    /// `/gcodeThumb`.
    GcodeThumb(ApiReply<Thumbnail>),
    /// Envelope-only endpoints.
    Envelope(ApiReply<()>),
    /// `/getThum`: the image, or the JSON envelope the printer sends on error.
    Image(Result<Thumbnail, ApiReply<()>>),
}

/// Parse a complete response for `kind`: non-2xx status is [`HttpError::Status`], then the body.
pub fn parse_response(kind: ResponseKind, response: &Response) -> Result<Body, HttpError> {
    if !response.is_success() {
        return Err(HttpError::Status(response.status));
    }
    parse_body(kind, &response.body)
}

/// Parse a response body for `kind`.
pub fn parse_body(kind: ResponseKind, body: &[u8]) -> Result<Body, HttpError> {
    Ok(match kind {
        ResponseKind::Detail => Body::Detail(Box::new(parse_detail(body)?)),
        ResponseKind::Product => Body::Product(parse_product(body)?),
        ResponseKind::GcodeList => Body::GcodeList(parse_gcode_list(body)?),
        ResponseKind::GcodeThumb => Body::GcodeThumb(parse_gcode_thumb(body)?),
        ResponseKind::Envelope => Body::Envelope(parse_envelope(body)?),
        ResponseKind::Image => {
            let t = body.iter().position(|b| !b.is_ascii_whitespace());
            if t.is_some_and(|i| body[i] == b'{') {
                Body::Image(Err(parse_envelope(body)?))
            } else {
                Body::Image(Ok(Thumbnail::from_image(body.to_vec())))
            }
        }
    })
}

#[cfg(feature = "serde")]
/// If `bytes` is a whole HTTP response (`HTTP/1.x …`), its de-framed body; otherwise `bytes`
/// itself (a bare JSON body). Used by tools that read captures.
pub(crate) fn body_of_capture(
    bytes: &[u8],
    config: &crate::HttpConfig,
) -> Result<Vec<u8>, HttpError> {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(0);
    if !bytes[start..].starts_with(b"HTTP/") {
        return Ok(bytes.to_vec());
    }
    let mut p: ResponseParser = ResponseParser::new(config);
    let mut input = &bytes[start..];
    loop {
        let pr = p.feed(input)?;
        input = &input[pr.consumed..];
        match pr.event {
            Some(ResponseEvent::Complete(r)) => {
                if !r.is_success() {
                    return Err(HttpError::Status(r.status));
                }
                return Ok(r.body);
            }
            Some(ResponseEvent::Interim(_)) => continue,
            None => {
                return p
                    .finish()?
                    .map(|r| r.body)
                    .ok_or(HttpError::Truncated("head"))
            }
        }
    }
}
