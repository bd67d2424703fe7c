//! Exec, exit codes and signals.

use std::time::{Duration, Instant};

use crate::support::{finish, free_port, readygate, run, spawn, HttpStub};

#[test]
fn exec_keeps_the_pid_and_passes_the_exit_code_through() {
    let web = HttpStub::start(200, "{}");
    let mut cmd = readygate();
    cmd.arg(web.url("/"))
        .args(["--", "sh", "-c", "echo $$; exit 7"]);
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let ran = finish(child);
    assert_eq!(ran.code, Some(7), "{}", ran.stderr);
    assert_eq!(ran.stdout.trim(), pid.to_string());
}

#[test]
fn commands_that_cannot_run_exit_127_or_126() {
    let web = HttpStub::start(200, "{}");
    let ran = run(readygate()
        .arg(web.url("/"))
        .args(["--", "/nonexistent/worker"]));
    assert_eq!(ran.code, Some(127), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("cannot run \"/nonexistent/worker\""),
        "{}",
        ran.stderr
    );
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("not-executable");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    let ran = run(readygate().arg(web.url("/")).arg("--").arg(&script));
    assert_eq!(ran.code, Some(126), "{}", ran.stderr);
}

#[test]
fn disabled_skips_waiting_and_still_execs() {
    let closed = format!("tcp://127.0.0.1:{}", free_port());
    let ran = run(readygate()
        .arg(&closed)
        .env("READYGATE_DISABLED", "true")
        .args(["--", "sh", "-c", "exit 5"]));
    assert_eq!(ran.code, Some(5), "{}", ran.stderr);
    assert!(ran.stderr.contains("READYGATE_DISABLED"), "{}", ran.stderr);
    let ran = run(readygate()
        .arg(&closed)
        .env("READYGATE_DISABLED", "false")
        .args(["--timeout", "200ms"]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
}

fn signal_exits(sig: &str, code: i32) {
    let closed = format!("tcp://127.0.0.1:{}", free_port());
    let child = spawn(readygate().arg(&closed).args(["--timeout", "60s"]));
    std::thread::sleep(Duration::from_millis(400));
    let sent = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-s", sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let took = sent.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(took < Duration::from_millis(100), "{sig} took {took:?}");
    assert!(stderr.contains(&format!("stopped by SIG{sig}")), "{stderr}");
    assert!(
        stderr.contains(&format!("not ready: {closed}: connection refused")),
        "{stderr}"
    );
}

#[test]
fn sigterm_stops_within_100ms_with_143() {
    signal_exits("TERM", 143);
}

#[test]
fn sigint_stops_within_100ms_with_130() {
    let mut row = crate::record::row(
        "Signals",
        "SIGINT while waiting",
        "exit 130 within 100 ms with the summary",
    );
    signal_exits("INT", 130);
    row.saw("exit 130 within 100 ms");
}

#[test]
fn json_logs_are_one_object_per_line() {
    let closed = format!("tcp://127.0.0.1:{}", free_port());
    let ran = run(readygate()
        .arg(&closed)
        .args(["--timeout", "300ms", "--log-format", "json"]));
    assert_eq!(ran.code, Some(1));
    for line in ran.stderr.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["message"].is_string() && v["level"].is_string(), "{line}");
    }
    assert!(
        ran.stderr.contains(r#""class":"refused""#),
        "{}",
        ran.stderr
    );
}

#[test]
fn quiet_keeps_only_the_summary() {
    let web = HttpStub::start(200, "{}");
    let ran = run(readygate().arg(web.url("/")).arg("-q"));
    assert_eq!((ran.code, ran.stderr.as_str()), (Some(0), ""));
    let closed = format!("tcp://127.0.0.1:{}", free_port());
    let ran = run(readygate().arg(&closed).args(["-q", "--timeout", "200ms"]));
    assert_eq!(ran.code, Some(1));
    assert_eq!(ran.stderr.lines().count(), 2, "{}", ran.stderr);
}

#[test]
fn conditions_decide_whether_to_wait_here() {
    let closed = format!("tcp://127.0.0.1:{}", free_port());
    // The Helm chart puts the same init container into the web pod: it must not wait there.
    let ran = run(readygate()
        .args([&closed, "--only-if", "COMPONENT=worker", "--timeout", "30s"])
        .env("COMPONENT", "web"));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(
        ran.stderr.contains(
            "not waiting here: --only-if COMPONENT=worker does not hold (COMPONENT is \"web\")"
        ),
        "{}",
        ran.stderr
    );
    assert!(ran.elapsed < Duration::from_secs(2), "{:?}", ran.elapsed);
    let ran = run(readygate().args([
        &closed,
        "--only-if",
        "COMPONENT=worker",
        "--",
        "sh",
        "-c",
        "exit 6",
    ]));
    assert_eq!(
        ran.code,
        Some(6),
        "unset variable: not here, and the command still runs: {}",
        ran.stderr
    );
    let ran = run(readygate()
        .args([
            &closed,
            "--skip-if",
            "LANGFUSE_SKIP=true",
            "--timeout",
            "30s",
        ])
        .env("LANGFUSE_SKIP", "true"));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("--skip-if LANGFUSE_SKIP=true holds"),
        "{}",
        ran.stderr
    );
    // Where they hold, it waits as usual.
    let ran = run(readygate()
        .args([&closed, "--timeout", "300ms"])
        .env("READYGATE_ONLY_IF", "COMPONENT=worker")
        .env("READYGATE_SKIP_IF", "COMPONENT=web")
        .env("COMPONENT", "worker"));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    let ran = run(readygate()
        .args([&closed, "--only-if", "COMPONENT=worker", "--print-config"])
        .env("COMPONENT", "web"));
    assert!(
        ran.stdout.contains("only if: COMPONENT=worker")
            && ran.stdout.contains("here: do not wait"),
        "{}",
        ran.stdout
    );
}

#[test]
fn no_color_turns_colours_off_on_a_terminal() {
    use std::process::{Command, Stdio};
    let mut row = crate::record::row(
        "Process",
        "stderr is a terminal (under `script`), with and without NO_COLOR=1",
        "ANSI colours on a terminal, none with NO_COLOR (no-color.org)",
    );
    let gate = env!("CARGO_BIN_EXE_readygate");
    let on_a_terminal = |no_color: Option<&str>| {
        let mut cmd = Command::new("script");
        cmd.args([
            "-qec",
            &format!("{gate} tcp://127.0.0.1:9 --timeout 200ms"),
            "/dev/null",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null());
        if let Some(v) = no_color {
            cmd.env("NO_COLOR", v);
        }
        let out = cmd.output().expect("run script (util-linux)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let coloured = on_a_terminal(None);
    assert!(coloured.contains("\u{1b}["), "{coloured:?}");
    assert!(coloured.contains("gave up after"), "{coloured:?}");
    let plain = on_a_terminal(Some("1"));
    assert!(!plain.contains("\u{1b}["), "{plain:?}");
    assert!(plain.contains("gave up after"), "{plain:?}");
    row.saw("escape codes on the terminal; none with NO_COLOR=1");
}

#[test]
fn with_json_logs_every_stderr_line_is_json() {
    let mut row = crate::record::row(
        "Process",
        "--log-format json (or READYGATE_LOG_FORMAT=json) with a configuration error, an unknown flag, READYGATE_DISABLED, and a command that cannot be run",
        "each of those lines is a JSON log line too (timestamp, level, message), exit codes unchanged",
    );
    let json_line = |ran: &crate::support::Ran, level: &str, says: &str| {
        let line = ran.stderr.lines().last().unwrap_or_default();
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(v["level"], level, "{line}");
        assert!(
            v["message"].as_str().unwrap_or_default().contains(says),
            "{line}"
        );
        assert!(v["timestamp"].is_string(), "{line}");
    };
    let ran = run(readygate().args(["tcp://db:1", "--timeout", "soon", "--log-format", "json"]));
    assert_eq!(ran.code, Some(2));
    json_line(&ran, "ERROR", "--timeout");
    let ran = run(readygate()
        .arg("--bogus")
        .env("READYGATE_LOG_FORMAT", "json"));
    assert_eq!(ran.code, Some(2));
    json_line(&ran, "ERROR", "--bogus");
    let ran = run(readygate()
        .args(["--log-format=json", "tcp://db:1", "--", "/nonexistent/cmd"])
        .env("READYGATE_DISABLED", "true"));
    assert_eq!(ran.code, Some(127), "{}", ran.stderr);
    assert_eq!(ran.stderr.lines().count(), 2, "{}", ran.stderr);
    for line in ran.stderr.lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "{line}"
        );
    }
    json_line(&ran, "ERROR", "cannot run");
    // Plain text stays plain.
    let ran = run(readygate().args(["tcp://db:1", "--timeout", "soon"]));
    assert!(
        ran.stderr.starts_with("readygate: error: "),
        "{}",
        ran.stderr
    );
    row.saw("four JSON lines (ERROR, ERROR, INFO + ERROR); exits 2, 2, 127");
}

#[test]
fn no_env_sets_aside_even_a_variable_that_is_not_utf8() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let ran = run(readygate()
        .env("READYGATE_TIMEOUT", OsStr::from_bytes(b"\xff"))
        .args(["--no-env", "--once", "tcp://127.0.0.1:1"]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    let ran = run(readygate()
        .env("READYGATE_TIMEOUT", OsStr::from_bytes(b"\xff"))
        .args(["--once", "tcp://127.0.0.1:1"]));
    crate::support::usage_error(&ran, "a READYGATE_ variable not UTF-8", "READYGATE_TIMEOUT");
}
