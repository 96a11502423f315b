//! S3 vendor presets: endpoint templates, regions and addressing of the S3-compatible services
//! people use, and the custom template for everything else.
//!
//! A template is a URL with placeholders: `{region}`, `{bucket}` (virtual-hosted addressing puts
//! the bucket in the host name) and, for the two services that need one, `{account}`
//! (Cloudflare R2's account id, Oracle's namespace).

/// One S3-compatible service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vendor {
    /// Short id used in URLs and the catalog (`aws`, `wasabi`, ...).
    pub id: &'static str,
    /// The name people know it by.
    pub name: &'static str,
    /// The endpoint template, without the bucket (addressing adds it).
    pub endpoint: &'static str,
    /// Known regions, the first being the default; empty if any name goes.
    pub regions: &'static [&'static str],
    /// Path-style addressing by default (`endpoint/bucket/key`), else virtual-hosted.
    pub path_style: bool,
    /// A hint for the form.
    pub help: &'static str,
}

/// Every preset, in the order a form lists them.
pub const VENDORS: &[Vendor] = &[
    Vendor {
        id: "aws",
        name: "Amazon S3",
        endpoint: "https://s3.{region}.amazonaws.com",
        regions: &[
            "us-east-1",
            "us-east-2",
            "us-west-1",
            "us-west-2",
            "ca-central-1",
            "ca-west-1",
            "sa-east-1",
            "eu-west-1",
            "eu-west-2",
            "eu-west-3",
            "eu-central-1",
            "eu-central-2",
            "eu-north-1",
            "eu-south-1",
            "eu-south-2",
            "me-south-1",
            "me-central-1",
            "il-central-1",
            "af-south-1",
            "ap-south-1",
            "ap-south-2",
            "ap-east-1",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-southeast-3",
            "ap-southeast-4",
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-northeast-3",
        ],
        path_style: false,
        help: "an IAM user's access key; the bucket's region must match",
    },
    Vendor {
        id: "wasabi",
        name: "Wasabi",
        endpoint: "https://s3.{region}.wasabisys.com",
        regions: &[
            "us-east-1",
            "us-east-2",
            "us-central-1",
            "us-west-1",
            "us-west-2",
            "ca-central-1",
            "eu-central-1",
            "eu-central-2",
            "eu-west-1",
            "eu-west-2",
            "eu-west-3",
            "eu-south-1",
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-southeast-1",
            "ap-southeast-2",
        ],
        path_style: false,
        help: "Wasabi bills deleted data for 90 days: prune less often",
    },
    Vendor {
        id: "b2",
        name: "Backblaze B2",
        endpoint: "https://s3.{region}.backblazeb2.com",
        regions: &["us-west-000", "us-west-001", "us-west-002", "us-west-004", "us-east-005", "eu-central-003"],
        path_style: false,
        help: "B2 through its S3-compatible API (every bucket made since May 2020 has it): an application \
               key, its keyID as access key and applicationKey as secret key (a key limited to the bucket \
               works); the region is in the bucket's S3 endpoint, s3.REGION.backblazeb2.com, on its page",
    },
    Vendor {
        id: "r2",
        name: "Cloudflare R2",
        endpoint: "https://{account}.r2.cloudflarestorage.com",
        regions: &["auto"],
        path_style: true,
        help: "an R2 API token's access key; the account id is in the dashboard's R2 page",
    },
    Vendor {
        id: "digitalocean",
        name: "DigitalOcean Spaces",
        endpoint: "https://{region}.digitaloceanspaces.com",
        regions: &["nyc3", "sfo2", "sfo3", "ams3", "sgp1", "fra1", "syd1", "blr1", "lon1", "tor1", "atl1"],
        path_style: false,
        help: "a Spaces access key",
    },
    Vendor {
        id: "scaleway",
        name: "Scaleway Object Storage",
        endpoint: "https://s3.{region}.scw.cloud",
        regions: &["fr-par", "nl-ams", "pl-waw"],
        path_style: false,
        help: "an API key of the project that owns the bucket",
    },
    Vendor {
        id: "linode",
        name: "Linode (Akamai) Object Storage",
        endpoint: "https://{region}.linodeobjects.com",
        regions: &[
            "us-east-1",
            "us-southeast-1",
            "us-ord-1",
            "us-iad-1",
            "us-lax-1",
            "us-mia-1",
            "us-sea-1",
            "eu-central-1",
            "fr-par-1",
            "nl-ams-1",
            "se-sto-1",
            "it-mil-1",
            "gb-lon-1",
            "ap-south-1",
            "in-maa-1",
            "id-cgk-1",
            "jp-osa-1",
            "br-gru-1",
            "es-mad-1",
        ],
        path_style: false,
        help: "an Object Storage access key",
    },
    Vendor {
        id: "ibm",
        name: "IBM Cloud Object Storage",
        endpoint: "https://s3.{region}.cloud-object-storage.appdomain.cloud",
        regions: &["us-south", "us-east", "eu-gb", "eu-de", "eu-es", "jp-tok", "jp-osa", "au-syd", "ca-tor", "br-sao"],
        path_style: false,
        help: "HMAC credentials of a service credential (cos_hmac_keys)",
    },
    Vendor {
        id: "oracle",
        name: "Oracle Cloud Object Storage",
        endpoint: "https://{account}.compat.objectstorage.{region}.oraclecloud.com",
        regions: &[
            "us-ashburn-1",
            "us-phoenix-1",
            "us-sanjose-1",
            "us-chicago-1",
            "ca-toronto-1",
            "eu-frankfurt-1",
            "eu-amsterdam-1",
            "eu-zurich-1",
            "eu-madrid-1",
            "eu-paris-1",
            "eu-stockholm-1",
            "uk-london-1",
            "ap-tokyo-1",
            "ap-osaka-1",
            "ap-sydney-1",
            "ap-mumbai-1",
            "ap-singapore-1",
            "sa-saopaulo-1",
        ],
        path_style: true,
        help: "a customer secret key; the account is the tenancy's Object Storage namespace",
    },
    Vendor {
        id: "gcs",
        name: "Google Cloud Storage",
        endpoint: "https://storage.googleapis.com",
        regions: &["auto"],
        path_style: true,
        help: "Cloud Storage through its S3-compatible XML API: an HMAC key of a service account (Cloud \
               Storage > Settings > Interoperability) as access key and secret; the bucket's location \
               does not matter, and its storage class applies to what Cairn writes",
    },
    Vendor {
        id: "hetzner",
        name: "Hetzner Object Storage",
        endpoint: "https://{region}.your-objectstorage.com",
        regions: &["fsn1", "nbg1", "hel1"],
        path_style: false,
        help: "S3 credentials from the Hetzner Console",
    },
    Vendor {
        id: "minio",
        name: "MinIO",
        endpoint: "",
        regions: &[],
        path_style: true,
        help: "your server's URL as the endpoint (https://minio.example.com:9000); region us-east-1 unless set",
    },
];

/// The preset with this id.
pub fn vendor(id: &str) -> Option<&'static Vendor> {
    VENDORS.iter().find(|v| v.id.eq_ignore_ascii_case(id))
}

/// Fills an endpoint template. Returns the endpoint without the bucket and whether the bucket
/// goes in the host name (`{bucket}` in the template). Unknown placeholders and empty values
/// are refused with the placeholder named.
pub fn resolve_template(template: &str, region: &str, account: Option<&str>) -> Result<(String, bool), String> {
    let mut out = template.replace("{region}", region);
    if template.contains("{region}") && region.is_empty() {
        return Err("the endpoint needs a region".into());
    }
    if out.contains("{account}") {
        match account.filter(|a| !a.is_empty()) {
            Some(a) => out = out.replace("{account}", a),
            None => return Err("the endpoint needs an account (R2 account id or Oracle namespace)".into()),
        }
    }
    let virtual_hosted = out.contains("{bucket}");
    // The bucket is added by addressing; leave the template's own `{bucket}.` out of the endpoint.
    out = out.replace("{bucket}.", "").replace("{bucket}", "");
    if let Some(p) = out.find('{') {
        return Err(format!("unknown placeholder in the endpoint template: {}", &out[p..]));
    }
    if !(out.starts_with("https://") || out.starts_with("http://")) {
        return Err(format!("the endpoint {out:?} must start with https://"));
    }
    Ok((out, virtual_hosted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_resolve() {
        for v in VENDORS.iter().filter(|v| !v.endpoint.is_empty()) {
            let region = v.regions.first().copied().unwrap_or("us-east-1");
            let (endpoint, _) = resolve_template(v.endpoint, region, Some("acct")).unwrap();
            assert!(endpoint.starts_with("https://") && !endpoint.contains('{'), "{}: {endpoint}", v.id);
        }
        assert_eq!(vendor("Wasabi").unwrap().name, "Wasabi");
        assert_eq!(
            resolve_template("https://s3.{region}.example.com", "eu-1", None).unwrap(),
            ("https://s3.eu-1.example.com".to_string(), false)
        );
        assert_eq!(
            resolve_template("https://{bucket}.s3.{region}.example.com", "eu-1", None).unwrap(),
            ("https://s3.eu-1.example.com".to_string(), true)
        );
        assert!(
            resolve_template("https://{account}.r2.cloudflarestorage.com", "auto", None)
                .unwrap_err()
                .contains("account")
        );
        assert!(resolve_template("https://{zone}.example.com", "x", None).unwrap_err().contains("{zone}"));
        assert!(resolve_template("ftp://x", "x", None).unwrap_err().contains("https://"));
    }
}
