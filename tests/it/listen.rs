//! Listener targets (`listen://:PORT`) against real sockets, each test in a
//! network namespace of its own (`unshare --net`), as a pod's containers
//! share one: fixed ports cannot collide, and nothing else listens there.

use std::process::Command;

use crate::support::{readygate, run, Ran};

/// Binds the listeners `specs` names (`127.0.0.1:3030`, `[::]:3030`;
/// `later:` first binds it after a second), then runs readygate with `args`,
/// all inside a new network namespace; its exit code is readygate's.
const IN_NAMESPACE: &str = r#"
import socket, subprocess, sys, threading
def bind(spec):
    host, port = spec.rsplit(":", 1)
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind((host, int(port)))
    s.listen()
    held.append(s)
held = []
for spec in filter(None, sys.argv[1].split(",")):
    if spec.startswith("later:"):
        threading.Timer(1.0, bind, [spec[6:]]).start()
    else:
        bind(spec)
sys.exit(subprocess.run(sys.argv[2:]).returncode)
"#;

/// readygate with `args`, in a new network namespace where `specs` listen.
fn in_namespace(specs: &str, args: &[&str]) -> Ran {
    in_namespace_with(&[], specs, args)
}

/// The same, with these variables in readygate's environment.
fn in_namespace_with(env: &[(&str, &str)], specs: &str, args: &[&str]) -> Ran {
    let gate = readygate();
    let mut cmd = Command::new("unshare");
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .args([
            "--net",
            "--",
            "sh",
            "-c",
            "ip link set lo up && exec \"$@\"",
            "sh",
        ])
        .args(["python3", "-c", IN_NAMESPACE, specs])
        .arg(gate.get_program())
        .args(args);
    let ran = run(&mut cmd);
    assert!(
        !ran.stderr.contains("unshare:") && !ran.stderr.contains("Traceback"),
        "the namespace could not be set up (run as root): {}",
        ran.stderr
    );
    ran
}

#[test]
fn ready_when_the_port_listens_on_every_address() {
    let mut row = crate::record::row(
        "Listener",
        "the app listens on 0.0.0.0 or :: (a pod's network namespace)",
        "ready at once, no connection made",
    );
    for specs in ["0.0.0.0:3030", "[::]:3030"] {
        let ran = in_namespace(specs, &["--once", "listen://:3030"]);
        assert_eq!(ran.code, Some(0), "{specs}: {}", ran.stderr);
        assert!(
            ran.stderr.contains("ready: listen://:3030"),
            "{}",
            ran.stderr
        );
    }
    row.saw("0.0.0.0:3030 and [::]:3030 both ready in --once");
}

#[test]
fn loopback_only_is_named_with_the_fix() {
    let mut row = crate::record::row(
        "Listener",
        "the app listens on 127.0.0.1 only (HOSTNAME left to the pod name resolving to loopback)",
        "not ready: says loopback only and how to bind 0.0.0.0",
    );
    let ran = in_namespace("127.0.0.1:3030", &["--once", "listen://:3030"]);
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("port 3030 listens on 127.0.0.1 only"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("HOSTNAME=0.0.0.0"), "{}", ran.stderr);
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    let six = in_namespace("[::1]:3030", &["--once", "listen://:3030"]);
    assert_eq!(six.code, Some(1), "{}", six.stderr);
    assert!(six.stderr.contains("listens on ::1 only"), "{}", six.stderr);
    row.saw("exit 1 naming 127.0.0.1 (and ::1) and HOSTNAME=0.0.0.0");
}

#[test]
fn nothing_listening_and_another_port_are_told_apart() {
    let mut row = crate::record::row(
        "Listener",
        "nothing listens on the port; or only another port does (the web image run as the worker)",
        "not ready: 'nothing listens' vs 'port 3000 does', with the Langfuse hint under the preset",
    );
    let none = in_namespace("", &["--once", "listen://:3030"]);
    assert_eq!(none.code, Some(1), "{}", none.stderr);
    assert!(
        none.stderr.contains("nothing listens on port 3030 yet"),
        "{}",
        none.stderr
    );
    let other = in_namespace("0.0.0.0:3000", &["--once", "listen://:3030"]);
    assert_eq!(other.code, Some(1), "{}", other.stderr);
    assert!(
        other
            .stderr
            .contains("nothing listens on port 3030, but port 3000 does"),
        "{}",
        other.stderr
    );
    row.saw("two different reasons; exit 1 each");
}

#[test]
fn the_langfuse_preset_explains_the_web_image() {
    let env = [
        ("DATABASE_URL", "postgres://u:pw@127.0.0.1:1/db"),
        ("CLICKHOUSE_URL", "http://127.0.0.1:1"),
        ("CLICKHOUSE_USER", "u"),
        ("CLICKHOUSE_PASSWORD", "pw"),
        ("REDIS_CONNECTION_STRING", "redis://127.0.0.1:1"),
        ("LANGFUSE_S3_EVENT_UPLOAD_BUCKET", "events"),
    ];
    let ran = in_namespace_with(
        &env,
        "0.0.0.0:3000",
        &[
            "--once",
            "listen://:3030",
            "--preset",
            "langfuse-worker",
            "--langfuse-web",
            "http://127.0.0.1:3000",
            "--expect-version",
            "4.16.0",
        ],
    );
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    let line = ran
        .stderr
        .lines()
        .find(|l| l.contains("listen://:3030"))
        .unwrap_or_else(|| panic!("no listen line: {}", ran.stderr));
    assert!(line.contains("but port 3000 does"), "{line}");
    assert!(line.contains("langfuse/langfuse-worker"), "{line}");
}

#[test]
fn waits_until_the_app_listens() {
    let mut row = crate::record::row(
        "Listener",
        "the app starts listening a second after the gate starts",
        "ready within one interval of it",
    );
    let ran = in_namespace(
        "later:0.0.0.0:3030",
        &["listen://:3030", "--timeout", "10s"],
    );
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(ran.elapsed.as_secs_f64() < 5.0, "{:?}", ran.elapsed);
    row.saw(format!("exit 0 after {} ms", ran.elapsed.as_millis()));
}

#[test]
fn the_sidecar_port_is_not_the_app() {
    let mut row = crate::record::row(
        "Listener",
        "only readygate's own sidecar port listens",
        "its own socket is left out: 'nothing listens yet', not 'another port does'",
    );
    // The sidecar serves on 9477 in the namespace; a second readygate asks
    // its /readyz there (both share the namespace), then stops it.
    let script = r#"
ip link set lo up
"$1" --serve 0.0.0.0:9477 listen://:3030 --interval 100ms 2>/dev/null &
sidecar=$!
sleep 1
"$1" --no-env --once --http-status 503 --http-body 'nothing listens on port 3030 yet' http://127.0.0.1:9477/readyz
code=$?
kill $sidecar
exit $code
"#;
    let gate = readygate();
    let ran = run(Command::new("unshare")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(["--net", "--", "sh", "-c", script, "sh"])
        .arg(gate.get_program()));
    assert_eq!(ran.code, Some(0), "{}", ran.all_output());
    row.saw("/readyz said 'nothing listens on port 3030 yet' with the sidecar on 9477");
}

#[test]
fn bad_listener_targets_are_usage_errors() {
    for (bad, culprit) in [
        ("listen://web:3030", "takes a port and no host"),
        ("listen://:3030/x", "takes only a port"),
        ("listen://:0", "port 0"),
        ("listen://:99999", "invalid port"),
        ("listen://", "needs a port"),
    ] {
        let ran = run(readygate().args(["--once", bad]));
        crate::support::usage_error(&ran, bad, culprit);
    }
    // Any case of the scheme, as URLs allow.
    let ran = run(readygate().args(["--print-config", "LISTEN://:3030"]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    // The sidecar must not take the port it watches the app for.
    let ran = run(readygate().args(["--serve", "0.0.0.0:3030", "listen://:3030"]));
    crate::support::usage_error(&ran, "--serve on the watched port", "--serve");
    assert!(ran.stderr.contains("port 3030"), "{}", ran.stderr);
}

#[test]
fn a_service_mesh_proxy_is_not_another_program() {
    // Envoy (Istio) listens on 15001/15006/15021 before the app is up.
    let ran = in_namespace(
        "0.0.0.0:15001,0.0.0.0:15006,0.0.0.0:15021",
        &["--once", "listen://:3030"],
    );
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("nothing listens on port 3030 yet"),
        "{}",
        ran.stderr
    );
}
