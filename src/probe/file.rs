//! File and Unix socket targets. `file:///path`: ready when the path exists;
//! with `?non_empty` when it is a regular file with content, with
//! `?contains=TEXT` when its first MiB holds TEXT. `unix:///path`: ready
//! when a stream socket there accepts a connection. The file system is
//! asked off the async threads (a hung NFS mount stalls only its own
//! attempt), and a FIFO or device is never read.

use std::io::{ErrorKind, Read};
use std::path::PathBuf;

use url::Url;

use crate::not_ready::{Class, NotReady};
use crate::text::shorten_to;

/// At most this much of a file is read for `?contains=`.
const READ_CAP: u64 = 1024 * 1024;

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
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            "non_empty" if matches!(value.as_ref(), "" | "true") => {}
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

/// The path a URL names (percent-decoded, as the URL parser encodes it).
fn path_of(url: &Url) -> PathBuf {
    url.to_file_path()
        .unwrap_or_else(|()| PathBuf::from(crate::text::percent_decode(url.path())))
}

pub(crate) struct FileProbe {
    path: PathBuf,
    non_empty: bool,
    contains: Option<String>,
}

impl FileProbe {
    pub(crate) fn new(url: &Url) -> Self {
        let query = |key: &str| {
            url.query_pairs()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.into_owned())
        };
        FileProbe {
            path: path_of(url),
            non_empty: query("non_empty").is_some(),
            contains: query("contains"),
        }
    }

    pub(crate) fn describe(&self) -> String {
        match (&self.contains, self.non_empty) {
            (Some(text), _) => format!(
                "{} exists and its first MiB contains {:?}",
                self.path.display(),
                shorten_to(text, 60)
            ),
            (None, true) => format!("{} exists and is not empty", self.path.display()),
            (None, false) => format!("{} exists", self.path.display()),
        }
    }

    pub(crate) async fn check(&mut self) -> Result<(), NotReady> {
        let path = self.path.clone();
        let non_empty = self.non_empty;
        let contains = self.contains.clone();
        tokio::task::spawn_blocking(move || check_file(&path, non_empty, contains.as_deref()))
            .await
            .unwrap_or_else(|e| {
                Err(NotReady::new(
                    Class::Other,
                    format!("the file check stopped: {e}"),
                ))
            })
    }
}

fn check_file(
    path: &std::path::Path,
    non_empty: bool,
    contains: Option<&str>,
) -> Result<(), NotReady> {
    let shown = shorten_to(&path.display().to_string(), 200);
    let meta = std::fs::metadata(path).map_err(|e| io_error(&e, &shown))?;
    if !non_empty && contains.is_none() {
        return Ok(());
    }
    if !meta.is_file() {
        return Err(NotReady::new(Class::Response, format!("{shown} is not a regular file"))
            .hint("non_empty and contains= read a regular file; a directory, FIFO or device is not read"));
    }
    if meta.len() == 0 {
        return Err(NotReady::new(Class::Response, format!("{shown} is empty"))
            .hint("whatever writes it has not finished yet"));
    }
    let Some(needle) = contains else {
        return Ok(());
    };
    let mut head = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(READ_CAP).read_to_end(&mut head))
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
            self.path.display()
        )
    }

    pub(crate) async fn check(&mut self) -> Result<(), NotReady> {
        let shown = shorten_to(&self.path.display().to_string(), 200);
        match tokio::net::UnixStream::connect(&self.path).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(NotReady::new(Class::Refused, format!("no socket at {shown} yet"))
                .hint("the server has not created its socket: is it running, and is the socket's directory shared with this container?")),
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => Err(NotReady::new(Class::Refused, format!("nothing accepts on {shown}"))
                .hint("the socket file is there but nothing listens on it (a stale socket, or the server is restarting)")),
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
        for bad in [
            "file://host/tmp/x",
            "file:///tmp/x?color=red",
            "file:///tmp/x?contains=",
            "unix:///run/a.sock?x=1",
            "unix://host/a.sock",
        ] {
            assert!(ok(bad).is_err(), "{bad}");
        }
        let p =
            FileProbe::new(&Url::parse("file:///tmp/with%20space?contains=done%20now").unwrap());
        assert_eq!(p.path, PathBuf::from("/tmp/with space"));
        assert_eq!(p.contains.as_deref(), Some("done now"));
    }
}
