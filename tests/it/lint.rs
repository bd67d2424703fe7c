//! `readygate lint` on manifest fixtures: every rule has a bad case that
//! triggers it alone and a good case that does not; the project's examples
//! and the official chart's output for a correct install lint clean.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::Stdio;

use crate::support::{readygate, run, usage_error, Ran};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/lint");
const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");

/// Secrets planted in the fixtures: never printed.
const PLANTED: &[&str] = &[
    "fixture-db-pass",
    "fixture@db:pass",
    "fixture-salt",
    "fixture-redis-pass",
    "fixture-nextauth-secret",
    "0f0e0d0c0b0a0908",
    "MgUt6Ty2SJ92OatPWPbRv1WcQXR9G4Va3JzsHXN",
    "pge5c566b2c8a9d3fd46a58307db17ec",
    "ch30ad462652958152604f081d1bb43d",
];

fn lint(args: &[&str]) -> Ran {
    let ran = run(readygate().arg("lint").args(args));
    for secret in PLANTED {
        assert!(
            !ran.all_output().contains(secret),
            "{secret} printed by lint {args:?}"
        );
    }
    ran
}

/// The rule ids and severities in a text report.
fn found(ran: &Ran) -> BTreeSet<(String, String)> {
    ran.stdout
        .lines()
        .filter_map(|l| {
            let (severity, rest) = l.split_once('[')?;
            let (rule, _) = rest.split_once(']')?;
            Some((severity.to_string(), rule.to_string()))
        })
        .collect()
}

fn clean(ran: &Ran) -> bool {
    ran.code == Some(0)
        && ran
            .stdout
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("0 errors, 0 warnings"))
}

#[test]
fn every_rule_has_a_bad_case_that_triggers_it_alone() {
    let good = lint(&[&format!("{FIXTURES}/good.yaml")]);
    assert!(clean(&good), "{}", good.stdout);
    assert!(good.stdout.contains("0 notes"), "{}", good.stdout);
    let mut rules = 0;
    for entry in std::fs::read_dir(format!("{FIXTURES}/bad")).unwrap() {
        let path = entry.unwrap().path();
        let rule = path.file_stem().unwrap().to_string_lossy().into_owned();
        let ran = lint(&[path.to_str().unwrap()]);
        let seen = found(&ran);
        let rules_seen: BTreeSet<&str> = seen.iter().map(|(_, r)| r.as_str()).collect();
        assert_eq!(
            rules_seen,
            BTreeSet::from([rule.as_str()]),
            "{rule}: {}",
            ran.stdout
        );
        let error = seen.iter().any(|(s, _)| s == "error");
        assert_eq!(
            ran.code,
            Some(if error { 1 } else { 0 }),
            "{rule}: {}",
            ran.stdout
        );
        // One line per finding, each with the object, what, and the fix.
        for line in ran.stdout.lines().filter(|l| l.contains('[')) {
            assert!(line.contains("Deployment/langfuse-"), "{line}");
            assert!(line.contains("; fix: "), "{line}");
        }
        rules += 1;
    }
    assert_eq!(rules, 15, "a bad case per rule");
}

#[test]
fn the_examples_and_the_charts_correct_install_lint_clean() {
    for file in [
        format!("{EXAMPLES}/kubernetes/langfuse-worker-init.yaml"),
        format!("{EXAMPLES}/kubernetes/native-sidecar.yaml"),
        format!("{EXAMPLES}/compose/docker-compose.yml"),
        format!("{FIXTURES}/chart-2.0.0-readygate.yaml"),
    ] {
        let ran = lint(&[&file]);
        assert!(clean(&ran), "{file}: {}", ran.stdout);
    }
}

#[test]
fn a_broken_install_is_named_cause_by_cause() {
    // The chart's defaults: no startupProbe, 50 s of liveness grace, no gate.
    let chart = lint(&[&format!("{FIXTURES}/chart-2.0.0-defaults.yaml")]);
    assert_eq!(chart.code, Some(0), "warnings only: {}", chart.stdout);
    let seen = found(&chart);
    for rule in ["liveness-grace", "no-gate"] {
        assert!(
            seen.contains(&("warning".into(), rule.into())),
            "{rule}: {}",
            chart.stdout
        );
    }
    assert!(chart
        .stdout
        .contains("[cause 3: starts before the database is migrated]"));
    // Langfuse's own compose file: moving tags, no HOSTNAME, no gate.
    let compose = lint(&[&format!("{FIXTURES}/langfuse-v4.16.0-docker-compose.yml")]);
    let seen = found(&compose);
    for rule in ["floating-tag", "hostname", "no-gate"] {
        assert!(
            seen.contains(&("warning".into(), rule.into())),
            "{rule}: {}",
            compose.stdout
        );
    }
    assert!(
        compose.stdout.contains("service langfuse-worker: "),
        "{}",
        compose.stdout
    );
}

#[test]
fn values_out_of_reach_are_not_guessed() {
    // The examples take the worker's settings from a Secret (envFrom).
    let ran = lint(&[&format!("{EXAMPLES}/kubernetes/langfuse-worker-init.yaml")]);
    assert!(ran.stdout.contains("note[worker-env]"), "{}", ran.stdout);
    assert!(ran.stdout.contains("not checkable here"), "{}", ran.stdout);
}

#[test]
fn json_and_sarif_carry_the_same_findings() {
    let file = format!("{FIXTURES}/bad/wrong-image.yaml");
    let json = lint(&["--format", "json", &file]);
    assert_eq!(json.code, Some(1));
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let f = &doc["findings"][0];
    assert_eq!(f["rule"], "wrong-image");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["object"], "Deployment/langfuse-worker");
    assert_eq!(f["container"], "langfuse-worker");
    assert!(f["line"].as_u64().unwrap() > 0);
    assert_eq!(doc["summary"]["errors"], 1);
    let sarif = lint(&["--format", "sarif", &file]);
    assert_eq!(sarif.code, Some(1));
    let doc: serde_json::Value = serde_json::from_str(&sarif.stdout).unwrap();
    assert_eq!(doc["version"], "2.1.0");
    let run0 = &doc["runs"][0];
    let rules: Vec<&str> = run0["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let result = &run0["results"][0];
    assert_eq!(result["ruleId"], "wrong-image");
    assert!(rules.contains(&"wrong-image"));
    assert_eq!(result["level"], "error");
    let loc = &result["locations"][0]["physicalLocation"];
    assert!(loc["artifactLocation"]["uri"]
        .as_str()
        .unwrap()
        .ends_with("wrong-image.yaml"));
    assert!(loc["region"]["startLine"].as_u64().unwrap() > 0);
    // Every rule a fixture triggers is in the SARIF rule table.
    for entry in std::fs::read_dir(format!("{FIXTURES}/bad")).unwrap() {
        let rule = entry
            .unwrap()
            .path()
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            rules.contains(&rule.as_str()),
            "{rule} missing from the SARIF rules"
        );
    }
}

#[test]
fn standard_input_is_read_with_a_dash() {
    let mut child = readygate()
        .args(["lint", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let text = std::fs::read(format!("{FIXTURES}/bad/hostname.yaml")).unwrap();
    child.stdin.take().unwrap().write_all(&text).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("warning[hostname] -:"), "{stdout}");
}

#[test]
fn unreadable_input_is_exit_2_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let values = dir.path().join("values.yaml");
    std::fs::write(&values, "langfuse:\n  image:\n    tag: 4.16.0\n").unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, "kind: Deployment\nspec: [unclosed\n").unwrap();
    let bomb = dir.path().join("bomb.yaml");
    let mut text = String::from("kind: Pod\na: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for (i, prev) in ('b'..='j').zip('a'..='i') {
        text.push_str(&format!("{i}: &{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
    }
    std::fs::write(&bomb, text).unwrap();
    let binary = dir.path().join("binary.yaml");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, b'k']).unwrap();
    for (args, culprit) in [
        (
            vec!["/nonexistent/manifest.yaml"],
            "cannot read /nonexistent/manifest.yaml",
        ),
        (vec![dir.path().to_str().unwrap()], "directory"),
        (vec![values.to_str().unwrap()], "helm template"),
        (vec![broken.to_str().unwrap()], "is not YAML"),
        (vec![bomb.to_str().unwrap()], "aliases copied"),
        (vec![binary.to_str().unwrap()], "not UTF-8"),
        (vec!["/dev/zero"], "larger than 16 MiB"),
        (
            vec!["--format", "xml", values.to_str().unwrap()],
            "--format",
        ),
        (vec![], "FILE"),
    ] {
        let ran = run(readygate().arg("lint").args(&args));
        assert_eq!(ran.code, Some(2), "{args:?}: {}", ran.stderr);
        assert!(ran.stdout.is_empty(), "{args:?}: {}", ran.stdout);
        let err = &ran.stderr;
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("readygate lint: error: "), "{err}");
        assert!(err.contains(culprit), "{args:?}: {culprit:?} not in {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // The usage check the rest of readygate uses, for one of them.
    let ran = run(readygate().args(["lint", "--bogus", "x.yaml"]));
    assert_eq!(ran.code, Some(2));
    let _ = usage_error;
}

/// What an attack round found, kept fixed: each file in
/// `tests/fixtures/lint/attack/` with what lint must (and must not) say.
#[test]
fn attack_findings_stay_fixed() {
    let dir = format!("{FIXTURES}/attack");
    // (file, exit code, rules that must be found, rules that must not)
    let cases: &[(&str, i32, &[&str], &[&str])] = &[
        // A database gate and a listen:// monitor in the web pod wait for nothing of the web's.
        ("web-gate-db.yaml", 0, &[], &["gate-in-web-pod"]),
        ("web-sidecar-listen.yaml", 0, &[], &["gate-in-web-pod"]),
        // Another app's gate with its own --expect-version.
        ("unrelated-gate.yaml", 0, &[], &["gate-version"]),
        // A migration Job running the web image first: the real web is still compared.
        (
            "migrate-job-salt.yaml",
            1,
            &["web-worker-differ"],
            &["hostname"],
        ),
        // A Langfuse container run as a native sidecar is linted too.
        ("sidecar-worker.yaml", 1, &["wrong-image"], &[]),
        ("compose-mem4g.yml", 0, &[], &["resources"]),
        ("compose-mem1gb.yml", 0, &["resources"], &[]),
        ("migvar.yml", 0, &["migrations-disabled"], &[]),
        ("ch-disabled-backup.yaml", 1, &["migrations-disabled"], &[]),
    ];
    for (file, code, must, must_not) in cases {
        let ran = lint(&[&format!("{dir}/{file}")]);
        assert_eq!(ran.code, Some(*code), "{file}: {}", ran.stdout);
        let rules: BTreeSet<String> = found(&ran).into_iter().map(|(_, r)| r).collect();
        for rule in *must {
            assert!(rules.contains(*rule), "{file}: no {rule}: {}", ran.stdout);
        }
        for rule in *must_not {
            assert!(!rules.contains(*rule), "{file}: {rule}: {}", ran.stdout);
        }
    }
    // Secrets behind compose's $$ and ${VAR:-default}, and ClickHouse URL
    // passwords that are short, break the URL, or hold a quote: in no format.
    for file in [
        "dollar.yml",
        "ch-hash.yml",
        "ch-short.yml",
        "ch-quote.yml",
        "ch-slash.yml",
    ] {
        for format in ["text", "json", "sarif"] {
            let ran = lint(&["--format", format, &format!("{dir}/{file}")]);
            for secret in [
                "S3cret",
                "uperSecret",
                "altVery",
                ":abc@",
                "pa#ss",
                "pa\\\"ss",
                "pa\"ss",
                "pa/ss",
            ] {
                assert!(
                    !ran.stdout.contains(secret),
                    "{file} {format}: {secret} in {}",
                    ran.stdout
                );
            }
        }
    }
    // A password that is also a word in the names leaves the names whole;
    // one that is a JSON keyword leaves the JSON valid.
    let ran = lint(&[&format!("{dir}/pw-langfuse.yaml")]);
    assert!(
        ran.stdout.contains("use langfuse/langfuse-worker:4.16.0"),
        "{}",
        ran.stdout
    );
    let ran = lint(&["--format", "json", &format!("{dir}/pw-null.yml")]);
    serde_json::from_str::<serde_json::Value>(&ran.stdout).expect("valid JSON");
    // Names holding a newline or an escape cannot forge a line.
    let ran = lint(&[&format!("{dir}/nlname.yaml")]);
    for line in ran.stdout.lines() {
        assert!(
            line.starts_with("error[")
                || line.starts_with("warning[")
                || line.starts_with("note[")
                || line.contains(" errors, ")
                || line.contains(" error, "),
            "{line}"
        );
        assert!(!line.contains('\u{1b}'), "{line:?}");
    }
}

#[test]
fn bad_inputs_among_good_ones_and_closed_pipes() {
    let dir = tempfile::tempdir().unwrap();
    // A values file beside a manifest: a note, the manifest still checked.
    let values = dir.path().join("values.yaml");
    std::fs::write(&values, "langfuse:\n  image:\n    tag: 4.16.0\n").unwrap();
    let good = format!("{FIXTURES}/good.yaml");
    let ran = lint(&[values.to_str().unwrap(), &good]);
    assert_eq!(ran.code, Some(0), "{}", ran.stdout);
    assert!(ran.stdout.contains("note[no-objects]"), "{}", ran.stdout);
    // Two documents pasted without --- (a key twice) are refused, not merged.
    let pasted = dir.path().join("pasted.yaml");
    let text = std::fs::read_to_string(format!("{FIXTURES}/bad/wrong-image.yaml")).unwrap();
    std::fs::write(
        &pasted,
        format!("{text}\n{}", text.replace("kind: List", "kind: List\n")),
    )
    .unwrap();
    let ran = run(readygate().arg("lint").arg(&pasted));
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(ran.stderr.contains("twice"), "{}", ran.stderr);
    // Standard input once only.
    let ran = run(readygate().args(["lint", "-", "-"]));
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(ran.stderr.contains("more than once"), "{}", ran.stderr);
    // One large string copied by alias after alias: refused within memory.
    let bomb = dir.path().join("strbomb.yaml");
    let big = "x".repeat(1 << 20);
    std::fs::write(
        &bomb,
        format!(
            "kind: Pod\na: &a \"{big}\"\nb: [{}]\n",
            vec!["*a"; 400].join(", ")
        ),
    )
    .unwrap();
    let ran = run(readygate().arg("lint").arg(&bomb));
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(ran.stderr.contains("aliases copied"), "{}", ran.stderr);
    // A reader that goes away (| true, | head) is no panic.
    let gate = readygate();
    let ran = run(std::process::Command::new("sh")
        .arg("-c")
        .arg("\"$0\" lint \"$1\" 2>\"$2\" | true; cat \"$2\"")
        .arg(gate.get_program())
        .arg(&good)
        .arg(dir.path().join("stderr")));
    assert!(!ran.stdout.contains("panicked"), "{}", ran.stdout);
    assert!(ran.stdout.is_empty(), "{}", ran.stdout);
}
