//! Line normalisation of text replies (tcp.md §3.2), without allocating for valid UTF-8.

use std::borrow::Cow;

/// Iterator over the normalised lines of a text reply.
///
/// Splits on LF, CRLF and bare CR; trims; drops empty lines; removes a leading `echo:`/`ack:`
/// prefix (any case); removes the double quotes an A3 wraps around a payload, also when the
/// closing quote is on a later physical line. Invalid UTF-8 falls back to Latin-1 for that line.
#[derive(Debug, Clone)]
pub(crate) struct Lines<'a> {
    rest: &'a [u8],
    in_quote: bool,
}

/// Normalise `bytes` into lines (see [`Lines`]).
pub(crate) fn lines(bytes: &[u8]) -> Lines<'_> {
    Lines {
        rest: bytes,
        in_quote: false,
    }
}

/// Split the next physical line off `bytes`: `(line, rest)`, terminator excluded.
pub(crate) fn split_line(bytes: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memchr2(b'\r', b'\n', bytes) {
        Some(i) => {
            let skip = if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
            (&bytes[..i], &bytes[i + skip..])
        }
        None => (bytes, &[]),
    }
}

/// Strip a case-insensitive `prefix` from `s`.
pub(crate) fn strip_prefix_ci<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Whether `haystack` contains the ASCII `needle`, ASCII case-insensitively (what
/// `haystack.to_ascii_uppercase().contains(needle)` answers for an upper-case `needle`, or the
/// lower-case form for a lower-case one, without the copy).
pub(crate) fn contains_ci(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    let Some(&first) = n.first() else {
        return true;
    };
    let (lo, up, rest) = (
        first.to_ascii_lowercase(),
        first.to_ascii_uppercase(),
        &n[1..],
    );
    h.windows(n.len())
        .any(|w| (w[0] == lo || w[0] == up) && w[1..].eq_ignore_ascii_case(rest))
}

/// Decode one line: UTF-8, or Latin-1 when that fails.
pub(crate) fn decode(line: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(line) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(line.iter().map(|&b| char::from(b)).collect()),
    }
}

/// Normalise one already-trimmed line; returns the text and whether a quote is still open.
pub(crate) fn normalise(line: &str, in_quote: bool) -> (&str, bool) {
    let mut s = line.trim();
    let mut prefixed = false;
    // Only lines starting with `e`/`a` can carry a prefix; skip the comparisons otherwise.
    if matches!(s.as_bytes().first(), Some(b'e' | b'E' | b'a' | b'A')) {
        for p in ["echo:", "ack:"] {
            if let Some(rest) = strip_prefix_ci(s, p) {
                s = rest.trim_start();
                prefixed = true;
                break;
            }
        }
    }
    let mut open = in_quote;
    if prefixed && s.starts_with('"') {
        s = &s[1..];
        open = true;
    }
    if open && s.ends_with('"') {
        s = &s[..s.len() - 1];
        open = false;
    }
    (if prefixed || in_quote { s.trim() } else { s }, open)
}

/// `bytes` as text when every byte is printable ASCII, CR or LF: the common shape of a reply,
/// which [`SimpleLines`] splits without per-line UTF-8 checks or Unicode trims.
pub(crate) fn simple(bytes: &[u8]) -> Option<&str> {
    let plain = |b: u8| matches!(b, 0x20..=0x7e) | (b == b'\r') | (b == b'\n');
    // No early exit within a block: the fixed-size fold vectorises.
    let mut blocks = bytes.chunks_exact(16);
    let mut ok = true;
    for block in &mut blocks {
        ok &= block.iter().fold(true, |ok, &b| ok & plain(b));
    }
    ok &= blocks.remainder().iter().all(|&b| plain(b));
    if ok {
        std::str::from_utf8(bytes).ok()
    } else {
        None
    }
}

/// The offset of the first byte below 0x20 in `b` (its length when none): in text that
/// [`simple`] accepted, the first CR or LF. Eight bytes a step: for bytes below 0x80,
/// `(w - 0x20…) & !w & 0x80…` flags the first byte below 0x20 exactly.
fn line_end(b: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut words = b.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        let w = u64::from_le_bytes(word.try_into().unwrap_or([b' '; 8]));
        let flags = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
        if flags != 0 {
            return at + (flags.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    let rest = words.remainder();
    at + rest.iter().position(|&c| c < 0x20).unwrap_or(rest.len())
}

/// The lines [`lines`] yields, for text that [`simple`] accepted: the only whitespace is the
/// space, so trimming is a byte scan, and only a line starting with `e`/`a` (or one inside an
/// open quote) goes through [`normalise`].
#[derive(Debug, Clone)]
pub(crate) struct SimpleLines<'a> {
    rest: &'a str,
    in_quote: bool,
}

impl<'a> SimpleLines<'a> {
    /// Lines of `text`, which [`simple`] returned.
    pub(crate) fn new(text: &'a str) -> Self {
        Self {
            rest: text,
            in_quote: false,
        }
    }
}

impl<'a> Iterator for SimpleLines<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        while !self.rest.is_empty() {
            let b = self.rest.as_bytes();
            let end = line_end(b);
            let crlf = b.get(end) == Some(&b'\r') && b.get(end + 1) == Some(&b'\n');
            let next = (end + 1 + usize::from(crlf)).min(b.len());
            let line = b.get(..end).unwrap_or_default();
            let start = line.iter().position(|&c| c != b' ').unwrap_or(line.len());
            let stop = line
                .iter()
                .rposition(|&c| c != b' ')
                .map_or(start, |i| i + 1);
            let line = self.rest.get(start..stop).unwrap_or_default();
            self.rest = self.rest.get(next..).unwrap_or_default();
            let text = if self.in_quote
                || matches!(line.as_bytes().first(), Some(b'e' | b'E' | b'a' | b'A'))
            {
                let (n, open) = normalise(line, self.in_quote);
                self.in_quote = open;
                n
            } else {
                line
            };
            if !text.is_empty() {
                return Some(text);
            }
        }
        None
    }
}

/// The offset of the first `needle` in `haystack` (for short haystacks: no searcher set-up).
pub(crate) fn find_bytes(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut from = 0;
    while let Some(i) = haystack
        .get(from..)
        .and_then(|h| h.iter().position(|&c| c == first))
    {
        let at = from + i;
        if haystack.get(at + 1..at + needle.len()) == Some(rest) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

impl<'a> Iterator for Lines<'a> {
    type Item = Cow<'a, str>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.rest.is_empty() {
            let (line, rest) = split_line(self.rest);
            self.rest = rest;
            let text = match decode(line) {
                Cow::Borrowed(s) => {
                    let (n, open) = normalise(s, self.in_quote);
                    self.in_quote = open;
                    Cow::Borrowed(n)
                }
                Cow::Owned(s) => {
                    let (n, open) = normalise(&s, self.in_quote);
                    self.in_quote = open;
                    Cow::Owned(n.to_owned())
                }
            };
            if !text.is_empty() {
                return Some(text);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(b: &[u8]) -> Vec<String> {
        lines(b).map(|l| l.into_owned()).collect()
    }

    #[test]
    fn splits_every_terminator_and_drops_blank_lines() {
        assert_eq!(all(b"a\r\nb\rc\n\n  d  \r\n"), ["a", "b", "c", "d"]);
    }

    #[test]
    fn strips_prefixes_and_quotes_across_lines() {
        assert_eq!(
            all(b"ack: \"SD printing byte 45/100\r\n\""),
            ["SD printing byte 45/100"]
        );
        assert_eq!(
            all(b"echo: \"CMD M650 Received.\nX: 1.0 Y: 0.5\n\""),
            ["CMD M650 Received.", "X: 1.0 Y: 0.5"]
        );
        assert_eq!(all(b"ECHO:Machine Type: X"), ["Machine Type: X"]);
        // A quote inside ordinary data is kept.
        assert_eq!(
            all(b"Machine Name: My \"Pro\""),
            ["Machine Name: My \"Pro\""]
        );
    }

    #[test]
    fn contains_ci_matches_an_upper_cased_copy() {
        for (h, n) in [
            ("FlashForge Adventurer 4 Pro", "ADVENTURER 4"),
            ("flashforge adventurer4 lite", "ADVENTURER4"),
            ("BUILDING_FROM_SD", "BUILDING_FROM_SD"),
            ("x", "XY"),
            ("", "A"),
            ("abc", ""),
            ("café PRO", "PRO"),
            ("caf\u{e9}pro", "PRO"),
            ("aaaB", "AB"),
        ] {
            let copy = h.to_ascii_uppercase().contains(&n.to_ascii_uppercase());
            assert_eq!(contains_ci(h, n), copy, "{h:?} {n:?}");
        }
    }

    #[test]
    fn simple_lines_match_lines() {
        for b in [
            &b"a\r\nb\rc\n\n  d  \r\n"[..],
            b"ack: \"SD printing byte 45/100\r\n\"",
            b"echo: \"CMD M650 Received.\nX: 1.0 Y: 0.5\n\"",
            b"ECHO:Machine Type: X",
            b"Machine Name: My \"Pro\"",
            b"  \r\r\n\n ",
            b"echo:\"\n  \"\n",
            b"",
        ] {
            let text = simple(b).unwrap();
            assert_eq!(SimpleLines::new(text).collect::<Vec<_>>(), all(b), "{b:?}");
        }
        assert_eq!(simple(b"a\tb"), None);
        assert_eq!(simple(b"caf\xc3\xa9"), None);
    }

    #[test]
    fn find_bytes_is_str_find() {
        for (h, n) in [
            ("X: 1", "X:"),
            ("aX:X:", "X:"),
            ("XX", "X:"),
            ("", "X:"),
            ("ab", "b"),
        ] {
            assert_eq!(
                find_bytes(h.as_bytes(), n.as_bytes()),
                h.find(n),
                "{h:?} {n:?}"
            );
        }
    }

    #[test]
    fn latin1_fallback_keeps_bytes() {
        assert_eq!(all(b"Machine Name: caf\xe9"), ["Machine Name: café"]);
    }
}
