//! `lint`'s findings for people (one line each and a summary), as JSON, or
//! as SARIF 2.1.0 for code-scanning annotations on a pull request.

use std::fmt::Write as _;

use serde_json::json;

use super::model::Workload;
use super::rules::{Finding, Severity};
use super::Format;
use crate::text::one_line;

pub(super) fn render(
    format: Format,
    findings: &[Finding],
    files: &[String],
    workloads: &[Workload],
) -> String {
    match format {
        Format::Text => text(findings, files, workloads),
        Format::Json => format!("{}\n", json(findings, files)),
        Format::Sarif => format!("{}\n", sarif(findings)),
    }
}

fn count(findings: &[Finding], severity: Severity) -> usize {
    findings.iter().filter(|f| f.severity == severity).count()
}

fn plural(n: usize, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// Where a finding is: `file:line`, the object, the container.
fn place(f: &Finding) -> String {
    let at = match f.line {
        0 => f.file.clone(),
        line => format!("{}:{line}", f.file),
    };
    match &f.container {
        Some(c) => format!("{at} {} container {c}", f.object),
        None => format!("{at} {}", f.object),
    }
}

fn text(findings: &[Finding], files: &[String], workloads: &[Workload]) -> String {
    let mut out = String::new();
    for f in findings {
        let cause = f
            .cause
            .map(|c| format!(" [{}]", c.as_str()))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{}[{}] {}: {}{cause}; fix: {}",
            f.severity.as_str(),
            f.rule,
            place(f),
            one_line(&f.what),
            one_line(&f.fix)
        );
    }
    let _ = writeln!(
        out,
        "{}, {}, {} in {} ({})",
        plural(count(findings, Severity::Error), "error"),
        plural(count(findings, Severity::Warning), "warning"),
        plural(count(findings, Severity::Note), "note"),
        plural(files.len(), "file"),
        plural(workloads.len(), "workload"),
    );
    out
}

fn finding_json(f: &Finding) -> serde_json::Value {
    json!({
        "severity": f.severity.as_str(),
        "rule": f.rule,
        "file": f.file,
        "line": f.line,
        "object": f.object,
        "container": f.container,
        "message": one_line(&f.what),
        "cause": f.cause.map(|c| c.as_str()),
        "fix": one_line(&f.fix),
    })
}

fn json(findings: &[Finding], files: &[String]) -> serde_json::Value {
    json!({
        "findings": findings.iter().map(finding_json).collect::<Vec<_>>(),
        "summary": {
            "errors": count(findings, Severity::Error),
            "warnings": count(findings, Severity::Warning),
            "notes": count(findings, Severity::Note),
            "files": files,
        },
    })
}

/// Every rule, for SARIF's rule table.
const RULES: &[(&str, &str)] = &[
    (
        "wrong-image",
        "The worker runs the web image, or the web the worker image",
    ),
    ("release-mismatch", "Web and worker run different releases"),
    ("floating-tag", "A Langfuse image without a pinned release"),
    (
        "gate-version",
        "readygate expects another release than the web runs",
    ),
    (
        "hostname",
        "HOSTNAME is not 0.0.0.0, so Langfuse binds to the pod or container name",
    ),
    ("liveness-grace", "A liveness probe that kills a slow start"),
    ("liveness-timeout", "A liveness probe with a 1s timeout"),
    ("resources", "Resources below Langfuse's documented minimum"),
    (
        "no-gate",
        "Nothing waits for the web's migrations before the worker",
    ),
    (
        "migrations-disabled",
        "Migrations disabled on the web with nothing else migrating",
    ),
    (
        "gate-in-web-pod",
        "readygate waits for the web inside the web's own pod",
    ),
    (
        "web-worker-differ",
        "Web and worker disagree on a store or key they share",
    ),
    ("worker-env", "The worker lacks a variable it needs"),
    (
        "database-password",
        "DATABASE_PASSWORD the entrypoint puts into a URL unencoded",
    ),
    ("database-port", "DATABASE_PORT, which Langfuse never reads"),
    (
        "no-objects",
        "An input with no Kubernetes object and no compose service",
    ),
];

fn sarif(findings: &[Finding]) -> serde_json::Value {
    let results: Vec<serde_json::Value> = findings
        .iter()
        .map(|f| {
            let mut location = json!({ "artifactLocation": { "uri": uri(&f.file) } });
            if f.line > 0 {
                location["region"] = json!({ "startLine": f.line });
            }
            let cause = f.cause.map(|c| format!(" [{}]", c.as_str())).unwrap_or_default();
            json!({
                "ruleId": f.rule,
                "level": f.severity.as_str(),
                "message": { "text": format!("{}: {}{cause}. Fix: {}", place_without_file(f), one_line(&f.what), one_line(&f.fix)) },
                "locations": [ { "physicalLocation": location } ],
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "readygate",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/example/readygate",
                "rules": RULES.iter().map(|(id, text)| json!({ "id": id, "shortDescription": { "text": text } })).collect::<Vec<_>>(),
            }},
            "results": results,
        }],
    })
}

fn place_without_file(f: &Finding) -> String {
    match &f.container {
        Some(c) => format!("{} container {c}", f.object),
        None => f.object.clone(),
    }
}

/// A path as a URI reference (RFC 3986): `/` kept, everything outside the
/// unreserved set encoded; standard input as `stdin`.
fn uri(file: &str) -> String {
    if file == "-" {
        return "stdin".into();
    }
    file.split('/')
        .map(crate::text::percent_encode)
        .collect::<Vec<_>>()
        .join("/")
}
