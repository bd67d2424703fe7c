//! One S3 check: the signed `HEAD` of the bucket, and what its answer
//! means (with a follow-up `GET ?location` to read why a 403 was refused).

use std::time::{Duration, SystemTime};

use reqwest::{Client, Method, StatusCode};
use url::Url;

use super::sigv4::{self, Credentials};
use crate::not_ready::{dns, is_dns_error, Class, NotReady};
use crate::text::one_line;

#[derive(Clone)]
pub(crate) struct S3Probe {
    pub(super) client: Client,
    /// The bucket's URL, without a query.
    pub(super) base: Url,
    pub(super) bucket: String,
    pub(super) region: String,
    pub(super) credentials: Option<Credentials>,
    pub(super) path_style: bool,
    /// The proxy requests go through, which failures there are blamed on.
    pub(super) via: Option<crate::probe::proxy::Via>,
}

impl S3Probe {
    /// The proxy its requests go through.
    pub(crate) fn via(&self) -> Option<&crate::probe::proxy::Via> {
        self.via.as_ref()
    }

    pub(crate) async fn check(&mut self, budget: Duration) -> Result<(), NotReady> {
        let what = self.what();
        let response = self.send(Method::HEAD, "", budget).await?;
        let status = response.status();
        if self.credentials.is_none() && !status.is_server_error() {
            return Ok(());
        }
        match status {
            s if s.is_success() => Ok(()),
            StatusCode::NOT_FOUND => Err(NotReady::new(
                Class::Schema,
                format!("S3 bucket {:?} does not exist at {what}", self.bucket),
            )
            .hint("create the bucket, or check its name and the endpoint")),
            s if s.is_server_error() => Err(NotReady::new(
                Class::Starting,
                format!(
                    "{what} answered HTTP {} to a HEAD of bucket {:?}",
                    s.as_u16(),
                    self.bucket
                ),
            )
            .hint("the S3 server is starting or overloaded")),
            s => {
                let region = header(&response, "x-amz-bucket-region");
                // HEAD answers carry no body: ask again for the error's code.
                // Half the budget, so a slow answer still leaves the verdict.
                let lookup = async {
                    match self.send(Method::GET, "location", budget / 2).await {
                        Ok(r) => error_code(r).await,
                        Err(_) => None,
                    }
                };
                let code = tokio::time::timeout(budget / 2, lookup)
                    .await
                    .ok()
                    .flatten();
                Err(self.refused(s, code.as_deref(), region.as_deref()))
            }
        }
    }

    fn what(&self) -> String {
        let host = self.base.host_str().unwrap_or_default();
        match self.base.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        }
    }

    /// One request, signed when there are credentials.
    async fn send(
        &self,
        method: Method,
        query: &str,
        budget: Duration,
    ) -> Result<reqwest::Response, NotReady> {
        let mut url = self.base.clone();
        if !query.is_empty() {
            url.set_query(Some(query));
        }
        let mut request = self
            .client
            .request(method.clone(), url.clone())
            .timeout(budget);
        if let Some(creds) = &self.credentials {
            let amz_date = sigv4::amz_date(SystemTime::now());
            let host = self.what();
            let mut headers = vec![
                ("host", host),
                ("x-amz-content-sha256", sigv4::EMPTY_SHA256.to_string()),
                ("x-amz-date", amz_date.clone()),
            ];
            if let Some(token) = &creds.session_token {
                headers.push(("x-amz-security-token", token.clone()));
            }
            let canonical_query = if query.is_empty() {
                String::new()
            } else {
                format!("{query}=")
            };
            let auth = sigv4::authorization(
                creds,
                &sigv4::Request {
                    method: method.as_str(),
                    path: url.path(),
                    query: &canonical_query,
                    headers: headers.clone(),
                    payload_sha256: sigv4::EMPTY_SHA256,
                },
                &amz_date,
                &self.region,
                "s3",
            );
            for (name, value) in headers.into_iter().filter(|(n, _)| *n != "host") {
                request = request.header(name, value);
            }
            request = request.header("authorization", auth);
        }
        request.send().await.map_err(|e| self.unreachable(&e))
    }

    fn unreachable(&self, e: &reqwest::Error) -> NotReady {
        let what = self.what();
        let text = one_line(&crate::text::error_chain(e));
        if e.is_timeout() {
            return NotReady::new(Class::Timeout, format!("no answer from {what}"));
        }
        if is_dns_error(&text) {
            let mut e = dns(&what, &text);
            if !self.path_style {
                e.hint = Some("virtual-hosted style puts the bucket in the host name; for MinIO and most S3-compatible servers use path style (path_style=true; LANGFUSE_S3_EVENT_UPLOAD_FORCE_PATH_STYLE=true)".into());
            }
            return e;
        }
        if text.to_ascii_lowercase().contains("refused") {
            return NotReady::new(Class::Refused, format!("connection refused by {what}"))
                .hint("nothing listens there yet: is the S3 server up, and is the endpoint right?")
                .free_to_retry();
        }
        if text.to_ascii_lowercase().contains("certificate") {
            return NotReady::new(Class::Tls, format!("TLS with {what} failed: {text}"))
                .hint("the server's certificate is not trusted: pass its CA with --ca-file");
        }
        NotReady::new(Class::Other, format!("cannot reach {what}: {text}"))
    }

    /// A refusal, in words: which of credentials, permission or region.
    fn refused(&self, status: StatusCode, code: Option<&str>, region: Option<&str>) -> NotReady {
        let what = self.what();
        let status = status.as_u16();
        match (code, region) {
            (Some(c @ ("SignatureDoesNotMatch" | "InvalidAccessKeyId" | "InvalidToken" | "ExpiredToken" | "InvalidSecurity")), _) => {
                NotReady::new(Class::Auth, format!("{what} rejected the credentials ({c})"))
                    .hint("check the access key and secret (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; LANGFUSE_S3_EVENT_UPLOAD_ACCESS_KEY_ID / _SECRET_ACCESS_KEY)")
            }
            (_, Some(r)) if r != self.region => NotReady::new(
                Class::Other,
                format!("bucket {:?} is in region {r:?}, not {:?} (HTTP {status})", self.bucket, self.region),
            )
            .hint("set the region (region=, AWS_REGION; LANGFUSE_S3_EVENT_UPLOAD_REGION)"),
            (Some("AccessDenied"), _) if status == 403 => NotReady::new(
                Class::Auth,
                format!("{what} denied a HEAD of bucket {:?} (HTTP 403, AccessDenied)", self.bucket),
            )
            .hint("the credentials lack s3:ListBucket on the bucket, which the gate needs to see that it exists; or the bucket belongs to another account"),
            (None, _) if status == 403 => NotReady::new(
                Class::Auth,
                format!("{what} denied a HEAD of bucket {:?} (HTTP 403; its reason could not be read)", self.bucket),
            )
            .hint("check the access key and secret, and that they may s3:ListBucket on the bucket"),
            (c, _) => NotReady::new(
                Class::Other,
                format!("{what} answered HTTP {status}{} to a HEAD of bucket {:?}", c.map_or(String::new(), |c| format!(" ({c})")), self.bucket),
            ),
        }
    }
}

/// A header that names a region; anything else a server puts there is
/// ignored, never printed.
fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 32
                && v.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        .map(str::to_string)
}

/// The `<Code>` of an S3 error document, from at most its first 64 KiB.
async fn error_code(mut response: reqwest::Response) -> Option<String> {
    let mut body = Vec::new();
    while body.len() < 64 * 1024 {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    let body = String::from_utf8_lossy(&body);
    let start = body.find("<Code>")? + "<Code>".len();
    let end = start + body[start..].find("</Code>")?;
    let code = &body[start..end];
    code.bytes()
        .all(|b| b.is_ascii_alphanumeric())
        .then(|| code.to_string())
}
