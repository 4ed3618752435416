//! One entry point for tools that turn a captured reply into JSON (the `decode` example and
//! `flashforge decode`): TCP replies, HTTP bodies or whole responses, UDP datagrams.

use serde_json::{json, Value};

use crate::gcode::{self, BinaryLimits, Parsed, ReplyKind};
use crate::CommandError;

/// How a capture parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeStatus {
    /// Parsed (for HTTP: a success envelope with its payload).
    Ok,
    /// A typed parse error or a refusal (`{"error": …}` in the value).
    Error,
    /// The reply needs more bytes (`{"incomplete": true, …}`).
    Incomplete,
}

/// The JSON view of a capture and how it parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The fixture-vocabulary JSON.
    pub value: Value,
    /// Outcome.
    pub status: DecodeStatus,
}

/// Every parser name [`decode`] knows.
pub const PARSERS: &[&str] = &[
    "login",
    "command_ack",
    "printer_info",
    "temperatures",
    "endstop_status",
    "print_status",
    "position",
    "file_list",
    "thumbnail",
    "upload_boundary",
    "raw_text",
    "detail",
    "product",
    "gcode_list",
    "gcode_thumb",
    "envelope",
    "discovery",
    "probe",
];

/// The parser that reads the reply to a command line such as `~M105`.
pub fn parser_for_command(command: &str) -> Option<&'static str> {
    crate::Command::decode(command).map(|c| c.reply_kind().parser_name())
}

/// Parse `bytes` with the parser named as in the fixtures README; `None` for an unknown name.
pub fn decode(parser: &str, bytes: &[u8]) -> Option<Decoded> {
    if let Some((value, ok)) = crate::discovery::decode(parser, bytes) {
        return Some(Decoded {
            value,
            status: if ok {
                DecodeStatus::Ok
            } else {
                DecodeStatus::Error
            },
        });
    }
    #[cfg(feature = "http")]
    if let Some(out) = crate::http::decode(parser, bytes) {
        return Some(Decoded {
            value: out.value,
            status: if out.ok {
                DecodeStatus::Ok
            } else {
                DecodeStatus::Error
            },
        });
    }
    let kind = ReplyKind::from_parser_name(parser)?;
    Some(
        match gcode::parse_reply(kind, bytes, &BinaryLimits::default()) {
            Ok(Parsed::Complete(reply)) => Decoded {
                value: serde_json::to_value(&reply).unwrap_or_default(),
                status: DecodeStatus::Ok,
            },
            Ok(Parsed::Incomplete(i)) => Decoded {
                value: json!({"incomplete": true, "complete": false, "bytes_missing": i.bytes_missing,
                          "entries_complete": i.entries_complete}),
                status: DecodeStatus::Incomplete,
            },
            Err(e) => {
                // The fixtures' vocabulary for a refused command or upload.
                let mut v = json!({"error": e.to_string(), "success": false});
                if kind == ReplyKind::UploadBoundary {
                    v["accepted"] = json!(false);
                }
                match &e {
                    CommandError::Denied => v["denied"] = json!(true),
                    CommandError::Printer(t) => v["error_text"] = json!(t),
                    _ => {}
                }
                Decoded {
                    value: v,
                    status: DecodeStatus::Error,
                }
            }
        },
    )
}

/// The decoded image bytes of a thumbnail capture (`thumbnail` or `gcode_thumb`), so tools can
/// report its hash or save it.
pub fn thumbnail_image(parser: &str, bytes: &[u8]) -> Option<Vec<u8>> {
    match parser {
        "thumbnail" => {
            match gcode::parse_reply(ReplyKind::Thumbnail, bytes, &BinaryLimits::default()) {
                Ok(Parsed::Complete(gcode::Reply::Thumbnail(t))) => Some(t.image),
                _ => None,
            }
        }
        #[cfg(feature = "http")]
        "gcode_thumb" => {
            let body = crate::http::body_of_capture(bytes, &crate::HttpConfig::default()).ok()?;
            Some(crate::http::parse_gcode_thumb(&body).ok()?.payload?.image)
        }
        _ => None,
    }
}
