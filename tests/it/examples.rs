//! Every example validates (Kubernetes schema, compose specification) and
//! every readygate invocation in it is accepted; see tests/examples.py.

#[test]
fn examples_validate_and_their_invocations_are_accepted() {
    let out = std::process::Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/examples.py"))
        .arg(env!("CARGO_BIN_EXE_readygate"))
        .arg(concat!(env!("CARGO_TARGET_TMPDIR"), "/examples-cache"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("python3 runs tests/examples.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    let counts: serde_json::Value = serde_json::from_str(stdout.trim()).expect("counts as JSON");
    assert_eq!(counts["files"], 4, "{counts}");
    assert!(counts["invocations"].as_u64().unwrap() >= 6, "{counts}");
}
