//! The HTTP surface: `/api/v1` (JSON and Server-Sent Events), `/metrics`, the dashboard.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use flashforge_proto::http::check_upload_name;
use flashforge_tokio::{ClientError, Compat, FailureKind, Heater, JobOptions, UploadOptions};
use futures_util::{Stream, StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use crate::farm::{ErrorBody, Farm, Slot, UploadState};
use crate::{Config, Token, MAX_JSON_BODY};

/// The OpenAPI 3.1 document served at `/api/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("../assets/openapi.json");
const INDEX_HTML: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const STYLE_CSS: &str = include_str!("../assets/style.css");

/// Every API route as (method, path) in OpenAPI's path syntax; the router is built from the
/// same handlers and a test checks this list against the OpenAPI document and the router.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/printers"),
    ("get", "/api/v1/printers/{id}"),
    ("get", "/api/v1/printers/{id}/status"),
    ("get", "/api/v1/printers/{id}/info"),
    ("get", "/api/v1/printers/{id}/files"),
    ("put", "/api/v1/printers/{id}/files/{name}"),
    ("get", "/api/v1/printers/{id}/files/{name}/thumbnail"),
    ("post", "/api/v1/printers/{id}/print"),
    ("post", "/api/v1/printers/{id}/pause"),
    ("post", "/api/v1/printers/{id}/resume"),
    ("post", "/api/v1/printers/{id}/cancel"),
    ("post", "/api/v1/printers/{id}/clear"),
    ("post", "/api/v1/printers/{id}/led"),
    ("post", "/api/v1/printers/{id}/temperature"),
    ("post", "/api/v1/printers/{id}/fan"),
    ("get", "/api/v1/printers/{id}/events"),
    ("get", "/api/v1/events"),
    ("get", "/metrics"),
];

#[derive(Clone)]
struct App {
    farm: Arc<Farm>,
    token: Token,
    open_reads: bool,
    max_upload: u64,
    stall: Duration,
    loopback: bool,
    cors: Option<HeaderValue>,
    /// Event streams open without the token (only with open reads), and their bound: a
    /// quarter of the connections, so anonymous readers cannot take every slot from the
    /// clients that hold the token.
    anon_streams: Arc<std::sync::atomic::AtomicUsize>,
    max_anon_streams: usize,
    wrong_tokens: Arc<WarnLimiter>,
}

/// How often a wrong token is logged at WARN, at most.
const WRONG_TOKEN_WARN_EVERY: Duration = Duration::from_secs(10);

/// Bounds a WARN that a client can cause (a wrong token): the first one, then at most one
/// per interval with the number of occurrences since the last; the rest go at debug.
pub(crate) struct WarnLimiter {
    every: Duration,
    /// Occurrences not yet reported in a WARN.
    count: std::sync::atomic::AtomicU64,
    last: std::sync::Mutex<Option<Instant>>,
}

impl WarnLimiter {
    pub(crate) fn new(every: Duration) -> Self {
        Self {
            every,
            count: std::sync::atomic::AtomicU64::new(0),
            last: std::sync::Mutex::new(None),
        }
    }

    /// Note one occurrence at `now`: `Some(n)` when it is time to WARN, with `n` the
    /// occurrences since the last WARN (this one included), else `None` (log at debug).
    pub(crate) fn note(&self, now: Instant) -> Option<u64> {
        use std::sync::atomic::Ordering;
        self.count.fetch_add(1, Ordering::AcqRel);
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|t| now.saturating_duration_since(t) < self.every) {
            return None;
        }
        *last = Some(now);
        Some(self.count.swap(0, Ordering::AcqRel))
    }
}

/// Set on a request that carried the right token.
#[derive(Debug, Clone, Copy)]
struct Authed;

/// An API error: a status and `{"error", "kind", "exit"}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    kind: &'static str,
    exit: u8,
    message: String,
}

/// The exit code every error carries: the CLI's code of the kind ([`FailureKind::exit_code`]);
/// for the API's own kinds, the CLI's code nearest to them: `not_found` 1 (other, as the CLI
/// exits when a printer reports a missing file), `unauthorized` 4 (credentials), `too_large`
/// 2 (usage).
fn exit_of(kind: &str) -> u8 {
    match kind {
        "not_found" => FailureKind::Other.exit_code(),
        "unauthorized" => FailureKind::Credentials.exit_code(),
        "too_large" => FailureKind::Usage.exit_code(),
        k => FailureKind::ALL
            .into_iter()
            .find(|f| f.name() == k)
            .unwrap_or(FailureKind::Other)
            .exit_code(),
    }
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            exit: exit_of(kind),
            message: message.into(),
        }
    }
    fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("no {what}"))
    }
    fn usage(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "usage", message)
    }
    fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
    fn from_body(b: ErrorBody) -> Self {
        let kind = FailureKind::ALL
            .into_iter()
            .find(|k| k.name() == b.kind)
            .unwrap_or(FailureKind::Other);
        Self {
            status: status_of(kind),
            kind: b.kind,
            exit: b.exit,
            message: b.error,
        }
    }
    fn client(e: &ClientError, slot: &Slot) -> Self {
        Self::from_body(ErrorBody::from_client(e, &slot.secrets()))
    }
}

/// What a request whose handler panicked gets (a bug of ours): a typed 500 instead of a
/// dropped connection; the panic itself is logged by the caller.
pub(crate) fn internal_error() -> Response {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "other",
        "internal error: the server failed on this request (see its log)",
    )
    .into_response()
}

/// The HTTP status of a failure kind.
fn status_of(kind: FailureKind) -> StatusCode {
    match kind {
        FailureKind::Usage => StatusCode::BAD_REQUEST,
        FailureKind::Unreachable | FailureKind::Resource => StatusCode::SERVICE_UNAVAILABLE,
        FailureKind::Busy | FailureKind::ControlHeld => StatusCode::CONFLICT,
        FailureKind::Unsupported => StatusCode::UNPROCESSABLE_ENTITY,
        FailureKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::BAD_GATEWAY,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.message, "kind": self.kind, "exit": self.exit});
        let mut r = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"flashforge\""),
            );
        }
        r
    }
}

type ApiResult<T = Response> = Result<T, ApiError>;

/// What an extractor refused (a path segment that is not UTF-8, a bad query, a body that is
/// not the JSON expected), as the API's error: axum's status kept (400, 413, 415), kind
/// usage, exit 2 (too_large for 413). JSON of the wrong shape, axum's 422, is a 400 here: this
/// API's 422 says the printer's model cannot do something.
fn rejection(status: StatusCode, text: String) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return too_large_body();
    }
    if status == StatusCode::UNPROCESSABLE_ENTITY {
        return ApiError::usage(text);
    }
    if status.is_server_error() {
        return ApiError::new(status, "other", text);
    }
    ApiError::usage(text).with_status(status)
}

/// [`Path`] whose rejection is an [`ApiError`].
struct ApiPath<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(Self(v)),
            Err(e) => Err(rejection(e.status(), e.body_text())),
        }
    }
}

/// [`Query`] whose rejection is an [`ApiError`].
struct ApiQuery<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(Self(v)),
            Err(e) => Err(rejection(e.status(), e.body_text())),
        }
    }
}

/// [`Json`] whose rejection is an [`ApiError`], and whose body must be a JSON object (serde
/// would take `[true]` for `{"on":true}`: a sequence for a struct).
struct ApiJson<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let v = match Json::<serde_json::Value>::from_request(req, state).await {
            Ok(Json(v)) => v,
            Err(e) => return Err(rejection(e.status(), e.body_text())),
        };
        if !v.is_object() {
            return Err(ApiError::usage("a request body is a JSON object"));
        }
        T::deserialize(v)
            .map(Self)
            .map_err(|e| ApiError::usage(format!("the JSON body: {e}")))
    }
}

pub(crate) fn router(
    farm: Arc<Farm>,
    config: &Config,
    addr: SocketAddr,
    max_connections: usize,
) -> Router {
    let app = App {
        farm,
        token: config.token.clone(),
        open_reads: config.open_reads,
        max_upload: config.max_upload,
        stall: config.limits.stall,
        loopback: addr.ip().is_loopback(),
        cors: config
            .cors_origin
            .as_deref()
            .and_then(|o| HeaderValue::from_str(o).ok()),
        anon_streams: Arc::default(),
        max_anon_streams: (max_connections / 4).max(1),
        wrong_tokens: Arc::new(WarnLimiter::new(WRONG_TOKEN_WARN_EVERY)),
    };
    let api = Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/printers", get(list))
        .route("/api/v1/printers/{id}", get(one))
        .route("/api/v1/printers/{id}/status", get(status))
        .route("/api/v1/printers/{id}/info", get(info))
        .route("/api/v1/printers/{id}/files", get(files))
        .route(
            "/api/v1/printers/{id}/files/{name}",
            put(upload).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/api/v1/printers/{id}/files/{name}/thumbnail",
            get(thumbnail),
        )
        .route("/api/v1/printers/{id}/print", post(print))
        .route("/api/v1/printers/{id}/pause", post(pause))
        .route("/api/v1/printers/{id}/resume", post(resume))
        .route("/api/v1/printers/{id}/cancel", post(cancel))
        .route("/api/v1/printers/{id}/clear", post(clear))
        .route("/api/v1/printers/{id}/led", post(led))
        .route("/api/v1/printers/{id}/temperature", post(temperature))
        .route("/api/v1/printers/{id}/fan", post(fan))
        .route("/api/v1/printers/{id}/events", get(printer_events))
        .route("/api/v1/events", get(all_events))
        .route("/metrics", get(metrics))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
        .route_layer(axum::middleware::from_fn_with_state(app.clone(), read_body))
        .route_layer(axum::middleware::from_fn_with_state(app.clone(), authorize));
    Router::new()
        .route(
            "/",
            get(|| async { page(INDEX_HTML, "text/html; charset=utf-8") }),
        )
        .route(
            "/assets/app.js",
            get(|| async { page(APP_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/assets/style.css",
            get(|| async { page(STYLE_CSS, "text/css; charset=utf-8") }),
        )
        .method_not_allowed_fallback(method_not_allowed)
        .merge(api)
        .fallback(|| async { ApiError::not_found("such route") })
        .layer(axum::middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

/// A path that exists, with a method it does not take: the Error JSON (axum adds `Allow`).
async fn method_not_allowed() -> ApiError {
    ApiError::usage("this path does not take this method (see the Allow header)")
        .with_status(StatusCode::METHOD_NOT_ALLOWED)
}

fn page(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// Whether `host` (a `Host` header) names this machine's loopback: a page on another site
/// that resolves its own name to 127.0.0.1 (DNS rebinding) is refused.
fn loopback_host(host: &str) -> bool {
    let digits = |p: &str| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
    let name = if let Some(rest) = host.strip_prefix('[') {
        // `[v6]` or `[v6]:port`, nothing else after the bracket.
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(digits)) {
            return false;
        }
        v6
    } else {
        match host.rsplit_once(':') {
            Some((h, p)) if digits(p) => h,
            Some(_) => return false,
            None => host,
        }
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether a request names this machine's loopback as its host: the authority of an
/// absolute-form target (`GET http://host/path`) when there is one (it wins over `Host`, RFC
/// 9112 §3.2.2; a `Host` that names another is refused too), else the one `Host` header.
fn loopback_request(req: &Request) -> bool {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let header = hosts.next().map(|h| h.to_str().unwrap_or(""));
    // Two Host headers: which one a proxy or a browser meant is unknowable.
    if hosts.next().is_some() {
        return false;
    }
    match req.uri().authority() {
        Some(a) => {
            let a = a.as_str();
            // No user information (`http://user@host/`): nothing of ours takes it.
            !a.contains('@')
                && loopback_host(a)
                && header.map_or(true, |h| h.eq_ignore_ascii_case(a))
        }
        None => header.is_some_and(loopback_host),
    }
}

/// Every request: the Host check on a loopback listener, security headers, CORS when an
/// origin is allowed.
async fn guard(State(app): State<App>, req: Request, next: Next) -> Response {
    if app.loopback && !loopback_request(&req) {
        return ApiError::usage(
            "this server answers only to a loopback Host (127.0.0.1, localhost)",
        )
        .with_status(StatusCode::MISDIRECTED_REQUEST)
        .into_response();
    }
    let preflight = req.method() == Method::OPTIONS;
    let mut r = if preflight && app.cors.is_some() {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    let h = r.headers_mut();
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
        ),
    );
    if let Some(origin) = &app.cors {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, PUT"),
        );
    }
    r
}

/// The token on every API route: reads (GET) pass without it only with open reads.
async fn authorize(State(app): State<App>, mut req: Request, next: Next) -> Response {
    let read = req.method() == Method::GET || req.method() == Method::HEAD;
    let authed = req
        .headers()
        .get(header::AUTHORIZATION)
        .is_some_and(|v| app.token.matches_header(v.as_bytes()));
    if authed {
        req.extensions_mut().insert(Authed);
    }
    if read && app.open_reads {
        return next.run(req).await;
    }
    match req.headers().get(header::AUTHORIZATION) {
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this needs the token: `Authorization: Bearer <token>`",
        )
        .into_response(),
        Some(_) if authed => next.run(req).await,
        Some(_) => {
            // Bounded: a client cannot flood the log.
            match app.wrong_tokens.note(Instant::now()) {
                Some(n) => tracing::warn!(
                    path = %req.uri().path(),
                    requests = n,
                    "requests with a wrong token (this one and those since the last report)"
                ),
                None => tracing::debug!(path = %req.uri().path(), "request with a wrong token"),
            }
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "wrong token").into_response()
        }
    }
}

/// The body of every request but an upload (which streams under its own per-read deadline),
/// read whole before the handler runs: at most [`MAX_JSON_BODY`] bytes, all of it within
/// `stall`. A client that stops sending (a `Content-Length` it never fills, a chunked body
/// with no end) gets a 408 and its connection closed, instead of holding it for ever.
///
/// Only a POST has a body here: any other request that announces one is refused at once
/// (400, connection closed), so that nobody, with open reads not even a client without the
/// token, can hold a connection "in progress" by sending a GET's body slowly.
async fn read_body(State(app): State<App>, req: Request, next: Next) -> Response {
    if req.method() == Method::PUT {
        return next.run(req).await;
    }
    if req.method() != Method::POST {
        let h = req.headers();
        let announced = h.contains_key(header::TRANSFER_ENCODING)
            || h.get_all(header::CONTENT_LENGTH)
                .iter()
                .any(|v| v.as_bytes() != b"0");
        if !announced {
            return next.run(req).await;
        }
        return closing(ApiError::usage(format!(
            "a {} request takes no body",
            req.method()
        )));
    }
    let (parts, body) = req.into_parts();
    let read = async {
        let mut stream = body.into_data_stream();
        let mut buf = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|_| ApiError::usage("the client broke off its request body"))?;
            if buf.len() + chunk.len() > MAX_JSON_BODY {
                return Err(too_large_body());
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf)
    };
    let e = match tokio::time::timeout(app.stall, read).await {
        Ok(Ok(b)) => return next.run(Request::from_parts(parts, Body::from(b))).await,
        Ok(Err(e)) if e.status == StatusCode::PAYLOAD_TOO_LARGE => return e.into_response(),
        Ok(Err(e)) => e,
        Err(_) => ApiError::usage(format!(
            "the client stopped sending its body (all of it must come within {:?})",
            app.stall
        ))
        .with_status(StatusCode::REQUEST_TIMEOUT),
    };
    closing(e)
}

/// `e` with `Connection: close`: the rest of the request's body, if any, is not read.
fn closing(e: ApiError) -> Response {
    let mut r = e.into_response();
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

fn too_large_body() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("a request body is at most {MAX_JSON_BODY} bytes"),
    )
}

fn slot(app: &App, id: &str) -> ApiResult<Arc<Slot>> {
    app.farm
        .slot(id)
        .ok_or_else(|| ApiError::not_found("printer with this id"))
}

async fn openapi() -> Response {
    page(OPENAPI, "application/json")
}

/// Large JSON (every printer of a big farm, the metrics) is built on a blocking thread: the
/// pollers and other requests on the runtime's threads go on meanwhile.
async fn off_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// `{"printers": [...], ...}` written straight from the snapshots, one at a time (no JSON
/// tree of the whole farm in memory).
fn printers_json(farm: &Farm, only: Option<&Slot>, head: &str) -> Vec<u8> {
    let slots = match only {
        Some(_) => Vec::new(),
        None => farm.slots(),
    };
    let mut out = Vec::with_capacity(256 + slots.len() * 900);
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(b"\"printers\":[");
    let mut first = true;
    let mut write = |s: &Slot| {
        if !first {
            out.push(b',');
        }
        first = false;
        // A snapshot is plain data: serialising it cannot fail.
        let _ = serde_json::to_writer(&mut out, &s.snapshot());
    };
    match only {
        Some(s) => write(s),
        None => slots.iter().for_each(|s| write(s)),
    }
    out.extend_from_slice(b"]}");
    out
}

async fn list(State(app): State<App>) -> Response {
    let farm = app.farm.clone();
    let body = off_runtime(move || {
        let head = format!("{{\"interval_s\":{},", farm.interval().as_secs_f64());
        printers_json(&farm, None, &head)
    })
    .await;
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn one(State(app): State<App>, ApiPath(id): ApiPath<String>) -> ApiResult {
    Ok(Json(slot(&app, &id)?.snapshot()).into_response())
}

async fn status(State(app): State<App>, ApiPath(id): ApiPath<String>) -> ApiResult {
    let s = slot(&app, &id)?.snapshot();
    match s.status {
        Some(st) => {
            Ok(Json(json!({"online": s.online, "status": st, "error": s.error})).into_response())
        }
        None => Err(s
            .error
            .map(ApiError::from_body)
            .unwrap_or_else(|| ApiError::from_body(not_polled()))),
    }
}

fn not_polled() -> ErrorBody {
    ErrorBody {
        kind: FailureKind::Unreachable.name(),
        exit: FailureKind::Unreachable.exit_code(),
        error: "not polled yet".into(),
    }
}

/// Run an action on the printer's client; when it succeeded, poll at once so its effect
/// shows (a failed action, or a read, does not: it would bypass the poller's back-off).
async fn act<T, F, Fut>(app: &App, id: &str, f: F) -> ApiResult<T>
where
    F: FnOnce(Arc<flashforge_tokio::Printer>) -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    call(app, id, true, false, f).await
}

/// A read through the printer's client (info, files, thumbnail): no extra poll.
async fn read<T, F, Fut>(app: &App, id: &str, f: F) -> ApiResult<T>
where
    F: FnOnce(Arc<flashforge_tokio::Printer>) -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    call(app, id, false, false, f).await
}

/// The printer's answer that a named file is not stored: HTTP code 4 (`Not found`), TCP
/// `Error: File not found` (the Adventurer 3: `File not exists`).
fn missing_file(e: &ClientError) -> bool {
    match e {
        ClientError::Refused { code: Some(4), .. } => true,
        ClientError::Printer(m) => {
            let m = m.to_ascii_lowercase();
            m.contains("file not found") || m.contains("file not exists")
        }
        _ => false,
    }
}

/// `wake`: poll at once after a success; `file`: the call names a stored file, so the
/// printer's "not found" is a 404.
async fn call<T, F, Fut>(app: &App, id: &str, wake: bool, file: bool, f: F) -> ApiResult<T>
where
    F: FnOnce(Arc<flashforge_tokio::Printer>) -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    let s = slot(app, id)?;
    let client = s.client().map_err(ApiError::from_body)?;
    match f(client).await {
        Ok(v) => {
            if wake {
                s.poll_now();
            }
            Ok(v)
        }
        Err(e) if file && missing_file(&e) => Err(ApiError::not_found("such file on the printer")),
        Err(e) => {
            // A request the client refused before sending (a fan speed of 200) or one the
            // model cannot do is the caller's error, not the printer's: the metrics leave
            // those out.
            app.farm.metrics.error(&s.id, e.failure_kind());
            Err(ApiError::client(&e, &s))
        }
    }
}

fn done(what: &str) -> Response {
    Json(json!({"ok": true, "done": what})).into_response()
}

async fn info(State(app): State<App>, ApiPath(id): ApiPath<String>) -> ApiResult {
    let i = read(&app, &id, |c| async move { c.info().await }).await?;
    Ok(Json(i).into_response())
}

async fn files(State(app): State<App>, ApiPath(id): ApiPath<String>) -> ApiResult {
    let s = slot(&app, &id)?;
    let client = s.client().map_err(ApiError::from_body)?;
    // An operation the model lacks is left out (null); any other failure fails the request.
    let full = match client.files().await {
        Ok(v) => Some(v),
        Err(e) if e.is_unsupported() => None,
        Err(e) => return Err(ApiError::client(&e, &s)),
    };
    let recent = match client.recent_files().await {
        Ok(v) => Some(v),
        Err(e) if e.is_unsupported() => None,
        Err(e) => return Err(ApiError::client(&e, &s)),
    };
    Ok(Json(json!({
        "files": full,
        "recent": recent,
    }))
    .into_response())
}

/// Every file name of the API (upload, print, thumbnail): a base name as the CLI takes it, and
/// no white space at either end, which the Adventurer 3 trims (` a.gcode` would print or show
/// `a.gcode`), and which no upload through this server can have made.
fn file_name(name: &str) -> ApiResult<()> {
    check_upload_name(name).map_err(|e| ApiError::usage(format!("file name: {e}")))
}

async fn thumbnail(
    State(app): State<App>,
    ApiPath((id, name)): ApiPath<(String, String)>,
) -> ApiResult {
    file_name(&name)?;
    let t = call(&app, &id, false, true, |c| async move {
        c.thumbnail(&name).await
    })
    .await?;
    let ct = match t.format {
        flashforge_proto::gcode::ImageFormat::Png => "image/png",
        flashforge_proto::gcode::ImageFormat::Bmp => "image/bmp",
        _ => "application/octet-stream",
    };
    Ok((
        [
            (header::CONTENT_TYPE, ct),
            (header::CACHE_CONTROL, "private, max-age=60"),
        ],
        t.image,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrintBody {
    file: String,
    #[serde(default)]
    level: bool,
}

async fn print(
    State(app): State<App>,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<PrintBody>,
) -> ApiResult {
    file_name(&b.file)?;
    let opts = JobOptions {
        leveling: b.level,
        ..JobOptions::default()
    };
    call(&app, &id, true, true, |c| async move {
        c.start(&b.file, opts).await
    })
    .await?;
    Ok(done("print"))
}

macro_rules! simple_action {
    ($name:ident, $method:ident, $what:literal) => {
        async fn $name(State(app): State<App>, ApiPath(id): ApiPath<String>) -> ApiResult {
            act(&app, &id, |c| async move { c.$method().await }).await?;
            Ok(done($what))
        }
    };
}

simple_action!(pause, pause, "pause");
simple_action!(resume, resume, "resume");
simple_action!(cancel, cancel, "cancel");
simple_action!(clear, clear_platform, "clear");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LedBody {
    on: bool,
}

async fn led(
    State(app): State<App>,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<LedBody>,
) -> ApiResult {
    act(&app, &id, |c| async move { c.led(b.on).await }).await?;
    Ok(done("led"))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TempBody {
    heater: String,
    /// Target in °C; 0 or absent turns the heater off.
    #[serde(default)]
    celsius: u16,
}

async fn temperature(
    State(app): State<App>,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<TempBody>,
) -> ApiResult {
    if b.heater.eq_ignore_ascii_case("all") {
        if b.celsius != 0 {
            return Err(ApiError::usage(
                "heater `all` can only be turned off (celsius 0)",
            ));
        }
        act(&app, &id, |c| async move { c.temperatures_off().await }).await?;
        return Ok(done("temperature"));
    }
    let heater = Heater::from_name(&b.heater).ok_or_else(|| {
        ApiError::usage("unknown heater (nozzle, tool0..tool3, bed, chamber, all)")
    })?;
    act(&app, &id, |c| async move {
        if b.celsius == 0 {
            c.heater_off(heater).await
        } else {
            c.set_temperature(heater, b.celsius).await
        }
    })
    .await?;
    Ok(done("temperature"))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FanBody {
    percent: u8,
}

async fn fan(
    State(app): State<App>,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<FanBody>,
) -> ApiResult {
    act(&app, &id, |c| async move { c.fan(b.percent).await }).await?;
    Ok(done("fan"))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadQuery {
    #[serde(default)]
    print: bool,
    #[serde(default)]
    level: bool,
}

/// How often an upload reports progress, at most.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

async fn upload(
    State(app): State<App>,
    ApiPath((id, name)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    file_name(&name)?;
    let s = slot(&app, &id)?;
    let len: u64 = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            ApiError::usage("an upload needs Content-Length (the printer is told the size first)")
                .with_status(StatusCode::LENGTH_REQUIRED)
        })?;
    if len > app.max_upload {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("an upload is at most {} bytes", app.max_upload),
        ));
    }
    if len == 0 {
        return Err(ApiError::usage("an empty file"));
    }
    let client = s.client().map_err(ApiError::from_body)?;
    if !s.begin_upload() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "busy",
            "an upload to this printer is already running",
        ));
    }
    // The lane is held by a guard that ends the upload (event, metric, lane freed) even when
    // this handler is dropped; the upload itself runs in its own task, so a client that
    // closes its connection after sending the body does not cut the printer's copy short.
    let lane = UploadLane {
        slot: s.clone(),
        farm: app.farm.clone(),
        name: name.clone(),
        total: len,
        finished: false,
    };
    let stall = app.stall;
    let task = tokio::spawn(async move {
        let mut lane = lane;
        // What went wrong on the client's side of the copy, if anything: the printer is not
        // to blame for a sender that stopped or went away.
        let sender = Arc::new(std::sync::atomic::AtomicU8::new(SENDER_OK));
        let stream = with_read_deadline(
            body.into_data_stream().map_err({
                let sender = sender.clone();
                move |e| {
                    sender.store(SENDER_FAILED, std::sync::atomic::Ordering::Release);
                    std::io::Error::other(e)
                }
            }),
            stall,
            sender.clone(),
        );
        let reader = tokio_util::io::StreamReader::new(Box::pin(stream));
        let s = lane.slot.clone();
        let hub_farm = lane.farm.clone();
        let pname = lane.name.clone();
        let mut last: Option<Instant> = None;
        let opts = UploadOptions::default().start(q.print).leveling(q.level);
        let progress = |p: flashforge_tokio::UploadProgress| {
            if last.map_or(true, |t| t.elapsed() >= PROGRESS_EVERY) && p.sent < p.total {
                last = Some(Instant::now());
                s.upload_progress(
                    &hub_farm.hub,
                    UploadState {
                        name: pname.clone(),
                        sent: p.sent,
                        total: p.total,
                        done: false,
                        error: None,
                    },
                );
            }
        };
        tracing::info!(printer = %lane.slot.id, name = %lane.name, bytes = len, "upload");
        let r = client
            .upload(&lane.name, len, Compat(reader), opts, progress)
            .await;
        lane.slot.poll_now();
        let sender = sender.load(std::sync::atomic::Ordering::Acquire);
        let error = r.as_ref().err().map(|e| match sender {
            SENDER_STALLED => sender_error(format!(
                "the client stopped sending the file (nothing for {} s)",
                stall.as_secs_f64()
            )),
            SENDER_FAILED => {
                sender_error("the client's upload body ended before its length".into())
            }
            _ => (
                e.failure_kind(),
                ErrorBody::from_client(e, &lane.slot.secrets()),
            ),
        });
        lane.finish(error.clone());
        match error {
            None => Ok((
                StatusCode::CREATED,
                Json(json!({"ok": true, "name": lane.name, "bytes": len, "printing": q.print})),
            )
                .into_response()),
            Some((kind, b)) => {
                lane.farm.metrics.error(&lane.slot.id, kind);
                let e = ApiError::from_body(b);
                Err(if sender == SENDER_OK {
                    e
                } else {
                    e.with_status(StatusCode::REQUEST_TIMEOUT)
                })
            }
        }
    });
    match task.await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "upload task failed");
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "other",
                "the upload ended unexpectedly",
            ))
        }
    }
}

/// An upload's hold on its printer's upload lane. Ended by [`UploadLane::finish`], or when
/// dropped unfinished (a panic, a cancelled task): the lane is freed and the end reported.
struct UploadLane {
    slot: Arc<Slot>,
    farm: Arc<Farm>,
    name: String,
    total: u64,
    finished: bool,
}

impl UploadLane {
    fn finish(&mut self, error: Option<(FailureKind, ErrorBody)>) {
        self.finished = true;
        let ok = error.is_none();
        let result = error.as_ref().map_or("ok", |(k, _)| k.name());
        self.farm
            .metrics
            .upload(&self.slot.id, result, if ok { self.total } else { 0 });
        self.slot.upload_progress(
            &self.farm.hub,
            UploadState {
                name: self.name.clone(),
                sent: if ok { self.total } else { 0 },
                total: self.total,
                done: true,
                error: error.map(|(_, b)| b),
            },
        );
    }
}

impl Drop for UploadLane {
    fn drop(&mut self) {
        if !self.finished {
            self.finish(Some((
                FailureKind::Other,
                ErrorBody {
                    kind: FailureKind::Other.name(),
                    exit: FailureKind::Other.exit_code(),
                    error: "the upload was abandoned".into(),
                },
            )));
        }
    }
}

/// How an upload's sender did: fine, stopped sending for the stall time, or its body failed
/// (the connection closed before the length).
const SENDER_OK: u8 = 0;
const SENDER_STALLED: u8 = 1;
const SENDER_FAILED: u8 = 2;

/// An upload that failed on the client's side: usage (exit 2, answered 408), not a printer
/// error.
fn sender_error(message: String) -> (FailureKind, ErrorBody) {
    (
        FailureKind::Usage,
        ErrorBody {
            kind: FailureKind::Usage.name(),
            exit: FailureKind::Usage.exit_code(),
            error: message,
        },
    )
}

/// `s` whose next item must come within `d`: an upload whose sender stops fails with
/// `TimedOut` (and `sender` says [`SENDER_STALLED`]) instead of holding the printer's upload
/// lane for ever.
fn with_read_deadline<S>(
    s: S,
    d: Duration,
    sender: Arc<std::sync::atomic::AtomicU8>,
) -> impl Stream<Item = std::io::Result<axum::body::Bytes>> + Send
where
    S: Stream<Item = std::io::Result<axum::body::Bytes>> + Unpin + Send,
{
    futures_util::stream::unfold(Some(s), move |st| {
        let sender = sender.clone();
        async move {
            let mut s = st?;
            match tokio::time::timeout(d, s.next()).await {
                Ok(Some(item)) => Some((item, Some(s))),
                Ok(None) => None,
                Err(_) => Some((
                    {
                        sender.store(SENDER_STALLED, std::sync::atomic::Ordering::Release);
                        Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "the client stopped sending the upload",
                        ))
                    },
                    None,
                )),
            }
        }
    })
}

async fn metrics(State(app): State<App>) -> Response {
    let farm = app.farm.clone();
    let text = off_runtime(move || farm.metrics.encode()).await;
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn all_events(
    State(app): State<App>,
    authed: Option<axum::Extension<Authed>>,
    headers: HeaderMap,
) -> ApiResult {
    let anon = anonymous_stream(&app, authed.is_some())?;
    Ok(events(app, None, anon, last_event_id(&headers)).into_response())
}

async fn printer_events(
    State(app): State<App>,
    authed: Option<axum::Extension<Authed>>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> ApiResult {
    let s = slot(&app, &id)?;
    let anon = anonymous_stream(&app, authed.is_some())?;
    Ok(events(app, Some(s), anon, last_event_id(&headers)).into_response())
}

/// The id a reconnecting client last saw (`Last-Event-ID`, as an SSE client sends it); anything
/// but one decimal number is no id.
fn last_event_id(headers: &HeaderMap) -> Option<u64> {
    let mut all = headers.get_all("last-event-id").iter();
    let v = all.next()?;
    if all.next().is_some() {
        return None;
    }
    let v = v.to_str().ok()?.trim();
    // Digits only (`parse` would take `+5`); one too large for a u64 is no id either.
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

/// A stream without the token takes one of the anonymous slots, or is refused.
fn anonymous_stream(
    app: &App,
    authed: bool,
) -> ApiResult<Option<Arc<std::sync::atomic::AtomicUsize>>> {
    use std::sync::atomic::Ordering;
    if authed {
        return Ok(None);
    }
    let c = &app.anon_streams;
    let mut n = c.load(Ordering::Relaxed);
    loop {
        if n >= app.max_anon_streams {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "resource",
                format!(
                    "at most {} event streams without the token: send it to open more",
                    app.max_anon_streams
                ),
            ));
        }
        match c.compare_exchange(n, n + 1, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => return Ok(Some(c.clone())),
            Err(now) => n = now,
        }
    }
}

/// Counts an open stream in the metrics (and in the anonymous slots) while it lives.
struct StreamGuard(Arc<Farm>, Option<Arc<std::sync::atomic::AtomicUsize>>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.metrics.sse_clients(-1);
        if let Some(c) = &self.1 {
            c.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        }
    }
}

/// The event stream: first a `snapshot` event with the printers as `/api/v1/printers` shows
/// them, then every event as it happens; `lagged` when this client fell more than
/// [`crate::events::EVENT_BACKLOG`] events behind (refetch the list).
///
/// A client that reconnects with `Last-Event-ID` first gets the kept events it missed (job
/// transitions, offline, online, added; [`crate::events::REPLAY`] at most, a `lagged` before
/// them when even those were more), then the snapshot, then what happens from then on.
fn events(
    app: App,
    only: Option<Arc<Slot>>,
    anon: Option<Arc<std::sync::atomic::AtomicUsize>>,
    last: Option<u64>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let farm = app.farm.clone();
    // Subscribe before the replay is taken, so that nothing falls between them.
    let rx = farm.hub.subscribe();
    farm.metrics.sse_clients(1);
    let guard = StreamGuard(farm.clone(), anon);
    let replay = last.map(|l| farm.hub.since(l, only.as_ref().map(|s| &*s.id)));
    let skip_to = replay.as_ref().map_or(0, |r| r.up_to);
    let mut before: Vec<Result<SseEvent, Infallible>> = Vec::new();
    if let Some(r) = replay {
        if r.missed > 0 {
            before.push(Ok(SseEvent::default()
                .event("lagged")
                .data(json!({"type": "lagged", "missed": r.missed}).to_string())));
        }
        before.extend(r.events.into_iter().map(|ev| {
            Ok(SseEvent::default()
                .id(ev.id.to_string())
                .event(ev.kind)
                .data(&*ev.data))
        }));
    }
    // The snapshot, built when the stream first gets that far, off the runtime's threads.
    let snapshot_farm = farm.clone();
    let snapshot_only = only.clone();
    let first = async move {
        let data = off_runtime(move || {
            let b = printers_json(
                &snapshot_farm,
                snapshot_only.as_deref(),
                "{\"type\":\"snapshot\",",
            );
            String::from_utf8(b).unwrap_or_default()
        })
        .await;
        Ok(SseEvent::default().event("snapshot").data(data))
    };
    let only_id = only.map(|s| s.id.clone());
    let rest = futures_util::stream::unfold((rx, guard), move |(mut rx, guard)| {
        let only_id = only_id.clone();
        async move {
            loop {
                match rx.recv().await {
                    Ok(ev) => {
                        // Already replayed, or older than the snapshot.
                        if ev.id <= skip_to {
                            continue;
                        }
                        if let Some(id) = &only_id {
                            if ev.printer.as_deref() != Some(&**id) {
                                continue;
                            }
                        }
                        let e = SseEvent::default()
                            .id(ev.id.to_string())
                            .event(ev.kind)
                            .data(&*ev.data);
                        return Some((Ok(e), (rx, guard)));
                    }
                    Err(RecvError::Lagged(n)) => {
                        let e = SseEvent::default()
                            .event("lagged")
                            .data(json!({"type": "lagged", "missed": n}).to_string());
                        return Some((Ok(e), (rx, guard)));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        }
    });
    let stream = futures_util::stream::iter(before)
        .chain(futures_util::stream::once(first))
        .chain(rest);
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1",
            "127.0.0.1:8870",
            "localhost:1",
            "LOCALHOST",
            "[::1]:8870",
            "127.3.4.5:80",
        ] {
            assert!(loopback_host(h), "{h}");
        }
        for h in [
            "",
            "evil.example",
            "evil.example:8870",
            "192.168.1.2:8870",
            "localhost.evil.example",
            "127.0.0.1.evil",
        ] {
            assert!(!loopback_host(h), "{h}");
        }
    }

    #[test]
    fn wrong_token_warnings_are_bounded() {
        let l = WarnLimiter::new(Duration::from_secs(10));
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // The first is reported at once.
        assert_eq!(l.note(at(0)), Some(1));
        // Within the interval: counted, not reported.
        for ms in [1, 500, 5_000, 9_999] {
            assert_eq!(l.note(at(ms)), None, "{ms}");
        }
        // The interval over: one report with the four before and this one.
        assert_eq!(l.note(at(10_000)), Some(5));
        assert_eq!(l.note(at(10_001)), None);
        assert_eq!(l.note(at(19_999)), None);
        assert_eq!(l.note(at(20_000)), Some(3));
        // After a quiet spell the next is reported alone.
        assert_eq!(l.note(at(3_600_000)), Some(1));
        // An instant before the last (threads racing) is within the interval.
        assert_eq!(l.note(at(3_599_000)), None);
        assert_eq!(l.note(at(3_610_000)), Some(2));
    }

    #[test]
    fn every_error_kind_has_the_clis_exit_code() {
        for k in FailureKind::ALL {
            assert_eq!(exit_of(k.name()), k.exit_code(), "{k}");
        }
        assert_eq!(exit_of("not_found"), 1);
        assert_eq!(exit_of("unauthorized"), 4);
        assert_eq!(exit_of("too_large"), 2);
        let busy = ApiError::new(StatusCode::CONFLICT, "busy", "an upload runs");
        assert_eq!(busy.exit, 6);
    }

    #[test]
    fn error_kinds_have_statuses() {
        assert_eq!(status_of(FailureKind::Usage), StatusCode::BAD_REQUEST);
        assert_eq!(status_of(FailureKind::Busy), StatusCode::CONFLICT);
        assert_eq!(status_of(FailureKind::Timeout), StatusCode::GATEWAY_TIMEOUT);
    }
}
