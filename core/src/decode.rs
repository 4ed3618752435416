//! One entry point for tools that turn a captured reply into JSON (the `decode` example and
//! `flashforge decode`): TCP replies, HTTP bodies or whole responses, UDP datagrams.
//!
//! The JSON carries every field the fixtures README lists for the parser, the optional ones
//! included (`null` where the capture has no value): the framing fields of TCP replies come
//! from running [`ReplyFramer`] over the capture as if it arrived
//! in one read and the connection then went quiet.

use serde_json::{json, Map, Value};

use crate::gcode::{
    self, BinaryLimits, Code, Command, FrameStatus, Parsed, ReplyFramer, ReplyKind,
};
use crate::{CommandError, Config};

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

impl DecodeStatus {
    /// The exit code of the decode tools, from `flashforge`'s exit-code table: 0 parsed,
    /// 1 other error (a typed parse error or a refusal), 12 the reply was incomplete (cut short
    /// before its end).
    pub const fn exit_code(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Error => 1,
            Self::Incomplete => 12,
        }
    }
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
    Command::decode(command).map(|c| c.reply_kind().parser_name())
}

/// Parse `bytes` with the parser named as in the fixtures README; `None` for an unknown name.
///
/// The command a TCP reply answers is taken from its `CMD Mxxx Received.` echo; use
/// [`decode_with_command`] when it is known.
pub fn decode(parser: &str, bytes: &[u8]) -> Option<Decoded> {
    decode_with_command(parser, None, bytes)
}

/// [`decode`] for a TCP reply to `command` (a line such as `~M601 S1`): the framer recognises
/// that command's echo, and treats the echo of any other one as the tail of an older reply.
pub fn decode_with_command(parser: &str, command: Option<&str>, bytes: &[u8]) -> Option<Decoded> {
    if let Some((mut value, ok)) = crate::discovery::decode(parser, bytes) {
        if parser == "discovery" && ok {
            discovery_fields(bytes, &mut value);
        }
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
    if let Some(mut out) = crate::http::decode(parser, bytes) {
        if let Some(obj) = out.value.as_object_mut() {
            if obj.contains_key("envelope") {
                obj.entry("detail_text").or_insert(Value::Null);
            }
        }
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
    let mut out = match gcode::parse_reply(kind, bytes, &BinaryLimits::default()) {
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
    };
    if let Some(obj) = out.value.as_object_mut() {
        tcp_fields(kind, command, bytes, out.status, obj);
    }
    Some(out)
}

/// The optional fields of the fixtures README that the typed reply does not carry.
fn tcp_fields(
    kind: ReplyKind,
    command: Option<&str>,
    bytes: &[u8],
    status: DecodeStatus,
    obj: &mut Map<String, Value>,
) {
    match kind {
        ReplyKind::Login => {
            let f = frame(kind, command, bytes);
            obj.insert("first_ok_ends_at_byte".into(), json!(f.ends_at));
            f.insert_into(obj);
        }
        ReplyKind::Ack => {
            obj.entry("denied").or_insert(json!(false));
            obj.entry("error_text").or_insert(Value::Null);
            let f = frame(kind, command, bytes);
            obj.insert("reply_ends_at_byte".into(), json!(f.ends_at));
            f.insert_into(obj);
        }
        ReplyKind::FileList => {
            let offset = gcode::binary_payload_offset(bytes, false)
                .filter(|&o| bytes[o..].starts_with(&gcode::binary::LIST_TAG));
            obj.entry("payload_offset").or_insert(json!(offset));
            obj.entry("payload_only")
                .or_insert(json!(offset == Some(0)));
            let prefix = obj.get("payload_offset").and_then(Value::as_u64);
            let text = prefix
                .and_then(|o| bytes.get(..usize::try_from(o).ok()?))
                .map(|p| String::from_utf8_lossy(p).into_owned());
            obj.insert("text_prefix".into(), json!(text));
            if status == DecodeStatus::Ok {
                let count = obj.get("count").cloned().unwrap_or(Value::Null);
                obj.insert("complete".into(), json!(true));
                obj.insert("entries_complete".into(), count);
                obj.insert("bytes_missing".into(), json!(0));
            }
        }
        _ => {}
    }
}

/// Where the reply framer ends the reply in the capture.
struct Framing {
    /// Byte offset in the capture just after the reply (stale bytes before it included);
    /// when the framer did not see the end by itself, the end of the capture.
    ends_at: Option<usize>,
    /// The framer recognised the end (rather than the capture running out).
    complete: bool,
    /// Normalised lines after the end of the reply.
    trailing_lines: Option<usize>,
    /// The capture cannot be framed.
    error: Option<String>,
}

impl Framing {
    fn insert_into(self, obj: &mut Map<String, Value>) {
        obj.insert("trailing_stream_lines".into(), json!(self.trailing_lines));
        obj.insert("reply_complete".into(), json!(self.complete));
        if let Some(e) = self.error {
            obj.insert("framing_error".into(), json!(e));
        }
    }
}

/// Run the framer over the whole capture, as one read followed by silence.
fn frame(kind: ReplyKind, command: Option<&str>, bytes: &[u8]) -> Framing {
    let config = Config::default();
    let given = command.and_then(Command::decode);
    let echo = echo_code(bytes);
    let base = given
        .clone()
        .or_else(|| echo.and_then(|c| Command::decode(&format!("~{c}"))))
        .unwrap_or(Command::Login);
    let mut profile = base.profile(&config);
    profile.kind = kind;
    match (&given, echo) {
        (Some(cmd), _) => profile.code = cmd.code(),
        (None, Some(code)) => profile.code = code,
        (None, None) => {}
    }
    let mut framer = ReplyFramer::new(profile, &config, false);
    let complete = match framer.push(bytes) {
        Ok(FrameStatus::Complete) => true,
        Ok(FrameStatus::Partial) => false,
        Err(e) => {
            return Framing {
                ends_at: None,
                complete: false,
                trailing_lines: None,
                error: Some(e.to_string()),
            }
        }
    };
    if !complete {
        framer.finish();
    }
    Framing {
        ends_at: Some(framer.stale_bytes() + framer.reply().len()),
        complete,
        trailing_lines: Some(gcode::lines::lines(framer.leftover()).count()),
        error: None,
    }
}

/// The code of the first `CMD Mxxx Received.` line of a capture.
fn echo_code(bytes: &[u8]) -> Option<Code> {
    gcode::lines::lines(bytes).find_map(|line| {
        let code = line.strip_prefix("CMD ")?.strip_suffix(" Received.")?;
        Code::parse_prefix(code).filter(|c| c.is(code))
    })
}

/// `name_raw_hex`: the name field's bytes up to its first NUL, before any decoding.
fn discovery_fields(bytes: &[u8], value: &mut Value) {
    let field = match value.get("protocol").and_then(Value::as_str) {
        Some("modern") => 0x84,
        _ => 0x80,
    };
    let field = &bytes[..field.min(bytes.len())];
    let raw = field.split(|&b| b == 0).next().unwrap_or_default();
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    value["name_raw_hex"] = json!(hex);
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
