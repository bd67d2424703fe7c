//! HTTP over a Unix socket: `http+unix://%2Frun%2Fapp.sock/health`, the
//! socket path percent-encoded as the host, as requests-unixsocket writes
//! it. Each such target gets a client of its own bound to its socket
//! (reqwest's `unix_socket`): no DNS, no proxy, the request sent as
//! `http://localhost/PATH`.

use std::path::PathBuf;

use url::Url;

use crate::probe::file::SUN_PATH_MAX;

pub(crate) const SCHEME: &str = "http+unix";

/// The socket path a `http+unix://` URL names, checked: absolute, UTF-8,
/// no NUL, short enough for a socket address.
pub(crate) fn socket_path(url: &Url) -> Result<PathBuf, String> {
    const EXAMPLE: &str = "http+unix://%2Frun%2Fapp.sock/health";
    let host = url.host_str().unwrap_or_default();
    let path = percent_encoding::percent_decode_str(host)
        .decode_utf8()
        .map_err(|_| "has a socket path that is not UTF-8 once percent-decoded".to_string())?;
    let path = crate::probe::url_part::no_nul("socket path", path.into_owned())?;
    if !path.starts_with('/') {
        return Err(format!(
            "needs the socket's absolute path, percent-encoded as the host (/ as %2F), e.g. {EXAMPLE}"
        ));
    }
    if path.len() > SUN_PATH_MAX {
        return Err(format!("has a socket path longer than {SUN_PATH_MAX} bytes, which a Unix socket address cannot hold: use a shorter path (a symlink to its directory)"));
    }
    if url.port().is_some() {
        return Err(format!(
            "has a port, which a Unix socket has not: write e.g. {EXAMPLE}"
        ));
    }
    Ok(PathBuf::from(path))
}

/// The URL the request is sent to on the socket: the same path, query and
/// credentials, with `localhost` as the host.
pub(crate) fn request_url(url: &Url) -> Url {
    let mut out = Url::parse("http://localhost/").expect("a valid URL");
    out.set_path(url.path());
    out.set_query(url.query());
    let _ = out.set_username(url.username());
    let _ = out.set_password(url.password());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_is_the_encoded_host() {
        let url = Url::parse("http+unix://u:p@%2Fvar%2Frun%2Fapp.sock/api/health?x=1").unwrap();
        assert_eq!(
            socket_path(&url).unwrap(),
            PathBuf::from("/var/run/app.sock")
        );
        let sent = request_url(&url);
        assert_eq!(sent.as_str(), "http://u:p@localhost/api/health?x=1");
        let spaced = Url::parse("http+unix://%2Ftmp%2Fa%20b.sock/").unwrap();
        assert_eq!(
            socket_path(&spaced).unwrap(),
            PathBuf::from("/tmp/a b.sock")
        );
        for (bad, says) in [
            ("http+unix://app.sock/health", "absolute path"),
            ("http+unix://%2Ftmp%2Fa%00.sock/", "NUL"),
            ("http+unix://%2Ftmp%2F%FF.sock/", "not UTF-8"),
            ("http+unix://%2Ftmp%2Fa.sock:80/", "port"),
        ] {
            let e = socket_path(&Url::parse(bad).unwrap()).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let long = format!("http+unix://%2F{}/", "a".repeat(120));
        assert!(socket_path(&Url::parse(&long).unwrap())
            .unwrap_err()
            .contains("107 bytes"));
    }
}
