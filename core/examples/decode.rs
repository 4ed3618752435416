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
//! The JSON has every field the fixtures README lists for the parser, the optional framing
//! fields of TCP replies included (where the reply framer ends the reply, the lines after it).
//! `--command` names the command the reply answers (else its `CMD Mxxx Received.` echo does).
//!
//! Exit codes, as `flashforge decode`: 0 parsed, 1 typed parse error (`{"error": "..."}`),
//! 12 the reply was incomplete, cut short before its end (`{"incomplete": true, ...}`);
//! 64 bad usage, 66 unreadable file.

use std::process::ExitCode;

use flashforge_proto::decode::{decode_with_command, thumbnail_image};
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
    let (mut parser, mut command, mut file) = (None, None, None);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--parser" => parser = args.next(),
            "--command" => command = args.next(),
            "-h" | "--help" => return usage(),
            _ if file.is_none() => file = Some(a),
            _ => return usage(),
        }
    }
    // The command selects the parser when --parser is absent.
    let parser = parser.or_else(|| {
        command
            .as_deref()
            .and_then(flashforge_proto::decode::parser_for_command)
            .map(str::to_owned)
    });
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
    let Some(out) = decode_with_command(&parser, command.as_deref(), &bytes) else {
        eprintln!("unknown parser `{parser}`");
        return usage();
    };
    let mut v = out.value;
    if let (Some(img), Some(obj)) = (thumbnail_image(&parser, &bytes), v.as_object_mut()) {
        // The TCP view is flat; the HTTP view nests the image.
        let sha = json!(sha256_hex(&img));
        match obj.get_mut("image").and_then(|i| i.as_object_mut()) {
            Some(image) => drop(image.insert("image_sha256".into(), sha)),
            None => drop(obj.insert("image_sha256".into(), sha)),
        }
    }
    emit(&v);
    ExitCode::from(out.status.exit_code())
}

/// Prints one JSON line; a closed pipe (`decode … | head`) is not an error worth a panic.
fn emit(v: &serde_json::Value) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{v}");
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
