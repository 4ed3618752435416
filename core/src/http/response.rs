//! An incremental HTTP/1.1 response parser on `httparse`.
//!
//! Bytes go in as they arrive, in pieces of any size; the parser consumes exactly the bytes of
//! one response (interim `1xx` responses are reported separately) and leaves the rest to the
//! caller, so nothing that arrived after a response is lost. The body is delimited by
//! `Content-Length`, chunked transfer coding or the end of the connection. Every buffer is
//! bounded by [`HttpConfig`]; "need more bytes" is never an error.

use super::HttpError;
use crate::config::HttpConfig;
use crate::error::CapacityError;

/// A complete response.
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code (200 for API errors too).
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Headers in order, names as sent.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
    /// Whether the connection may carry another request (HTTP/1.1 without `Connection: close`,
    /// and a body not delimited by the close).
    pub keep_alive: bool,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("reason", &self.reason)
            .field("headers", &self.headers.len())
            .field("body_len", &self.body.len())
            .field("keep_alive", &self.keep_alive)
            .finish()
    }
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The `Content-Type`, if any (the firmware's `appliation/json` typo included: the body is
    /// parsed as JSON whatever this says).
    pub fn content_type(&self) -> Option<&str> {
        self.header("content-type")
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Status 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// What [`ResponseParser::feed`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseEvent {
    /// An interim `1xx` response (`100 Continue`); the final response follows.
    Interim(u16),
    /// The final response.
    Complete(Response),
}

/// Result of one [`ResponseParser::feed`] call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Progress {
    /// Bytes of the input that were consumed; feed the rest again (after handling `event`).
    pub consumed: usize,
    /// A response, when one completed at `consumed`.
    pub event: Option<ResponseEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Body {
    Fixed(u64),
    Chunked(Chunk),
    UntilClose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading a chunk-size line (into `line`).
    Size,
    /// Inside chunk data.
    Data(u64),
    /// The CRLF after chunk data.
    DataEnd,
    /// Trailer lines until an empty one.
    Trailer,
}

#[derive(Debug, Clone)]
enum State {
    Head,
    Body { body: Body, response: Response },
    Failed,
}

/// Parses responses from a byte stream; `H` is the header array size handed to `httparse`
/// (the most headers a response may have).
#[derive(Debug, Clone)]
pub struct ResponseParser<const H: usize = 32> {
    limits: HttpConfig,
    head: Vec<u8>,
    /// Where to resume looking for the blank line in `head`.
    scan_from: usize,
    /// A blank line was seen in `head`: httparse runs on every later byte, so the outcome never
    /// depends on how the bytes were split (leading empty lines made this matter).
    end_seen: bool,
    line: Vec<u8>,
    trailer_bytes: usize,
    state: State,
    no_body: bool,
}

const MAX_CHUNK_LINE: usize = 1024;

impl<const H: usize> ResponseParser<H> {
    /// A parser bounded by `limits`.
    pub fn new(limits: &HttpConfig) -> Self {
        Self {
            limits: limits.clone(),
            head: Vec::new(),
            scan_from: 0,
            end_seen: false,
            line: Vec::new(),
            trailer_bytes: 0,
            state: State::Head,
            no_body: false,
        }
    }

    /// The next response answers a `HEAD` request (no body whatever the headers say).
    pub fn expect_no_body(&mut self, yes: bool) {
        self.no_body = yes;
    }

    /// Whether no byte of a response is buffered (a clean point to close or reuse).
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Head) && self.head.is_empty()
    }

    /// Feed bytes. Consumes up to the end of one (interim or final) response.
    ///
    /// After an error the parser stays failed: the connection is unusable.
    pub fn feed(&mut self, input: &[u8]) -> Result<Progress, HttpError> {
        let r = self.feed_inner(input);
        if r.is_err() {
            self.state = State::Failed;
            self.head = Vec::new();
            self.line = Vec::new();
        }
        r
    }

    fn feed_inner(&mut self, input: &[u8]) -> Result<Progress, HttpError> {
        let mut consumed = 0;
        loop {
            match &mut self.state {
                State::Failed => return Err(HttpError::Failed),
                State::Head => {
                    let (n, done) = self.feed_head(&input[consumed..])?;
                    consumed += n;
                    match done {
                        Some(HeadOutcome::Interim(code)) => {
                            return Ok(Progress {
                                consumed,
                                event: Some(ResponseEvent::Interim(code)),
                            })
                        }
                        Some(HeadOutcome::Complete(r)) => {
                            return Ok(Progress {
                                consumed,
                                event: Some(ResponseEvent::Complete(r)),
                            })
                        }
                        Some(HeadOutcome::Body) => continue,
                        None => {
                            return Ok(Progress {
                                consumed,
                                event: None,
                            })
                        }
                    }
                }
                State::Body { .. } => {
                    let (n, done) = self.feed_body(&input[consumed..])?;
                    consumed += n;
                    return Ok(Progress {
                        consumed,
                        event: done.map(ResponseEvent::Complete),
                    });
                }
            }
        }
    }

    /// The connection closed. Completes a read-until-close body; anything else that was
    /// started is [`HttpError::Truncated`]. `Ok(None)` when nothing was pending.
    pub fn finish(&mut self) -> Result<Option<Response>, HttpError> {
        match std::mem::replace(&mut self.state, State::Head) {
            State::Head if self.head.is_empty() => Ok(None),
            State::Head => {
                self.state = State::Failed;
                Err(HttpError::Truncated("head"))
            }
            State::Body {
                body: Body::UntilClose,
                mut response,
            } => {
                response.keep_alive = false;
                Ok(Some(response))
            }
            State::Body { .. } => {
                self.state = State::Failed;
                Err(HttpError::Truncated("body"))
            }
            State::Failed => {
                self.state = State::Failed;
                Err(HttpError::Failed)
            }
        }
    }

    fn capacity(what: &'static str, size: usize, max: usize) -> HttpError {
        HttpError::Capacity(CapacityError { what, size, max })
    }

    fn feed_head(&mut self, input: &[u8]) -> Result<(usize, Option<HeadOutcome>), HttpError> {
        let max = self.limits.max_head_bytes;
        let prev = self.head.len();
        let take = input.len().min(max + 1 - prev.min(max + 1));
        // The usual case, a whole head in the first read: parse it where it lies instead of
        // copying it (and the body bytes after it) into `head` first. The same bytes go to
        // httparse as on the buffered path, so the outcome is the same; a partial head falls
        // back to buffering.
        if prev == 0 {
            let window = &input[..take];
            let end = memchr::memmem::find(window, b"\n\r\n").is_some()
                || memchr::memmem::find(window, b"\n\n").is_some();
            if end {
                if let Some((head_len, version, response)) = self.parse_head(window)? {
                    return self.head_done(head_len, version, response);
                }
            }
        }
        self.head.extend_from_slice(&input[..take]);
        // Only run httparse once a blank line may be present.
        let from = self.scan_from.saturating_sub(3);
        self.end_seen = self.end_seen
            || memchr::memmem::find(&self.head[from..], b"\n\r\n").is_some()
            || memchr::memmem::find(&self.head[from..], b"\n\n").is_some();
        self.scan_from = self.head.len();
        if !self.end_seen {
            if self.head.len() > max {
                return Err(Self::capacity("response head", self.head.len(), max));
            }
            return Ok((take, None));
        }
        match self.parse_head(&self.head)? {
            Some((head_len, version, response)) => {
                self.head_done(head_len - prev, version, response)
            }
            None => {
                if self.head.len() > max {
                    return Err(Self::capacity("response head", self.head.len(), max));
                }
                Ok((take, None))
            }
        }
    }

    /// httparse on `buf`: the head's length, the HTTP minor version and the response without
    /// its body, or `None` while the head is incomplete.
    fn parse_head(&self, buf: &[u8]) -> Result<Option<(usize, u8, Response)>, HttpError> {
        let mut headers = [httparse::EMPTY_HEADER; H];
        let limit = self.limits.max_headers.min(H);
        let mut resp = httparse::Response::new(&mut headers[..limit]);
        let parsed = httparse::ParserConfig::default()
            .allow_spaces_after_header_name_in_responses(true)
            .allow_obsolete_multiline_headers_in_responses(true)
            .allow_multiple_spaces_in_response_status_delimiters(true)
            .parse_response(&mut resp, buf);
        let head_len = match parsed {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => {
                return Err(HttpError::TooManyHeaders { max: limit })
            }
            Err(e) => return Err(HttpError::Malformed(e.to_string())),
        };
        let version = resp.version.unwrap_or(1);
        let response = Response {
            status: resp.code.unwrap_or(0),
            reason: resp.reason.unwrap_or("").to_owned(),
            headers: resp
                .headers
                .iter()
                .map(|h| (h.name.to_owned(), h.value.to_vec()))
                .collect(),
            body: Vec::new(),
            keep_alive: version == 1,
        };
        Ok(Some((head_len, version, response)))
    }

    /// A head was parsed; `consumed` of this input's bytes belonged to it.
    fn head_done(
        &mut self,
        consumed: usize,
        version: u8,
        mut response: Response,
    ) -> Result<(usize, Option<HeadOutcome>), HttpError> {
        let status = response.status;
        self.head.clear();
        self.scan_from = 0;
        self.end_seen = false;

        if (100..200).contains(&status) && status != 101 {
            return Ok((consumed, Some(HeadOutcome::Interim(status))));
        }
        let mut content_length: Option<u64> = None;
        let mut chunked = false;
        for (name, value) in &response.headers {
            let v =
                std::str::from_utf8(value).map_err(|_| HttpError::BadHeader("non-UTF-8 value"))?;
            if name.eq_ignore_ascii_case("content-length") {
                for part in v.split(',') {
                    let p = part.trim();
                    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(HttpError::BadHeader("Content-Length"));
                    }
                    let n: u64 = p
                        .parse()
                        .map_err(|_| HttpError::BadHeader("Content-Length"))?;
                    if content_length.is_some_and(|c| c != n) {
                        return Err(HttpError::BadHeader("conflicting Content-Length"));
                    }
                    content_length = Some(n);
                }
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = v
                    .rsplit(',')
                    .next()
                    .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
            } else if name.eq_ignore_ascii_case("connection") {
                for token in v.split(',') {
                    let t = token.trim();
                    if t.eq_ignore_ascii_case("close") {
                        response.keep_alive = false;
                    } else if t.eq_ignore_ascii_case("keep-alive") && version == 0 {
                        response.keep_alive = true;
                    }
                }
            }
        }
        let no_body = std::mem::take(&mut self.no_body);
        let body = if no_body || status == 204 || status == 304 {
            return Ok((consumed, Some(HeadOutcome::Complete(response))));
        } else if chunked {
            Body::Chunked(Chunk::Size)
        } else if let Some(n) = content_length {
            if n > self.limits.max_body_bytes as u64 {
                return Err(Self::capacity(
                    "response body",
                    usize::try_from(n).unwrap_or(usize::MAX),
                    self.limits.max_body_bytes,
                ));
            }
            if n == 0 {
                return Ok((consumed, Some(HeadOutcome::Complete(response))));
            }
            response.body.reserve_exact(n as usize);
            Body::Fixed(n)
        } else {
            response.keep_alive = false;
            Body::UntilClose
        };
        self.line.clear();
        self.trailer_bytes = 0;
        self.state = State::Body { body, response };
        Ok((consumed, Some(HeadOutcome::Body)))
    }

    fn feed_body(&mut self, input: &[u8]) -> Result<(usize, Option<Response>), HttpError> {
        let max_body = self.limits.max_body_bytes;
        let max_trailer = self.limits.max_head_bytes;
        let State::Body { body, response } = &mut self.state else {
            return Ok((0, None));
        };
        let mut i = 0;
        let done = loop {
            match body {
                Body::Fixed(left) => {
                    let n = (*left).min((input.len() - i) as u64) as usize;
                    response.body.extend_from_slice(&input[i..i + n]);
                    i += n;
                    *left -= n as u64;
                    if *left == 0 {
                        break true;
                    }
                    break false;
                }
                Body::UntilClose => {
                    let n = input.len() - i;
                    if response.body.len() + n > max_body {
                        return Err(Self::capacity(
                            "response body",
                            response.body.len() + n,
                            max_body,
                        ));
                    }
                    response.body.extend_from_slice(&input[i..]);
                    i = input.len();
                    break false;
                }
                Body::Chunked(state) => {
                    if i == input.len() {
                        break false;
                    }
                    match state {
                        Chunk::Data(left) => {
                            let n = (*left).min((input.len() - i) as u64) as usize;
                            if response.body.len() + n > max_body {
                                return Err(Self::capacity(
                                    "response body",
                                    response.body.len() + n,
                                    max_body,
                                ));
                            }
                            response.body.extend_from_slice(&input[i..i + n]);
                            i += n;
                            *left -= n as u64;
                            if *left == 0 {
                                *state = Chunk::DataEnd;
                            }
                        }
                        Chunk::Size | Chunk::DataEnd | Chunk::Trailer => {
                            let rest = &input[i..];
                            let (line_done, n) = match memchr::memchr(b'\n', rest) {
                                Some(p) => (true, p + 1),
                                None => (false, rest.len()),
                            };
                            if self.line.len() + n > MAX_CHUNK_LINE {
                                return Err(Self::capacity(
                                    "chunk line",
                                    self.line.len() + n,
                                    MAX_CHUNK_LINE,
                                ));
                            }
                            self.line.extend_from_slice(&rest[..n]);
                            i += n;
                            if !line_done {
                                continue;
                            }
                            let line = trim_eol(&self.line);
                            match *state {
                                Chunk::Size => {
                                    let size = parse_chunk_size(line)?;
                                    *state = if size == 0 {
                                        Chunk::Trailer
                                    } else {
                                        if response.body.len() as u64 + size > max_body as u64 {
                                            return Err(Self::capacity(
                                                "response body",
                                                usize::try_from(size)
                                                    .unwrap_or(usize::MAX)
                                                    .saturating_add(response.body.len()),
                                                max_body,
                                            ));
                                        }
                                        Chunk::Data(size)
                                    };
                                }
                                Chunk::DataEnd => {
                                    if !line.is_empty() {
                                        return Err(HttpError::BadChunk(
                                            "data longer than its size",
                                        ));
                                    }
                                    *state = Chunk::Size;
                                }
                                Chunk::Trailer => {
                                    self.trailer_bytes += self.line.len();
                                    if self.trailer_bytes > max_trailer {
                                        return Err(Self::capacity(
                                            "trailer",
                                            self.trailer_bytes,
                                            max_trailer,
                                        ));
                                    }
                                    if line.is_empty() {
                                        self.line.clear();
                                        break true;
                                    }
                                }
                                Chunk::Data(_) => {}
                            }
                            self.line.clear();
                        }
                    }
                }
            }
        };
        if done {
            let State::Body { response, .. } = std::mem::replace(&mut self.state, State::Head)
            else {
                return Ok((i, None));
            };
            return Ok((i, Some(response)));
        }
        Ok((i, None))
    }
}

enum HeadOutcome {
    Interim(u16),
    Complete(Response),
    Body,
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let l = line.strip_suffix(b"\n").unwrap_or(line);
    l.strip_suffix(b"\r").unwrap_or(l)
}

fn parse_chunk_size(line: &[u8]) -> Result<u64, HttpError> {
    let end = line
        .iter()
        .position(|&b| b == b';' || b == b' ' || b == b'\t')
        .unwrap_or(line.len());
    let digits = &line[..end];
    if digits.is_empty() || digits.len() > 15 {
        return Err(HttpError::BadChunk("chunk size"));
    }
    let mut v: u64 = 0;
    for &b in digits {
        let d = (b as char)
            .to_digit(16)
            .ok_or(HttpError::BadChunk("chunk size"))?;
        v = v << 4 | u64::from(d);
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parser() -> ResponseParser {
        ResponseParser::new(&HttpConfig::default())
    }

    fn all(p: &mut ResponseParser, mut input: &[u8]) -> Vec<ResponseEvent> {
        let mut out = Vec::new();
        while !input.is_empty() {
            let pr = p.feed(input).unwrap();
            input = &input[pr.consumed..];
            if let Some(e) = pr.event {
                out.push(e);
            } else {
                assert!(input.is_empty());
            }
        }
        out
    }

    #[test]
    fn content_length_and_typo() {
        let raw =
            b"HTTP/1.1 200 OK\r\nContent-Type: appliation/json\r\nContent-Length: 2\r\n\r\n{}NEXT";
        let mut p = parser();
        let pr = p.feed(raw).unwrap();
        assert_eq!(pr.consumed, raw.len() - 4);
        let Some(ResponseEvent::Complete(r)) = pr.event else {
            panic!()
        };
        assert_eq!(r.body, b"{}");
        assert_eq!(r.content_type(), Some("appliation/json"));
        assert!(r.keep_alive);
    }

    #[test]
    fn interim_then_final_chunked() {
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nWiki\r\n5\r\npedia\r\n0\r\nX-T: 1\r\n\r\n";
        let ev = all(&mut parser(), raw);
        assert_eq!(ev[0], ResponseEvent::Interim(100));
        let ResponseEvent::Complete(r) = &ev[1] else {
            panic!()
        };
        assert_eq!(r.body, b"Wikipedia");
        // Byte by byte gives the same.
        let mut p = parser();
        let mut got = Vec::new();
        for b in raw.iter() {
            let pr = p.feed(std::slice::from_ref(b)).unwrap();
            assert_eq!(pr.consumed, 1);
            got.extend(pr.event);
        }
        assert_eq!(got, ev);
    }

    #[test]
    fn until_close_and_truncation() {
        let mut p = parser();
        assert!(p
            .feed(b"HTTP/1.0 200 OK\r\n\r\nabc")
            .unwrap()
            .event
            .is_none());
        let r = p.finish().unwrap().unwrap();
        assert_eq!(r.body, b"abc");
        assert!(!r.keep_alive);
        let mut p = parser();
        let _ = p
            .feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
            .unwrap();
        assert_eq!(p.finish(), Err(HttpError::Truncated("body")));
    }

    #[test]
    fn bounds() {
        let cfg = HttpConfig {
            max_body_bytes: 8,
            max_head_bytes: 64,
            ..HttpConfig::default()
        };
        let mut p: ResponseParser = ResponseParser::new(&cfg);
        assert!(matches!(
            p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"),
            Err(HttpError::Capacity(_))
        ));
        let mut p: ResponseParser = ResponseParser::new(&cfg);
        assert!(matches!(p.feed(&[b'a'; 100]), Err(HttpError::Capacity(_))));
        let mut p: ResponseParser = ResponseParser::new(&cfg);
        assert!(matches!(
            p.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\n"),
            Err(HttpError::BadChunk(_))
        ));
        let mut p: ResponseParser<2> = ResponseParser::new(&HttpConfig::default());
        assert!(matches!(
            p.feed(b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"),
            Err(HttpError::TooManyHeaders { max: 2 })
        ));
        let mut p = parser();
        assert!(matches!(
            p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            Err(HttpError::BadHeader(_))
        ));
    }
}
