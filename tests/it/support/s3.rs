//! An S3-compatible server that checks SigV4 signatures: moto's server
//! mode with IAM authentication on (`INITIAL_NO_AUTH_ACTION_COUNT`), a user
//! whose access key the tests get, and one bucket. `scripts/test` installs
//! moto (`pip install "moto[server]"`).

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{eventually, free_port, tmp_root, ChildGuard};

/// Creates the user, its key and policy (the three unauthenticated actions
/// moto allows), then the bucket with the new key; prints the key.
const SETUP: &str = r#"
import boto3, json, sys
endpoint, bucket = sys.argv[1], sys.argv[2]
common = dict(endpoint_url=endpoint, region_name="us-east-1")
iam = boto3.client("iam", aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="setup", **common)
iam.create_user(UserName="gate")
key = iam.create_access_key(UserName="gate")["AccessKey"]
policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
iam.put_user_policy(UserName="gate", PolicyName="all", PolicyDocument=json.dumps(policy))
s3 = boto3.client("s3", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"], **common)
s3.create_bucket(Bucket=bucket)
print(key["AccessKeyId"], key["SecretAccessKey"])
"#;

pub struct S3 {
    pub port: u16,
    pub access_key: String,
    pub secret_key: String,
    _child: ChildGuard,
    _dir: tempfile::TempDir,
}

impl S3 {
    /// A server with `bucket` in it.
    pub fn start(bucket: &str) -> S3 {
        let port = free_port();
        let dir = tempfile::Builder::new()
            .prefix("s3-")
            .tempdir_in(tmp_root())
            .unwrap();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .env("INITIAL_NO_AUTH_ACTION_COUNT", "3")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto's S3 server (pip install \"moto[server]\")");
        let child = ChildGuard(child);
        eventually(Duration::from_secs(30), "moto to listen", || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        let out = Command::new("python3")
            .arg("-c")
            .arg(SETUP)
            .arg(format!("http://127.0.0.1:{port}"))
            .arg(bucket)
            .stdin(Stdio::null())
            .output()
            .expect("run the S3 setup with boto3");
        assert!(
            out.status.success(),
            "S3 setup failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let keys = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut keys = keys.split_whitespace();
        let (Some(access_key), Some(secret_key)) = (keys.next(), keys.next()) else {
            panic!("the S3 setup printed no key");
        };
        S3 {
            port,
            access_key: access_key.to_string(),
            secret_key: secret_key.to_string(),
            _child: child,
            _dir: dir,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}
