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
use cairn_core::{IoError, IoErrorKind};
use rand_core::Rng;

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

/// Largest body of an answer that is not the object asked for (listings, errors).
pub(crate) const MAX_SMALL_BODY: usize = 16 << 20;

/// A client: TLS verified unless turned off (rustls on ring, the system's certificates), a
/// connect timeout, a per-read stall timeout, and a pool of `connections`.
pub(crate) fn client(
    verify_tls: bool,
    stall_timeout: Duration,
    connections: usize,
) -> Result<reqwest::Client, IoError> {
    // rustls needs a process-wide crypto provider; a second install is a harmless no-op.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .read_timeout(stall_timeout)
        .pool_max_idle_per_host(connections.max(1))
        .tls_danger_accept_invalid_certs(!verify_tls)
        .build()
        .map_err(|e| error(IoErrorKind::Other, format!("cannot set up HTTPS: {e}")))
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
    let mut attempt = 0u32;
    loop {
        let outcome = match send().await {
            Ok(r) => read_answer(r, limit).await,
            Err(e) => Err(e),
        };
        let retryable = match &outcome {
            Ok(a) => a.status == 429 || a.status >= 500,
            Err(ExchangeError::Http(e)) => !e.is_builder() && !is_tls_error(e),
            Err(_) => false,
        };
        if !retryable || attempt >= retries {
            return outcome;
        }
        // Full jitter: a random wait up to 0.25 s, 0.5 s, 1 s, ... (at most 20 s).
        let cap_ms = (250u64 << attempt.min(7)).min(20_000);
        let wait = crate::rng::os_rng().next_u64() % (cap_ms + 1);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        attempt += 1;
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
