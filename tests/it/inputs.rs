//! Bad input: each case exits 2 with one line that names the culprit.

use crate::support::{readygate, run, usage_error};

const PG: &str = "postgres://app:pw@127.0.0.1:1/app";
const WEB: &str = "http://127.0.0.1:1/health";

/// Arguments, environment, and the name the error must mention.
type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);

#[test]
fn bad_inputs_exit_2_with_one_line_naming_the_culprit() {
    let huge = format!("tcp://{}:1", "a".repeat(5000));
    let cases: Vec<Case> = vec![
        (vec!["ftp://x"], vec![], "target #1"),
        (vec!["db:5432"], vec![], "target #1"),
        (vec!["tcp://db"], vec![], "target #1"),
        (vec!["tcp://db:70000"], vec![], "target #1"),
        (vec!["tcp://dö b:1"], vec![], "target #1"),
        (vec![&huge], vec![], "target #1"),
        (vec![WEB, "gopher://x"], vec![], "target #2"),
        (vec![], vec![], "no targets"),
        (
            vec![],
            vec![("READYGATE_TARGETS", "  ")],
            "READYGATE_TARGETS",
        ),
        (
            vec![],
            vec![("READYGATE_TARGETS", "tcp://a:1 nope")],
            "READYGATE_TARGETS #2",
        ),
        (vec![WEB, "--timeout", "30"], vec![], "--timeout"),
        (vec![WEB, "--timeout", "soon"], vec![], "--timeout"),
        (vec![WEB, "--timeout=-1s"], vec![], "--timeout"),
        (vec![WEB, "--timeout", "99999999999h"], vec![], "--timeout"),
        (vec![WEB, "--timeout"], vec![], "--timeout"),
        (
            vec![WEB],
            vec![("READYGATE_TIMEOUT", "30")],
            "READYGATE_TIMEOUT",
        ),
        (
            vec![WEB],
            vec![("READYGATE_TIMEOUT", "")],
            "READYGATE_TIMEOUT",
        ),
        (
            vec![WEB, "--attempt-timeout", "0"],
            vec![],
            "--attempt-timeout",
        ),
        (vec![WEB, "--interval", "1ms"], vec![], "--interval"),
        (vec![WEB, "--interval", "5"], vec![], "--interval"),
        (
            vec![WEB, "--progress-every", "0"],
            vec![],
            "--progress-every",
        ),
        (
            vec![WEB],
            vec![("READYGATE_ONCE", "maybe")],
            "READYGATE_ONCE",
        ),
        (
            vec![WEB],
            vec![("READYGATE_FAIL_FAST", "2")],
            "READYGATE_FAIL_FAST",
        ),
        (
            vec![WEB],
            vec![("READYGATE_DISABLED", "yes please")],
            "READYGATE_DISABLED",
        ),
        (
            vec![WEB],
            vec![("READYGATE_QUIET", "🤫")],
            "READYGATE_QUIET",
        ),
        (vec![WEB, "--log-format", "xml"], vec![], "--log-format"),
        (
            vec![WEB],
            vec![("READYGATE_LOG_FORMAT", "yaml")],
            "READYGATE_LOG_FORMAT",
        ),
        (vec![WEB], vec![("READYGATE_LOG", "[[[")], "READYGATE_LOG"),
        (vec![PG, "--table", ""], vec![], "--table"),
        (vec![PG, "--table", "a.b.c"], vec![], "--table"),
        (
            vec![PG],
            vec![("READYGATE_TABLES", ",,,")],
            "READYGATE_TABLES",
        ),
        (vec![WEB, "--table", "users"], vec![], "--table"),
        (vec![WEB, "--sql", "SELECT true"], vec![], "--sql"),
        (
            vec![WEB, "--prisma-migrations"],
            vec![],
            "--prisma-migrations",
        ),
        (
            vec![PG, "--prisma-migrations-dir", "/nonexistent/migrations"],
            vec![],
            "--prisma-migrations-dir",
        ),
        (
            vec![PG, "--prisma-migrations-dir", "/"],
            vec![],
            "--prisma-migrations-dir",
        ),
        (vec![PG, "--http-status", "200"], vec![], "--http-status"),
        (vec![WEB, "--http-status", "2xx"], vec![], "--http-status"),
        (
            vec![WEB, "--http-status", "299-200"],
            vec![],
            "--http-status",
        ),
        (vec![WEB, "--http-json", "status=OK"], vec![], "--http-json"),
        (vec![WEB, "--http-json", "/a~2=x"], vec![], "--http-json"),
        (
            vec![WEB],
            vec![("READYGATE_HTTP_JSON", "no pointer")],
            "READYGATE_HTTP_JSON",
        ),
        (
            vec![WEB, "--http-header", "NoColon"],
            vec![],
            "--http-header",
        ),
        (
            vec![WEB, "--http-header", "Bad Name: v"],
            vec![],
            "--http-header",
        ),
        (
            vec![WEB, "--http-header", "X-A: line\nbreak"],
            vec![],
            "--http-header",
        ),
        (
            vec![WEB, "--ca-file", "/nonexistent/ca.pem"],
            vec![],
            "--ca-file",
        ),
        (vec![WEB, "--ca-file", "/etc/hostname"], vec![], "--ca-file"),
        (
            vec!["https://x/", "--ca-file", "/etc/hostname", "--insecure"],
            vec![],
            "--insecure",
        ),
        (vec![WEB, "--insecure"], vec![], "--insecure"),
        (
            vec!["tcp://db:1"],
            vec![("READYGATE_INSECURE", "true")],
            "READYGATE_INSECURE applies",
        ),
        (
            vec![WEB],
            vec![("READYGATE_PRISMA_MIGRATIONS", "1")],
            "READYGATE_PRISMA_MIGRATIONS applies",
        ),
        (
            vec![WEB],
            vec![("READYGATE_CLICKHOUSE_MIGRATIONS", "yes")],
            "READYGATE_CLICKHOUSE_MIGRATIONS applies",
        ),
        (vec!["postgres://db/x?sslmode=bogus"], vec![], "target #1"),
        (
            vec!["postgres://db/x?sslrootcert=/nonexistent/root.crt"],
            vec![],
            "sslrootcert",
        ),
        (vec!["postgres://db/x?frobnicate=1"], vec![], "frobnicate"),
        (vec![WEB, "--once", "--", "true"], vec![], "--once"),
        (vec![WEB, "--bogus-flag"], vec![], "--bogus-flag"),
        (vec![WEB, "--table"], vec![], "--table"),
        (
            vec![PG],
            vec![("READYGATE_TABLE", "users")],
            "did you mean READYGATE_TABLES?",
        ),
        (
            vec![WEB],
            vec![("READYGATE_TIMOUT", "1s")],
            "did you mean READYGATE_TIMEOUT?",
        ),
        (
            vec![WEB],
            vec![("READYGATE_WHATEVER_ELSE", "1")],
            "READYGATE_WHATEVER_ELSE",
        ),
        (vec![PG, "--sql", ""], vec![], "--sql"),
        (vec![PG, "--migration", " "], vec![], "--migration"),
        (vec![WEB, "--http-body", ""], vec![], "--http-body"),
        (
            vec![WEB, "--attempt-timeout", "25h"],
            vec![],
            "--attempt-timeout",
        ),
        (
            vec![WEB],
            vec![("READYGATE_ATTEMPT_TIMEOUT", "30d")],
            "READYGATE_ATTEMPT_TIMEOUT",
        ),
        (
            vec!["postgres://db/x?options=search_path%3Dx"],
            vec![],
            "options=",
        ),
        (
            vec![WEB, "--termination-log", ""],
            vec![],
            "--termination-log",
        ),
        (vec!["postgres://db/x?pgbouncer=true"], vec![], "DIRECT_URL"),
        // The driver would ignore a mistyped PGSSLMODE: prefer, nothing verified.
        (
            vec!["postgres://db/x"],
            vec![("PGSSLMODE", "verify_full")],
            "PGSSLMODE",
        ),
        (
            vec!["postgres://db/x?sslmode=require&channel_binding=require"],
            vec![],
            "channel_binding",
        ),
        (vec![WEB, "--only-if", "COMPONENT"], vec![], "--only-if"),
        (vec![WEB, "--skip-if", "1X=y"], vec![], "--skip-if"),
        (
            vec![WEB, "--clickhouse-table", "t"],
            vec![],
            "--clickhouse-table",
        ),
        (
            vec!["clickhouse://ch:8123/db", "--clickhouse-table", "x'y"],
            vec![],
            "--clickhouse-table",
        ),
        (
            vec!["clickhouse://ch:8123/db?secure=maybe"],
            vec![],
            "target #1",
        ),
        (vec!["redis://"], vec![], "target #1"),
        (
            vec![],
            vec![("READYGATE_TARGETS", "postgres://db/x?sslmode=nope")],
            "READYGATE_TARGETS #1",
        ),
        (
            vec![],
            vec![("READYGATE_TARGETS", "postgresql://u:pa ss@db/x")],
            "READYGATE_TARGETS #1",
        ),
    ];
    assert!(cases.len() >= 30);
    let mut row = crate::record::row(
        "Hostile input",
        format!(
            "{} malformed values across flags, variables and URL forms",
            cases.len()
        ),
        "exit 2, one line naming the flag or variable, no panic",
    );
    for (args, env, culprit) in &cases {
        let mut cmd = readygate();
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let ran = run(&mut cmd);
        usage_error(&ran, &format!("args {args:?} env {env:?}"), culprit);
    }
    row.saw("all exit 2 with one line naming the culprit");
}

#[test]
fn the_flag_wins_over_its_environment_twin() {
    let ran = run(readygate()
        .args(["tcp://127.0.0.1:1", "--timeout", "200ms"])
        .env("READYGATE_TIMEOUT", "1h")
        .env("READYGATE_TARGETS", "tcp://127.0.0.1:2"));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(ran.stderr.contains("gave up after 200ms"), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("tcp://127.0.0.1:1") && !ran.stderr.contains("127.0.0.1:2"),
        "{}",
        ran.stderr
    );
}

#[test]
fn print_config_shows_the_resolved_configuration_without_connecting() {
    let ran = run(readygate()
        .args([
            "--print-config",
            "--table",
            "users",
            "--http-json",
            "/status=OK",
            WEB,
        ])
        .env("READYGATE_TARGETS", "ignored")
        .arg(PG));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    for want in [
        "postgres://app:***@127.0.0.1:1/app",
        "timeout: 5m",
        "tables exist: users",
        "JSON /status = \"OK\"",
        "interval: adaptive",
    ] {
        assert!(ran.stdout.contains(want), "{want:?} not in {}", ran.stdout);
    }
}

#[test]
fn help_and_version_exit_0() {
    let ran = run(readygate().arg("--help"));
    assert_eq!(ran.code, Some(0));
    assert!(ran.stdout.contains("READYGATE_TIMEOUT"));
    // The variables without a flag are listed too (they once were not).
    for var in ["READYGATE_LOG", "READYGATE_DISABLED", "READYGATE_TARGETS"] {
        assert!(ran.stdout.contains(var), "{var} not in --help");
    }
    let ran = run(readygate().arg("--version"));
    assert_eq!(
        (ran.code, ran.stdout.trim()),
        (Some(0), concat!("readygate ", env!("CARGO_PKG_VERSION")))
    );
}

/// Hostile input by class: each case exits 2 with one line naming the
/// culprit, and no case panics. Arguments may be any bytes.
#[test]
fn hostile_inputs_by_class() {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;

    let bytes = |b: &[u8]| OsString::from_vec(b.to_vec());
    let s = |t: &str| OsString::from(t);
    let nul_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(nul_file.path(), [0u8; 64]).unwrap();
    let nul_path = nul_file.path().display().to_string();
    let long = |n: usize, c: &str| c.repeat(n);
    type Hostile = (Vec<OsString>, Vec<(OsString, OsString)>, &'static str);
    let args = |a: &[&str]| a.iter().map(|x| s(x)).collect::<Vec<_>>();
    let env = |k: &str, v: OsString| vec![(s(k), v)];
    let classes: Vec<(&str, Vec<Hostile>)> = vec![
        (
            "empty values",
            vec![
                (args(&[WEB, "--timeout", ""]), vec![], "--timeout"),
                (args(&[WEB, "--serve", ""]), vec![], "--serve"),
                (args(&[WEB, "--preset", ""]), vec![], "--preset"),
                (args(&[WEB, "--ca-file", ""]), vec![], "--ca-file"),
                (
                    args(&[WEB, "--expect-version", ""]),
                    vec![],
                    "--expect-version",
                ),
                (args(&[""]), vec![], "target"),
                (
                    args(&[WEB]),
                    env("READYGATE_SERVE", s("")),
                    "READYGATE_SERVE",
                ),
                (
                    args(&[WEB]),
                    env("READYGATE_HTTP_HEADERS", s("")),
                    "READYGATE_HTTP_HEADERS",
                ),
            ],
        ),
        (
            "huge values",
            vec![
                (
                    vec![s(&format!("tcp://{}:1", long(100_000, "a")))],
                    vec![],
                    "target #1",
                ),
                (
                    args(&[PG, "--table", &long(10_000, "t")]),
                    vec![],
                    "--table",
                ),
                (
                    args(&[WEB, "--timeout", &format!("{}s", long(10_000, "9"))]),
                    vec![],
                    "--timeout",
                ),
                (
                    args(&[WEB, "--http-status", &long(5_000, "200,")]),
                    vec![],
                    "--http-status",
                ),
                (
                    args(&[WEB, "--only-if", &format!("{}=1", long(100_000, "A"))]),
                    vec![],
                    "--only-if",
                ),
                (
                    vec![],
                    env("READYGATE_TARGETS", s(&long(10_000, "x "))),
                    "READYGATE_TARGETS #1",
                ),
                (
                    args(&[WEB, "--http-header", &format!("{}: v", long(100_000, "a"))]),
                    vec![],
                    "--http-header",
                ),
            ],
        ),
        (
            "unicode look-alikes, invisible and control characters",
            vec![
                (args(&[WEB, "--timeout", "5ｓ"]), vec![], "--timeout"),
                (args(&[WEB, "--interval", "١s"]), vec![], "--interval"),
                (
                    args(&[WEB, "--http-status", "２００"]),
                    vec![],
                    "--http-status",
                ),
                (
                    args(&[WEB, "--log-format", "ｊｓｏｎ"]),
                    vec![],
                    "--log-format",
                ),
                (args(&["tcp://a\u{202e}b:1"]), vec![], "target #1"),
                (
                    args(&["postgres://db/x?sslmode=requiré"]),
                    vec![],
                    "sslmode",
                ),
                (args(&[PG, "--table", "users\u{200b}"]), vec![], "--table"),
                (args(&[PG, "--table", "a\u{1}b"]), vec![], "--table"),
                (
                    args(&["clickhouse://u:p%0A@ch:8123/db"]),
                    vec![],
                    "control character",
                ),
            ],
        ),
        (
            "NUL bytes (percent-encoded, or in files)",
            vec![
                (args(&["postgres://db/x%00y"]), vec![], "NUL byte"),
                (args(&["postgres://u%00:p@db/x"]), vec![], "NUL byte"),
                (args(&["postgres://u:p%00@db/x"]), vec![], "NUL byte"),
                (
                    args(&["postgres://db/x?application_name=a%00"]),
                    vec![],
                    "NUL byte",
                ),
                (args(&["clickhouse://ch:8123/d%00b"]), vec![], "NUL byte"),
                (args(&["redis://h:1/%00"]), vec![], "target #1"),
                (args(&["http://a%00b/"]), vec![], "target #1"),
                (
                    args(&["https://x/", "--ca-file", &nul_path]),
                    vec![],
                    "--ca-file",
                ),
                (
                    vec![s(&format!("postgres://db/x?sslrootcert={nul_path}"))],
                    vec![],
                    "sslrootcert",
                ),
            ],
        ),
        (
            "bytes that are not UTF-8",
            vec![
                (vec![bytes(b"tcp://a\xff:1")], vec![], "argument #1"),
                (
                    vec![s(WEB), s("--timeout"), bytes(b"\xff")],
                    vec![],
                    "--timeout",
                ),
                (vec![s(WEB), bytes(b"--table=\xff")], vec![], "--table"),
                // After a switch, the bytes are a target, not the switch's value.
                (
                    vec![s("--print-config"), bytes(b"tcp://h\xff:1")],
                    vec![],
                    "argument #2",
                ),
                (vec![s("-q"), bytes(b"\xff")], vec![], "argument #2"),
                (
                    args(&[WEB]),
                    env("READYGATE_TIMEOUT", bytes(b"\xfe")),
                    "READYGATE_TIMEOUT",
                ),
                (
                    vec![],
                    env("READYGATE_TARGETS", bytes(b"tcp://\xff:1")),
                    "READYGATE_TARGETS",
                ),
                (
                    args(&[WEB]),
                    vec![(bytes(b"READYGATE_\xff"), s("1"))],
                    "READYGATE_",
                ),
            ],
        ),
        (
            "conflicting flags",
            vec![
                (
                    args(&[WEB, "--serve", "127.0.0.1:0", "--once"]),
                    vec![],
                    "--once",
                ),
                (
                    args(&[WEB, "--serve", "127.0.0.1:0", "--", "true"]),
                    vec![],
                    "--serve",
                ),
                (
                    args(&[WEB, "--serve", "127.0.0.1:0", "--fail-fast"]),
                    vec![],
                    "--fail-fast",
                ),
                (args(&[WEB, "--once", "--", "true"]), vec![], "--once"),
                (
                    args(&["https://x/", "--insecure", "--ca-file", "/etc/hostname"]),
                    vec![],
                    "--insecure",
                ),
                (
                    args(&[WEB, "--langfuse-web", "http://web:3000"]),
                    vec![],
                    "--langfuse-web",
                ),
                (args(&[WEB, "--table", "t"]), vec![], "--table"),
                (
                    args(&[WEB]),
                    env("READYGATE_SERVE", s("127.0.0.1:0"))
                        .into_iter()
                        .chain(env("READYGATE_ONCE", s("true")))
                        .collect(),
                    "READYGATE_ONCE",
                ),
            ],
        ),
        (
            "flag and environment twin both set, one of them bad",
            vec![
                (
                    args(&[WEB, "--timeout", "soon"]),
                    env("READYGATE_TIMEOUT", s("1s")),
                    "--timeout",
                ),
                (
                    args(&[WEB, "--http-status", "2xx"]),
                    env("READYGATE_HTTP_STATUS", s("200")),
                    "--http-status",
                ),
                (
                    vec![s("nope")],
                    env("READYGATE_TARGETS", s(WEB)),
                    "target #1",
                ),
            ],
        ),
    ];
    let mut total = 0;
    for (class, cases) in &classes {
        let mut row = crate::record::row(
            "Hostile input",
            format!("{class} ({} cases)", cases.len()),
            "exit 2, one line naming the flag or variable, no panic",
        );
        let mut example = String::new();
        for (args, env, culprit) in cases {
            let mut cmd = readygate();
            cmd.args(args);
            for (k, v) in env {
                cmd.env(k, v);
            }
            let ran = run(&mut cmd);
            let case = format!(
                "{class}: args {:.200} env {:.200}",
                format!("{args:?}"),
                format!("{env:?}")
            );
            usage_error(&ran, &case, culprit);
            if example.is_empty() {
                example = ran.stderr.trim().to_string();
            }
        }
        total += cases.len();
        row.saw(format!(
            "all exit 2 with one line under 1 KiB naming the culprit; e.g. {example:?}"
        ));
    }
    assert!(total >= 45, "{total}");
}
