//! `POST /uploadGcode`: a streaming multipart framer (http.md §9).
//!
//! The core writes the head and the multipart preamble, checks the caller's file chunks (count
//! and boundary collisions) without copying them, and writes the closing boundary. The file is
//! never held in memory.

use memchr::memmem;

use super::base64;
use super::job::{check_upload_name, mappings_json, JobOptions};
use super::request::{check_host, Credentials};
use crate::error::UsageError;
use crate::model::JobFormat;

/// Everything an upload needs besides the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSpec {
    /// Base name on the printer (`.gcode`, `.gx`, `.g`, `.3mf`).
    pub file_name: String,
    /// Exact file size in bytes (the `fileSize` header and the Content-Length).
    pub file_size: u64,
    /// Start printing when the upload completes.
    pub print_now: bool,
    /// Header set (from [`JobFormat::for_printer`]).
    pub format: JobFormat,
    /// Job options.
    pub options: JobOptions,
    /// Send `Expect: 100-continue` and wait for the interim reply before the body (default on,
    /// as the clients send the header).
    pub expect_continue: bool,
    /// Entropy for the multipart boundary (the caller's RNG; the core has none).
    pub boundary_seed: u64,
}

/// Framing state of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Body,
    Done,
}

/// A streaming `/uploadGcode` request.
///
/// ```
/// use flashforge_proto::http::{Credentials, JobFormat, JobOptions, Upload, UploadSpec};
///
/// let creds = Credentials::new("SN0001", "12345678")?;
/// let spec = UploadSpec {
///     file_name: "cube.gcode".into(),
///     file_size: 11,
///     print_now: false,
///     format: JobFormat::Generic,
///     options: JobOptions::default(),
///     expect_continue: false,
///     boundary_seed: 42,
/// };
/// let mut up = Upload::new(&spec, "127.0.0.1:8898", &creds)?;
/// let mut wire = Vec::new();
/// up.write_head(&mut wire);
/// up.write_preamble(&mut wire);
/// let file = b"G28\nM105\nG1\n";
/// up.check_chunk(&file[..4])?;
/// wire.extend_from_slice(&file[..4]);
/// up.check_chunk(&file[4..11])?;
/// wire.extend_from_slice(&file[4..11]);
/// up.write_epilogue(&mut wire)?;
/// assert_eq!(up.content_length() as usize, wire.len() - up.head_len());
/// # Ok::<(), flashforge_proto::UsageError>(())
/// ```
#[derive(Clone)]
pub struct Upload {
    head: Vec<u8>,
    preamble: Vec<u8>,
    boundary: String,
    /// `\r\n--boundary`: what must never appear in the body.
    delimiter: Vec<u8>,
    /// The last `delimiter.len() - 1` body bytes, to catch a delimiter split across chunks.
    tail: Vec<u8>,
    size: u64,
    sent: u64,
    phase: Phase,
    expect_continue: bool,
}

/// The head carries the check code: `Debug` shows lengths and progress only.
impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("head_len", &self.head.len())
            .field("preamble_len", &self.preamble.len())
            .field("size", &self.size)
            .field("sent", &self.sent)
            .field("phase", &self.phase)
            .field("expect_continue", &self.expect_continue)
            .finish_non_exhaustive()
    }
}

impl Upload {
    /// Validate the spec and build the head and preamble.
    pub fn new(spec: &UploadSpec, host: &str, creds: &Credentials) -> Result<Self, UsageError> {
        check_host(host)?;
        check_upload_name(&spec.file_name)?;
        spec.options.check(spec.format)?;
        let boundary = format!(
            "----flashforge-rs-{:016x}{:016x}",
            spec.boundary_seed,
            spec.boundary_seed.rotate_left(29) ^ 0x9E37_79B9_7F4A_7C15 ^ spec.file_size
        );
        let mut preamble = Vec::with_capacity(200);
        preamble.extend_from_slice(b"--");
        preamble.extend_from_slice(boundary.as_bytes());
        preamble.extend_from_slice(
            b"\r\nContent-Disposition: form-data; name=\"gcodeFile\"; filename=\"",
        );
        preamble.extend_from_slice(spec.file_name.as_bytes());
        preamble.extend_from_slice(b"\"\r\nContent-Type: application/octet-stream\r\n\r\n");
        let epilogue_len = 2 + 2 + boundary.len() + 4;
        let content_length = preamble.len() as u64 + spec.file_size + epilogue_len as u64;

        let mut head = Vec::with_capacity(700);
        let mut h = |k: &str, v: &str| {
            head.extend_from_slice(k.as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(v.as_bytes());
            head.extend_from_slice(b"\r\n");
        };
        let tf = |b: bool| if b { "true" } else { "false" };
        let o = &spec.options;
        let n = o.mappings.len();
        h("Host", host);
        h("serialNumber", creds.serial());
        h("checkCode", creds.expose_check_code());
        h("fileSize", &spec.file_size.to_string());
        h("printNow", tf(spec.print_now));
        h("levelingBeforePrint", tf(o.leveling));
        match spec.format {
            JobFormat::Legacy => {}
            JobFormat::Generic => {
                h("flowCalibration", tf(o.flow_calibration));
                h("useMatlStation", "false");
                h("gcodeToolCnt", "0");
                h("materialMappings", "W10=");
            }
            JobFormat::Ad5x => {
                h("flowCalibration", tf(o.flow_calibration));
                h("firstLayerInspection", tf(o.first_layer_inspection));
                h("timeLapseVideo", tf(o.time_lapse));
                h("useMatlStation", tf(n > 0));
                h("gcodeToolCnt", &n.to_string());
                h(
                    "materialMappings",
                    &base64::encode(&mappings_json(&o.mappings)),
                );
            }
            JobFormat::Creator5 => {
                h("flowCalibration", tf(o.flow_calibration));
                h("timeLapseVideo", tf(o.time_lapse));
                h("useMatlStation", tf(n > 0));
                h("gcodeToolCnt", &n.max(1).to_string());
            }
        }
        if spec.expect_continue {
            h("Expect", "100-continue");
        }
        h(
            "Content-Type",
            &format!("multipart/form-data; boundary={boundary}"),
        );
        h("Content-Length", &content_length.to_string());
        h("Accept", "*/*");
        let mut full = b"POST /uploadGcode HTTP/1.1\r\n".to_vec();
        full.extend_from_slice(&head);
        full.extend_from_slice(b"\r\n");

        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        Ok(Self {
            head: full,
            preamble,
            boundary,
            delimiter,
            // The preamble ends in CRLF: a file starting with `--boundary` would close the part.
            tail: b"\r\n".to_vec(),
            size: spec.file_size,
            sent: 0,
            phase: Phase::Body,
            expect_continue: spec.expect_continue,
        })
    }

    /// The request line and headers (ends with the blank line).
    pub fn write_head(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.head);
    }

    /// Length of [`Upload::write_head`]'s output.
    pub fn head_len(&self) -> usize {
        self.head.len()
    }

    /// Whether the head carries `Expect: 100-continue`.
    pub fn expects_continue(&self) -> bool {
        self.expect_continue
    }

    /// The multipart boundary.
    pub fn boundary(&self) -> &str {
        &self.boundary
    }

    /// The multipart part header, written before the first file byte.
    pub fn write_preamble(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.preamble);
    }

    /// The body length announced in `Content-Length`.
    pub fn content_length(&self) -> u64 {
        self.preamble.len() as u64 + self.size + self.delimiter.len() as u64 + 4
    }

    /// File bytes still expected.
    pub fn remaining(&self) -> u64 {
        self.size - self.sent
    }

    /// File bytes accepted so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Account for the next chunk of the file, which the caller then writes to the socket as is.
    ///
    /// Errors: more bytes than announced ([`UsageError::UploadOverrun`]), or the chunk (with the
    /// end of the previous one) contains the multipart delimiter ([`UsageError::BoundaryInBody`];
    /// abort the connection, the printer would cut the file there).
    pub fn check_chunk(&mut self, chunk: &[u8]) -> Result<(), UsageError> {
        if self.phase != Phase::Body {
            return Err(UsageError::Upload("upload already finished"));
        }
        let n = chunk.len() as u64;
        if n > self.remaining() {
            return Err(UsageError::UploadOverrun {
                excess: n - self.remaining(),
            });
        }
        let d = self.delimiter.len();
        // Join the carried tail with the head of this chunk to catch a split delimiter.
        if !self.tail.is_empty() {
            let take = chunk.len().min(d - 1);
            let mut joint = std::mem::take(&mut self.tail);
            joint.extend_from_slice(&chunk[..take]);
            if memmem::find(&joint, &self.delimiter).is_some() {
                return Err(UsageError::BoundaryInBody);
            }
            // Keep the tail for the next chunk when this one is shorter than the delimiter.
            if chunk.len() < d - 1 {
                let keep = joint.len().min(d - 1);
                self.tail = joint[joint.len() - keep..].to_vec();
                self.sent += n;
                return Ok(());
            }
            joint.clear();
            self.tail = joint;
        }
        if memmem::find(chunk, &self.delimiter).is_some() {
            return Err(UsageError::BoundaryInBody);
        }
        let keep = chunk.len().min(d - 1);
        self.tail.clear();
        self.tail.extend_from_slice(&chunk[chunk.len() - keep..]);
        self.sent += n;
        Ok(())
    }

    /// The closing delimiter; an error if fewer bytes than announced were given.
    pub fn write_epilogue(&mut self, out: &mut Vec<u8>) -> Result<(), UsageError> {
        if self.phase != Phase::Body {
            return Err(UsageError::Upload("upload already finished"));
        }
        if self.remaining() > 0 {
            return Err(UsageError::UploadUnderrun {
                missing: self.remaining(),
            });
        }
        self.phase = Phase::Done;
        self.tail = Vec::new();
        out.extend_from_slice(&self.delimiter);
        out.extend_from_slice(b"--\r\n");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(size: u64) -> UploadSpec {
        UploadSpec {
            file_name: "a.gcode".into(),
            file_size: size,
            print_now: true,
            format: JobFormat::Legacy,
            options: JobOptions::default(),
            expect_continue: true,
            boundary_seed: 7,
        }
    }

    fn creds() -> Credentials {
        Credentials::new("SN", "CODE1234").unwrap()
    }

    #[test]
    fn names_are_checked() {
        for bad in ["", "a\r\nb", "a\"b", "dir/a.gcode", "a\\b", "a\u{7}"] {
            let mut s = spec(1);
            s.file_name = bad.into();
            assert!(Upload::new(&s, "h", &creds()).is_err(), "{bad:?}");
        }
        assert!(Upload::new(&spec(1), "h\r\nX: y", &creds()).is_err());
    }

    #[test]
    fn overrun_underrun_and_boundary() {
        let mut up = Upload::new(&spec(10), "h", &creds()).unwrap();
        up.check_chunk(b"12345").unwrap();
        assert_eq!(
            up.check_chunk(b"123456"),
            Err(UsageError::UploadOverrun { excess: 1 })
        );
        let mut out = Vec::new();
        assert_eq!(
            up.write_epilogue(&mut out),
            Err(UsageError::UploadUnderrun { missing: 5 })
        );

        // The delimiter split over three chunks is still found.
        let mut up = Upload::new(&spec(200), "h", &creds()).unwrap();
        let mut delim = b"\r\n--".to_vec();
        delim.extend_from_slice(up.boundary().as_bytes());
        up.check_chunk(b"xx").unwrap();
        up.check_chunk(&delim[..3]).unwrap();
        up.check_chunk(&delim[3..10]).unwrap();
        assert_eq!(
            up.check_chunk(&delim[10..]),
            Err(UsageError::BoundaryInBody)
        );

        // A file that starts with `--boundary` meets the preamble's CRLF.
        let mut up = Upload::new(&spec(200), "h", &creds()).unwrap();
        assert_eq!(up.check_chunk(&delim[2..]), Err(UsageError::BoundaryInBody));
    }
}
