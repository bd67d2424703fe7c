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
use std::io::{Read, Write};

use clap::{Arg, ArgAction, Command};

use crate::exit;
use crate::secret::{self, Redactor};
use crate::text::printable;
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
    let (format, files) = match parse(args) {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    let (workloads, names, mut findings) = match load(&files) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    findings.extend(check(&workloads));
    findings.sort_by(|a, b| (a.severity, &a.file, a.line).cmp(&(b.severity, &b.file, b.line)));
    redact(&mut findings, &workloads);
    let out = render::render(format, &findings, &names, &workloads);
    // A reader that went away (`| head`, `| grep -q`) is no error.
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush());
    match findings.iter().any(|f| f.severity == Severity::Error) {
        true => exit::NOT_READY,
        false => exit::READY,
    }
}

/// The format and the inputs, or the exit code of a usage error.
fn parse(args: Vec<OsString>) -> Result<(Format, Vec<OsString>), u8> {
    let matches = match command()
        .try_get_matches_from(std::iter::once(OsString::from("readygate lint")).chain(args))
    {
        Ok(m) => m,
        Err(e) => {
            if e.kind() == clap::error::ErrorKind::MissingRequiredArgument {
                return Err(fail("give at least one FILE to check (- reads standard input); see readygate lint --help"));
            }
            return Err(
                match crate::options::clap_failure(&e, "readygate lint --help") {
                    None => exit::READY,
                    Some(line) => fail(&line),
                },
            );
        }
    };
    let format = match matches.get_one::<String>("format").map(String::as_str) {
        None | Some("text") => Format::Text,
        Some("json") => Format::Json,
        Some("sarif") => Format::Sarif,
        Some(other) => {
            return Err(fail(&format!(
                "--format is {:?}; use text, json or sarif",
                crate::text::shorten(other)
            )))
        }
    };
    let files: Vec<OsString> = matches
        .get_many::<OsString>("files")
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    if files.iter().filter(|f| f.as_os_str() == "-").count() > 1 {
        return Err(fail("- (standard input) is given more than once"));
    }
    Ok((format, files))
}

/// The workloads of every input, the inputs' names, and notes on them.
type Loaded = (Vec<Workload>, Vec<String>, Vec<rules::Finding>);

/// Every input read: its workloads, its name, and a note for an input that
/// holds nothing to check; or the exit code when one cannot be read.
fn load(files: &[OsString]) -> Result<Loaded, u8> {
    let mut workloads = Vec::new();
    let mut names = Vec::new();
    let mut findings = Vec::new();
    for file in files {
        // A name printed on one line: control characters shown escaped.
        let shown = crate::text::shorten_to(&printable(&file.to_string_lossy()), 200);
        let text = match read(file) {
            Ok(text) => text,
            Err(why) => return Err(fail(&format!("cannot read {shown}: {why}"))),
        };
        let docs = match yaml::documents(&text) {
            Ok(docs) => docs,
            Err(why) => return Err(fail(&format!("{shown} is not YAML: {why}"))),
        };
        let before = workloads.len();
        let mut objects = false;
        for doc in &docs {
            if doc.get("kind").is_some() {
                objects = true;
                model::kubernetes(doc, &shown, &mut workloads);
            } else if doc.get("services").is_some() {
                objects = true;
                model::compose(doc, &shown, &mut workloads);
            }
        }
        if !objects && workloads.len() == before {
            findings.push(rules::Finding {
                severity: Severity::Note,
                rule: "no-objects",
                file: shown.clone(),
                line: 0,
                object: "(the file)".into(),
                container: None,
                what: "holds no Kubernetes object and no compose services: nothing checked (a Helm values file?)".into(),
                cause: None,
                fix: "for a Helm chart, lint the output of `helm template` with these values".into(),
            });
        }
        names.push(shown);
    }
    if workloads.is_empty() && !findings.is_empty() {
        return Err(fail(&format!(
            "{} holds no Kubernetes object and no compose services (for a Helm chart, lint the output of `helm template`)",
            names.join(", ")
        )));
    }
    Ok((workloads, names, findings))
}

/// The rules over each deployment.
fn check(workloads: &[Workload]) -> Vec<rules::Finding> {
    // One deployment per group: every Kubernetes object together (split
    // manifests are common), each compose file on its own.
    let mut groups: Vec<(String, Vec<&Workload>)> = Vec::new();
    for w in workloads {
        let key = match w.source {
            model::Source::Kubernetes => String::from("kubernetes"),
            model::Source::Compose => format!("compose {}", w.file),
        };
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(w),
            None => groups.push((key, vec![w])),
        }
    }
    groups
        .iter()
        .flat_map(|(_, members)| rules::check(members))
        .collect()
}

/// Cleans every finding's fields of the secrets they could show.
fn redact(findings: &mut [rules::Finding], workloads: &[Workload]) {
    // Each field is cleaned before it is rendered, so JSON and SARIF stay
    // well-formed whatever a secret looks like. A finding can show values of
    // its own workload and of the web's (what they must share): those are
    // its secrets, which keeps the work linear in the input.
    let web_workloads: Vec<&Workload> = workloads
        .iter()
        .filter(|w| w.all_containers().any(|c| rules::is_web_image(&c.image)))
        .collect();
    let web_names = public_names(&web_workloads);
    let web_secrets: Vec<String> = web_workloads.iter().flat_map(|w| secrets(w)).collect();
    let mut cache: std::collections::HashMap<(String, String), Redactor> = Default::default();
    for f in findings.iter_mut() {
        let key = (f.file.clone(), f.object.clone());
        let redactor = cache.entry(key).or_insert_with(|| {
            let own: Vec<&Workload> = workloads
                .iter()
                .filter(|w| w.file == f.file && w.object == f.object)
                .collect();
            let public = format!("{}{web_names}", public_names(&own));
            let all = own
                .iter()
                .flat_map(|w| secrets(w))
                .chain(web_secrets.iter().cloned());
            Redactor::new(all.filter(|s| !public.contains(s.as_str())))
        });
        for field in [&mut f.what, &mut f.fix, &mut f.object, &mut f.file] {
            *field = printable(&redactor.clean(field));
        }
        if let Some(c) = &mut f.container {
            *c = printable(&redactor.clean(c));
        }
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

/// Image, object and container names: public, printed as they are.
fn public_names(workloads: &[&Workload]) -> String {
    let mut names = String::new();
    for w in workloads {
        names.push_str(&w.object);
        names.push('\n');
        for c in w.all_containers() {
            names.push_str(&c.name);
            names.push('\n');
            names.push_str(&c.image);
            names.push('\n');
        }
    }
    names
}

/// Values of one workload that must not be printed: secret-looking
/// variables (their literal values, and the defaults in compose's
/// `${VAR:-default}`), and passwords in URLs. (A value that is also part of
/// a printed image, object or container name, a password `langfuse`, is
/// public there and left alone: blanking it would garble the names.)
fn secrets(w: &Workload) -> Vec<String> {
    let mut found = std::collections::BTreeSet::new();
    for c in w.all_containers() {
        for (name, value) in &c.env {
            let raw = match value {
                Value::Literal(v) | Value::Unknown(v) => v,
                Value::Ref(_) => continue,
            };
            let defaults = model::interpolation_defaults(raw);
            if secret::is_secret_param(name) || name.contains("SALT") {
                found.insert(raw.clone());
                found.extend(defaults.iter().cloned());
            }
            for text in std::iter::once(raw).chain(defaults.iter()) {
                if let Ok(url) = url::Url::parse(text) {
                    found.extend(secret::url_secrets(&url));
                }
            }
        }
        for word in &c.command {
            if let Ok(url) = url::Url::parse(word) {
                found.extend(secret::url_secrets(&url));
            }
        }
    }
    found.into_iter().collect()
}
