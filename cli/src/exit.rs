//! Exit codes and the [`Failure`] that carries one: the one table from which the `--help`
//! text is written and against which README's exit-code table is checked.
//!
//! A leaf: it imports nothing from the rest of the binary but [`crate::term`].

use flashforge_tokio::Error as ClientError;

use crate::term::clean;

/// Declares every `EXIT_*` constant and [`CODES`] from one list of rows.
macro_rules! exit_codes {
    ($($(#[$attr:meta])* $name:ident = $code:literal, $kind:literal => $meaning:literal,)+) => {
        $(
            #[doc = concat!("Exit code ", stringify!($code), ": ", $meaning, ".")]
            $(#[$attr])*
            // Codes of client errors come from the core's `FailureKind`; the names stay for
            // the table and its tests.
            #[allow(dead_code)]
            pub(crate) const $name: u8 = $code;
        )+
        /// Every exit code with its meaning, in order.
        pub(crate) const CODES: &[(u8, &str)] = &[$(($code, $meaning)),+];
        /// Every exit code's `kind` in `--json` errors, in the order of [`CODES`].
        const KINDS: &[(u8, &str)] = &[$(($code, $kind)),+];
    };
}

exit_codes! {
    EXIT_SUCCESS = 0, "ok" => "success",
    /// Any failure without a code of its own.
    EXIT_OTHER = 1, "other" => "other error",
    /// Clap's usage errors, and arguments clap cannot check (a heater name, a colour).
    EXIT_USAGE = 2, "usage" => "bad usage",
    EXIT_UNREACHABLE = 3, "unreachable" => "printer unreachable or not found",
    EXIT_AUTH = 4, "credentials" => "wrong serial number or check code",
    EXIT_LAN_MODE = 5, "lan_mode_off" => "LAN-only mode is off on the printer",
    EXIT_BUSY = 6, "busy" => "printer busy (a job runs, or the last one was not cleared)",
    EXIT_UNSUPPORTED = 7, "unsupported" => "the model does not support the operation",
    EXIT_CONTROL = 8, "control_held" => "another client holds control of the printer",
    EXIT_TIMEOUT = 9, "timeout" => "no answer before the deadline (`--timeout`), or the printer stopped reading (`--stall-timeout`)",
    EXIT_PROTOCOL = 10, "protocol" => "the printer broke the protocol",
    EXIT_ABORTED = 11, "aborted" => "aborted at the confirmation prompt",
    /// `decode` of a capture that ends inside its reply, or a reply cut short on the wire.
    EXIT_INCOMPLETE = 12, "incomplete" => "the reply was incomplete (cut short before its end)",
    /// Out of file descriptors or memory on this machine: not the printer.
    EXIT_RESOURCE = 13, "resource" => "a resource of this machine ran out (open files, memory): not the printer",
}

/// The `Exit codes:` section of `--help`, one line per row of [`CODES`].
pub(crate) fn help_text() -> String {
    let mut s = String::from("Exit codes:");
    for (code, meaning) in CODES {
        s.push_str(&format!("\n  {code:<4}{meaning}"));
    }
    s
}

/// The `kind` of exit code `code` in `--json` errors (`other` for a code not in the table).
pub(crate) fn kind(code: u8) -> &'static str {
    KINDS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("other", |(_, k)| k)
}

/// The one-line JSON object of an error under `--json`:
/// `{"error": MESSAGE, "kind": KIND, "exit": CODE}`, plus `"hint"` when there is one.
pub(crate) fn json_error(code: u8, message: &str, hint: &str) -> String {
    let mut v = serde_json::json!({"error": message, "kind": kind(code), "exit": code});
    if !hint.is_empty() {
        v["hint"] = hint.into();
    }
    v.to_string()
}

/// A failure with its exit code and a message a person can act on.
#[derive(Debug)]
pub(crate) struct Failure {
    code: u8,
    message: String,
    /// What to try, when there is advice (shown after the message).
    hint: &'static str,
}

impl Failure {
    pub(crate) fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            hint: "",
        }
    }
    pub(crate) fn code(&self) -> u8 {
        self.code
    }
    /// The message with its hint, as a person reads it.
    pub(crate) fn message(&self) -> String {
        if self.hint.is_empty() {
            self.message.clone()
        } else {
            format!("{}\n  hint: {}", self.message, self.hint)
        }
    }
    /// To stderr: `error: …` for a person, or one JSON object per line with `--json`. The
    /// message can carry printer text (`ClientError::Printer`, `Refused`, `Busy`, a file
    /// name), so for a person each of its lines goes through [`clean`]; JSON is escaped by
    /// serde and stays exact.
    pub(crate) fn report(&self, json: bool) {
        if json {
            eprintln!("{}", json_error(self.code, &self.message, self.hint));
        } else {
            let lines: Vec<_> = self
                .message()
                .split('\n')
                .map(|l| clean(l).into_owned())
                .collect();
            eprintln!("error: {}", lines.join("\n"));
        }
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        // The code is the core's kind of the error (one table for the CLI and `serve`); the
        // hint is what a person at this command line can do about it.
        let code = e.failure_kind().exit_code();
        let hint = match &e {
            ClientError::Unreachable(_) => {
                "is the printer on and on this network? (check the address, or `flashforge discover`)"
            }
            ClientError::Unauthorized => {
                "check the serial number and the check code on the printer's screen"
            }
            ClientError::LanModeOff => "enable LAN-only mode on the printer",
            ClientError::Busy(_) => {
                "wait for the job to end, or `flashforge clear` after it finished"
            }
            ClientError::ControlHeld => {
                "close the other program (FlashPrint, Orca, a script) or wait 30 s"
            }
            ClientError::TimedOut | ClientError::Disconnected => {
                "the printer stopped answering; try again or raise --timeout"
            }
            ClientError::Stalled => {
                "the printer stopped reading what was sent (weak Wi-Fi, a full or busy printer); try again or raise --stall-timeout"
            }
            ClientError::Incomplete { .. } => {
                "the reply stopped before its end; try again or raise --timeout"
            }
            ClientError::ResourceExhausted(_) => {
                "this machine ran out of open files or memory: raise `ulimit -n`, or watch fewer printers per process"
            }
            _ => "",
        };
        // The error's own text is one line: a line break the printer put in it is shown.
        Self {
            code,
            message: clean(&e.to_string()).into_owned(),
            hint,
        }
    }
}

pub(crate) type Result<T = ()> = std::result::Result<T, Failure>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Printer text in an error (`Printer`, `Refused`, `Busy`) reaches stderr escaped, the
    /// hint's line break kept (issue 14 point 4).
    #[test]
    fn printer_text_in_errors_is_escaped() {
        let hostile = "no\x1b]0;pwned\x07\x1b[2J\u{9b}\nforged line".to_owned();
        for e in [
            ClientError::Printer(hostile.clone()),
            ClientError::Busy(hostile.clone()),
            ClientError::Refused {
                code: Some(1),
                message: hostile.clone(),
            },
        ] {
            let f = Failure::from(e);
            let message = f.message();
            let first = message.lines().next().unwrap();
            assert!(!first.chars().any(char::is_control), "{first:?}");
            // `Refused` quotes its message with `{:?}`, which writes `\u{1b}`.
            assert!(
                first.contains("\\x1b]0;pwned") || first.contains("\\u{1b}]0;pwned"),
                "{first:?}"
            );
        }
        let f = Failure::from(ClientError::Busy(hostile));
        assert!(f.message().contains("\n  hint: "), "{:?}", f.message());
    }

    #[test]
    fn every_code_has_a_distinct_kind() {
        assert_eq!(KINDS.len(), CODES.len());
        for ((code, _), (kcode, k)) in CODES.iter().zip(KINDS) {
            assert_eq!(code, kcode);
            assert_eq!(KINDS.iter().filter(|(_, o)| o == k).count(), 1, "{k}");
        }
        assert_eq!(kind(EXIT_AUTH), "credentials");
        assert_eq!(kind(200), "other");
    }

    #[test]
    fn json_errors_are_one_object_on_one_line() {
        let line = json_error(EXIT_TIMEOUT, "timed out\nreally", "raise --timeout");
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["error"], "timed out\nreally");
        assert_eq!(v["kind"], "timeout");
        assert_eq!(v["exit"], 9);
        assert_eq!(v["hint"], "raise --timeout");
        let v: serde_json::Value =
            serde_json::from_str(&json_error(EXIT_USAGE, "bad", "")).unwrap();
        assert!(v.get("hint").is_none());
    }

    /// The core's failure kinds (shared with `flashforge serve`) are this table's kinds, with
    /// the same codes.
    #[test]
    fn core_failure_kinds_match_the_table() {
        for k in flashforge_tokio::FailureKind::ALL {
            assert_eq!(kind(k.exit_code()), k.name(), "{k:?}");
        }
    }

    #[test]
    fn codes_count_up_from_zero() {
        for (i, (code, meaning)) in CODES.iter().enumerate() {
            assert_eq!(usize::from(*code), i, "{meaning}");
            assert!(!meaning.is_empty());
        }
    }

    #[test]
    fn help_lists_every_code_in_order() {
        let help = help_text();
        let lines: Vec<&str> = help.lines().collect();
        assert_eq!(lines[0], "Exit codes:");
        assert_eq!(lines.len(), CODES.len() + 1);
        for ((code, meaning), line) in CODES.iter().zip(&lines[1..]) {
            assert_eq!(*line, format!("  {code:<4}{meaning}"));
        }
        assert_eq!(lines[11], "  10  the printer broke the protocol");
    }

    /// README's `| Exit code | Meaning |` table is this table, row for row.
    #[test]
    fn readme_table_matches() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
        let readme = std::fs::read_to_string(path).expect("README.md");
        let mut lines = readme
            .lines()
            .skip_while(|l| l.trim() != "| Exit code | Meaning |")
            .skip(1);
        assert!(
            lines.next().is_some_and(|l| l.starts_with("|---")),
            "README.md has no `| Exit code | Meaning |` table"
        );
        let rows: Vec<(u8, String)> = lines
            .take_while(|l| l.starts_with('|'))
            .map(|l| {
                let cells: Vec<&str> = l.trim().trim_matches('|').split('|').collect();
                let [code, meaning] = cells.as_slice() else {
                    panic!("README row `{l}` has not two cells");
                };
                let code = code.trim().parse().unwrap_or_else(|_| panic!("`{l}`"));
                (code, meaning.trim().to_owned())
            })
            .collect();
        let ours: Vec<(u8, String)> = CODES.iter().map(|(c, m)| (*c, (*m).to_owned())).collect();
        assert_eq!(
            rows, ours,
            "README.md's exit-code table and cli/src/exit.rs differ"
        );
    }
}
