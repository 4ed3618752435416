//! Fault injection: rules a test (or the control API) adds to make replies misbehave.
//!
//! A [`FaultRule`] says what goes wrong ([`Fault`]), how often ([`Times`]: once, `n` times or
//! until removed) and, optionally, for which request only (an HTTP path such as `/detail`, or
//! a TCP command word such as `~M105`). Rules are kept per printer in [`Faults`]; each reply
//! takes the first matching rule with a count left (counted rules before unlimited ones, in
//! the order they were added), and only a matching reply uses up a rule's count. So "the next
//! `/detail` fails, everything else works" is `http-busy:once@/detail`.
//!
//! The older switches ([`Faults::push_tcp`], [`Faults::sticky_http`], ...) are thin wrappers:
//! `push` adds a `Once` rule for any request, `sticky` an unscoped `UntilCleared` one.
//!
//! ```
//! use flashforge_sim::{FaultRule, Faults, HttpFault};
//!
//! let faults = Faults::default();
//! let rule: FaultRule = "http-busy:once@/detail".parse().unwrap();
//! assert_eq!(rule.to_string(), "http-busy:once@/detail");
//! faults.inject(rule);
//! assert_eq!(faults.next_http_for("/product"), None); // another path: untouched
//! assert_eq!(faults.next_http_for("/detail"), Some(HttpFault::Refuse(5)));
//! assert_eq!(faults.next_http_for("/detail"), None); // once only
//! ```

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{json, Value};

/// A misbehaviour of one TCP reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpFault {
    /// Send the first half of the reply, then close the connection.
    CloseMidReply,
    /// Close the connection without replying.
    Close,
    /// Never answer; keep the connection open.
    Stall,
    /// Send the reply one byte at a time with this pause between bytes.
    Drip(Duration),
    /// Send random bytes instead of the reply.
    Garbage,
    /// Send a 1 MiB line with no terminator instead of the reply.
    Oversize,
    /// Send unsolicited lines before the reply.
    Unsolicited,
    /// Append an extra `ok` line after the reply.
    ExtraOk,
    /// Send the first `n` bytes of the reply, pause, then send the rest (a TCP
    /// retransmission, a busy printer): the reply is whole, only late.
    PauseAfter(usize, Duration),
    /// The next legacy upload: stop reading after `n` bytes of its file (`~M28` accepted), the
    /// socket kept open, until [`Faults::clear`] (or 2 minutes), so the client's writes block
    /// once the kernel buffers are full. Not a reply fault: [`Faults::push_tcp`] arms it for
    /// the next upload whatever replies come first.
    StallUpload(usize),
}

/// A misbehaviour of one HTTP response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpFault {
    /// Answer with this HTTP status (and the normal body).
    Status(u16),
    /// Declare the full Content-Length, send half, close.
    TruncatedBody,
    /// An HTML body instead of JSON.
    NonJson,
    /// Every `/detail` value replaced by one of the wrong type, `code` a string.
    WrongTypes,
    /// Never answer.
    Stall,
    /// Close without answering.
    Close,
    /// Answer normally (kept alive, as far as the headers say), then close the connection:
    /// what a printer's idle timeout does to a kept-alive connection between two requests.
    CloseAfter,
    /// Send the response one byte at a time with this pause.
    Drip(Duration),
    /// Do not send `100 Continue` to an upload that asks for it.
    NoContinue,
    /// Refuse with this envelope code and no payload (`-2`: LAN-only mode off on a
    /// Creator 5; `3`: unauthorized; `5`: busy).
    Refuse(i64),
    /// The next upload: stop reading its body after `n` bytes, the socket kept open, until
    /// [`Faults::clear`] (or 2 minutes), so the client's writes block once the kernel buffers
    /// are full. Armed for the next upload (kept apart from the response queue).
    StallUpload(usize),
    /// The next upload is answered `{"code":0,"message":"Success"}` as soon as its head
    /// arrives, before any body byte (no `100 Continue`), and the connection closed.
    EarlySuccess,
}

/// Any fault a rule can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A TCP reply fault (or an armed legacy-upload stall).
    Tcp(TcpFault),
    /// An HTTP response fault (or an upload fault: no continue, stall, early success).
    Http(HttpFault),
    /// Discovery probes go unanswered.
    UdpDrop,
}

/// How many matching replies a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Times {
    /// The next matching reply only.
    Once,
    /// The next `n` matching replies.
    Count(u32),
    /// Every matching reply until the rule is removed or the faults cleared.
    UntilCleared,
}

impl Times {
    fn remaining(self) -> Option<u32> {
        match self {
            Self::Once => Some(1),
            Self::Count(n) => Some(n),
            Self::UntilCleared => None,
        }
    }
}

/// What goes wrong, how often, and for which request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    /// The misbehaviour.
    pub fault: Fault,
    /// How often.
    pub times: Times,
    /// Only requests to this HTTP path (`/detail`) or with this TCP command word (`~M105`;
    /// `M105` matches too). `None`: every request.
    pub only: Option<String>,
}

impl FaultRule {
    /// A rule for every request, until cleared.
    pub fn always(fault: Fault) -> Self {
        Self {
            fault,
            times: Times::UntilCleared,
            only: None,
        }
    }

    /// A rule for the next request only.
    pub fn once(fault: Fault) -> Self {
        Self {
            fault,
            times: Times::Once,
            only: None,
        }
    }

    /// The same rule for requests matching `only` only.
    pub fn only(mut self, only: impl Into<String>) -> Self {
        self.only = Some(only.into());
        self
    }

    /// The rule as the control API's JSON: `{"rule","fault","times","only"}`.
    pub fn to_json(&self) -> Value {
        json!({
            "rule": self.to_string(),
            "fault": fault_name(self.fault),
            "times": times_name(self.times),
            "only": self.only,
        })
    }

    /// A rule from the control API's JSON: `{"rule":"http-busy:once@/detail"}` or
    /// `{"fault":"http-busy","times":"once"|3|"always","only":"/detail"}`.
    pub fn from_json(v: &Value) -> Result<Self, FaultParseError> {
        if let Some(rule) = v.get("rule") {
            return rule
                .as_str()
                .ok_or(FaultParseError::Json("`rule` must be a string"))?
                .parse();
        }
        let fault = v
            .get("fault")
            .and_then(Value::as_str)
            .ok_or(FaultParseError::Json(
                "`fault` (a string) or `rule` is needed",
            ))?;
        let fault = parse_kind(fault)?;
        let times = match v.get("times") {
            None | Some(Value::Null) => Times::UntilCleared,
            Some(Value::String(s)) => parse_times(s)?,
            Some(Value::Number(n)) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) => Times::Count(n),
                None => return Err(FaultParseError::Times(n.to_string())),
            },
            Some(_) => {
                return Err(FaultParseError::Json(
                    "`times` must be a string or a number",
                ))
            }
        };
        let only = match v.get("only") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(_) => return Err(FaultParseError::Json("`only` must be a non-empty string")),
        };
        Ok(Self { fault, times, only })
    }

    /// Does the rule apply to a request with this path or command word?
    fn matches(&self, request: Option<&str>) -> bool {
        match (&self.only, request) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(only), Some(req)) => {
                let strip = |s: &str| {
                    let s = s.split_whitespace().next().unwrap_or_default();
                    let s = s.split('?').next().unwrap_or_default();
                    s.trim_start_matches('~').to_ascii_uppercase()
                };
                if only.starts_with('/') {
                    only == req.split('?').next().unwrap_or_default()
                } else {
                    strip(only) == strip(req)
                }
            }
        }
    }
}

/// Why a fault rule did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultParseError {
    /// An unknown fault kind.
    Kind(String),
    /// A bad count (`once`, a number, or `always`).
    Times(String),
    /// An empty scope after `@`.
    Scope,
    /// A JSON rule of the wrong shape.
    Json(&'static str),
}

/// The fault kinds [`FaultRule`] parses (`N`, `MS`: numbers).
pub const FAULT_KINDS: &[&str] = &[
    "tcp-close-mid-reply",
    "tcp-close",
    "tcp-stall",
    "tcp-drip",
    "tcp-drip-MS",
    "tcp-garbage",
    "tcp-oversize",
    "tcp-unsolicited",
    "tcp-extra-ok",
    "tcp-pause-after-N-MS",
    "tcp-stall-upload-N",
    "http-500",
    "http-401",
    "http-403",
    "http-status-NNN",
    "http-truncated",
    "http-non-json",
    "http-wrong-types",
    "http-stall",
    "http-close",
    "http-close-after",
    "http-drip",
    "http-drip-MS",
    "http-lan-mode-off",
    "http-busy",
    "http-refuse-N",
    "http-no-continue",
    "http-early-success",
    "http-stall-upload-N",
    "udp-drop",
];

impl fmt::Display for FaultParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Kind(k) => write!(
                f,
                "unknown fault `{k}` (kinds: {}; rule: KIND[:once|N|always][@/path|@~MCODE])",
                FAULT_KINDS.join(", ")
            ),
            Self::Times(t) => write!(f, "bad count `{t}`: once, a number, or always"),
            Self::Scope => f.write_str("empty scope after `@`: an HTTP path or a TCP command"),
            Self::Json(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for FaultParseError {}

const DRIP: Duration = Duration::from_millis(2);

fn parse_times(s: &str) -> Result<Times, FaultParseError> {
    match s {
        "once" => Ok(Times::Once),
        "always" => Ok(Times::UntilCleared),
        n => n
            .parse()
            .map(Times::Count)
            .map_err(|_| FaultParseError::Times(n.to_owned())),
    }
}

fn times_name(t: Times) -> String {
    match t {
        Times::Once => "once".to_owned(),
        Times::Count(n) => n.to_string(),
        Times::UntilCleared => "always".to_owned(),
    }
}

fn parse_kind(s: &str) -> Result<Fault, FaultParseError> {
    use Fault::{Http, Tcp};
    let bad = || FaultParseError::Kind(s.to_owned());
    let num = |t: &str| t.parse::<u64>().map_err(|_| bad());
    Ok(match s {
        "tcp-close-mid-reply" => Tcp(TcpFault::CloseMidReply),
        "tcp-close" => Tcp(TcpFault::Close),
        "tcp-stall" => Tcp(TcpFault::Stall),
        "tcp-drip" => Tcp(TcpFault::Drip(DRIP)),
        "tcp-garbage" => Tcp(TcpFault::Garbage),
        "tcp-oversize" => Tcp(TcpFault::Oversize),
        "tcp-unsolicited" => Tcp(TcpFault::Unsolicited),
        "tcp-extra-ok" => Tcp(TcpFault::ExtraOk),
        "http-500" => Http(HttpFault::Status(500)),
        "http-401" => Http(HttpFault::Status(401)),
        "http-403" => Http(HttpFault::Status(403)),
        "http-truncated" => Http(HttpFault::TruncatedBody),
        "http-non-json" => Http(HttpFault::NonJson),
        "http-wrong-types" => Http(HttpFault::WrongTypes),
        "http-stall" => Http(HttpFault::Stall),
        "http-close" => Http(HttpFault::Close),
        "http-close-after" => Http(HttpFault::CloseAfter),
        "http-drip" => Http(HttpFault::Drip(DRIP)),
        "http-lan-mode-off" => Http(HttpFault::Refuse(-2)),
        "http-busy" => Http(HttpFault::Refuse(5)),
        "http-no-continue" => Http(HttpFault::NoContinue),
        "http-early-success" => Http(HttpFault::EarlySuccess),
        "udp-drop" => Fault::UdpDrop,
        _ => {
            if let Some(n) = s.strip_prefix("http-status-") {
                let n = num(n)?;
                if !(100..=999).contains(&n) {
                    return Err(bad());
                }
                Http(HttpFault::Status(n as u16))
            } else if let Some(n) = s.strip_prefix("http-refuse-") {
                Http(HttpFault::Refuse(n.parse().map_err(|_| bad())?))
            } else if let Some(n) = s.strip_prefix("tcp-stall-upload-") {
                Tcp(TcpFault::StallUpload(num(n)? as usize))
            } else if let Some(n) = s.strip_prefix("http-stall-upload-") {
                Http(HttpFault::StallUpload(num(n)? as usize))
            } else if let Some(ms) = s.strip_prefix("tcp-drip-") {
                Tcp(TcpFault::Drip(Duration::from_millis(num(ms)?)))
            } else if let Some(ms) = s.strip_prefix("http-drip-") {
                Http(HttpFault::Drip(Duration::from_millis(num(ms)?)))
            } else if let Some(rest) = s.strip_prefix("tcp-pause-after-") {
                let (n, ms) = rest.split_once('-').ok_or_else(bad)?;
                Tcp(TcpFault::PauseAfter(
                    num(n)? as usize,
                    Duration::from_millis(num(ms)?),
                ))
            } else {
                return Err(bad());
            }
        }
    })
}

/// The grammar's name of a fault (`http-busy`, `tcp-pause-after-10-500`, ...).
pub fn fault_name(f: Fault) -> String {
    let ms = |d: Duration| d.as_millis();
    match f {
        Fault::UdpDrop => "udp-drop".to_owned(),
        Fault::Tcp(t) => match t {
            TcpFault::CloseMidReply => "tcp-close-mid-reply".to_owned(),
            TcpFault::Close => "tcp-close".to_owned(),
            TcpFault::Stall => "tcp-stall".to_owned(),
            TcpFault::Drip(d) if d == DRIP => "tcp-drip".to_owned(),
            TcpFault::Drip(d) => format!("tcp-drip-{}", ms(d)),
            TcpFault::Garbage => "tcp-garbage".to_owned(),
            TcpFault::Oversize => "tcp-oversize".to_owned(),
            TcpFault::Unsolicited => "tcp-unsolicited".to_owned(),
            TcpFault::ExtraOk => "tcp-extra-ok".to_owned(),
            TcpFault::PauseAfter(n, d) => format!("tcp-pause-after-{n}-{}", ms(d)),
            TcpFault::StallUpload(n) => format!("tcp-stall-upload-{n}"),
        },
        Fault::Http(h) => match h {
            HttpFault::Status(c @ (500 | 401 | 403)) => format!("http-{c}"),
            HttpFault::Status(c) => format!("http-status-{c}"),
            HttpFault::TruncatedBody => "http-truncated".to_owned(),
            HttpFault::NonJson => "http-non-json".to_owned(),
            HttpFault::WrongTypes => "http-wrong-types".to_owned(),
            HttpFault::Stall => "http-stall".to_owned(),
            HttpFault::Close => "http-close".to_owned(),
            HttpFault::CloseAfter => "http-close-after".to_owned(),
            HttpFault::Drip(d) if d == DRIP => "http-drip".to_owned(),
            HttpFault::Drip(d) => format!("http-drip-{}", ms(d)),
            HttpFault::NoContinue => "http-no-continue".to_owned(),
            HttpFault::Refuse(-2) => "http-lan-mode-off".to_owned(),
            HttpFault::Refuse(5) => "http-busy".to_owned(),
            HttpFault::Refuse(c) => format!("http-refuse-{c}"),
            HttpFault::StallUpload(n) => format!("http-stall-upload-{n}"),
            HttpFault::EarlySuccess => "http-early-success".to_owned(),
        },
    }
}

impl FromStr for FaultRule {
    type Err = FaultParseError;

    /// `KIND[:TIMES][@SCOPE]`: `http-busy`, `http-busy:once@/detail`, `tcp-stall:3@~M105`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (rest, only) = match s.split_once('@') {
            Some((_, "")) => return Err(FaultParseError::Scope),
            Some((r, scope)) => (r, Some(scope.to_owned())),
            None => (s, None),
        };
        let (kind, times) = match rest.split_once(':') {
            Some((k, t)) => (k, parse_times(t)?),
            None => (rest, Times::UntilCleared),
        };
        Ok(Self {
            fault: parse_kind(kind)?,
            times,
            only,
        })
    }
}

impl fmt::Display for FaultRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&fault_name(self.fault))?;
        if self.times != Times::UntilCleared {
            write!(f, ":{}", times_name(self.times))?;
        }
        if let Some(only) = &self.only {
            write!(f, "@{only}")?;
        }
        Ok(())
    }
}

/// A rule in force: its id, the rule, and how many matching replies it still applies to
/// (`None`: until cleared).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveRule {
    /// The id [`Faults::inject`] returned.
    pub id: u64,
    /// The rule.
    pub rule: FaultRule,
    /// Replies left (`None`: unlimited).
    pub remaining: Option<u32>,
}

impl ActiveRule {
    /// `{"id","rule","fault","times","only","remaining"}`.
    pub fn to_json(&self) -> Value {
        let mut v = self.rule.to_json();
        v["id"] = json!(self.id);
        v["remaining"] = json!(self.remaining);
        v
    }
}

#[derive(Debug, Default)]
struct Inner {
    rules: Vec<ActiveRule>,
    next_id: u64,
    /// A connection is holding its reads (a stalled upload) until this is cleared.
    holding: bool,
    /// Connections closed by an `http-close-after` fault, their close done.
    closed_after: u64,
}

impl Inner {
    /// Takes one use of the first rule whose fault `pick` accepts and that matches `request`:
    /// counted rules first (oldest first), then unlimited ones.
    fn take<T>(&mut self, request: Option<&str>, pick: impl Fn(Fault) -> Option<T>) -> Option<T> {
        let ok = |r: &ActiveRule| pick(r.rule.fault).is_some() && r.rule.matches(request);
        let i = self
            .rules
            .iter()
            .position(|r| r.remaining.is_some() && ok(r))
            .or_else(|| self.rules.iter().position(ok))?;
        let out = pick(self.rules[i].rule.fault);
        if let Some(n) = self.rules[i].remaining.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.rules.remove(i);
            }
        }
        out
    }
}

fn reply_tcp(f: Fault) -> Option<TcpFault> {
    match f {
        Fault::Tcp(TcpFault::StallUpload(_)) => None,
        Fault::Tcp(t) => Some(t),
        _ => None,
    }
}

fn reply_http(f: Fault) -> Option<HttpFault> {
    match f {
        Fault::Http(
            HttpFault::NoContinue | HttpFault::StallUpload(_) | HttpFault::EarlySuccess,
        ) => None,
        Fault::Http(h) => Some(h),
        _ => None,
    }
}

/// Shared fault rules of one printer (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<Inner>>);

impl Faults {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a rule; returns its id (for [`Faults::remove`]). A `Count(0)` rule is a no-op.
    pub fn inject(&self, rule: FaultRule) -> u64 {
        let mut g = self.lock();
        g.next_id += 1;
        let id = g.next_id;
        let remaining = rule.times.remaining();
        if remaining != Some(0) {
            g.rules.push(ActiveRule {
                id,
                rule,
                remaining,
            });
        }
        id
    }

    /// Removes one rule; false when no rule has that id (or it is used up).
    pub fn remove(&self, id: u64) -> bool {
        let mut g = self.lock();
        let before = g.rules.len();
        g.rules.retain(|r| r.id != id);
        g.rules.len() != before
    }

    /// The rules in force, oldest first.
    pub fn rules(&self) -> Vec<ActiveRule> {
        self.lock().rules.clone()
    }

    /// The next TCP reply misbehaves (`StallUpload`: the next legacy upload stalls).
    pub fn push_tcp(&self, f: TcpFault) {
        self.inject(FaultRule::once(Fault::Tcp(f)));
    }

    /// The next HTTP response misbehaves (`NoContinue`: the next upload gets no
    /// `100 Continue`).
    pub fn push_http(&self, f: HttpFault) {
        self.inject(FaultRule::once(Fault::Http(f)));
    }

    fn replace_sticky(&self, same: impl Fn(Fault) -> bool, f: Fault) {
        let mut g = self.lock();
        g.rules
            .retain(|r| !(r.remaining.is_none() && r.rule.only.is_none() && same(r.rule.fault)));
        drop(g);
        self.inject(FaultRule::always(f));
    }

    /// Every TCP reply misbehaves until [`Faults::clear`] (replaces an earlier sticky one).
    pub fn sticky_tcp(&self, f: TcpFault) {
        self.replace_sticky(|x| reply_tcp(x).is_some(), Fault::Tcp(f));
    }

    /// Every HTTP response misbehaves until [`Faults::clear`] (replaces an earlier sticky
    /// one).
    pub fn sticky_http(&self, f: HttpFault) {
        self.replace_sticky(|x| matches!(x, Fault::Http(_)), Fault::Http(f));
    }

    /// Discovery probes go unanswered (`true`) or are answered again (`false`).
    pub fn drop_udp(&self, on: bool) {
        let mut g = self.lock();
        g.rules.retain(|r| r.rule.fault != Fault::UdpDrop);
        drop(g);
        if on {
            self.inject(FaultRule::always(Fault::UdpDrop));
        }
    }

    /// How many connections an [`HttpFault::CloseAfter`] has closed so far (counted once the
    /// socket is shut down): a test waits on this instead of sleeping for the close to land.
    pub fn closed_after(&self) -> u64 {
        self.lock().closed_after
    }

    pub(crate) fn note_closed_after(&self) {
        self.lock().closed_after += 1;
    }

    /// Removes every rule and releases held reads.
    pub fn clear(&self) {
        let mut g = self.lock();
        g.rules.clear();
        g.holding = false;
    }

    /// The fault for the next TCP reply, whatever its command.
    pub fn next_tcp(&self) -> Option<TcpFault> {
        self.lock().take(None, reply_tcp)
    }

    /// The fault for the next TCP reply to `command` (its line or command word).
    pub fn next_tcp_for(&self, command: &str) -> Option<TcpFault> {
        self.lock().take(Some(command), reply_tcp)
    }

    /// The fault for the next HTTP response, whatever its path.
    pub fn next_http(&self) -> Option<HttpFault> {
        self.lock().take(None, reply_http)
    }

    /// The fault for the next HTTP response to `path`.
    pub fn next_http_for(&self, path: &str) -> Option<HttpFault> {
        self.lock().take(Some(path), reply_http)
    }

    /// Whether this upload gets no `100 Continue` (uses one `NoContinue`).
    pub fn take_no_continue(&self) -> bool {
        self.lock()
            .take(Some("/uploadGcode"), |f| {
                (f == Fault::Http(HttpFault::NoContinue)).then_some(())
            })
            .is_some()
    }

    /// The armed stall of the next HTTP upload (taken).
    pub fn take_stall_upload_http(&self) -> Option<usize> {
        self.lock().take(Some("/uploadGcode"), |f| match f {
            Fault::Http(HttpFault::StallUpload(n)) => Some(n),
            _ => None,
        })
    }

    /// The armed stall of the next legacy upload (taken).
    pub fn take_stall_upload_tcp(&self) -> Option<usize> {
        self.lock().take(Some("~M28"), |f| match f {
            Fault::Tcp(TcpFault::StallUpload(n)) => Some(n),
            _ => None,
        })
    }

    /// Whether this upload is answered before its body (uses one `EarlySuccess`).
    pub fn take_early_success(&self) -> bool {
        self.lock()
            .take(Some("/uploadGcode"), |f| {
                (f == Fault::Http(HttpFault::EarlySuccess)).then_some(())
            })
            .is_some()
    }

    /// A connection starts holding its reads (until [`Faults::clear`]).
    pub fn hold(&self) {
        self.lock().holding = true;
    }

    /// Whether reads are still held.
    pub fn holding(&self) -> bool {
        self.lock().holding
    }

    /// Is this discovery probe dropped? (Uses one count of a counted `UdpDrop` rule.)
    pub fn udp_dropped(&self) -> bool {
        self.lock()
            .take(None, |f| (f == Fault::UdpDrop).then_some(()))
            .is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_display_round_trip() {
        for s in [
            "http-busy",
            "http-busy:once@/detail",
            "tcp-stall:3@~M105",
            "http-500",
            "http-status-418:2",
            "tcp-pause-after-10-250:once",
            "tcp-stall-upload-1024",
            "http-stall-upload-7:once",
            "http-no-continue",
            "http-early-success:once",
            "udp-drop:4",
            "tcp-drip-5",
            "http-refuse-3@/product",
        ] {
            let r: FaultRule = s.parse().unwrap();
            assert_eq!(r.to_string(), s, "{r:?}");
            assert_eq!(FaultRule::from_json(&r.to_json()).unwrap(), r);
        }
        let r: FaultRule = "http-500:always".parse().unwrap();
        assert_eq!(r.times, Times::UntilCleared);
        assert_eq!(r.to_string(), "http-500");
        let r: FaultRule = "tcp-stall:3@~M105".parse().unwrap();
        assert_eq!(r.fault, Fault::Tcp(TcpFault::Stall));
        assert_eq!(r.times, Times::Count(3));
        assert_eq!(r.only.as_deref(), Some("~M105"));
    }

    #[test]
    fn parse_errors_name_the_bad_part() {
        let e = "http-bogus".parse::<FaultRule>().unwrap_err();
        assert_eq!(e, FaultParseError::Kind("http-bogus".into()));
        let text = e.to_string();
        assert!(
            text.contains("http-bogus") && text.contains("tcp-stall"),
            "{text}"
        );
        let e = "http-busy:twice".parse::<FaultRule>().unwrap_err();
        assert_eq!(e, FaultParseError::Times("twice".into()));
        assert!(e.to_string().contains("twice"));
        assert_eq!(
            "http-busy@".parse::<FaultRule>(),
            Err(FaultParseError::Scope)
        );
        assert!("http-status-42".parse::<FaultRule>().is_err());
        assert!("tcp-pause-after-10".parse::<FaultRule>().is_err());
    }

    #[test]
    fn scoped_rules_count_only_matching_requests() {
        let f = Faults::default();
        f.inject("tcp-stall:2@M105".parse().unwrap());
        assert_eq!(f.next_tcp_for("~M119"), None);
        assert_eq!(f.next_tcp_for("~M105"), Some(TcpFault::Stall));
        assert_eq!(f.next_tcp_for("~M115"), None);
        assert_eq!(f.next_tcp_for("~M105 extra"), Some(TcpFault::Stall));
        assert_eq!(f.next_tcp_for("~M105"), None);
        assert!(f.rules().is_empty());
    }

    #[test]
    fn counted_before_sticky_and_remove() {
        let f = Faults::default();
        f.sticky_http(HttpFault::Status(500));
        f.push_http(HttpFault::Refuse(5));
        assert_eq!(f.next_http_for("/detail"), Some(HttpFault::Refuse(5)));
        assert_eq!(f.next_http_for("/detail"), Some(HttpFault::Status(500)));
        let id = f.rules()[0].id;
        assert!(f.remove(id));
        assert!(!f.remove(id));
        assert_eq!(f.next_http(), None);
        f.push_http(HttpFault::NoContinue);
        assert_eq!(f.next_http(), None, "an upload fault is not a reply fault");
        assert!(f.take_no_continue());
        assert!(!f.take_no_continue());
    }
}
