//! TLS for the tests: a throwaway CA and server certificate made with the
//! `openssl` command, and `openssl s_server` as a real HTTPS server.

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{check, eventually, free_port, tmp_root, ChildGuard};

/// A throwaway CA and a server certificate for `localhost` and 127.0.0.1,
/// made with the `openssl` command.
pub struct Certs {
    pub dir: tempfile::TempDir,
}

impl Certs {
    pub fn generate() -> Certs {
        let dir = tempfile::Builder::new()
            .prefix("certs-")
            .tempdir_in(tmp_root())
            .unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("ext.cnf"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        for (name, subject) in [
            ("ca", "/CN=readygate test CA"),
            ("other-ca", "/CN=some other CA"),
        ] {
            check(
                Command::new("openssl")
                    .current_dir(d)
                    .args(["req", "-x509"])
                    .args(ec)
                    .args([
                        "-keyout",
                        &format!("{name}.key"),
                        "-out",
                        &format!("{name}.pem"),
                        "-days",
                        "2",
                        "-subj",
                        subject,
                    ]),
                "openssl CA",
            );
        }
        check(
            Command::new("openssl")
                .current_dir(d)
                .arg("req")
                .args(ec)
                .args([
                    "-keyout",
                    "server.key",
                    "-out",
                    "server.csr",
                    "-subj",
                    "/CN=localhost",
                ]),
            "openssl CSR",
        );
        check(
            Command::new("openssl").current_dir(d).args([
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ]),
            "openssl sign",
        );
        // A client certificate for mutual TLS, signed by the same CA.
        std::fs::write(
            d.join("client.cnf"),
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n",
        )
        .unwrap();
        check(
            Command::new("openssl")
                .current_dir(d)
                .arg("req")
                .args(ec)
                .args([
                    "-keyout",
                    "client.key",
                    "-out",
                    "client.csr",
                    "-subj",
                    "/CN=worker",
                ]),
            "openssl client CSR",
        );
        check(
            Command::new("openssl").current_dir(d).args([
                "x509",
                "-req",
                "-in",
                "client.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "client.pem",
                "-days",
                "2",
                "-extfile",
                "client.cnf",
            ]),
            "openssl sign client",
        );
        // The same key in an X.509 v1 certificate (no extensions), as
        // `openssl x509 -req` makes by default: servers and Node accept it.
        check(
            Command::new("openssl").current_dir(d).args([
                "x509",
                "-req",
                "-in",
                "client.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "client-v1.pem",
                "-days",
                "2",
            ]),
            "openssl sign v1 client",
        );
        Certs { dir }
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

/// `openssl s_server -www`: a real HTTPS server answering 200 with a status page.
pub struct HttpsServer {
    pub port: u16,
    _child: ChildGuard,
}

impl HttpsServer {
    pub fn start(certs: &Certs) -> HttpsServer {
        let port = free_port();
        let child = Command::new("openssl")
            .args([
                "s_server",
                "-www",
                "-quiet",
                "-accept",
                &format!("127.0.0.1:{port}"),
                "-cert",
                &certs.path("server.pem"),
                "-key",
                &certs.path("server.key"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start openssl s_server");
        let server = HttpsServer {
            port,
            _child: ChildGuard(child),
        };
        eventually(
            Duration::from_secs(10),
            "openssl s_server to listen",
            || TcpStream::connect(("127.0.0.1", port)).is_ok(),
        );
        server
    }
}
