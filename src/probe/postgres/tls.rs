//! libpq's `sslmode`, done by the gate rather than by sqlx: the SSLRequest,
//! the server's one-byte answer, and the TLS handshake, before the relay
//! (`probe/relay.rs`) hands sqlx a plain connection. So the relay reads
//! every message sqlx will read, TLS or not: sqlx zeroes a buffer of
//! whatever length a message declares before reading it over TLS (a
//! 5-byte header made a gate touch 4 GiB), and only a relay that sees the
//! header can refuse it.
//!
//! The modes mean what they mean to libpq: `disable` and `allow` speak
//! plain (`allow` never retries with TLS); `prefer` asks for TLS and takes a
//! plain answer; `require` insists on TLS and verifies nothing, unless a
//! root certificate is given, then the chain as `verify-ca` does;
//! `verify-ca` checks the chain; `verify-full` the chain and the host name. The CA is `sslrootcert`
//! (else `PGSSLROOTCERT`, else the public roots); `sslcert` and `sslkey`
//! (else `PGSSLCERT`, `PGSSLKEY`) are the client's certificate. As with
//! libpq, a Unix socket never uses TLS.

use std::sync::Arc;

use rustls_pki_types::ServerName;
use sqlx::postgres::PgSslMode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::url::PemFiles;
use crate::not_ready::{Class, NotReady};
use crate::probe::relay::Io;
use crate::probe::tls::{client_config, Identity, TlsSetupError, Verify};

/// libpq's SSLRequest: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// How a target's connections speak TLS, decided once at start.
#[derive(Clone)]
pub(crate) struct Tls {
    mode: PgSslMode,
    /// `None` when the mode never asks for TLS.
    config: Option<Arc<rustls::ClientConfig>>,
}

impl Tls {
    /// Builds the client configuration from the URL's PEM files, else
    /// libpq's variables' (both read at start); the error names the
    /// parameter.
    pub(crate) fn new(mode: PgSslMode, url: PemFiles, libpq: &PemFiles) -> Result<Tls, String> {
        if matches!(mode, PgSslMode::Disable | PgSslMode::Allow) {
            return Ok(Tls { mode, config: None });
        }
        let root = url.root.or_else(|| libpq.root.clone());
        let cert = url.cert.or_else(|| libpq.cert.clone());
        let key = url.key.or_else(|| libpq.key.clone());
        let identity = match (&cert, &key) {
            (Some(cert_pem), Some(key_pem)) => Some(Identity { cert_pem, key_pem }),
            (None, None) => None,
            (Some(_), None) => {
                return Err("has sslcert without sslkey: give both, or neither".into())
            }
            (None, Some(_)) => {
                return Err("has sslkey without sslcert: give both, or neither".into())
            }
        };
        // libpq: require with a root certificate verifies as verify-ca.
        let verify = match mode {
            PgSslMode::VerifyFull => Verify::Full,
            PgSslMode::VerifyCa => Verify::ChainOnly,
            PgSslMode::Require if root.is_some() => Verify::ChainOnly,
            _ => Verify::Nothing,
        };
        let config = client_config(root.as_deref(), verify, identity).map_err(|e| match e {
            TlsSetupError::Ca(why) => format!("has an sslrootcert that {why}"),
            TlsSetupError::Cert(why) => format!("has an sslcert that {why}"),
            TlsSetupError::Key(why) => format!("has an sslkey that {why}"),
        })?;
        Ok(Tls {
            mode,
            config: Some(Arc::new(config)),
        })
    }

    /// Asks `server` for TLS as the mode says, and shakes hands; `host` is
    /// the name to verify, `what` names the server in reasons. A Unix
    /// socket (`socket`) stays plain, as with libpq.
    pub(super) async fn negotiate(
        &self,
        mut server: Box<dyn Io>,
        socket: bool,
        host: &str,
        what: &str,
    ) -> Result<Box<dyn Io>, NotReady> {
        let Some(config) = self.config.as_ref().filter(|_| !socket) else {
            return Ok(server);
        };
        let io = |e: std::io::Error| NotReady::from_io(&e, what);
        server.write_all(&SSL_REQUEST).await.map_err(io)?;
        let mut answer = [0u8];
        server.read_exact(&mut answer).await.map_err(io)?;
        match answer[0] {
            b'S' => {}
            b'N' if matches!(self.mode, PgSslMode::Prefer) => return Ok(server),
            b'N' => return Err(NotReady::new(
                Class::Tls,
                format!(
                    "{what} does not offer TLS, and sslmode={} requires it",
                    mode_name(self.mode)
                ),
            )
            .hint(
                "turn on ssl in postgresql.conf, or lower sslmode (prefer takes TLS when offered)",
            )),
            // A server that cannot start a backend (out of processes or
            // memory) says so before the SSL exchange.
            b'E' => {
                return Err(NotReady::new(
                    Class::Starting,
                    format!("{what} answered the SSL request with an error: it could not start a session (out of memory or processes?)"),
                )
                .hint("check the PostgreSQL server's log"))
            }
            other => return Err(not_postgres(what, &format!("the byte {other:#04x}"))),
        }
        let name = ServerName::try_from(host.to_string()).map_err(|_| {
            NotReady::new(Class::Tls, format!("{host:?} is not a name TLS can verify"))
        })?;
        let connector = tokio_rustls::TlsConnector::from(config.clone());
        match connector.connect(name, server).await {
            Ok(stream) => Ok(Box::new(stream)),
            Err(e) => Err(handshake_failed(&e, what)),
        }
    }
}

fn mode_name(mode: PgSslMode) -> &'static str {
    match mode {
        PgSslMode::Disable => "disable",
        PgSslMode::Allow => "allow",
        PgSslMode::Prefer => "prefer",
        PgSslMode::Require => "require",
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
    }
}

pub(super) fn not_postgres(what: &str, answer: &str) -> NotReady {
    NotReady::new(
        Class::Other,
        format!("{what} is not a PostgreSQL server: it answered the SSL request with {answer}"),
    )
    .hint("check the host and port: is this PostgreSQL's port (5432), not HTTP, SSH or another service?")
}

/// A failed handshake: a certificate problem (permanent, as before), a
/// server that said `S` and then spoke no TLS (not PostgreSQL), or one that
/// hung up.
fn handshake_failed(e: &std::io::Error, what: &str) -> NotReady {
    let rustls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let text = crate::text::shorten_to(&e.to_string(), 400);
    match rustls {
        Some(rustls::Error::InvalidCertificate(_)) if text.contains("UnsupportedCertVersion") => {
            NotReady::new(Class::Tls, format!("TLS failed: {what}'s certificate is X.509 version 1 (no extensions), which rustls does not verify"))
                .hint("reissue the server certificate as v3 with a subjectAltName (openssl x509 -req ... -extfile with subjectAltName=DNS:host), or use sslmode=require without sslrootcert (encrypted, not verified)")
        }
        Some(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
        | Some(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext { .. })) => {
            NotReady::new(Class::Tls, format!("TLS failed: {text}"))
                .hint("the certificate's subjectAltName does not hold the host in the URL (its CN is not read, as browsers do not): connect by a name it holds, reissue it with subjectAltName=DNS:host, or use sslmode=verify-ca")
        }
        Some(rustls::Error::InvalidCertificate(_)) | Some(rustls::Error::NoCertificatesPresented) => {
            super::errors::tls(&text)
        }
        Some(rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)) => {
            not_postgres(what, "S, then something that is not TLS")
        }
        Some(rustls::Error::AlertReceived(alert)) => NotReady::new(
            Class::Tls,
            format!("{what} refused the TLS connection ({alert:?})"),
        )
        .hint("the server may require a client certificate (sslcert and sslkey in the URL)"),
        _ if matches!(
            e.kind(),
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
        ) =>
        {
            NotReady::new(Class::Tls, format!("{what} closed the connection during the TLS handshake"))
                .hint("the server may require a client certificate, or not speak TLS on this port")
        }
        _ => NotReady::new(Class::Tls, format!("TLS with {what} failed: {text}"))
            .hint("check sslmode and sslrootcert in the URL"),
    }
}
