//! File and Unix socket targets, and --run-anyway, against real files,
//! FIFOs and sockets.

use std::os::unix::net::UnixListener;
use std::time::Duration;

use crate::support::{finish, free_port, readygate, run, spawn, usage_error};

#[test]
fn a_file_that_appears_and_fills_is_waited_for() {
    let mut row = crate::record::row(
        "Files",
        "a file created 0.5 s after the gate starts, then written with the text waited for",
        "not ready while missing or without the text (never reading a FIFO); ready once it holds it",
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    let url = format!("file://{}?contains=migrated", path.display());
    let gate = spawn(readygate().args([&url, "--timeout", "10s"]));
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(&path, "starting\n").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(&path, "starting\nmigrated\n").unwrap();
    let ran = finish(gate);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    // One look at each state.
    let missing =
        run(readygate().args(["--once", &format!("file://{}/nope", dir.path().display())]));
    assert!(
        missing.stderr.contains("does not exist yet"),
        "{}",
        missing.stderr
    );
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "").unwrap();
    let ran = run(readygate().args(["--once", &format!("file://{}?non_empty", empty.display())]));
    assert!(ran.stderr.contains("is empty"), "{}", ran.stderr);
    let ran = run(readygate().args([
        "--once",
        &format!("file://{}?contains=done", path.display()),
    ]));
    assert!(
        ran.stderr.contains("does not contain \"done\""),
        "{}",
        ran.stderr
    );
    // A + is a plus, not a space.
    std::fs::write(dir.path().join("lang"), "written in C++\n").unwrap();
    let lang = format!("file://{}/lang?contains=C++", dir.path().display());
    let ran = run(readygate().args(["--once", &lang]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    // A FIFO is never read: no writer would make a read hang for ever.
    let fifo = dir.path().join("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let ran = run(readygate().args(["--once", &format!("file://{}?contains=x", fifo.display())]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("is not a regular file"),
        "{}",
        ran.stderr
    );
    assert!(ran.elapsed < Duration::from_secs(3), "{:?}", ran.elapsed);
    row.saw("exit 0 once 'migrated' was written; 'does not exist yet', 'is empty', 'does not contain', a FIFO 'is not a regular file' at once");
}

/// `http+unix://`: a real HTTP server (tiny_http) on a Unix socket that
/// appears half a second after the gate starts.
#[test]
fn http_over_a_unix_socket() {
    let mut row = crate::record::row(
        "Files",
        "an HTTP health endpoint on a Unix socket (http+unix://) that appears after 0.5 s",
        "not ready while the socket is missing or stale; ready once the endpoint answers as expected",
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("web.sock");
    let encoded = path.display().to_string().replace('/', "%2F");
    let url = format!("http+unix://{encoded}/api/public/health");
    let ran = run(readygate().args(["--once", &url]));
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stderr
            .contains(&format!("no socket at {} yet", path.display())),
        "{}",
        ran.stderr
    );
    drop(UnixListener::bind(&path).unwrap());
    let ran = run(readygate().args(["--once", &url]));
    assert!(ran.stderr.contains("nothing accepts on"), "{}", ran.stderr);
    std::fs::remove_file(&path).unwrap();
    let gate = spawn(readygate().args([&url, "--http-json", "/status=OK", "--timeout", "10s"]));
    std::thread::sleep(Duration::from_millis(500));
    let server = tiny_http::Server::http_unix(&path).unwrap();
    let serve = std::thread::spawn(move || {
        let mut seen = Vec::new();
        while let Ok(Some(request)) = server.recv_timeout(Duration::from_secs(5)) {
            let host = request
                .headers()
                .iter()
                .find(|h| h.field.equiv("Host"))
                .map(|h| h.value.to_string());
            seen.push(format!(
                "{} {} host={host:?}",
                request.method(),
                request.url()
            ));
            let _ = request.respond(tiny_http::Response::from_string(r#"{"status":"OK"}"#));
            if seen.len() == 1 {
                return seen;
            }
        }
        seen
    });
    let ran = finish(gate);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let seen = serve.join().unwrap();
    assert_eq!(seen, ["GET /api/public/health host=Some(\"localhost\")"]);
    // Credentials in the URL go as Basic authentication, never shown.
    let with_login = format!("http+unix://ops:unix-Pw-51d2@{encoded}/h");
    for mode in ["--once", "--print-config"] {
        let ran = run(readygate()
            .args([mode, &with_login])
            .env("READYGATE_LOG", "trace"));
        assert!(
            !ran.all_output().contains("unix-Pw-51d2"),
            "{}",
            ran.all_output()
        );
    }
    // Bad forms: exit 2, one line.
    let bad = run(readygate().args(["--once", "http+unix://web.sock/health"]));
    usage_error(&bad, "a relative socket path", "absolute path");
    let long = format!("http+unix://%2F{}/", "a".repeat(120));
    usage_error(
        &run(readygate().args(["--once", &long])),
        "a long socket path",
        "107 bytes",
    );
    row.saw("'no socket at ... yet', 'nothing accepts on' (stale), then ready; the request went to the socket as GET /api/public/health, Host localhost");
}

#[test]
fn a_unix_socket_must_accept() {
    let mut row = crate::record::row(
        "Files",
        "a Unix socket: missing, stale (the file without a listener), then listening",
        "not ready with a reason for each; ready once a connection is accepted",
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.sock");
    let url = format!("unix://{}", path.display());
    let ran = run(readygate().args(["--once", &url]));
    assert!(ran.stderr.contains("no socket at"), "{}", ran.stderr);
    drop(UnixListener::bind(&path).unwrap());
    let ran = run(readygate().args(["--once", &url]));
    assert!(ran.stderr.contains("nothing accepts on"), "{}", ran.stderr);
    std::fs::remove_file(&path).unwrap();
    // A regular file where the socket should be; a path no socket can have.
    std::fs::write(&path, "").unwrap();
    let ran = run(readygate().args(["--once", &url]));
    assert!(ran.stderr.contains("is not a socket"), "{}", ran.stderr);
    std::fs::remove_file(&path).unwrap();
    let long = format!("unix:///{}", "a".repeat(120));
    let ran = run(readygate().args(["--once", &long]));
    usage_error(&ran, "a 121-byte socket path", "107 bytes");
    let _listener = UnixListener::bind(&path).unwrap();
    let ran = run(readygate().args(["--once", &url]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    row.saw("'no socket', 'nothing accepts' (stale), then ready");
}

#[test]
fn run_anyway_runs_the_command_after_the_deadline() {
    let mut row = crate::record::row(
        "Process",
        "--run-anyway with a dependency that never comes up",
        "the summary says what is not ready, then the command runs and its exit code is returned",
    );
    let closed = format!("tcp://127.0.0.1:{}", free_port());
    let ran = run(readygate().args([
        &closed,
        "--timeout",
        "300ms",
        "--run-anyway",
        "--",
        "sh",
        "-c",
        "echo the app runs; exit 7",
    ]));
    assert_eq!(ran.code, Some(7), "{}", ran.stderr);
    assert!(ran.stdout.contains("the app runs"), "{}", ran.stdout);
    assert!(ran.stderr.contains("not ready: "), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("NOT READY: running sh anyway"),
        "{}",
        ran.stderr
    );
    // Without a command it means nothing.
    let ran = run(readygate().args([&closed, "--run-anyway"]));
    usage_error(&ran, "--run-anyway without a command", "--run-anyway");
    row.saw("exit 7 from the command after 'not ready' and 'NOT READY: running sh anyway'");
}

#[test]
fn bad_file_and_socket_targets_are_usage_errors() {
    for (bad, culprit) in [
        ("file://host/tmp/x", "three slashes"),
        ("file:///tmp/x?colour=red", "unknown parameter"),
        ("file:///tmp/x?contains=", "empty contains"),
        ("unix:///run/a.sock?x=1", "only a path"),
        ("file://", "absolute path"),
    ] {
        let ran = run(readygate().args(["--once", bad]));
        usage_error(&ran, bad, culprit);
    }
}

#[test]
fn until_down_waits_for_a_port_to_be_released() {
    let mut row = crate::record::row(
        "Process",
        "--until-down: an old instance still listening, released 1 s later; an HTTP health endpoint turning 503",
        "not ready ('still up') while it answers; ready once the port is refused or the check fails",
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let target = format!("tcp://127.0.0.1:{port}");
    let gate = spawn(readygate().args([
        "--until-down",
        &target,
        "--progress-every",
        "300ms",
        "--timeout",
        "10s",
    ]));
    std::thread::sleep(Duration::from_millis(1000));
    drop(listener);
    let ran = finish(gate);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(ran.stderr.contains("still up"), "{}", ran.stderr);
    assert!(
        ran.stderr.contains(&format!("{target} (down) is ready")),
        "{}",
        ran.stderr
    );
    // An endpoint that answers 503 is down; one that answers 200 is not.
    let web = crate::support::HttpStub::start(200, "ok");
    let up = run(readygate().args(["--until-down", "--once", &web.url("/h")]));
    assert_eq!(up.code, Some(1), "{}", up.stderr);
    web.set(503, "draining");
    let down = run(readygate().args(["--until-down", "--once", &web.url("/h")]));
    assert_eq!(down.code, Some(0), "{}", down.stderr);
    row.saw(format!(
        "exit 0 {} ms after start, once the port was released; 503 counts as down",
        ran.elapsed.as_millis()
    ));
}
