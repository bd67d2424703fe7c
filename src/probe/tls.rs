//! TLS settings shared by the kinds that speak TLS (`https://`, `rediss://`,
//! `clickhouse://`): `--ca-file` and `--insecure`, read and checked once.

use std::io::Read;

use crate::options::{applies_to, err, ConfigError, Merge, Opt, Takes};
use crate::text::shorten;

pub(crate) const CA_FILE: Opt = Opt {
    flag: Some("--ca-file"),
    short: None,
    var: "READYGATE_CA_FILE",
    takes: Takes::Value("PEM"),
    help: "HTTPS: trust the CA certificates in this PEM file",
};
pub(crate) const INSECURE: Opt = Opt {
    flag: Some("--insecure"),
    short: None,
    var: "READYGATE_INSECURE",
    takes: Takes::Switch,
    help: "HTTPS: do not verify certificates (unsafe; logged as a warning)",
};

pub(crate) const OPTIONS: &[&Opt] = &[&CA_FILE, &INSECURE];

/// The kinds these settings apply to, for messages.
const TLS_KINDS: &str = "https://, rediss://, clickhouse:// or s3://";

/// Validated TLS settings.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tls {
    /// The PEM bundle of `--ca-file`, checked to hold a certificate.
    pub(crate) ca_pem: Option<Vec<u8>>,
    /// `--ca-file` as given, for `--print-config`.
    pub(crate) ca_file: Option<String>,
    pub(crate) insecure: bool,
    /// The HTTP(S) proxies from the environment, for every HTTP client.
    pub(crate) proxies: std::sync::Arc<super::proxy::Proxies>,
}

impl Tls {
    /// Reads the flags; `present` says whether any target speaks TLS.
    pub(crate) fn read(m: &Merge, present: bool) -> Result<Tls, ConfigError> {
        let insecure = m.switch(&INSECURE)?;
        let proxies = std::sync::Arc::new(super::proxy::Proxies::read(m.env));
        let ca = m.value(&CA_FILE)?;
        if insecure && ca.is_some() {
            return Err(ConfigError("--insecure and --ca-file contradict each other; keep --ca-file and drop --insecure".into()));
        }
        if insecure {
            applies_to(m.switch_origin(&INSECURE), present, TLS_KINDS)?;
        }
        let Some(ca) = ca else {
            return Ok(Tls {
                insecure,
                proxies,
                ..Tls::default()
            });
        };
        applies_to(ca.origin, present, TLS_KINDS)?;
        let path = shorten(&ca.value);
        let pem = read_pem(&ca.value).or_else(|e| err(ca.origin, format_args!("{path:?} {e}")))?;
        if reqwest::Certificate::from_pem_bundle(&pem)
            .ok()
            .is_none_or(|c| c.is_empty())
        {
            return err(ca.origin, format_args!("{path:?} holds no PEM certificate"));
        }
        Ok(Tls {
            ca_pem: Some(pem),
            ca_file: Some(ca.value),
            insecure,
            proxies,
        })
    }
}

/// PEM files larger than this are refused: a CA bundle of every public root
/// is about 220 KB.
const PEM_MAX: u64 = 4 * 1024 * 1024;

/// Reads a PEM file named by a flag, a variable or a URL parameter: a
/// regular file (not a FIFO, which would block, or a device such as
/// `/dev/zero`, which never ends) of at most 4 MiB holding PEM data. The
/// error is what is wrong with the file, to follow its (shortened) path:
/// "is not a regular file; ...".
pub(crate) fn read_pem(path: &str) -> Result<Vec<u8>, String> {
    let unreadable = |e: std::io::Error| format!("cannot be read ({e})");
    let too_large = || "is larger than 4 MiB; give the path of a PEM file".to_string();
    // Opening a FIFO for reading blocks until a writer comes: look first.
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    if !meta.is_file() {
        return Err("is not a regular file; give the path of a PEM file".into());
    }
    if meta.len() > PEM_MAX {
        return Err(too_large());
    }
    let mut pem = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(PEM_MAX + 1).read_to_end(&mut pem))
        .map_err(unreadable)?;
    if pem.len() as u64 > PEM_MAX {
        return Err(too_large());
    }
    if !pem.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err("holds no PEM data".into());
    }
    Ok(pem)
}

/// How far a TLS client verifies the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verify {
    /// Chain and host name, as browsers do.
    Full,
    /// The chain only: any name in a certificate the CA signed is accepted
    /// (Node's `checkServerIdentity` returning nothing).
    ChainOnly,
    /// Nothing (`--insecure`, Node's `rejectUnauthorized: false`).
    Nothing,
}

/// A client certificate and its key, both PEM.
pub(crate) struct Identity<'a> {
    pub(crate) cert_pem: &'a [u8],
    pub(crate) key_pem: &'a [u8],
}

/// A rustls client configuration for the hand-written clients: trusts
/// `ca_pem` alone when given (as Node's `ca` option does), else the public
/// roots; presents `identity` when the server asks for one. The error says
/// what is wrong with the PEM data.
pub(crate) fn client_config(
    ca_pem: Option<&[u8]>,
    verify: Verify,
    identity: Option<Identity<'_>>,
) -> Result<rustls::ClientConfig, TlsSetupError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};

    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    match ca_pem {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| {
                    TlsSetupError::Ca(format!("holds a certificate that cannot be read ({e})"))
                })?;
                roots.add(cert).map_err(|e| {
                    TlsSetupError::Ca(format!("holds a certificate rustls refuses ({e})"))
                })?;
            }
            if roots.is_empty() {
                return Err(TlsSetupError::Ca("holds no PEM certificate".into()));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError::Ca(format!("TLS setup failed ({e})")))?;
    let builder = match verify {
        Verify::Full => builder.with_root_certificates(roots),
        Verify::ChainOnly | Verify::Nothing => {
            let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
                std::sync::Arc::new(roots),
                provider.clone(),
            )
            .build()
            .map_err(|e| TlsSetupError::Ca(format!("TLS setup failed ({e})")))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(std::sync::Arc::new(Lenient {
                    inner,
                    provider: provider.clone(),
                    verify,
                }))
        }
    };
    let Some(id) = identity else {
        return Ok(builder.with_no_client_auth());
    };
    let chain = CertificateDer::pem_slice_iter(id.cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            TlsSetupError::Cert(format!("holds a certificate that cannot be read ({e})"))
        })?;
    if chain.is_empty() {
        return Err(TlsSetupError::Cert("holds no PEM certificate".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(id.key_pem).map_err(|e| {
        TlsSetupError::Key(format!(
            "holds no private key rustls can read ({e}); an encrypted key cannot be used"
        ))
    })?;
    let key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsSetupError::Key(format!("holds a key rustls refuses ({e})")))?;
    // Not `with_client_auth_cert`: it parses the certificate to compare keys
    // and refuses X.509 v1 certificates, which servers (and Node) accept.
    let certified = std::sync::Arc::new(rustls::sign::CertifiedKey::new(chain, key));
    Ok(builder.with_client_cert_resolver(std::sync::Arc::new(Fixed(certified))))
}

/// What is wrong with TLS settings, and which part: the caller names the
/// flag or variable.
#[derive(Debug)]
pub(crate) enum TlsSetupError {
    Ca(String),
    Cert(String),
    Key(String),
}

/// Presents one client certificate whatever the server asks.
#[derive(Debug)]
struct Fixed(std::sync::Arc<rustls::sign::CertifiedKey>);

impl rustls::client::ResolvesClientCert for Fixed {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<std::sync::Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// A verifier that checks less than the full set: the chain without the
/// name, or nothing at all. Signatures on the handshake are still checked.
#[derive(Debug)]
struct Lenient {
    inner: std::sync::Arc<rustls::client::WebPkiServerVerifier>,
    provider: std::sync::Arc<rustls::crypto::CryptoProvider>,
    verify: Verify,
}

impl rustls::client::danger::ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &rustls_pki_types::CertificateDer<'_>,
        intermediates: &[rustls_pki_types::CertificateDer<'_>],
        server_name: &rustls_pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        use rustls::client::danger::ServerCertVerified;
        if self.verify == Verify::Nothing {
            return Ok(ServerCertVerified::assertion());
        }
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
