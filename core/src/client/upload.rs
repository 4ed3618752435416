//! Uploads: which [`UploadRoute`] a file takes to a printer, its [`UploadOptions`], the
//! progress adapters report and the check of the final HTTP reply.

use crate::http::{Body, JobFormat, JobOptions, UploadSpec};
use crate::Command;

use super::ops::{mappings_unsupported, options_unsupported, start_commands};
use super::step::check_body;
use super::{ClientError, ClientOptions, Target};

/// Upload progress: bytes of the file sent so far and the file size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadProgress {
    /// File bytes written to the socket.
    pub sent: u64,
    /// File size.
    pub total: u64,
}

/// How a file reaches the printer.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum UploadRoute {
    /// HTTP multipart `/uploadGcode` (starts the print itself when asked).
    Http(UploadSpec),
    /// Legacy `~M28`/`~M29` over TCP, then `start` (select and print) when asked.
    Tcp {
        /// Name on the printer.
        name: String,
        /// Exact size.
        size: u64,
        /// The commands that start the print afterwards (empty: just store it).
        start: Vec<Command>,
    },
}

/// Options of an upload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct UploadOptions {
    /// Start printing when the upload completes.
    pub start: bool,
    /// Job options (leveling, material mappings; HTTP printers only).
    pub job: JobOptions,
    /// Send `Expect: 100-continue` (HTTP; default off in [`Default`], on in the adapters).
    pub expect_continue: bool,
}

impl UploadOptions {
    /// Start printing when done.
    pub fn start(mut self, start: bool) -> Self {
        self.start = start;
        self
    }
    /// Level the bed before the print (HTTP printers).
    pub fn leveling(mut self, on: bool) -> Self {
        self.job.leveling = on;
        self
    }
    /// Job options.
    pub fn job(mut self, job: JobOptions) -> Self {
        self.job = job;
        self
    }
}

/// Which route an upload of `size` bytes named `name` takes on `target`. `seed` feeds the
/// multipart boundary (the caller's entropy; the core has none).
pub fn upload_route(
    target: &Target,
    name: &str,
    size: u64,
    options: &UploadOptions,
    seed: u64,
) -> Result<UploadRoute, ClientError> {
    let name = crate::gcode::bare_file_name(name);
    if target.http() {
        crate::http::check_file_name(name)?;
        let format = JobFormat::for_printer(target.model, &target.firmware);
        if !options.job.mappings.is_empty() && !format.carries_mappings() {
            return Err(mappings_unsupported(target.model));
        }
        Ok(UploadRoute::Http(UploadSpec {
            file_name: name.to_owned(),
            file_size: size,
            print_now: options.start,
            format,
            options: options.job.clone(),
            expect_continue: options.expect_continue,
            boundary_seed: seed,
        }))
    } else if target.tcp() {
        if options.job != JobOptions::default() {
            return Err(options_unsupported(&options.job, target.model));
        }
        // Validates the name for the line protocol.
        Command::upload_begin(name, size)?;
        Ok(UploadRoute::Tcp {
            name: name.to_owned(),
            size,
            start: if options.start {
                start_commands(name, target.dialect)
            } else {
                Vec::new()
            },
        })
    } else {
        Err(ClientError::Unsupported {
            operation: "upload",
            model: target.model,
        })
    }
}

impl ClientOptions {
    /// [`upload_route`] as a client takes it: these options' `expect_continue` folded into
    /// `options`, a fresh boundary seed, and the size of the chunks to read the file in.
    pub fn upload_route(
        &self,
        target: &Target,
        name: &str,
        size: u64,
        options: &UploadOptions,
    ) -> Result<(UploadRoute, usize), ClientError> {
        let mut options = options.clone();
        options.expect_continue |= self.expect_continue;
        let route = upload_route(target, name, size, &options, random_seed())?;
        Ok((route, self.upload_chunk_size.max(4096)))
    }
}

/// Entropy for a multipart boundary (std's per-process random hash keys; no clock).
pub fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(0);
    h.finish()
}

/// Check an upload's final HTTP reply.
pub fn finish_upload(body: Body) -> Result<(), ClientError> {
    check_body(body).map(drop)
}

/// The size of the file whose metadata (`std::fs::metadata`, symbolic links followed) is
/// `meta`, if it is a regular file: a directory, FIFO, device or socket is
/// [`UsageError::NotRegularFile`](crate::UsageError::NotRegularFile). An adapter's
/// `upload_file` reads the metadata before opening the file (opening a FIFO blocks until a
/// writer appears) and before anything is sent, and where it can again on the opened file
/// (the path may have been replaced in between). The core reads no file itself.
pub fn check_regular_file(
    path: &std::path::Path,
    meta: &std::fs::Metadata,
) -> Result<u64, ClientError> {
    let t = meta.file_type();
    if t.is_file() {
        return Ok(meta.len());
    }
    let kind = if t.is_dir() {
        "directory"
    } else {
        special_kind(&t)
    };
    Err(crate::UsageError::NotRegularFile {
        path: path.display().to_string(),
        kind,
    }
    .into())
}

#[cfg(unix)]
fn special_kind(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_fifo() {
        "FIFO"
    } else if t.is_block_device() || t.is_char_device() {
        "device"
    } else if t.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: &std::fs::FileType) -> &'static str {
    "special file"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The adapters' two steps: the metadata, then the check.
    fn regular_file_size(path: &std::path::Path) -> Result<u64, ClientError> {
        let meta = std::fs::metadata(path).map_err(ClientError::io)?;
        check_regular_file(path, &meta)
    }
    use crate::UsageError;

    #[test]
    fn only_regular_files_have_an_upload_size() {
        let dir = std::env::temp_dir().join(format!("ff-regular-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("a.gcode");
        std::fs::write(&file, b"G28\n").unwrap();
        assert_eq!(regular_file_size(&file), Ok(4));
        match regular_file_size(&dir) {
            Err(ClientError::Usage(UsageError::NotRegularFile { kind, path })) => {
                assert_eq!(kind, "directory");
                assert_eq!(path, dir.display().to_string());
            }
            other => panic!("{other:?}"),
        }
        #[cfg(unix)]
        {
            let fifo = dir.join("p.gcode");
            let made = std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .is_ok_and(|s| s.success());
            if made {
                // Never opened: this returns at once.
                assert!(matches!(
                    regular_file_size(&fifo),
                    Err(ClientError::Usage(UsageError::NotRegularFile {
                        kind: "FIFO",
                        ..
                    }))
                ));
            } else {
                eprintln!("mkfifo unavailable: the FIFO case is skipped");
            }
            if std::path::Path::new("/dev/null").exists() {
                assert!(matches!(
                    regular_file_size(std::path::Path::new("/dev/null")),
                    Err(ClientError::Usage(UsageError::NotRegularFile {
                        kind: "device",
                        ..
                    }))
                ));
            }
        }
        assert!(matches!(
            regular_file_size(&dir.join("missing")),
            Err(ClientError::Io(_))
        ));
        let e = ClientError::Stalled;
        assert_eq!(e.io_kind(), std::io::ErrorKind::TimedOut);
        assert!(e.is_connection_error());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
