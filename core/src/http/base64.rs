//! Standard-alphabet base64 (RFC 4648 §4) with padding: encode for the `materialMappings`
//! upload header, decode for `/gcodeThumb` images.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Append the padded base64 of `data` to `out`.
pub(crate) fn encode_into(data: &[u8], out: &mut String) {
    out.reserve(data.len().div_ceil(3) * 4);
    let mut chunks = data.chunks_exact(3);
    for c in &mut chunks {
        let n = u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2]);
        for shift in [18, 12, 6, 0] {
            out.push(ALPHABET[(n >> shift & 63) as usize] as char);
        }
    }
    match *chunks.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out.push(ALPHABET[(n >> 18 & 63) as usize] as char);
            out.push(ALPHABET[(n >> 12 & 63) as usize] as char);
            out.push_str("==");
        }
        [a, b] => {
            let n = u32::from(a) << 16 | u32::from(b) << 8;
            out.push(ALPHABET[(n >> 18 & 63) as usize] as char);
            out.push(ALPHABET[(n >> 12 & 63) as usize] as char);
            out.push(ALPHABET[(n >> 6 & 63) as usize] as char);
            out.push('=');
        }
        _ => {}
    }
}

/// The padded base64 of `data`.
// Public through `printer` (the simulator's encoders) only.
#[cfg_attr(not(feature = "printer"), allow(unreachable_pub))]
pub fn encode(data: &[u8]) -> String {
    let mut s = String::new();
    encode_into(data, &mut s);
    s
}

/// Why base64 text could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Base64Error {
    /// A byte outside the alphabet (after skipping whitespace and an optional data-URL prefix).
    #[error("invalid base64 byte at offset {0}")]
    InvalidByte(usize),
    /// The length (without padding) leaves a single dangling character.
    #[error("truncated base64")]
    Truncated,
}

fn value(b: u8) -> Option<u8> {
    Some(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' | b'-' => 62,
        b'/' | b'_' => 63,
        _ => return None,
    })
}

/// Decode base64, accepting the standard and URL-safe alphabets, missing padding, ASCII
/// whitespace (line-wrapped encoders) and a `data:image/png;base64,` prefix.
// Public through `printer` (the simulator's encoders) only.
#[cfg_attr(not(feature = "printer"), allow(unreachable_pub))]
pub fn decode(text: &[u8]) -> Result<Vec<u8>, Base64Error> {
    let mut start = 0;
    if text.starts_with(b"data:") {
        if let Some(i) = memchr::memchr(b',', text) {
            start = i + 1;
        }
    }
    let mut out = Vec::with_capacity((text.len() - start) / 4 * 3 + 3);
    let (mut acc, mut bits, mut n) = (0u32, 0u32, 0usize);
    let mut padding = false;
    for (i, &b) in text.iter().enumerate().skip(start) {
        if b.is_ascii_whitespace() {
            continue;
        }
        if b == b'=' {
            padding = true;
            continue;
        }
        if padding {
            return Err(Base64Error::InvalidByte(i));
        }
        let v = value(b).ok_or(Base64Error::InvalidByte(i))?;
        acc = acc << 6 | u32::from(v);
        bits += 6;
        n += 1;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if n % 4 == 1 {
        return Err(Base64Error::Truncated);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for len in 0..50 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let e = encode(&data);
            assert_eq!(e.len() % 4, 0);
            assert_eq!(decode(e.as_bytes()).unwrap(), data);
        }
        assert_eq!(encode(b"[]"), "W10=");
        assert_eq!(decode(b"W10").unwrap(), b"[]");
        assert_eq!(decode(b"data:image/png;base64,W1\n0=").unwrap(), b"[]");
        assert_eq!(decode(b"W!0="), Err(Base64Error::InvalidByte(1)));
        assert_eq!(decode(b"W10=W"), Err(Base64Error::InvalidByte(4)));
        assert_eq!(decode(b"W"), Err(Base64Error::Truncated));
    }
}
