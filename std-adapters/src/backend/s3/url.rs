//! The S3 URL: endpoint or vendor, bucket, directory and options.

use super::vendors::{resolve_template, vendor};
use super::{S3Config, validate_directory};
use crate::backend::Credentials;
use crate::backend::connection::{ConnectionOptions, OPTION_NAMES};
use crate::backend::url::{bad, flag, options, refuse_secret_options};
use crate::error::{Error, ErrorKind};

/// The options of the S3 type besides the connection options.
const OWN_OPTIONS: [&str; 7] = ["vendor", "region", "path-style", "storage-class", "account", "endpoint", "access-key"];

/// `s3:https://HOST[:PORT]/BUCKET[/DIR][?OPTIONS]` or `s3:VENDOR/BUCKET[/DIR][?OPTIONS]` (see
/// [`crate::backend::destination`]).
pub(crate) fn parse(url: &str, rest: &str, credentials: Credentials) -> Result<S3Config, Error> {
    let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
    refuse_secret_options(
        url,
        query,
        &["secret-key", "secret"],
        "the secret key cannot go in the URL",
        "set AWS_SECRET_ACCESS_KEY (or keep it in the catalog)",
    )?;
    let mut connection = ConnectionOptions::default();
    let mut opts: Vec<(String, String)> = Vec::new();
    options(url, query, &mut connection, &OPTION_NAMES, &OWN_OPTIONS, |k, v| {
        opts.push((k.to_string(), v));
        Ok(())
    })?;
    let opt = |name: &str| opts.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());

    // Endpoint and bucket path: explicit `https://HOST/BUCKET/DIR`, or `VENDOR/BUCKET/DIR`.
    let (endpoint, path, default_path_style, region) = if let Some((scheme, after)) = location.split_once("://") {
        let (host, path) = after.split_once('/').unwrap_or((after, ""));
        if host.is_empty() {
            return Err(bad(url, "no host in the endpoint"));
        }
        // `vendor=` with an explicit endpoint brings that vendor's addressing and region list.
        let preset = match opt("vendor") {
            Some(id) => Some(vendor(id).ok_or_else(|| bad(url, format!("unknown vendor {id:?}")))?),
            None => None,
        };
        let default_region =
            preset.and_then(|v| v.regions.first().copied()).or(aws_region(host)).unwrap_or("us-east-1");
        let region = opt("region").unwrap_or(default_region).to_string();
        if let Some(v) = preset.filter(|v| !v.regions.is_empty() && !v.regions.contains(&region.as_str())) {
            return Err(bad(url, format!("{} has no region {region:?}", v.name))
                .with_hint(format!("regions: {}", v.regions.join(", "))));
        }
        let path_style = preset.map_or(!host.ends_with(".amazonaws.com"), |v| v.path_style);
        (format!("{scheme}://{host}"), path.to_string(), path_style, region)
    } else {
        let (vendor_id, path) = location.split_once('/').unwrap_or((location, ""));
        if vendor_id == "custom" {
            let template = opt("endpoint").ok_or_else(|| {
                bad(url, "the custom vendor needs endpoint=TEMPLATE (like https://s3.{region}.example.com)")
            })?;
            let region = opt("region").unwrap_or("us-east-1").to_string();
            let (endpoint, virtual_hosted) =
                resolve_template(template, &region, opt("account")).map_err(|e| bad(url, e))?;
            (endpoint, path.to_string(), !virtual_hosted, region)
        } else {
            let v = vendor(vendor_id).ok_or_else(|| {
                bad(url, format!("unknown vendor {vendor_id:?}")).with_hint(format!(
                    "use s3:https://ENDPOINT/BUCKET/DIR, or a vendor: {}, custom",
                    super::vendors::VENDORS.iter().map(|v| v.id).collect::<Vec<_>>().join(", ")
                ))
            })?;
            if v.endpoint.is_empty() {
                return Err(bad(url, format!("{} needs its endpoint: s3:https://HOST:PORT/BUCKET/DIR", v.name)));
            }
            let region = opt("region").or(v.regions.first().copied()).unwrap_or("us-east-1").to_string();
            if !v.regions.is_empty() && !v.regions.contains(&region.as_str()) {
                return Err(bad(url, format!("{} has no region {region:?}", v.name))
                    .with_hint(format!("regions: {}", v.regions.join(", "))));
            }
            let (endpoint, _) = resolve_template(v.endpoint, &region, opt("account")).map_err(|e| bad(url, e))?;
            (endpoint, path.to_string(), v.path_style, region)
        }
    };
    let (bucket, dir) = path.split_once('/').unwrap_or((&path, ""));
    if bucket.is_empty() {
        return Err(bad(url, "no bucket: write s3:https://HOST/BUCKET/DIR"));
    }
    if !super::valid_bucket_name(bucket) {
        return Err(bad(url, format!("{bucket:?} is not a bucket name (3 to 63 of a-z, 0-9, '.', '-')")));
    }
    let directory = format!("/{}", dir.trim_end_matches('/'));
    validate_directory(&directory).map_err(|e| bad(url, e))?;

    let access_key = opt("access-key").map(String::from).or(credentials.access_key).ok_or_else(|| {
        Error::new(ErrorKind::InvalidInput, "no S3 access key")
            .with_hint("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    })?;
    let secret_key = credentials.secrets.s3_secret_key.ok_or_else(|| {
        Error::new(ErrorKind::InvalidInput, "no S3 secret key").with_hint("set AWS_SECRET_ACCESS_KEY")
    })?;
    let mut c = S3Config::new(&endpoint, bucket, &region, &access_key, secret_key);
    c.session_token = credentials.session_token;
    c.directory = directory;
    c.path_style = opt("path-style").map(|v| flag(url, "path-style", v)).transpose()?.unwrap_or(default_path_style);
    c.connection = connection;
    c.pack_storage_class = opt("storage-class").filter(|v| !v.is_empty()).map(String::from);
    Ok(c)
}

/// The region in an AWS endpoint host (`s3.eu-west-1.amazonaws.com`).
fn aws_region(host: &str) -> Option<&str> {
    let rest = host.strip_suffix(".amazonaws.com")?;
    let region = rest.rsplit('.').next()?;
    (region != "s3" && !region.is_empty()).then_some(region)
}

/// The URL to show: no secret in it.
pub(crate) fn show(c: &S3Config) -> String {
    let dir = if c.directory == "/" { String::new() } else { c.directory.clone() };
    format!("s3:{}/{}{dir}", c.endpoint, c.bucket)
}
