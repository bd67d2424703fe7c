//! TLS settings shared by the kinds that speak TLS (`https://`, `rediss://`,
//! `clickhouse://`): `--ca-file` and `--insecure`, read and checked once.

use crate::options::{applies_to, err, ConfigError, Merge, Opt, Takes};

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
const TLS_KINDS: &str = "https://, rediss:// or clickhouse://";

/// Validated TLS settings.
#[derive(Debug, Default)]
pub(crate) struct Tls {
    /// The PEM bundle of `--ca-file`, checked to hold a certificate.
    pub(crate) ca_pem: Option<Vec<u8>>,
    /// `--ca-file` as given, for `--print-config`.
    pub(crate) ca_file: Option<String>,
    pub(crate) insecure: bool,
}

impl Tls {
    /// Reads the flags; `present` says whether any target speaks TLS.
    pub(crate) fn read(m: &Merge, present: bool) -> Result<Tls, ConfigError> {
        let insecure = m.switch(&INSECURE)?;
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
                ..Tls::default()
            });
        };
        applies_to(ca.origin, present, TLS_KINDS)?;
        let path = &ca.value;
        let pem = std::fs::read(path)
            .or_else(|e| err(ca.origin, format_args!("{path:?} cannot be read ({e})")))?;
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
        })
    }
}
