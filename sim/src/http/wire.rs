//! HTTP/1.1 on the wire: the request head (parsed with `httparse`), the body's framing
//! (Content-Length or chunked coding) and the bytes of every kind of response.

/// Longest request head.
pub const MAX_HEAD: usize = 16 * 1024;
/// Longest JSON request body.
pub const MAX_JSON_BODY: usize = 1 << 20;
/// Longest chunk-size or trailer line.
const MAX_CHUNK_LINE: usize = 1024;

/// The request's Content-Length (`Ok(None)`: there is none). Digits only (`u64::from_str`
/// would take `+5`), and every repeat must agree (RFC 9110 §8.6); anything else is `Err`,
/// so the body is never framed by a guess.
pub(crate) fn content_length(headers: &[httparse::Header<'_>]) -> Result<Option<u64>, ()> {
    let mut found = None;
    for h in headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("content-length"))
    {
        let v = std::str::from_utf8(h.value).map_err(|_| ())?.trim();
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(());
        }
        let n = v.parse::<u64>().map_err(|_| ())?;
        if found.is_some_and(|m| m != n) {
            return Err(());
        }
        found = Some(n);
    }
    Ok(found)
}

/// A parsed request head.
pub(super) struct Head<'h, 'b> {
    pub(super) method: &'b str,
    pub(super) path: &'b str,
    headers: &'h [httparse::Header<'b>],
}

impl<'h, 'b> Head<'h, 'b> {
    /// `head` up to and including the blank line; `None` when it is not HTTP.
    pub(super) fn parse(head: &'b [u8], headers: &'h mut [httparse::Header<'b>]) -> Option<Self> {
        let mut req = httparse::Request::new(headers);
        if !matches!(req.parse(head), Ok(httparse::Status::Complete(_))) {
            return None;
        }
        Some(Self {
            method: req.method.unwrap_or(""),
            path: req.path.unwrap_or(""),
            headers: req.headers,
        })
    }

    /// A header's value (trimmed), by case-insensitive name.
    pub(super) fn header(&self, name: &str) -> Option<&'b str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(str::trim)
    }

    /// `Connection: close`.
    pub(super) fn wants_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"))
    }

    /// `Expect: 100-continue`.
    pub(super) fn expects_continue(&self) -> bool {
        self.header("expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    }

    /// How the body is framed (no Content-Length: an empty body); `None` when the
    /// Content-Length is malformed ([`content_length`]), which the caller answers with 400.
    pub(super) fn body(&self) -> Option<Body> {
        let chunked = self
            .header("transfer-encoding")
            .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
        let length = content_length(self.headers).ok()?;
        Some(Body {
            len: if chunked {
                BodyLen::Chunked(Dechunk::Size)
            } else {
                BodyLen::Length(length.unwrap_or(0))
            },
            line: Vec::new(),
        })
    }
}

/// A request body's framing and how far it has come.
#[derive(Debug)]
pub(super) struct Body {
    len: BodyLen,
    /// A chunk-size or trailer line so far.
    line: Vec<u8>,
}

#[derive(Debug)]
enum BodyLen {
    Length(u64),
    Chunked(Dechunk),
}

#[derive(Debug, Default)]
enum Dechunk {
    #[default]
    Size,
    Data(u64),
    DataEnd,
    Trailer,
    Done,
}

/// What [`Body::feed`] did with the input.
pub(super) struct Fed {
    /// Input bytes consumed (the rest belong to the next request).
    pub(super) used: usize,
    /// The body is complete.
    pub(super) done: bool,
    /// The chunked coding was broken: close the connection after answering.
    pub(super) close: bool,
}

impl Body {
    /// The Content-Length, when the body is not chunked.
    pub(super) fn length(&self) -> Option<u64> {
        match self.len {
            BodyLen::Length(n) => Some(n),
            BodyLen::Chunked(_) => None,
        }
    }

    /// Consumes body bytes from `input`, handing the payload to `deliver`.
    pub(super) fn feed(&mut self, input: &[u8], mut deliver: impl FnMut(&[u8])) -> Fed {
        let mut used = 0;
        let mut close = false;
        let done;
        match &mut self.len {
            BodyLen::Length(n) => {
                let take = (*n).min(input.len() as u64) as usize;
                deliver(&input[..take]);
                *n -= take as u64;
                used = take;
                done = *n == 0;
            }
            BodyLen::Chunked(st) => {
                let line = &mut self.line;
                while used < input.len() && !matches!(st, Dechunk::Done) {
                    let rest = &input[used..];
                    match st {
                        Dechunk::Size | Dechunk::DataEnd | Dechunk::Trailer => {
                            let Some(i) = memchr::memchr(b'\n', rest) else {
                                line.extend_from_slice(rest);
                                used = input.len();
                                if line.len() > MAX_CHUNK_LINE {
                                    *st = Dechunk::Done;
                                    close = true;
                                }
                                break;
                            };
                            line.extend_from_slice(&rest[..i]);
                            used += i + 1;
                            let text = String::from_utf8_lossy(line).trim().to_owned();
                            line.clear();
                            *st = match st {
                                Dechunk::Size => {
                                    let hex = text.split(';').next().unwrap_or("").trim();
                                    match u64::from_str_radix(hex, 16) {
                                        Ok(0) => Dechunk::Trailer,
                                        Ok(n) => Dechunk::Data(n),
                                        Err(_) => {
                                            close = true;
                                            Dechunk::Done
                                        }
                                    }
                                }
                                Dechunk::DataEnd => Dechunk::Size,
                                _ if text.is_empty() => Dechunk::Done,
                                _ => Dechunk::Trailer,
                            };
                        }
                        Dechunk::Data(n) => {
                            let take = (*n).min(rest.len() as u64) as usize;
                            deliver(&rest[..take]);
                            *n -= take as u64;
                            used += take;
                            if *n == 0 {
                                *st = Dechunk::DataEnd;
                            }
                        }
                        Dechunk::Done => {}
                    }
                }
                done = matches!(st, Dechunk::Done);
            }
        }
        Fed { used, done, close }
    }
}

/// The interim answer to `Expect: 100-continue`.
pub(super) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// A status line without a body, closing the connection.
pub(super) fn empty(code: u16, reason: &str) -> Vec<u8> {
    format!("HTTP/1.1 {code} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .into_bytes()
}

/// The firmware's HTML 404 (unknown paths and methods).
pub(super) fn not_found() -> Vec<u8> {
    let body = "<!DOCTYPE html><title>404</title>Not Found";
    format!(
        "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A PNG image (`/getThum`).
pub(super) fn png(png: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\n\r\n",
        png.len()
    )
    .into_bytes();
    r.extend_from_slice(png);
    r
}

/// A JSON answer; `declared` is the Content-Length, which a fault may make longer than `body`.
pub(super) fn json(
    status: (u16, &str),
    content_type: &str,
    declared: usize,
    body: &[u8],
    close: bool,
) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {content_type}\r\nContent-Length: {declared}\r\nConnection: {}\r\n\r\n",
        status.0,
        status.1,
        if close { "close" } else { "keep-alive" }
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}
