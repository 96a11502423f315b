//! What the HTTP destinations (S3, REST) share: the client, whole-exchange retries with backoff
//! and jitter, bounded bodies, and errors that name their cause.
//!
//! An **exchange** is a request and its complete answer (status, headers, body). It is retried
//! as a whole when the connection fails, stalls (no byte for the stall timeout), or is cut
//! short, and when the server answers 5xx or 429; other answers are final. A success body longer
//! than the caller's limit is refused without being buffered, and never retried.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use cairn_core::{IoError, IoErrorKind, ReadRange};

use crate::backend::connection::ConnectionOptions;

/// An error with a message that says what to fix (the destination's own words).
#[derive(Debug)]
pub(crate) struct DestinationError(pub(crate) String);

impl fmt::Display for DestinationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DestinationError {}

/// An [`IoError`] of `kind` with a message for the user.
pub(crate) fn error(kind: IoErrorKind, message: impl Into<String>) -> IoError {
    IoError::new(kind, DestinationError(message.into()))
}

/// Percent-encodes a path (with `keep_slash`) or a query value: the RFC 3986 unreserved
/// characters stay, every other byte becomes `%XX`.
pub(crate) fn percent_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The header that makes a write create-only (`If-None-Match: *`, as S3 and Azure take it), if
/// `mode` asks for it.
pub(crate) fn create_only_header(mode: cairn_core::WriteMode) -> Option<(&'static str, String)> {
    (mode == cairn_core::WriteMode::CreateNew).then(|| ("if-none-match", "*".to_string()))
}

/// A byte span of an object: offset and length.
pub(crate) type Span = (u64, u64);

/// What a read asks the server for: `None` when the answer is empty without asking; else the
/// span to ask for (`None`: the whole object) and the most bytes accepted. A tail needs the
/// object's size, which `size` finds (a HEAD or a PROPFIND), and only then.
pub(crate) async fn read_plan<Fut>(
    range: ReadRange,
    size: impl FnOnce() -> Fut,
) -> Result<Option<(Option<Span>, u64)>, IoError>
where
    Fut: Future<Output = Result<u64, IoError>>,
{
    Ok(match range {
        ReadRange::All { max_len } => Some((None, max_len)),
        ReadRange::Span { len: 0, .. } => None,
        ReadRange::Span { offset, len } => Some((Some((offset, u64::from(len))), u64::from(len))),
        ReadRange::Tail { len } => {
            let size = size().await?;
            let take = size.min(u64::from(len));
            (take > 0).then_some((Some((size - take, take)), take))
        }
    })
}

/// The `Range` header value of a span.
pub(crate) fn range_header((offset, len): Span) -> String {
    format!("bytes={}-{}", offset, offset + len - 1)
}

/// Refuses an answer shorter than the span asked for (`name` says what was read).
pub(crate) fn check_span(span: Option<Span>, body: &bytes::Bytes, name: &str) -> Result<(), IoError> {
    if span.is_some_and(|(_, n)| body.len() as u64 != n) {
        return Err(error(IoErrorKind::InvalidData, format!("{name} is shorter than the range asked for")));
    }
    Ok(())
}

/// Largest body of an answer that is not the object asked for (listings, errors).
pub(crate) const MAX_SMALL_BODY: usize = 16 << 20;

/// A client: TLS verified unless turned off (rustls on ring, the system's certificates), a
/// connect timeout, a per-read stall timeout, and a pool of `connections`.
pub(crate) fn client(options: &ConnectionOptions) -> Result<reqwest::Client, IoError> {
    // rustls needs a process-wide crypto provider; a second install is a harmless no-op.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .read_timeout(options.stall_timeout)
        .pool_max_idle_per_host(options.connections.max(1))
        .tls_danger_accept_invalid_certs(!options.verify_tls)
        .build()
        .map_err(|e| error(IoErrorKind::Other, format!("cannot set up HTTPS: {e}")))
}

/// A server reached with optional basic authentication (the REST and WebDAV destinations): the
/// client, the server's `host:port` for messages, the credentials and the retry budget.
pub(crate) struct BasicHttp {
    client: reqwest::Client,
    /// `host[:port]`.
    pub(crate) authority: String,
    user: Option<String>,
    password: Option<crate::secret::Secret>,
    retries: u32,
}

impl BasicHttp {
    /// A client for `authority` (see [`client`] for the other settings).
    pub(crate) fn new(
        authority: &str,
        user: Option<String>,
        password: Option<crate::secret::Secret>,
        options: &ConnectionOptions,
    ) -> Result<Self, IoError> {
        let client = client(options)?;
        Ok(Self { client, authority: authority.to_string(), user, password, retries: options.retries })
    }

    /// A request with the credentials on it (sent once: see [`Self::exchange`] for retries).
    pub(crate) fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let b = self.client.request(method, url);
        match &self.user {
            Some(user) => {
                let password = self.password.as_ref().map(|p| String::from_utf8_lossy(p.expose()).into_owned());
                b.basic_auth(user, password)
            }
            None => b,
        }
    }

    /// One whole exchange with the server, retried (see the [module docs](self)).
    pub(crate) async fn exchange(
        &self,
        method: reqwest::Method,
        url: &str,
        headers: &[(&str, String)],
        body: Bytes,
        limit: u64,
    ) -> Result<Answer, IoError> {
        let send = || {
            let mut b = self.request(method.clone(), url);
            for (k, v) in headers {
                b = b.header(*k, v.as_str());
            }
            let b = with_body(b, &method, body.clone());
            async move { b.send().await.map_err(ExchangeError::Http) }
        };
        match exchange(self.retries, limit, send).await {
            Ok(a) => Ok(a),
            Err(ExchangeError::Request(e)) => Err(e),
            Err(ExchangeError::TooLarge) => {
                Err(error(IoErrorKind::InvalidData, format!("the server's answer for {url} is larger than expected")))
            }
            Err(ExchangeError::Http(e)) => Err(transport_error(&self.authority, self.retries, &e)),
        }
    }
}

/// Puts `body` on a request, with a `Content-Length: 0` on an empty PUT: Azure and WebDAV
/// servers want a length on every PUT, and the client sends none for an empty body.
pub(crate) fn with_body(b: reqwest::RequestBuilder, method: &reqwest::Method, body: Bytes) -> reqwest::RequestBuilder {
    let b = if method == reqwest::Method::PUT && body.is_empty() { b.header("content-length", "0") } else { b };
    b.body(body)
}

/// A complete answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: Bytes,
}

impl Answer {
    pub(crate) fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Why an exchange failed for good.
pub(crate) enum ExchangeError {
    /// The request could not be built (signing): never sent.
    Request(IoError),
    /// A success body over the limit.
    TooLarge,
    /// The transport, after the last retry.
    Http(reqwest::Error),
}

async fn read_answer(mut r: reqwest::Response, limit: u64) -> Result<Answer, ExchangeError> {
    let status = r.status().as_u16();
    let limit = if r.status().is_success() { limit } else { MAX_SMALL_BODY as u64 };
    if r.content_length().is_some_and(|n| n > limit) {
        return Err(ExchangeError::TooLarge);
    }
    let mut body = Vec::with_capacity(r.content_length().unwrap_or(0).min(limit) as usize);
    while let Some(chunk) = r.chunk().await.map_err(ExchangeError::Http)? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(ExchangeError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer { status, headers: r.headers().clone(), body: Bytes::from(body) })
}

/// Runs `send` until a final answer, at most `retries + 1` times (see the [module docs](self)).
/// `send` builds (and signs) the request afresh for each attempt.
pub(crate) async fn exchange<F, Fut>(retries: u32, limit: u64, send: F) -> Result<Answer, ExchangeError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<reqwest::Response, ExchangeError>>,
{
    let attempt = || async { read_answer(send().await?, limit).await };
    retried(retries, attempt, |e| matches!(e, ExchangeError::Http(e) if !e.is_builder() && !is_tls_error(e))).await
}

/// Runs `attempt` at most `retries + 1` times, with [`backoff`](crate::backend::connection::backoff) between: again after an answer
/// of 429 or 5xx, or an error `transient` says is worth another try. The one retry policy of
/// every HTTP exchange, whatever carries it (reqwest, or the rclone bridge's pipes).
pub(crate) async fn retried<E, F, Fut>(retries: u32, attempt: F, transient: impl Fn(&E) -> bool) -> Result<Answer, E>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Answer, E>>,
{
    let mut n = 0u32;
    loop {
        let outcome = attempt().await;
        let again = match &outcome {
            Ok(a) => a.status == 429 || a.status >= 500,
            Err(e) => transient(e),
        };
        if !again || n >= retries {
            return outcome;
        }
        tokio::time::sleep(crate::backend::connection::backoff(n)).await;
        n += 1;
    }
}

/// The error for a failed transport, naming `authority`: an untrusted certificate points at the
/// verify-TLS setting; anything else is a connection problem, retried `retries` times.
pub(crate) fn transport_error(authority: &str, retries: u32, e: &reqwest::Error) -> IoError {
    if is_tls_error(e) {
        return error(
            IoErrorKind::PermissionDenied,
            format!(
                "the TLS certificate of {authority} is not trusted ({}): use a trusted certificate, or turn off \
                 verify TLS for a server you control",
                root_cause(e)
            ),
        );
    }
    let what = if e.is_timeout() {
        format!("{authority} timed out")
    } else if e.is_connect() {
        format!("cannot connect to {authority}")
    } else {
        format!("the connection to {authority} broke")
    };
    error(IoErrorKind::Unavailable, format!("{what} ({}), after {retries} retries", root_cause(e)))
}

fn is_tls_error(e: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        let text = s.to_string();
        if text.contains("certificate") || text.contains("InvalidCertificate") {
            return true;
        }
        source = s.source();
    }
    false
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e;
    while let Some(s) = last.source() {
        last = s;
    }
    last.to_string()
}

/// `%XX` decoding of a URL's user name or password (anything malformed stays as it is).
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
