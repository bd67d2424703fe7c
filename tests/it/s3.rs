//! The S3 probe against a server that checks SigV4 signatures.

use crate::support::{readygate, run, usage_error, S3};

#[test]
fn a_signed_head_shows_the_bucket_and_the_credentials() {
    let mut row = crate::record::row(
        "S3",
        "s3:// against an S3 server that verifies SigV4 (moto): right keys, a wrong secret, a missing bucket, keys from AWS_* variables",
        "ready; a wrong secret is an authentication failure (exit 3 with --fail-fast); a missing bucket is named",
    );
    let s3 = S3::start("langfuse");
    let endpoint = s3.endpoint();
    let url = |secret: &str, bucket: &str| {
        format!(
            "s3://{}:{}@{bucket}/events/?endpoint={endpoint}&path_style=true",
            s3.access_key,
            secret.replace('/', "%2F").replace('+', "%2B")
        )
    };
    let ran = run(readygate().args([&url(&s3.secret_key, "langfuse"), "--timeout", "10s"]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);

    let ran = run(readygate().args([
        &url("not-the-Secret-1234", "langfuse"),
        "--fail-fast",
        "--timeout",
        "5s",
    ]));
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("rejected the credentials (SignatureDoesNotMatch)"),
        "{}",
        ran.stderr
    );
    assert!(
        !ran.all_output().contains("not-the-Secret-1234"),
        "{}",
        ran.all_output()
    );

    let ran = run(readygate().args([&url(&s3.secret_key, "nosuch-bucket"), "--timeout", "1s"]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains(r#"S3 bucket "nosuch-bucket" does not exist"#),
        "{}",
        ran.stderr
    );
    assert!(
        !ran.all_output().contains(&s3.secret_key),
        "{}",
        ran.all_output()
    );

    // An IP-address endpoint takes path style by itself, as the AWS SDK does.
    let ran = run(readygate()
        .arg("s3://langfuse")
        .args(["--timeout", "10s"])
        .env("AWS_ACCESS_KEY_ID", &s3.access_key)
        .env("AWS_SECRET_ACCESS_KEY", &s3.secret_key)
        .env("AWS_ENDPOINT_URL_S3", &endpoint));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    row.saw("exit 0; exit 3 SignatureDoesNotMatch; exit 1 naming \"nosuch-bucket\"; exit 0 from AWS_* variables");
}

#[test]
fn without_static_credentials_it_says_what_it_cannot_check() {
    let ran = run(readygate().args([
        "s3://langfuse?endpoint=http://127.0.0.1:9&path_style=true",
        "--print-config",
    ]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(
        ran.stdout.contains("NOT checked: no static credentials"),
        "{}",
        ran.stdout
    );
}

#[test]
fn bad_s3_targets_are_named() {
    for (target, culprit) in [
        ("s3://Not_A_Bucket", "target #1"),
        ("s3://langfuse:9000", "target #1"),
        ("s3://langfuse?endpoint=minio:9000", "target #1"),
    ] {
        let ran = run(readygate().arg(target));
        usage_error(&ran, target, culprit);
    }
}

#[test]
fn without_credentials_a_failing_endpoint_is_not_ready() {
    use crate::support::HttpStub;
    let mut row = crate::record::row(
        "S3",
        "s3:// without static credentials against an endpoint answering 503",
        "not ready: only the endpoint can be checked, and it is failing",
    );
    let stub = HttpStub::start(503, "busy");
    let ran = run(readygate().args([
        &format!("s3://langfuse?endpoint={}", stub.url("")),
        "--timeout",
        "1s",
    ]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(ran.stderr.contains("HTTP 503"), "{}", ran.stderr);
    row.saw("exit 1, \"answered HTTP 503\"");
}
