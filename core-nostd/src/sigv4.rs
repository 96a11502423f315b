//! SigV4: AWS Signature Version 4 request signing, sans-IO and without an allocator.
//!
//! Terms (from the AWS specification):
//! - **canonical request**: method, path, sorted query, sorted and trimmed headers, the list of
//!   signed header names and the payload hash, one per line. It is never built in memory: it is
//!   written straight into a SHA-256 hasher.
//! - **string to sign**: the algorithm, the request time, the **scope**
//!   (`YYYYMMDD/region/service/aws4_request`) and the canonical request's hash.
//! - **signing key**: HMAC-SHA256 chained over the date, region, service and `aws4_request`,
//!   starting from `"AWS4" + secret key`. It depends only on the scope, so callers may keep one
//!   per day, region and service ([`SigningKey`]).
//! - **signature**: HMAC-SHA256 of the string to sign under the signing key, in hex.
//!
//! [`sign_headers`] returns what to add to a request (`x-amz-date`, `x-amz-content-sha256` for
//! S3, `x-amz-security-token` with temporary credentials, and `authorization`);
//! [`presign`] returns the query parameters of a presigned URL. Neither reads a clock (the time
//! is an input) nor does IO, and nothing allocates: headers and query parameters are sorted in
//! bounded [`heapless::Vec`]s of at most [`MAX_HEADERS`] and [`MAX_QUERY_PARAMS`] entries.
//!
//! Conventions, as S3 expects them (and as the `aws-sigv4` crate signs for S3):
//! - the **path** is given as sent on the wire, already percent-encoded ([`write_encoded_path`]
//!   encodes an object key); it is signed as given, not normalized and not encoded again;
//! - the **query** is given as decoded name/value pairs; each is percent-encoded (everything but
//!   `A-Z a-z 0-9 - . _ ~`) and the pairs are sorted by encoded name, then value
//!   ([`write_encoded_query`] writes the same encoding for the wire);
//! - **header** names are lower-cased; values have leading and trailing spaces removed and runs
//!   of spaces collapsed; several headers with one name are joined with `,`. `authorization`,
//!   `user-agent`, `x-amzn-trace-id` and `transfer-encoding` are never signed (proxies change
//!   them). `host` is signed: from the headers if given, else from [`Request::host`].

use core::fmt::{self, Write as _};

use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::time::{Timestamp, civil_from_days};

/// Most headers a request may carry into signing.
pub const MAX_HEADERS: usize = 32;
/// Most query parameters a request may carry into signing.
pub const MAX_QUERY_PARAMS: usize = 32;
/// The payload hash that leaves the body unsigned (allowed by S3 over HTTPS).
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// The SHA-256 of an empty body, in hex.
pub const EMPTY_PAYLOAD_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const NEVER_SIGNED: [&str; 4] = ["authorization", "user-agent", "x-amzn-trace-id", "transfer-encoding"];

type HmacSha256 = hmac::Hmac<Sha256>;

/// Why a request cannot be signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SigV4Error {
    /// More than [`MAX_HEADERS`] headers.
    TooManyHeaders,
    /// More than [`MAX_QUERY_PARAMS`] query parameters.
    TooManyQueryParams,
    /// A header value holds a control character (other than tab), such as a line break.
    InvalidHeaderValue,
    /// A header name is empty or holds a character not allowed in names.
    InvalidHeaderName,
    /// The time is outside the years 0 to 9999.
    TimeOutOfRange,
    /// The access key, region or service is too long for the credential scope.
    ScopeTooLong,
}

impl fmt::Display for SigV4Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TooManyHeaders => "too many headers to sign",
            Self::TooManyQueryParams => "too many query parameters to sign",
            Self::InvalidHeaderValue => "a header value contains a control character",
            Self::InvalidHeaderName => "a header name is empty or contains an invalid character",
            Self::TimeOutOfRange => "the signing time is out of range",
            Self::ScopeTooLong => "the access key, region or service name is too long",
        })
    }
}

impl core::error::Error for SigV4Error {}

/// Access key, secret key and, for temporary credentials, the session token.
#[derive(Clone, Copy)]
pub struct Credentials<'a> {
    /// The access key id.
    pub access_key_id: &'a str,
    /// The secret access key.
    pub secret_access_key: &'a str,
    /// The session token of temporary credentials.
    pub session_token: Option<&'a str>,
}

impl fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"**redacted**")
            .field("session_token", &self.session_token.map(|_| "**redacted**"))
            .finish()
    }
}

/// The request to sign.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `PUT`, ...
    pub method: &'a str,
    /// The host (with `:port` unless it is the scheme's default), used when `headers` has no
    /// `host`.
    pub host: &'a str,
    /// The path as sent, percent-encoded (`/bucket/dir/key%20name`); empty means `/`.
    pub path: &'a str,
    /// Decoded query parameters, in any order.
    pub query: &'a [(&'a str, &'a str)],
    /// Headers, in any order, names in any case.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body's SHA-256 in lower-case hex, or [`UNSIGNED_PAYLOAD`].
    pub payload_hash: &'a str,
}

/// Where and when a request is signed.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The region (`us-east-1`; S3-compatible services often accept any).
    pub region: &'a str,
    /// The service (`s3`).
    pub service: &'a str,
    /// The time of signing (whole seconds are used).
    pub time: Timestamp,
}

/// `YYYYMMDDTHHMMSSZ` and the date part.
#[derive(Clone, Copy, PartialEq, Eq)]
struct AmzDate([u8; 16]);

impl AmzDate {
    fn new(t: Timestamp) -> Result<Self, SigV4Error> {
        let days = t.secs.div_euclid(86_400);
        let secs = t.secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        if !(0..=9999).contains(&y) {
            return Err(SigV4Error::TimeOutOfRange);
        }
        let mut out = [0u8; 16];
        let mut put = |at: usize, v: i64, width: usize| {
            let mut v = v;
            for i in (0..width).rev() {
                if let Some(b) = out.get_mut(at + i) {
                    *b = b'0' + (v % 10) as u8;
                }
                v /= 10;
            }
        };
        put(0, y, 4);
        put(4, m, 2);
        put(6, d, 2);
        put(9, secs / 3600, 2);
        put(11, secs / 60 % 60, 2);
        put(13, secs % 60, 2);
        out[8] = b'T';
        out[15] = b'Z';
        Ok(Self(out))
    }

    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.0).unwrap_or("")
    }

    fn date(&self) -> &str {
        self.as_str().get(..8).unwrap_or("")
    }
}

impl fmt::Debug for AmzDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A derived signing key for one day, region and service. Keep it to sign many requests
/// without redoing the four HMACs.
#[derive(Clone)]
pub struct SigningKey {
    key: [u8; 32],
    date: [u8; 8],
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("date", &core::str::from_utf8(&self.date).unwrap_or("")).finish()
    }
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = <HmacSha256 as KeyInit>::new_from_slice(key) else { return [0; 32] };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

impl SigningKey {
    /// Derives the key for `scope`'s day, region and service.
    pub fn derive(secret_access_key: &str, scope: &Scope<'_>) -> Result<Self, SigV4Error> {
        let date = AmzDate::new(scope.time)?;
        let k_date = hmac_prefixed_key(secret_access_key.as_bytes(), date.date().as_bytes());
        let k_region = hmac(&k_date, &[scope.region.as_bytes()]);
        let k_service = hmac(&k_region, &[scope.service.as_bytes()]);
        let key = hmac(&k_service, &[b"aws4_request"]);
        let mut d = [0u8; 8];
        d.copy_from_slice(date.date().as_bytes());
        Ok(Self { key, date: d })
    }

    /// Whether this key was derived for `scope`'s day (region and service are the caller's to
    /// match).
    pub fn is_for_day(&self, scope: &Scope<'_>) -> bool {
        AmzDate::new(scope.time).is_ok_and(|d| d.date().as_bytes() == self.date)
    }
}

/// HMAC-SHA256 keyed with `"AWS4" + secret`, over `data`, with no allocation.
fn hmac_prefixed_key(secret: &[u8], data: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut key = [0u8; BLOCK];
    if secret.len() + 4 <= BLOCK {
        key[..4].copy_from_slice(b"AWS4");
        if let Some(rest) = key.get_mut(4..4 + secret.len()) {
            rest.copy_from_slice(secret);
        }
        hmac(key.get(..4 + secret.len()).unwrap_or(&key), &[data])
    } else {
        // A key longer than the block is replaced by its hash (RFC 2104).
        let mut h = Sha256::new();
        h.update(b"AWS4");
        h.update(secret);
        let digest: [u8; 32] = h.finalize().into();
        hmac(&digest, &[data])
    }
}

/// What [`sign_headers`] adds to a request.
#[derive(Clone)]
pub struct SignedHeaders<'a> {
    date: AmzDate,
    /// The `x-amz-content-sha256` value (the payload hash), if S3-style.
    pub content_sha256: Option<&'a str>,
    /// The `x-amz-security-token` value, with temporary credentials.
    pub security_token: Option<&'a str>,
    authorization: Authorization<'a>,
}

impl fmt::Debug for SignedHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedHeaders")
            .field("x_amz_date", &self.date)
            .field("signature", &self.signature())
            .finish_non_exhaustive()
    }
}

impl<'a> SignedHeaders<'a> {
    /// The `x-amz-date` value.
    pub fn x_amz_date(&self) -> &str {
        self.date.as_str()
    }

    /// The `authorization` value, to format (`to_string()`, or `write!` into a fixed buffer).
    pub fn authorization(&self) -> &Authorization<'a> {
        &self.authorization
    }

    /// The signature, in hex.
    pub fn signature(&self) -> &str {
        self.authorization.signature()
    }
}

/// The value of the `authorization` header; formats as
/// `AWS4-HMAC-SHA256 Credential=AK/DATE/REGION/SERVICE/aws4_request, SignedHeaders=a;b, Signature=HEX`.
#[derive(Clone)]
pub struct Authorization<'a> {
    access_key_id: &'a str,
    date: AmzDate,
    region: &'a str,
    service: &'a str,
    names: Names<'a>,
    signature: [u8; 64],
}

impl Authorization<'_> {
    /// The signature, in hex.
    pub fn signature(&self) -> &str {
        core::str::from_utf8(&self.signature).unwrap_or("")
    }
}

impl fmt::Display for Authorization<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{ALGORITHM} Credential={}/{}/{}/{}/aws4_request, SignedHeaders={}, Signature={}",
            self.access_key_id,
            self.date.date(),
            self.region,
            self.service,
            self.names,
            self.signature()
        )
    }
}

impl fmt::Debug for Authorization<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A header or query value: given by the caller, or computed by the signer.
#[derive(Clone, Copy)]
enum Val<'a> {
    Str(&'a str),
    Date,
    Credential,
    Expires,
    SignedHeaders,
}

/// The values the signer computes, in fixed buffers.
struct Computed {
    date: AmzDate,
    credential: heapless::String<512>,
    expires: heapless::String<20>,
    signed_headers: heapless::String<2048>,
}

impl Computed {
    fn get<'s>(&'s self, v: &Val<'s>) -> &'s str {
        match *v {
            Val::Str(s) => s,
            Val::Date => self.date.as_str(),
            Val::Credential => &self.credential,
            Val::Expires => &self.expires,
            Val::SignedHeaders => &self.signed_headers,
        }
    }
}

/// One header to sign: its name (any case), value and position among the caller's headers.
#[derive(Clone, Copy)]
struct Header<'a> {
    name: &'a str,
    value: Val<'a>,
    order: usize,
}

/// The signed header names, sorted and deduplicated, lower-cased when written.
#[derive(Clone)]
struct Names<'a>(heapless::Vec<&'a str, { MAX_HEADERS + 4 }>);

impl fmt::Display for Names<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, n) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_char(';')?;
            }
            write_lower(f, n)?;
        }
        Ok(())
    }
}

fn write_lower(f: &mut dyn fmt::Write, s: &str) -> fmt::Result {
    for c in s.chars() {
        f.write_char(c.to_ascii_lowercase())?;
    }
    Ok(())
}

fn cmp_lower(a: &str, b: &str) -> core::cmp::Ordering {
    a.bytes().map(|c| c.to_ascii_lowercase()).cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

fn is_token(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Writes `value` with leading and trailing spaces removed and runs of spaces collapsed.
fn write_trimmed(f: &mut dyn fmt::Write, value: &str) -> fmt::Result {
    let mut previous_space = false;
    for c in value.trim_matches(' ').chars() {
        if c == ' ' && previous_space {
            continue;
        }
        previous_space = c == ' ';
        f.write_char(c)?;
    }
    Ok(())
}

/// A `fmt::Write` that feeds a SHA-256.
struct HashWriter(Sha256);

impl fmt::Write for HashWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.update(s.as_bytes());
        Ok(())
    }
}

/// One hex digit for the low four bits of `n`.
fn hex_digit(n: u8, upper: bool) -> u8 {
    match n & 15 {
        d @ 0..=9 => b'0' + d,
        d if upper => b'A' + d - 10,
        d => b'a' + d - 10,
    }
}

fn hex32(bytes: &[u8; 32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&[hex_digit(b >> 4, false), hex_digit(*b, false)]);
    }
    out
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// The SigV4 encoding of a query name or value: every byte but `A-Z a-z 0-9 - . _ ~` as `%XX`.
fn encoded(s: &str) -> impl Iterator<Item = u8> + '_ {
    s.bytes().flat_map(|b| {
        let (bytes, n) =
            if unreserved(b) { ([b, 0, 0], 1) } else { ([b'%', hex_digit(b >> 4, true), hex_digit(b, true)], 3) };
        bytes.into_iter().take(n)
    })
}

fn write_encoded(f: &mut dyn fmt::Write, s: &str) -> fmt::Result {
    for b in encoded(s) {
        f.write_char(char::from(b))?;
    }
    Ok(())
}

/// Writes `name=value` pairs with the SigV4 query encoding, joined by `&`, in the order given.
/// Use it to build the query string sent on the wire for a request signed with [`sign_headers`].
pub fn write_encoded_query(f: &mut dyn fmt::Write, query: &[(&str, &str)]) -> fmt::Result {
    for (i, (k, v)) in query.iter().enumerate() {
        if i > 0 {
            f.write_char('&')?;
        }
        write_encoded(f, k)?;
        f.write_char('=')?;
        write_encoded(f, v)?;
    }
    Ok(())
}

/// Writes an object key as a path: every byte but `A-Z a-z 0-9 - . _ ~ /` as `%XX`.
pub fn write_encoded_path(f: &mut dyn fmt::Write, key: &str) -> fmt::Result {
    for (i, part) in key.split('/').enumerate() {
        if i > 0 {
            f.write_char('/')?;
        }
        write_encoded(f, part)?;
    }
    Ok(())
}

/// The canonical request's parts, sorted, with the computed values beside them.
struct Canonical<'a> {
    headers: heapless::Vec<Header<'a>, { MAX_HEADERS + 4 }>,
    query: heapless::Vec<(&'a str, Val<'a>), { MAX_QUERY_PARAMS + 8 }>,
    computed: Computed,
}

impl<'a> Canonical<'a> {
    fn new(req: &Request<'a>, credentials: &Credentials<'a>, scope: &Scope<'a>) -> Result<Self, SigV4Error> {
        let date = AmzDate::new(scope.time)?;
        let mut credential = heapless::String::new();
        write!(
            credential,
            "{}/{}/{}/{}/aws4_request",
            credentials.access_key_id,
            date.date(),
            scope.region,
            scope.service
        )
        .map_err(|_| SigV4Error::ScopeTooLong)?;
        let computed =
            Computed { date, credential, expires: heapless::String::new(), signed_headers: heapless::String::new() };
        let mut c = Self { headers: heapless::Vec::new(), query: heapless::Vec::new(), computed };
        if req.headers.len() > MAX_HEADERS {
            return Err(SigV4Error::TooManyHeaders);
        }
        if req.query.len() > MAX_QUERY_PARAMS {
            return Err(SigV4Error::TooManyQueryParams);
        }
        for (order, (name, value)) in req.headers.iter().enumerate() {
            if !is_token(name) {
                return Err(SigV4Error::InvalidHeaderName);
            }
            if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
                return Err(SigV4Error::InvalidHeaderValue);
            }
            if NEVER_SIGNED.iter().any(|n| name.eq_ignore_ascii_case(n)) {
                continue;
            }
            c.push_header(name, Val::Str(value), order)?;
        }
        if !c.headers.iter().any(|h| h.name.eq_ignore_ascii_case("host")) {
            c.push_header("host", Val::Str(req.host), usize::MAX)?;
        }
        for (k, v) in req.query {
            c.push_query(k, Val::Str(v))?;
        }
        Ok(c)
    }

    fn push_header(&mut self, name: &'a str, value: Val<'a>, order: usize) -> Result<(), SigV4Error> {
        self.headers.push(Header { name, value, order }).map_err(|_| SigV4Error::TooManyHeaders)
    }

    fn push_query(&mut self, name: &'a str, value: Val<'a>) -> Result<(), SigV4Error> {
        self.query.push((name, value)).map_err(|_| SigV4Error::TooManyQueryParams)
    }

    /// Adds a header the signer sets, replacing any the caller gave with that name.
    fn set_header(&mut self, name: &'a str, value: Val<'a>) -> Result<(), SigV4Error> {
        self.headers.retain(|h| !h.name.eq_ignore_ascii_case(name));
        self.push_header(name, value, usize::MAX)
    }

    /// Sorts the headers and returns their names.
    fn sort_headers(&mut self) -> Names<'a> {
        self.headers.sort_unstable_by(|a, b| cmp_lower(a.name, b.name).then(a.order.cmp(&b.order)));
        let mut names = Names(heapless::Vec::new());
        for h in &self.headers {
            if names.0.last().is_none_or(|last| !last.eq_ignore_ascii_case(h.name)) {
                // There are no more names than headers, so this always fits.
                let _ = names.0.push(h.name);
            }
        }
        names
    }

    fn sort_query(&mut self) {
        let computed = &self.computed;
        self.query.sort_unstable_by(|a, b| {
            encoded(a.0).cmp(encoded(b.0)).then_with(|| encoded(computed.get(&a.1)).cmp(encoded(computed.get(&b.1))))
        });
    }

    /// Writes the canonical request.
    fn write(&self, f: &mut dyn fmt::Write, req: &Request<'_>, names: &Names<'_>) -> fmt::Result {
        f.write_str(req.method)?;
        f.write_char('\n')?;
        f.write_str(if req.path.is_empty() { "/" } else { req.path })?;
        f.write_char('\n')?;
        for (i, (k, v)) in self.query.iter().enumerate() {
            if i > 0 {
                f.write_char('&')?;
            }
            write_encoded(f, k)?;
            f.write_char('=')?;
            write_encoded(f, self.computed.get(v))?;
        }
        f.write_char('\n')?;
        let mut previous: Option<&str> = None;
        for h in &self.headers {
            match previous {
                Some(p) if p.eq_ignore_ascii_case(h.name) => f.write_char(',')?,
                _ => {
                    if previous.is_some() {
                        f.write_char('\n')?;
                    }
                    write_lower(f, h.name)?;
                    f.write_char(':')?;
                }
            }
            write_trimmed(f, self.computed.get(&h.value))?;
            previous = Some(h.name);
        }
        f.write_str("\n\n")?;
        write!(f, "{names}")?;
        f.write_char('\n')?;
        f.write_str(req.payload_hash)
    }

    /// The signature of the canonical request.
    fn sign(&self, req: &Request<'_>, names: &Names<'_>, scope: &Scope<'_>, key: &SigningKey) -> [u8; 64] {
        let mut h = HashWriter(Sha256::new());
        // Writing into a hasher cannot fail.
        let _ = self.write(&mut h, req, names);
        let canonical_hash = hex32(&h.0.finalize().into());
        let Ok(mut mac) = <HmacSha256 as KeyInit>::new_from_slice(&key.key) else { return [b'0'; 64] };
        let date = &self.computed.date;
        for part in [ALGORITHM, "\n", date.as_str(), "\n", date.date(), "/", scope.region, "/", scope.service] {
            mac.update(part.as_bytes());
        }
        mac.update(b"/aws4_request\n");
        mac.update(&canonical_hash);
        hex32(&mac.finalize().into_bytes().into())
    }
}

/// Options of [`sign_headers`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct HeaderOptions {
    /// Add and sign `x-amz-content-sha256` (S3 requires it; other services do not use it).
    pub content_sha256_header: bool,
}

impl Default for HeaderOptions {
    fn default() -> Self {
        Self { content_sha256_header: true }
    }
}

/// Signs `req` with headers: returns the values of `x-amz-date`, `x-amz-content-sha256` (S3),
/// `x-amz-security-token` (temporary credentials) and `authorization` to add to it. `key` must
/// have been derived for `scope` (see [`SigningKey::derive`]).
pub fn sign_headers<'a>(
    req: &Request<'a>,
    credentials: &Credentials<'a>,
    scope: &Scope<'a>,
    key: &SigningKey,
    options: HeaderOptions,
) -> Result<SignedHeaders<'a>, SigV4Error> {
    let (c, names) = headers_canonical(req, credentials, scope, options)?;
    let signature = c.sign(req, &names, scope, key);
    let date = c.computed.date;
    Ok(SignedHeaders {
        date,
        content_sha256: options.content_sha256_header.then_some(req.payload_hash),
        security_token: credentials.session_token,
        authorization: Authorization {
            access_key_id: credentials.access_key_id,
            date,
            region: scope.region,
            service: scope.service,
            names,
            signature,
        },
    })
}

/// The canonical request of [`sign_headers`], sorted, with its signed header names.
fn headers_canonical<'a>(
    req: &Request<'a>,
    credentials: &Credentials<'a>,
    scope: &Scope<'a>,
    options: HeaderOptions,
) -> Result<(Canonical<'a>, Names<'a>), SigV4Error> {
    let mut c = Canonical::new(req, credentials, scope)?;
    c.set_header("x-amz-date", Val::Date)?;
    if let Some(token) = credentials.session_token {
        c.set_header("x-amz-security-token", Val::Str(token))?;
    }
    if options.content_sha256_header {
        c.set_header("x-amz-content-sha256", Val::Str(req.payload_hash))?;
    }
    let names = c.sort_headers();
    c.sort_query();
    Ok((c, names))
}

/// The canonical request [`sign_headers`] hashes, written out (for tests and debugging; it
/// holds no secret, but does hold the session token).
pub fn write_canonical_request(
    f: &mut dyn fmt::Write,
    req: &Request<'_>,
    credentials: &Credentials<'_>,
    scope: &Scope<'_>,
    options: HeaderOptions,
) -> Result<(), SigV4Error> {
    let (c, names) = headers_canonical(req, credentials, scope, options)?;
    c.write(f, req, &names).map_err(|_| SigV4Error::ScopeTooLong)
}

/// A presigned request: the query parameters to append to its URL.
#[derive(Clone)]
pub struct Presigned<'a> {
    credential: heapless::String<512>,
    date: AmzDate,
    expires: heapless::String<20>,
    signed_headers: heapless::String<2048>,
    security_token: Option<&'a str>,
    signature: [u8; 64],
}

impl fmt::Debug for Presigned<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Presigned").field("date", &self.date).field("expires", &self.expires.as_str()).finish()
    }
}

impl Presigned<'_> {
    /// The signature, in hex.
    pub fn signature(&self) -> &str {
        core::str::from_utf8(&self.signature).unwrap_or("")
    }

    /// Writes `X-Amz-Algorithm=...&...&X-Amz-Signature=...`, encoded, to append to the URL's
    /// query (after the request's own parameters and a `&`, or after `?`).
    pub fn write_query(&self, f: &mut dyn fmt::Write) -> fmt::Result {
        let mut pairs: heapless::Vec<(&str, &str), 7> = heapless::Vec::new();
        let all = [
            ("X-Amz-Algorithm", ALGORITHM),
            ("X-Amz-Credential", &self.credential),
            ("X-Amz-Date", self.date.as_str()),
            ("X-Amz-Expires", &self.expires),
            ("X-Amz-SignedHeaders", &self.signed_headers),
        ];
        for p in all {
            pairs.push(p).map_err(|_| fmt::Error)?;
        }
        if let Some(t) = self.security_token {
            pairs.push(("X-Amz-Security-Token", t)).map_err(|_| fmt::Error)?;
        }
        pairs.push(("X-Amz-Signature", self.signature())).map_err(|_| fmt::Error)?;
        write_encoded_query(f, &pairs)
    }
}

/// Presigns `req` (query authentication): anyone holding the resulting URL may send this
/// request until `expires_secs` after the scope's time. S3 presigned URLs usually use
/// [`UNSIGNED_PAYLOAD`] as the payload hash. `key` must have been derived for `scope`.
pub fn presign<'a>(
    req: &Request<'a>,
    credentials: &Credentials<'a>,
    scope: &Scope<'a>,
    key: &SigningKey,
    expires_secs: u32,
) -> Result<Presigned<'a>, SigV4Error> {
    let (c, names) = presign_canonical(req, credentials, scope, expires_secs)?;
    let signature = c.sign(req, &names, scope, key);
    Ok(Presigned {
        credential: c.computed.credential,
        date: c.computed.date,
        expires: c.computed.expires,
        signed_headers: c.computed.signed_headers,
        security_token: credentials.session_token,
        signature,
    })
}

/// The canonical request of [`presign`], sorted, with its signed header names.
fn presign_canonical<'a>(
    req: &Request<'a>,
    credentials: &Credentials<'a>,
    scope: &Scope<'a>,
    expires_secs: u32,
) -> Result<(Canonical<'a>, Names<'a>), SigV4Error> {
    let mut c = Canonical::new(req, credentials, scope)?;
    // SDK headers a presigned URL's user will not send, as the AWS SDKs leave them out.
    c.headers.retain(|h| {
        !h.name.eq_ignore_ascii_case("x-amz-user-agent") && !h.name.eq_ignore_ascii_case("x-amz-checksum-mode")
    });
    write!(c.computed.expires, "{expires_secs}").map_err(|_| SigV4Error::ScopeTooLong)?;
    c.push_query("X-Amz-Algorithm", Val::Str(ALGORITHM))?;
    c.push_query("X-Amz-Credential", Val::Credential)?;
    c.push_query("X-Amz-Date", Val::Date)?;
    c.push_query("X-Amz-Expires", Val::Expires)?;
    c.push_query("X-Amz-SignedHeaders", Val::SignedHeaders)?;
    if let Some(token) = credentials.session_token {
        c.push_query("X-Amz-Security-Token", Val::Str(token))?;
    }
    let names = c.sort_headers();
    write!(c.computed.signed_headers, "{names}").map_err(|_| SigV4Error::TooManyHeaders)?;
    c.sort_query();
    Ok((c, names))
}

/// The canonical request [`presign`] hashes, written out (for tests and debugging).
pub fn write_presign_canonical_request(
    f: &mut dyn fmt::Write,
    req: &Request<'_>,
    credentials: &Credentials<'_>,
    scope: &Scope<'_>,
    expires_secs: u32,
) -> Result<(), SigV4Error> {
    let (c, names) = presign_canonical(req, credentials, scope, expires_secs)?;
    c.write(f, req, &names).map_err(|_| SigV4Error::ScopeTooLong)
}
