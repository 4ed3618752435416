//! Parse a captured printer reply and print the typed result as one JSON object.
//!
//! ```text
//! cargo run -q -p flashforge-proto --features serde --example decode -- \
//!     --parser temperatures [--command '~M105'] FILE
//! cargo run -q -p flashforge-proto --features serde --example decode -- --parser detail FILE
//! ```
//!
//! HTTP parsers (`detail`, `product`, `gcode_list`, `gcode_thumb`, `envelope`) read a bare JSON
//! body or a whole HTTP response (`HTTP/1.1 200 OK …`, any framing). `discovery` and `probe`
//! read one UDP datagram.
//!
//! Exit codes: 0 parsed, 1 typed parse error (`{"error": "..."}`), 2 the reply needs more
//! bytes (`{"incomplete": true, ...}`), 64 bad usage.

use std::process::ExitCode;

use flashforge_proto::gcode::{self, BinaryLimits, Parsed, ReplyKind};
use flashforge_proto::CommandError;
use serde_json::json;

fn usage() -> ExitCode {
    eprintln!("usage: decode --parser NAME [--command 'CMD'] FILE");
    eprintln!("parsers: login command_ack printer_info temperatures endstop_status print_status");
    eprintln!("         position file_list thumbnail upload_boundary raw_text");
    eprintln!(
        "         detail product gcode_list gcode_thumb envelope (HTTP: body or whole response)"
    );
    eprintln!("         discovery probe (UDP datagrams)");
    ExitCode::from(64)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut parser, mut file) = (None, None);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--parser" => parser = args.next(),
            "--command" => {
                // The command only selects the parser when --parser is absent.
                let cmd = args.next().unwrap_or_default();
                if parser.is_none() {
                    parser = flashforge_proto::Command::decode(&cmd)
                        .map(|c| c.reply_kind().parser_name().to_owned());
                }
            }
            "-h" | "--help" => return usage(),
            _ if file.is_none() => file = Some(a),
            _ => return usage(),
        }
    }
    let (Some(parser), Some(file)) = (parser, file) else {
        return usage();
    };
    let bytes = match std::fs::read(&file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{file}: {e}");
            return ExitCode::from(66);
        }
    };
    if let Some((v, ok)) = flashforge_proto::discovery::decode(&parser, &bytes) {
        emit(&v);
        return if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        };
    }
    if let Some(out) = flashforge_proto::http::decode(&parser, &bytes) {
        let mut v = out.value;
        if let (Some(image), Some(sha)) = (
            v.get_mut("image").and_then(|i| i.as_object_mut()),
            thumb_sha(&bytes),
        ) {
            image.insert("image_sha256".into(), json!(sha));
        }
        emit(&v);
        return if out.ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        };
    }
    let Some(kind) = ReplyKind::from_parser_name(&parser) else {
        eprintln!("unknown parser `{parser}`");
        return usage();
    };
    match gcode::parse_reply(kind, &bytes, &BinaryLimits::default()) {
        Ok(Parsed::Complete(reply)) => {
            let mut v = serde_json::to_value(&reply).unwrap_or_default();
            if let (gcode::Reply::Thumbnail(t), Some(obj)) = (&reply, v.as_object_mut()) {
                obj.insert("image_sha256".into(), json!(sha256_hex(&t.image)));
            }
            emit(&v);
            ExitCode::SUCCESS
        }
        Ok(Parsed::Incomplete(i)) => {
            emit(
                &json!({"incomplete": true, "complete": false, "bytes_missing": i.bytes_missing,
                         "entries_complete": i.entries_complete}),
            );
            ExitCode::from(2)
        }
        Err(e) => {
            let mut v = json!({"error": e.to_string()});
            match &e {
                CommandError::Denied => v["denied"] = json!(true),
                CommandError::Printer(t) => v["error_text"] = json!(t),
                _ => {}
            }
            emit(&v);
            ExitCode::from(1)
        }
    }
}

/// Prints one JSON line; a closed pipe (`decode … | head`) is not an error worth a panic.
fn emit(v: &serde_json::Value) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{v}");
}

/// The SHA-256 of a `/gcodeThumb` reply's decoded image.
fn thumb_sha(bytes: &[u8]) -> Option<String> {
    use flashforge_proto::http;
    let body = http::body_of_capture(bytes, &flashforge_proto::HttpConfig::default()).ok()?;
    let t = http::parse_gcode_thumb(&body).ok()?.payload?;
    Some(sha256_hex(&t.image))
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
