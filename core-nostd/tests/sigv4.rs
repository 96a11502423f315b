//! SigV4 against the official AWS test suite (the cases that apply to S3, vendored under
//! `tests/fixtures/aws-sigv4-v4`), plus signing-key caching and input validation.

use std::fs;
use std::path::{Path, PathBuf};

use cairn_core::Timestamp;
use cairn_core::sigv4::*;
use sha2::Digest;

struct Case {
    name: String,
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    access_key: String,
    secret_key: String,
    token: Option<String>,
    region: String,
    service: String,
    time: Timestamp,
    expires: u32,
    /// The suite's `sign_body`: the payload hash is also sent (and signed) as x-amz-content-sha256.
    sign_body: bool,
}

/// `application/x-www-form-urlencoded` decoding, as the suite's harness parses queries: `+` is
/// a space, `%XX` a byte, anything else (a stray `%`) stays as it is.
fn form_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit() => {
                out.push(u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap(), 16).unwrap());
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (form_decode(k), form_decode(v)),
            None => (form_decode(p), String::new()),
        })
        .collect()
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn parse_time(s: &str) -> Timestamp {
    // 2015-08-30T12:36:00Z
    let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().unwrap();
    let days = days_from_civil(n(0..4), n(5..7), n(8..10));
    Timestamp::new(days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19), 0)
}

fn load(dir: &Path) -> Case {
    let ctx: serde_json::Value = serde_json::from_str(&fs::read_to_string(dir.join("context.json")).unwrap()).unwrap();
    let raw = fs::read_to_string(dir.join("request.txt")).unwrap();
    let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let first: Vec<&str> = lines.next().unwrap().split(' ').collect();
    let target = first[1..first.len() - 1].join(" ");
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with(' ') || line.starts_with('\t') {
            // A folded continuation line: part of the previous value.
            let last = headers.last_mut().unwrap();
            last.1 = format!("{} {}", last.1, line.trim());
        } else {
            let (k, v) = line.split_once(':').unwrap();
            headers.push((k.to_string(), v.to_string()));
        }
    }
    let creds = &ctx["credentials"];
    Case {
        name: dir.file_name().unwrap().to_string_lossy().into_owned(),
        method: first[0].to_string(),
        path: path.to_string(),
        query: parse_query(query),
        headers,
        body: body.as_bytes().to_vec(),
        access_key: creds["access_key_id"].as_str().unwrap().to_string(),
        secret_key: creds["secret_access_key"].as_str().unwrap().to_string(),
        token: creds["token"].as_str().map(String::from),
        region: ctx["region"].as_str().unwrap().to_string(),
        service: ctx["service"].as_str().unwrap().to_string(),
        time: parse_time(ctx["timestamp"].as_str().unwrap()),
        expires: ctx["expiration_in_seconds"].as_u64().unwrap() as u32,
        sign_body: ctx["sign_body"].as_bool().unwrap(),
    }
}

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/aws-sigv4-v4");
    let mut dirs: Vec<PathBuf> =
        fs::read_dir(root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    dirs
}

fn expected(dir: &Path, file: &str) -> String {
    fs::read_to_string(dir.join(file)).unwrap().trim_end_matches('\n').to_string()
}

#[test]
fn the_official_suite_passes_for_every_case_that_applies_to_s3() {
    let dirs = cases();
    assert_eq!(dirs.len(), 29, "vendored cases");
    for dir in dirs {
        let c = load(&dir);
        let query: Vec<(&str, &str)> = c.query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let headers: Vec<(&str, &str)> = c.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let payload: String = sha2::Sha256::digest(&c.body).iter().map(|b| format!("{b:02x}")).collect();
        let req = Request {
            method: &c.method,
            host: "example.amazonaws.com",
            path: &c.path,
            query: &query,
            headers: &headers,
            payload_hash: &payload,
        };
        let creds = Credentials {
            access_key_id: &c.access_key,
            secret_access_key: &c.secret_key,
            session_token: c.token.as_deref(),
        };
        let scope = Scope { region: &c.region, service: &c.service, time: c.time };
        let key = SigningKey::derive(&c.secret_key, &scope).unwrap();
        let mut options = HeaderOptions::default();
        options.content_sha256_header = c.sign_body;

        let mut canonical = String::new();
        write_canonical_request(&mut canonical, &req, &creds, &scope, options).unwrap();
        assert_eq!(canonical, expected(&dir, "header-canonical-request.txt"), "{}: canonical request", c.name);
        let signed = sign_headers(&req, &creds, &scope, &key, options).unwrap();
        assert_eq!(signed.signature(), expected(&dir, "header-signature.txt"), "{}: signature", c.name);
        let auth_line = expected(&dir, "header-signed-request.txt")
            .lines()
            .find_map(|l| l.strip_prefix("Authorization:").map(String::from))
            .unwrap();
        assert_eq!(signed.authorization().to_string(), auth_line, "{}: authorization", c.name);
        assert_eq!(signed.x_amz_date(), "20150830T123600Z");

        let mut canonical = String::new();
        write_presign_canonical_request(&mut canonical, &req, &creds, &scope, c.expires).unwrap();
        assert_eq!(canonical, expected(&dir, "query-canonical-request.txt"), "{}: presign canonical", c.name);
        let presigned = presign(&req, &creds, &scope, &key, c.expires).unwrap();
        assert_eq!(presigned.signature(), expected(&dir, "query-signature.txt"), "{}: presign", c.name);
        let mut q = String::new();
        presigned.write_query(&mut q).unwrap();
        assert!(q.starts_with("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2F"), "{q}");
        assert!(q.ends_with(&format!("X-Amz-Signature={}", presigned.signature())), "{q}");
    }
}

#[test]
fn a_signing_key_is_per_day_and_reusable() {
    let day = Scope { region: "us-east-1", service: "s3", time: Timestamp::new(1_440_938_160, 0) };
    let later = Scope { time: Timestamp::new(1_440_938_160 + 3600, 0), ..day };
    let tomorrow = Scope { time: Timestamp::new(1_440_938_160 + 86_400, 0), ..day };
    let key = SigningKey::derive("secret", &day).unwrap();
    assert!(key.is_for_day(&later));
    assert!(!key.is_for_day(&tomorrow));
    // A secret longer than HMAC's block is handled (hashed) as HMAC specifies.
    let long = "x".repeat(200);
    let a = SigningKey::derive(&long, &day).unwrap();
    let b = SigningKey::derive(&long[..199], &day).unwrap();
    let req = Request { method: "GET", host: "h", path: "/", query: &[], headers: &[], payload_hash: UNSIGNED_PAYLOAD };
    let creds = Credentials { access_key_id: "AK", secret_access_key: &long, session_token: None };
    let s1 = sign_headers(&req, &creds, &day, &a, HeaderOptions::default()).unwrap();
    let s2 = sign_headers(&req, &creds, &day, &b, HeaderOptions::default()).unwrap();
    assert_ne!(s1.signature(), s2.signature());
    assert_eq!(s1.content_sha256, Some(UNSIGNED_PAYLOAD));
}

#[test]
fn bad_input_is_refused_not_signed() {
    let scope = Scope { region: "r", service: "s3", time: Timestamp::new(0, 0) };
    let key = SigningKey::derive("k", &scope).unwrap();
    let creds = Credentials { access_key_id: "AK", secret_access_key: "k", session_token: None };
    let sign = |headers: &[(&str, &str)], query: &[(&str, &str)]| {
        let req = Request { method: "GET", host: "h", path: "/", query, headers, payload_hash: UNSIGNED_PAYLOAD };
        sign_headers(&req, &creds, &scope, &key, HeaderOptions::default()).map(|s| s.signature().to_string())
    };
    assert_eq!(sign(&[("x-a", "line\r\nbreak")], &[]), Err(SigV4Error::InvalidHeaderValue));
    assert_eq!(sign(&[("bad name", "v")], &[]), Err(SigV4Error::InvalidHeaderName));
    assert_eq!(sign(&[("", "v")], &[]), Err(SigV4Error::InvalidHeaderName));
    let many: Vec<(&str, &str)> = (0..MAX_HEADERS + 1).map(|_| ("x-a", "v")).collect();
    assert_eq!(sign(&many, &[]), Err(SigV4Error::TooManyHeaders));
    let many_q: Vec<(&str, &str)> = (0..MAX_QUERY_PARAMS + 1).map(|_| ("a", "v")).collect();
    assert_eq!(sign(&[], &many_q), Err(SigV4Error::TooManyQueryParams));
    assert!(sign(&many[..MAX_HEADERS], &many_q[..MAX_QUERY_PARAMS]).is_ok());
    let far = Scope { time: Timestamp::new(i64::MAX / 2, 0), ..scope };
    assert_eq!(SigningKey::derive("k", &far).err(), Some(SigV4Error::TimeOutOfRange));
    // Headers never signed (proxies change them) do not change the signature.
    assert_eq!(sign(&[("User-Agent", "a")], &[]), sign(&[("user-agent", "b")], &[]));
}

#[test]
fn encoders_write_what_is_signed() {
    let mut q = String::new();
    write_encoded_query(&mut q, &[("prefix", "a b/c+d~"), ("list-type", "2"), ("empty", "")]).unwrap();
    assert_eq!(q, "prefix=a%20b%2Fc%2Bd~&list-type=2&empty=");
    let mut p = String::new();
    write_encoded_path(&mut p, "/bucket/dir/naïve file+1").unwrap();
    assert_eq!(p, "/bucket/dir/na%C3%AFve%20file%2B1");
}
