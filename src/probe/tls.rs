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
