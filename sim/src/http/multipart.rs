//! The `multipart/form-data` receiver of `/uploadGcode`: the part's headers give the file
//! name, the part's bytes stream into a [`FileSink`] (hash + bounded copy) until the closing
//! boundary, so a multi-GB upload costs no memory.

use memchr::memmem;

use crate::files::FileSink;

/// Longest part-header block.
const MAX_PART_HEAD: usize = 8192;
/// Longest boundary accepted from `Content-Type`.
const MAX_BOUNDARY: usize = 200;

/// One file part being received.
#[derive(Debug)]
pub(super) struct Multipart {
    /// `\r\n--boundary`: what ends the file's bytes.
    marker: Vec<u8>,
    phase: Phase,
    head: Vec<u8>,
    tail: Vec<u8>,
    sink: Option<FileSink>,
    keep: u64,
}

#[derive(Debug, PartialEq, Eq)]
enum Phase {
    Headers,
    Data,
    Done,
    Broken,
}

impl Multipart {
    /// The boundary of a `multipart/form-data; boundary=...` content type.
    pub(super) fn boundary(content_type: &str) -> Option<String> {
        content_type
            .split(';')
            .map(str::trim)
            .find_map(|part| part.strip_prefix("boundary="))
            .map(|b| b.trim_matches('"').to_owned())
            .filter(|b| !b.is_empty() && b.len() <= MAX_BOUNDARY)
    }

    /// A receiver for a body delimited by `boundary`, keeping up to `keep` bytes of the file.
    pub(super) fn new(boundary: &str, keep: u64) -> Self {
        Self {
            marker: format!("\r\n--{boundary}").into_bytes(),
            phase: Phase::Headers,
            head: Vec::new(),
            tail: Vec::new(),
            sink: None,
            keep,
        }
    }

    /// More body bytes.
    pub(super) fn feed(&mut self, data: &[u8]) {
        match self.phase {
            Phase::Headers => {
                self.head.extend_from_slice(data);
                let Some(end) = memmem::find(&self.head, b"\r\n\r\n") else {
                    if self.head.len() > MAX_PART_HEAD {
                        self.phase = Phase::Broken;
                    }
                    return;
                };
                let head = String::from_utf8_lossy(&self.head[..end]).into_owned();
                let rest = self.head.split_off(end + 4);
                let opening = &self.marker[2..];
                let name = head
                    .strip_prefix(std::str::from_utf8(opening).unwrap_or(""))
                    .and_then(|h| {
                        h.lines()
                            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))
                            .and_then(|l| l.split("filename=\"").nth(1))
                            .and_then(|f| f.split('"').next())
                            .map(str::to_owned)
                    });
                match name.filter(|n| !n.is_empty() && !n.contains('/')) {
                    Some(n) => {
                        self.sink = Some(FileSink::new(&n, self.keep));
                        self.phase = Phase::Data;
                        self.head.clear();
                        self.feed(&rest);
                    }
                    None => self.phase = Phase::Broken,
                }
            }
            Phase::Data => {
                self.tail.extend_from_slice(data);
                let Some(sink) = self.sink.as_mut() else {
                    return;
                };
                if let Some(i) = memmem::find(&self.tail, &self.marker) {
                    sink.write(&self.tail[..i]);
                    self.tail.clear();
                    self.phase = Phase::Done;
                } else {
                    let keep = self.marker.len() - 1;
                    if self.tail.len() > keep {
                        let cut = self.tail.len() - keep;
                        sink.write(&self.tail[..cut]);
                        self.tail.drain(..cut);
                    }
                }
            }
            Phase::Done | Phase::Broken => {}
        }
    }

    /// The received file, when the part was well formed and its closing boundary came.
    pub(super) fn finish(self) -> Option<FileSink> {
        match (self.phase, self.sink) {
            (Phase::Done, Some(sink)) => Some(sink),
            _ => None,
        }
    }
}
