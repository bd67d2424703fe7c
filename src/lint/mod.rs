//! `readygate lint [FILE|-]...`: reads what will be deployed (Kubernetes
//! manifests, `helm template` output, compose files) and reports what would
//! make the Langfuse worker crash-loop, before it does: one line per
//! finding, with the object, the container, what is wrong, which of the four
//! causes it leads to, and the fix. Exit 0 without errors, 1 with one, 2 for
//! input it cannot read. Reads files only; connects to nothing.

mod model;
mod render;
mod rules;
mod yaml;

use std::ffi::OsString;
use std::io::Read;

use clap::{Arg, ArgAction, Command};

use crate::exit;
use crate::secret::{self, Redactor};
use model::{Value, Workload};
use rules::Severity;

/// Bytes read from one input at most: a large rendered chart is a few
/// hundred kilobytes.
const MAX_INPUT: u64 = 16 * 1024 * 1024;

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Text,
    Json,
    Sarif,
}

/// `lint`'s own command line (a subcommand in the generated docs).
pub(crate) fn command() -> Command {
    Command::new("lint")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Check Kubernetes manifests and compose files for what makes the Langfuse worker crash-loop, before deploying them")
        .long_about("Check Kubernetes manifests (several documents, Lists, `helm template` output) and compose files for what makes the Langfuse worker crash-loop: the wrong image or release, HOSTNAME, probes and resources too tight for a slow start, nothing waiting for the web's migrations, migrations disabled, web and worker settings that disagree. Values behind secretKeyRef, envFrom or ${VAR} are reported as not checkable here.\n\nExit codes: 0 no error (warnings and notes allowed), 1 at least one error, 2 unreadable input or bad arguments.")
        .max_term_width(100)
        .arg(
            Arg::new("format")
                .long("format")
                .value_name("FORMAT")
                .action(ArgAction::Set)
                .help("text (one line per finding, the default), json, or sarif (for code-scanning annotations in CI)"),
        )
        .arg(
            Arg::new("files")
                .value_name("FILE")
                .num_args(1..)
                .required(true)
                .value_parser(clap::value_parser!(OsString))
                .help("Manifest or compose files; - reads standard input"),
        )
}

/// One line on stderr and the usage exit code.
fn fail(message: &str) -> u8 {
    crate::report::outside_line(
        "ERROR",
        &format!("readygate lint: error: {}", crate::text::one_line(message)),
    );
    exit::USAGE
}

/// Runs `readygate lint` with the arguments after `lint`; returns the exit code.
pub(crate) fn run(args: Vec<OsString>) -> u8 {
    let matches = match command()
        .try_get_matches_from(std::iter::once(OsString::from("readygate lint")).chain(args))
    {
        Ok(m) => m,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return exit::READY;
            }
            if e.kind() == ErrorKind::MissingRequiredArgument {
                return fail("give at least one FILE to check (- reads standard input); see readygate lint --help");
            }
            let rendered = e.to_string();
            let first = rendered
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ");
            return fail(&format!("{first}; see readygate lint --help"));
        }
    };
    let format = match matches.get_one::<String>("format").map(String::as_str) {
        None | Some("text") => Format::Text,
        Some("json") => Format::Json,
        Some("sarif") => Format::Sarif,
        Some(other) => {
            return fail(&format!(
                "--format is {:?}; use text, json or sarif",
                crate::text::shorten(other)
            ))
        }
    };
    let files: Vec<&OsString> = matches
        .get_many::<OsString>("files")
        .into_iter()
        .flatten()
        .collect();
    let mut workloads = Vec::new();
    let mut names = Vec::new();
    for file in files {
        let name = file.to_string_lossy().into_owned();
        let shown = crate::text::shorten_to(&name, 200);
        let text = match read(file) {
            Ok(text) => text,
            Err(why) => return fail(&format!("cannot read {shown}: {why}")),
        };
        let docs = match yaml::documents(&text) {
            Ok(docs) => docs,
            Err(why) => return fail(&format!("{shown} is not YAML: {why}")),
        };
        let before = workloads.len();
        for doc in &docs {
            if doc.get("kind").is_some() {
                model::kubernetes(doc, &shown, &mut workloads);
            } else if doc.get("services").is_some() {
                model::compose(doc, &shown, &mut workloads);
            }
        }
        if workloads.len() == before
            && !docs
                .iter()
                .any(|d| d.get("kind").is_some() || d.get("services").is_some())
        {
            return fail(&format!("{shown} holds no Kubernetes object and no compose services (for a Helm chart, lint the output of `helm template`)"));
        }
        names.push(shown);
    }
    // One deployment per group: every Kubernetes object together (split
    // manifests are common), each compose file on its own.
    let mut groups: Vec<(String, Vec<&Workload>)> = Vec::new();
    for w in &workloads {
        let key = match w.source {
            model::Source::Kubernetes => String::from("kubernetes"),
            model::Source::Compose => format!("compose {}", w.file),
        };
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(w),
            None => groups.push((key, vec![w])),
        }
    }
    let mut findings: Vec<rules::Finding> = groups
        .iter()
        .flat_map(|(_, members)| rules::check(members))
        .collect();
    findings.sort_by(|a, b| (a.severity, &a.file, a.line).cmp(&(b.severity, &b.file, b.line)));
    let redactor = Redactor::new(secrets(&workloads));
    let out = render::render(format, &findings, &names, &workloads);
    let cleaned = redactor.clean(&out);
    print!("{cleaned}");
    match findings.iter().any(|f| f.severity == Severity::Error) {
        true => exit::NOT_READY,
        false => exit::READY,
    }
}

/// Reads one input, at most [`MAX_INPUT`] bytes; `-` is standard input.
fn read(file: &OsString) -> Result<String, String> {
    let mut bytes = Vec::new();
    let result = if file == "-" {
        std::io::stdin()
            .lock()
            .take(MAX_INPUT + 1)
            .read_to_end(&mut bytes)
    } else {
        let path = std::path::Path::new(file);
        if path.is_dir() {
            return Err("it is a directory (give the files in it)".into());
        }
        std::fs::File::open(path).and_then(|f| f.take(MAX_INPUT + 1).read_to_end(&mut bytes))
    };
    result.map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_INPUT {
        return Err(format!("it is larger than {} MiB", MAX_INPUT / 1024 / 1024));
    }
    String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_string())
}

/// Values in the manifests that must not be printed: secret-looking
/// variables, and passwords in URLs.
fn secrets(workloads: &[Workload]) -> Vec<String> {
    let mut found = Vec::new();
    for c in workloads.iter().flat_map(Workload::all_containers) {
        for (name, value) in &c.env {
            let Value::Literal(v) = value else { continue };
            if secret::is_secret_param(name) || name.contains("SALT") {
                found.push(v.clone());
            }
            if let Ok(url) = url::Url::parse(v) {
                found.extend(secret::url_secrets(&url));
            }
        }
        for word in &c.command {
            if let Ok(url) = url::Url::parse(word) {
                found.extend(secret::url_secrets(&url));
            }
        }
    }
    found
}
