//! Terminal safety: text that reaches a terminal is shown, never obeyed.
//!
//! Printer names, file names, firmware strings, error texts and every other string a printer
//! supplies end up in human output. A printer (or anyone who renamed it) can put an escape
//! sequence there that clears the screen, retitles the terminal or worse, so every line of
//! human output and every error message goes through [`clean`]: control characters are
//! written visibly as Rust-style escapes and everything else is left as it is.
//!
//! JSON output does not pass through here: it must round-trip the printer's bytes exactly
//! (serde escapes the C0 controls itself).
//!
//! A leaf: it imports nothing from the rest of the binary.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` must not reach a terminal raw: C0 controls (tab, line breaks and ESC
/// included), DEL, the C1 controls U+0080–U+009F (U+009B is a one-character CSI), and the
/// bidirectional overrides and isolates that reorder what is shown around them.
fn unsafe_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every unsafe character written as an escape: `\t`, `\n`, `\r`, `\x1b` (C0 and
/// DEL), `\u{9b}` (C1, bidi controls). Text without one is returned unchanged, borrowed;
/// accents, CJK and emoji are never touched. A backslash is left as it is, so cleaning is
/// idempotent.
pub(crate) fn clean(s: &str) -> Cow<'_, str> {
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if u32::from(c) < 0x80 && unsafe_char(c) => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if unsafe_char(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn escapes_are_shown_not_obeyed() {
        assert_eq!(
            clean("a\x1b]0;pwned\x07\x1b[2Jb"),
            "a\\x1b]0;pwned\\x07\\x1b[2Jb"
        );
        assert_eq!(clean("\u{9b}31m\u{85}\u{80}"), "\\u{9b}31m\\u{85}\\u{80}");
        assert_eq!(clean("x\ty\nz\r\0\x7f"), "x\\ty\\nz\\r\\x00\\x7f");
        assert_eq!(clean("abc\u{202e}cba"), "abc\\u{202e}cba");
    }

    #[test]
    fn ordinary_text_is_untouched_and_borrowed() {
        for s in [
            "Imprimante à Zoé",
            "打印机 ５号",
            "part (1).gcode",
            "a\\x1b",
            "",
        ] {
            assert!(matches!(clean(s), std::borrow::Cow::Borrowed(t) if t == s));
        }
    }

    #[test]
    fn idempotent() {
        let once = clean("\x1b[2J\u{9b}\ttab");
        assert_eq!(clean(&once), once);
    }
}
