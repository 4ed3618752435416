//! Every bound and every timing in one place, with documented finite defaults.

use std::time::Duration;

/// Which reply dialect the printer speaks on port 8899.
///
/// The dialect only changes *fallbacks*: every parser accepts every shape of every family, and
/// a reply whose structure is known (an `ok` line, the last field of `~M115` / `~M119`, the
/// length-prefixed binary payloads) ends there whatever the pauses between its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Dialect {
    /// Adventurer 4, 5M, 5M Pro, AD5X: `CMD Mxxx Received.` … `ok`.
    #[default]
    Modern,
    /// Adventurer 3 firmware (tcp.md §3.1 Shape B): `~M115` / `~M119` without echo or `ok`
    /// (they end at their last field), acknowledgements without `ok` (they end after
    /// [`Config::quiet_fallback`]), motion commands without any reply.
    Adventurer3,
    /// Not known yet (before `~M115` named the model and no hint was given): every reply
    /// shape of both dialects is accepted, as for [`Dialect::Adventurer3`], except that motion
    /// commands still wait for a reply. Commands are encoded as for [`Dialect::Modern`].
    Unknown,
}

impl Dialect {
    /// Whether replies may lack their echo or `ok` (tcp.md §3.1 Shape B).
    pub fn tolerates_shape_b(self) -> bool {
        !matches!(self, Self::Modern)
    }
}

/// Limits and timings for the TCP [`crate::Session`] and its codecs.
///
/// All limits are finite; input beyond them is a [`crate::CapacityError`], never growth.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Longest text line accepted in a reply (default 4 KiB).
    pub max_line_len: usize,
    /// Most bytes of one text reply before its terminator (default 64 KiB).
    pub max_reply_bytes: usize,
    /// Most bytes of one binary reply, M661 file list or M662 thumbnail (default 8 MiB: a
    /// 65,536-file list of 100-byte names or a multi-megabyte thumbnail fits).
    pub max_binary_reply_bytes: usize,
    /// Most entries in an M661 file list (default 65,536).
    pub max_file_list_entries: u32,
    /// Longest path in an M661 file list (default 4,096 bytes).
    pub max_path_len: u32,
    /// Most commands queued behind the one in flight (default 16); beyond it `submit` returns
    /// [`crate::UsageError::QueueFull`].
    pub max_pending_commands: usize,
    /// Reply dialect (default [`Dialect::Modern`]).
    pub dialect: Dialect,
    /// Idle time before a keep-alive `~M27` (default 5 s; plus `keepalive_error_step` per recent error).
    pub keepalive_interval: Duration,
    /// Added to the keep-alive interval per recent keep-alive failure (default 1 s).
    pub keepalive_error_step: Duration,
    /// Whether to send keep-alives at all (default true).
    pub keepalive: bool,
    /// Reply deadline for most commands (default 5 s).
    pub reply_timeout: Duration,
    /// Reply deadline for `~M661`, `~M662`, `~M28` (default 10 s).
    pub long_reply_timeout: Duration,
    /// Reply deadline for `~G28` (default 15 s).
    pub home_timeout: Duration,
    /// Reply deadline of `~M29` after the last byte of a legacy upload (default 120 s: the
    /// printer may still be writing a large file to its storage, and slow Wi-Fi delays the
    /// last segments).
    pub upload_response_timeout: Duration,
    /// A write (an upload chunk, a command) that makes no progress for this long fails with
    /// [`crate::client::ClientError::Stalled`] and the connection is dropped: the printer stopped
    /// reading (default 30 s, as [`HttpConfig::upload_stall_timeout`]). Adapters enforce it.
    pub upload_stall_timeout: Duration,
    /// Shape B replies whose end cannot be recognised (an acknowledgement without `ok`, a raw
    /// command's lines) complete after this long without a byte (default 2.5 s: longer than a
    /// TCP retransmission, Linux's minimum RTO being 200 ms, and than the 2 s pause a busy
    /// printer was seen to make before an `Error:` line). Never applied to a reply whose
    /// structure is known, nor in [`Dialect::Modern`], where text replies end at `ok`.
    pub quiet_fallback: Duration,
    /// A binary payload without recognisable structure (the emulator's tag-less `~M661` text
    /// list, a thumbnail that is neither tagged nor PNG) completes after this long without a
    /// byte (default 1.5 s, the settle window the reference clients use).
    pub binary_quiet_fallback: Duration,
    /// Login attempts before giving up (default 4).
    pub login_attempts: u8,
    /// Back-off step between login attempts: attempt `n` waits `n × step` (default 0.5 s).
    pub login_backoff_step: Duration,
    /// First reconnect delay; doubles per failed attempt (default 0.5 s).
    pub reconnect_backoff: Duration,
    /// Cap on the reconnect delay (default 30 s).
    pub reconnect_backoff_max: Duration,
    /// Reconnect attempts before the session fails; `None` = forever (default `None`).
    pub max_reconnect_attempts: Option<u32>,
    /// Longest a [`crate::driver::TcpCalls`] call waits to be written, counted from its
    /// submission: connecting, every login attempt and the back-off between them together.
    /// A call still unsent then fails with `TimedOut`; once written, its reply deadline ends
    /// it. `None` (the default): three reply deadlines (3 × `reply_timeout`).
    pub call_wait_limit: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_line_len: 4 * 1024,
            max_reply_bytes: 64 * 1024,
            max_binary_reply_bytes: 8 * 1024 * 1024,
            max_file_list_entries: 65_536,
            max_path_len: 4096,
            max_pending_commands: 16,
            dialect: Dialect::Modern,
            keepalive_interval: Duration::from_secs(5),
            keepalive_error_step: Duration::from_secs(1),
            keepalive: true,
            reply_timeout: Duration::from_secs(5),
            long_reply_timeout: Duration::from_secs(10),
            home_timeout: Duration::from_secs(15),
            upload_response_timeout: Duration::from_secs(120),
            upload_stall_timeout: Duration::from_secs(30),
            quiet_fallback: Duration::from_millis(2500),
            binary_quiet_fallback: Duration::from_millis(1500),
            login_attempts: 4,
            login_backoff_step: Duration::from_millis(500),
            reconnect_backoff: Duration::from_millis(500),
            reconnect_backoff_max: Duration::from_secs(30),
            max_reconnect_attempts: None,
            call_wait_limit: None,
        }
    }
}

impl Config {
    /// The defaults for an Adventurer 3.
    pub fn adventurer3() -> Self {
        Self {
            dialect: Dialect::Adventurer3,
            ..Self::default()
        }
    }
}

/// Bounds and deadlines of the HTTP API (port 8898).
///
/// All limits are finite; a response beyond them is an [`crate::http::HttpError::Capacity`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpConfig {
    /// Most bytes of a response head (status line + headers; default 16 KiB).
    pub max_head_bytes: usize,
    /// Most response headers (default 32; also capped by the parser's header array).
    pub max_headers: usize,
    /// Most bytes of a response body (default 16 MiB: a `/gcodeThumb` of a few MB fits).
    pub max_body_bytes: usize,
    /// Deadline of a `/control`, `/product`, `/printGcode` request (default 5 s, as ts).
    pub command_timeout: Duration,
    /// Deadline of a `/detail`, `/gcodeList`, `/gcodeThumb` request (default 15 s, as py).
    pub read_timeout: Duration,
    /// How long an upload waits for `100 Continue` before sending the body anyway (default 1 s).
    pub continue_timeout: Duration,
    /// An upload fails if no progress is made for this long: the caller gives no chunk, or a
    /// write to the socket stays blocked because the printer stopped reading (adapters bound
    /// every write by it; the error is [`crate::client::ClientError::Stalled`]). Default 30 s:
    /// a Wi-Fi printer that is busy writing to its storage pauses its reads for seconds, never
    /// for half a minute.
    pub upload_stall_timeout: Duration,
    /// Deadline of the upload's final response after the last byte (default 120 s: the printer
    /// may unpack a `.3mf` or flush a large file to its storage first, and on slow Wi-Fi the
    /// last segments are still in flight when the client has written them).
    pub upload_response_timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_head_bytes: 16 * 1024,
            max_headers: 32,
            max_body_bytes: 16 * 1024 * 1024,
            command_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(15),
            continue_timeout: Duration::from_secs(1),
            upload_stall_timeout: Duration::from_secs(30),
            upload_response_timeout: Duration::from_secs(120),
        }
    }
}
