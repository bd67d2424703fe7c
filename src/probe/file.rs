//! File and Unix socket targets. `file:///path`: ready when the path exists;
//! with `?non_empty` when it is a regular file with content, with
//! `?contains=TEXT` when its first MiB holds TEXT. `unix:///path`: ready
//! when a stream socket there accepts a connection. The file system is
//! asked off the async threads, one look at a time per target (a hung
//! network mount stalls only its own target), and a FIFO or device is never
//! read.

use std::io::{ErrorKind, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use url::Url;

use crate::not_ready::{Class, NotReady};
use crate::text::shorten_to;

/// At most this much of a file is read for `?contains=`.
const READ_CAP: u64 = 1024 * 1024;

/// `O_NONBLOCK` (the same on x86_64 and aarch64 Linux): a path swapped for
/// a FIFO between the type check and the open cannot block the open.
const O_NONBLOCK: i32 = 0o4000;

/// The longest path a Unix socket address holds (`sun_path`: 108 bytes
/// with its NUL).
pub(crate) const SUN_PATH_MAX: usize = 107;

/// `EPROTOTYPE`: connecting a stream to a datagram socket.
const EPROTOTYPE: i32 = 91;

/// What a `file://` or `unix://` URL must hold: an absolute path, no host,
/// and for files only `non_empty` or `contains=` in the query.
pub(crate) fn check_url(url: &Url) -> Result<(), String> {
    let example = match url.scheme() {
        "unix" => "unix:///run/app.sock",
        _ => "file:///tmp/ready or file:///etc/app/config.yaml?non_empty",
    };
    if url.host_str().is_some_and(|h| !h.is_empty()) {
        return Err(format!(
            "takes a path, not a host: write three slashes, e.g. {example}"
        ));
    }
    if url.path().len() < 2 || url.fragment().is_some() {
        return Err(format!("needs an absolute path, e.g. {example}"));
    }
    if url.scheme() == "unix" && url.query().is_some() {
        return Err(format!("takes only a path, e.g. {example}"));
    }
    let path = path_of(url);
    if path.as_os_str().as_encoded_bytes().contains(&0) {
        return Err("has a NUL byte in its path".into());
    }
    if url.scheme() == "unix" && path.as_os_str().len() > SUN_PATH_MAX {
        return Err(format!("has a path longer than {SUN_PATH_MAX} bytes, which a Unix socket address cannot hold: use a shorter path (a symlink to its directory)"));
    }
    for (key, value) in query_of(url)? {
        match key.as_str() {
            "non_empty" if matches!(value.as_str(), "" | "true") => {}
            "contains" if !value.is_empty() => {}
            "contains" => {
                return Err("has an empty contains=; give the text the file must hold".into())
            }
            _ => {
                return Err(format!(
                    "has an unknown parameter {:?}; file:// takes non_empty and contains=TEXT",
                    shorten_to(&key, 40)
                ))
            }
        }
    }
    Ok(())
}

/// The query of a `file://` URL, read as written: `+` stays a plus (these
/// are not form fields), each key at most once.
fn query_of(url: &Url) -> Result<Vec<(String, String)>, String> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let query = url.query().unwrap_or_default();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        if pairs.iter().any(|(k, _)| k == key) {
            return Err(format!("gives {:?} twice", shorten_to(key, 40)));
        }
        pairs.push((key.to_string(), crate::text::percent_decode(value)));
    }
    Ok(pairs)
}

/// The path a URL names (percent-decoded, as the URL parser encodes it).
fn path_of(url: &Url) -> PathBuf {
    url.to_file_path()
        .unwrap_or_else(|()| PathBuf::from(crate::text::percent_decode(url.path())))
}

/// A path as a message shows it: control characters escaped, shortened.
fn shown(path: &Path) -> String {
    shorten_to(&crate::text::printable(&path.display().to_string()), 200)
}

pub(crate) struct FileProbe {
    path: PathBuf,
    non_empty: bool,
    contains: Option<String>,
    /// A look is still running on the blocking pool (a hung file system):
    /// no second one is started beside it.
    busy: Arc<AtomicBool>,
}

impl FileProbe {
    pub(crate) fn new(url: &Url) -> Self {
        let pairs = query_of(url).unwrap_or_default();
        let query = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        FileProbe {
            path: path_of(url),
            non_empty: query("non_empty").is_some(),
            contains: query("contains"),
            busy: Arc::new(AtomicBool::new(false)),
        }
    }

    pub(crate) fn describe(&self) -> String {
        let path = shown(&self.path);
        match (&self.contains, self.non_empty) {
            (Some(text), _) => format!(
                "{path} exists and its first MiB contains {:?}",
                shorten_to(text, 60)
            ),
            (None, true) => format!("{path} exists and is not empty"),
            (None, false) => format!("{path} exists"),
        }
    }

    pub(crate) async fn check(&mut self) -> Result<(), NotReady> {
        if self.busy.swap(true, Ordering::AcqRel) {
            return Err(NotReady::new(
                Class::Timeout,
                format!(
                    "the previous look at {} has not returned",
                    shown(&self.path)
                ),
            )
            .hint("the file system does not answer (a hung network mount?): check the volume"));
        }
        let path = self.path.clone();
        let non_empty = self.non_empty;
        let contains = self.contains.clone();
        let busy = self.busy.clone();
        tokio::task::spawn_blocking(move || {
            let result = check_file(&path, non_empty, contains.as_deref());
            busy.store(false, Ordering::Release);
            result
        })
        .await
        .unwrap_or_else(|e| {
            Err(NotReady::new(
                Class::Other,
                format!("the file check stopped: {e}"),
            ))
        })
    }
}

fn not_regular(shown: &str) -> NotReady {
    NotReady::new(Class::Response, format!("{shown} is not a regular file")).hint(
        "non_empty and contains= read a regular file; a directory, FIFO or device is not read",
    )
}

fn check_file(path: &Path, non_empty: bool, contains: Option<&str>) -> Result<(), NotReady> {
    let shown = shown(path);
    let meta = std::fs::metadata(path).map_err(|e| io_error(&e, &shown))?;
    if !non_empty && contains.is_none() {
        return Ok(());
    }
    if !meta.is_file() {
        return Err(not_regular(&shown));
    }
    if meta.len() == 0 {
        return Err(NotReady::new(Class::Response, format!("{shown} is empty"))
            .hint("whatever writes it has not finished yet"));
    }
    let Some(needle) = contains else {
        return Ok(());
    };
    // Opened without blocking, then checked again on the open file: the
    // path may have become a FIFO since the look above.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_NONBLOCK)
        .open(path)
        .map_err(|e| io_error(&e, &shown))?;
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(not_regular(&shown));
    }
    let mut head = Vec::new();
    file.take(READ_CAP)
        .read_to_end(&mut head)
        .map_err(|e| io_error(&e, &shown))?;
    if String::from_utf8_lossy(&head).contains(needle) {
        return Ok(());
    }
    let within = if meta.len() > READ_CAP {
        " in its first MiB"
    } else {
        ""
    };
    Err(NotReady::new(
        Class::Response,
        format!(
            "{shown} does not contain {:?}{within}",
            shorten_to(needle, 60)
        ),
    )
    .hint("whatever writes it has not written that yet"))
}

fn io_error(e: &std::io::Error, shown: &str) -> NotReady {
    match e.kind() {
        ErrorKind::NotFound => NotReady::new(Class::Refused, format!("{shown} does not exist yet"))
            .hint("whatever creates it has not yet: is it running, and is the volume mounted here?"),
        ErrorKind::PermissionDenied => NotReady::new(Class::Other, format!("{shown}: permission denied"))
            .hint("readygate's user may not see it: check the path's permissions and the container's user"),
        _ => NotReady::new(Class::Other, format!("{shown}: {e}")),
    }
}

pub(crate) struct UnixProbe {
    path: PathBuf,
}

impl UnixProbe {
    pub(crate) fn new(url: &Url) -> Self {
        UnixProbe { path: path_of(url) }
    }

    pub(crate) fn describe(&self) -> String {
        format!(
            "a stream socket at {} accepts a connection",
            shown(&self.path)
        )
    }

    pub(crate) async fn check(&mut self) -> Result<(), NotReady> {
        let shown = shown(&self.path);
        // lstat never blocks on a socket; a file or directory is named as such.
        if let Ok(meta) = std::fs::symlink_metadata(&self.path) {
            let kind = meta.file_type();
            if !kind.is_socket() && !kind.is_symlink() {
                return Err(
                    NotReady::new(Class::Other, format!("{shown} is not a socket")).hint(
                        "check the path: it names a file or directory, not the server's socket",
                    ),
                );
            }
        }
        match tokio::net::UnixStream::connect(&self.path).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(NotReady::new(Class::Refused, format!("no socket at {shown} yet"))
                .hint("the server has not created its socket: is it running, and is the socket's directory shared with this container?")),
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => Err(NotReady::new(Class::Refused, format!("nothing accepts on {shown}"))
                .hint("the socket file is there but nothing listens on it (a stale socket, or the server is restarting)")),
            Err(e) if e.raw_os_error() == Some(EPROTOTYPE) => Err(NotReady::new(Class::Other, format!("{shown} is not a stream socket"))
                .hint("unix:// connects to a stream socket; this one is a datagram socket")),
            Err(e) if e.kind() == ErrorKind::WouldBlock => Err(NotReady::new(Class::Starting, format!("{shown}: its backlog is full"))
                .hint("the server is overloaded or does not accept connections")),
            Err(e) => Err(io_error(&e, &shown)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let ok = |u: &str| check_url(&Url::parse(u).unwrap());
        assert!(ok("file:///tmp/ready").is_ok());
        assert!(ok("file:///tmp/ready?non_empty").is_ok());
        assert!(ok("file:///tmp/ready?contains=done%20now").is_ok());
        assert!(ok("unix:///run/app.sock").is_ok());
        let long = format!("unix:///{}", "a".repeat(120));
        for bad in [
            "file://host/tmp/x",
            "file:///tmp/x?color=red",
            "file:///tmp/x?contains=",
            "unix:///run/a.sock?x=1",
            "unix://host/a.sock",
            "file:///tmp/x?contains=a&contains=b",
            "file:///tmp/%00x",
            long.as_str(),
        ] {
            assert!(ok(bad).is_err(), "{bad}");
        }
        let p =
            FileProbe::new(&Url::parse("file:///tmp/with%20space?contains=done%20now").unwrap());
        assert_eq!(p.path, PathBuf::from("/tmp/with space"));
        assert_eq!(p.contains.as_deref(), Some("done now"));
        let p = FileProbe::new(&Url::parse("file:///tmp/x?contains=C++").unwrap());
        assert_eq!(p.contains.as_deref(), Some("C++"));
        assert_eq!(shown(Path::new("/tmp/a\u{1b}[2J")), "/tmp/a\\u{1b}[2J");
    }
}
