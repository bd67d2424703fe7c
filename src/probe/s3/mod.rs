//! S3 targets, `s3://bucket[/prefix]`: ready when a signed `HEAD` of the
//! bucket (SigV4) answers 200, which shows the bucket exists and the
//! credentials are accepted. Query parameters: `endpoint=` (an S3-compatible
//! server, e.g. `http://minio:9000`), `region=`, `path_style=true`.
//! Credentials: the URL's `access-key:secret@`, else the standard variables
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`;
//! `AWS_REGION`, `AWS_ENDPOINT_URL_S3`). Without static credentials (web
//! identity, instance roles) only the endpoint's answer is checked, and
//! `--print-config` says so.

mod probe;
mod sigv4;

use reqwest::Client;
use url::Url;

pub(crate) use probe::S3Probe;
pub(crate) use sigv4::Credentials;

use super::http::plain_client;
use super::tls::Tls;
use crate::options::{err, ConfigError, Env};
use crate::text::shorten;

/// What a target URL must hold; the error is a sentence without the URL.
pub(crate) fn check_url(url: &Url, has_host: bool) -> Result<(), String> {
    if !has_host {
        return Err("needs a bucket, e.g. s3://langfuse/events/".into());
    }
    parse(url).map(|_| ())
}

/// A target, understood (no `Debug`: it holds the secret).
#[derive(Clone, Default)]
struct Parsed {
    bucket: String,
    endpoint: Option<Url>,
    region: Option<String>,
    path_style: Option<bool>,
    credentials: Option<(String, String)>,
}

/// An S3 bucket name: 3 to 63 lower-case letters, digits, dots and
/// hyphens, beginning and ending with a letter or digit, no `..`, and not
/// an IP address.
pub(crate) fn is_bucket_name(name: &str) -> bool {
    let edge = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && edge(name.as_bytes().first())
        && edge(name.as_bytes().last())
        && !name.contains("..")
        && name.parse::<std::net::Ipv4Addr>().is_err()
}

fn parse(url: &Url) -> Result<Parsed, String> {
    let bucket = url.host_str().unwrap_or_default().to_string();
    if !is_bucket_name(&bucket) {
        return Err(format!(
            "names bucket {:?}; S3 bucket names are 3 to 63 lower-case letters, digits, dots and hyphens, begin and end with a letter or digit, and are not IP addresses",
            shorten(&bucket)
        ));
    }
    if url.port().is_some() {
        return Err("has a port; the bucket is not a server: give the server as endpoint=, e.g. s3://langfuse?endpoint=http://minio:9000".into());
    }
    let mut parsed = Parsed {
        bucket,
        ..Parsed::default()
    };
    for (key, value) in url.query_pairs() {
        match &*key {
            "endpoint" => {
                let endpoint = Url::parse(&value)
                    .ok()
                    .filter(|e| matches!(e.scheme(), "http" | "https") && e.host_str().is_some())
                    .ok_or("has an endpoint= that is not an http(s):// URL, e.g. endpoint=http://minio:9000")?;
                // A path is kept (Supabase's /storage/v1/s3); the rest is not ours.
                if endpoint.query().is_some() || endpoint.fragment().is_some() {
                    return Err("has an endpoint= with a query or fragment; give scheme, host, port and path only".into());
                }
                if !endpoint.username().is_empty() || endpoint.password().is_some() {
                    return Err("has an endpoint= with user:password@; credentials go before the bucket: s3://KEY:SECRET@bucket".into());
                }
                parsed.endpoint = Some(endpoint);
            }
            "region" => parsed.region = Some(value.into_owned()),
            "path_style" => {
                parsed.path_style = Some(match &*value {
                    "true" => true,
                    "false" => false,
                    _ => return Err("has path_style= that is not true or false".into()),
                })
            }
            other => {
                return Err(format!(
                    "has query parameter {:?}; s3:// takes endpoint=, region= and path_style=",
                    shorten(other)
                ))
            }
        }
    }
    if let Some(secret) = url.password() {
        use crate::probe::url_part::decode_part as decode;
        parsed.credentials = Some((
            decode("access key", url.username())?,
            decode("secret key", secret)?,
        ));
    } else if !url.username().is_empty() {
        return Err("has an access key without its secret; write s3://KEY:SECRET@bucket, or use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into());
    }
    Ok(parsed)
}

/// What a preset adds: its own settings, each with the variable it came
/// from, used where the URL says nothing.
#[derive(Clone, Debug, Default)]
pub(crate) struct Extra {
    pub(crate) endpoint: Option<(String, &'static str)>,
    pub(crate) region: Option<(String, &'static str)>,
    pub(crate) path_style: Option<bool>,
    pub(crate) credentials: Option<(Credentials, &'static str)>,
    /// Whether the standard `AWS_*` credentials may fill in (the AWS SDK's
    /// default chain does).
    pub(crate) standard_credentials: bool,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(***)")
    }
}

/// Plans S3 targets: one client, and the standard variables read once.
pub(crate) struct Planner {
    client: Client,
    standard: Standard,
    proxies: std::sync::Arc<super::proxy::Proxies>,
}

/// The standard AWS variables.
#[derive(Default)]
struct Standard {
    credentials: Option<Credentials>,
    region: Option<String>,
    endpoint: Option<String>,
}

impl Planner {
    pub(crate) fn new(env: &Env, tls: &Tls) -> Result<Planner, ConfigError> {
        let var = |name: &str| env.get(name).filter(|v| !v.trim().is_empty()).cloned();
        let credentials = match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(access_key), Some(secret_key)) => Some(Credentials {
                access_key,
                secret_key,
                session_token: var("AWS_SESSION_TOKEN"),
            }),
            _ => None,
        };
        Ok(Planner {
            proxies: tls.proxies.clone(),
            client: plain_client(tls)?,
            standard: Standard {
                credentials,
                // The AWS SDK for JavaScript reads AWS_REGION alone.
                region: var("AWS_REGION"),
                endpoint: var("AWS_ENDPOINT_URL_S3").or_else(|| var("AWS_ENDPOINT_URL")),
            },
        })
    }

    /// Secrets the standard variables hold, for the redactor.
    pub(crate) fn secrets(&self) -> Vec<String> {
        self.standard
            .credentials
            .iter()
            .flat_map(|c| [Some(c.secret_key.clone()), c.session_token.clone()])
            .flatten()
            .collect()
    }

    /// The probe for one target and what it must satisfy, in words.
    pub(crate) fn plan(
        &self,
        url: &Url,
        extra: Option<&Extra>,
        origin: &str,
    ) -> Result<(S3Probe, String), ConfigError> {
        let parsed = parse(url).or_else(|e| err(origin, e))?;
        let generic = Extra {
            standard_credentials: true,
            ..Extra::default()
        };
        let extra = extra.unwrap_or(&generic);
        let (region, region_from) = match (&parsed.region, &extra.region, &self.standard.region) {
            (Some(r), _, _) => (r.clone(), origin.to_string()),
            (None, Some((r, var)), _) => (r.clone(), (*var).to_string()),
            (None, None, Some(r)) => (r.clone(), "AWS_REGION".to_string()),
            (None, None, None) => ("us-east-1".to_string(), "the default".to_string()),
        };
        let valid_region = !region.is_empty()
            && region.len() <= 32
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid_region {
            return err(&region_from, format_args!("gives region {:?}; a region is lower-case letters, digits and hyphens, e.g. us-east-1 (or auto)", shorten(&region)));
        }
        let (endpoint, blame) = match (&parsed.endpoint, &extra.endpoint, &self.standard.endpoint) {
            (Some(e), _, _) => (e.to_string(), origin),
            (None, Some((e, var)), _) => (e.clone(), *var),
            (None, None, Some(e)) => (e.clone(), "AWS_ENDPOINT_URL_S3"),
            (None, None, None) => (format!("https://s3.{region}.amazonaws.com"), origin),
        };
        let endpoint = Url::parse(&endpoint)
            .ok()
            .filter(|e| {
                matches!(e.scheme(), "http" | "https")
                    && e.host_str().is_some()
                    && e.username().is_empty()
                    && e.password().is_none()
                    && e.query().is_none()
                    && e.fragment().is_none()
            })
            .map_or_else(
                || err(blame, "is not an http(s):// URL without user, query or fragment, e.g. http://minio:9000"),
                Ok,
            )?;
        let forced = parsed.path_style.or(extra.path_style).unwrap_or(false);
        let path_style = forced || !virtual_hostable(&endpoint, &parsed.bucket);
        let (credentials, source) = match &parsed.credentials {
            Some((access_key, secret_key)) => (
                Some(Credentials {
                    access_key: access_key.clone(),
                    secret_key: secret_key.clone(),
                    session_token: None,
                }),
                "the URL".to_string(),
            ),
            None => match (&extra.credentials, &self.standard.credentials) {
                (Some((c, from)), _) => (Some(c.clone()), (*from).to_string()),
                (None, Some(c)) if extra.standard_credentials => {
                    (Some(c.clone()), "AWS_ACCESS_KEY_ID".to_string())
                }
                _ => (None, String::new()),
            },
        };
        let base = bucket_url(&endpoint, &parsed.bucket, path_style);
        let style = if path_style {
            "path style"
        } else {
            "virtual-hosted style"
        };
        let place = format!(
            "at {} ({style}), region {region} from {region_from}",
            base.as_str().trim_end_matches('/')
        );
        let description = match credentials {
            Some(_) => format!("a signed HEAD of bucket {:?} answers 200 (it exists, the credentials are accepted), {place}, credentials from {source}", parsed.bucket),
            None => format!("the endpoint answers, {place}; bucket {:?} and credentials NOT checked: no static credentials (web identity and instance roles are not supported)", parsed.bucket),
        };
        let probe = S3Probe {
            client: self.client.clone(),
            via: self.proxies.for_url(&base).cloned(),
            base,
            bucket: parsed.bucket,
            region,
            credentials,
            path_style,
        };
        Ok((probe, description))
    }
}

/// Whether the bucket can go in the host name, as the AWS SDK decides: not
/// for an IP address or `localhost`, not for a name DNS cannot hold, and not
/// for a dotted name over https (the certificate's wildcard would not
/// cover it).
fn virtual_hostable(endpoint: &Url, bucket: &str) -> bool {
    let ip_or_local = matches!(
        endpoint.host(),
        Some(url::Host::Ipv4(_) | url::Host::Ipv6(_))
    ) || endpoint.host_str() == Some("localhost");
    let dns_label = bucket.len() <= 63 && !bucket.contains("..") && !bucket.starts_with(['.', '-']);
    !ip_or_local && dns_label && !(bucket.contains('.') && endpoint.scheme() == "https")
}

/// The bucket's URL: after the endpoint's path (path style), or in front of
/// its host name. An endpoint's own path (`/storage/v1/s3`) is kept.
fn bucket_url(endpoint: &Url, bucket: &str, path_style: bool) -> Url {
    let mut url = endpoint.clone();
    let base = endpoint.path().trim_end_matches('/');
    if path_style {
        url.set_path(&format!("{base}/{bucket}"));
        return url;
    }
    let host = format!("{bucket}.{}", endpoint.host_str().unwrap_or_default());
    if url.set_host(Some(&host)).is_err() {
        url.set_path(&format!("{base}/{bucket}"));
        return url;
    }
    url.set_path(&format!("{base}/"));
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_bad_ones_are_named() {
        let p = parse(&Url::parse("s3://AK:se%2Fcret@langfuse/events/?endpoint=http://minio:9000&path_style=true&region=auto").unwrap()).ok().unwrap();
        assert_eq!(p.bucket, "langfuse");
        assert_eq!(p.endpoint.unwrap().as_str(), "http://minio:9000/");
        assert_eq!(p.credentials, Some(("AK".into(), "se/cret".into())));
        for (raw, says) in [
            ("s3://Bad_Bucket", "bucket names"),
            ("s3://ab", "bucket names"),
            ("s3://langfuse:9000", "endpoint="),
            ("s3://lfb?endpoint=minio:9000", "http(s)://"),
            ("s3://lfb?endpoint=http://m/x?y=1", "query"),
            ("s3://-lfb-", "bucket names"),
            ("s3://a..b", "bucket names"),
            ("s3://192.168.1.1", "bucket names"),
            ("s3://lfb?path_style=yes", "path_style"),
            ("s3://lfb?sse=1", "takes endpoint="),
            ("s3://AK@lfb", "without its secret"),
        ] {
            let e = parse(&Url::parse(raw).unwrap()).err().unwrap();
            assert!(e.contains(says), "{raw}: {e}");
        }
    }

    #[test]
    fn the_bucket_goes_in_the_path_or_the_host_as_the_sdk_decides() {
        let e = Url::parse("http://minio:9000").unwrap();
        assert_eq!(bucket_url(&e, "lf", true).as_str(), "http://minio:9000/lf");
        assert_eq!(
            bucket_url(&e, "lf", false).as_str(),
            "http://lf.minio:9000/"
        );
        let supabase = Url::parse("https://x.supabase.co/storage/v1/s3").unwrap();
        assert_eq!(
            bucket_url(&supabase, "lf", true).as_str(),
            "https://x.supabase.co/storage/v1/s3/lf"
        );
        let ip = Url::parse("http://10.0.0.5:9000").unwrap();
        assert!(!virtual_hostable(&ip, "lf"));
        let aws = Url::parse("https://s3.eu-west-1.amazonaws.com").unwrap();
        assert!(virtual_hostable(&aws, "langfuse"));
        assert!(!virtual_hostable(&aws, "lf.events"));
    }
}
