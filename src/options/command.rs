//! The clap command, drawn from the option declarations: every flag with its
//! twin in its help line, and the variables without a flag listed after the
//! options, so `--help` names every variable readygate reads.

use std::ffi::OsString;

use clap::{Arg, ArgAction, Command};

use super::{Opt, Takes};

const ABOUT: &str = "Wait until dependencies are really ready (PostgreSQL migrated, HTTP health answering), then exit 0 or run a command";

const LONG_ABOUT: &str = "Wait until dependencies are really ready (PostgreSQL migrated, HTTP health answering), then exit 0 or run a command.

Every option has a READYGATE_* environment twin; the flag wins. `readygate lint FILE...` checks Kubernetes manifests and compose files before deploy (readygate lint --help). Exit codes: 0 ready, 1 deadline passed, 2 usage or configuration error, 3 permanent failure with --fail-fast, 126/127 command not runnable, 130/143 stopped by SIGINT/SIGTERM.";

/// The id of the command after `--`.
pub(crate) const COMMAND: &str = "command";

/// The id of `--no-env`, the one flag without a twin: it sets aside every
/// twin, so a healthcheck can run in a container configured for the sidecar.
pub(crate) const NO_ENV: &str = "no-env";

/// Builds the command line from `options`, in their order.
pub(crate) fn command(options: &[&Opt]) -> Command {
    let mut cmd = Command::new("readygate")
        .version(env!("CARGO_PKG_VERSION"))
        .about(ABOUT)
        .long_about(LONG_ABOUT)
        .max_term_width(100);
    let mut env_only = String::from("Environment only:");
    for opt in options {
        let help = format!("{} {}", opt.help, opt.env_note());
        let Some(flag) = opt.flag else {
            if let Takes::Positional(value_name, _) = opt.takes {
                cmd = cmd.arg(
                    Arg::new(opt.id())
                        .value_name(value_name)
                        .num_args(0..)
                        .action(ArgAction::Append)
                        .help(help),
                );
            } else {
                env_only.push_str(&format!("\n  {}\n          {}", opt.var, opt.help));
            }
            continue;
        };
        let mut arg = Arg::new(opt.id())
            .long(flag.trim_start_matches('-'))
            .help(help);
        if let Some(short) = opt.short {
            arg = arg.short(short);
        }
        arg = match opt.takes {
            Takes::Value(name) => arg.value_name(name).action(ArgAction::Set),
            Takes::List(name, _) => arg.value_name(name).action(ArgAction::Append),
            Takes::Switch => arg.action(ArgAction::SetTrue),
            Takes::Positional(..) => unreachable!("a positional option has no flag"),
        };
        cmd = cmd.arg(arg);
    }
    cmd.arg(
        Arg::new(NO_ENV)
            .long(NO_ENV)
            .action(ArgAction::SetTrue)
            .help("Ignore every READYGATE_* variable (a healthcheck in a container set up for the sidecar: readygate --no-env --once http://127.0.0.1:9090/readyz)"),
    )
    .arg(
        Arg::new(COMMAND)
            .value_name("COMMAND")
            .last(true)
            .num_args(1..)
            .value_parser(clap::value_parser!(OsString))
            .help("Once ready, replace readygate with this command (same PID)"),
    )
    .after_help(env_only)
}

/// What a clap error means for the user: `None` once help or the version
/// is printed (exit 0), else its first line with where to read more.
pub(crate) fn clap_failure(e: &clap::Error, help: &str) -> Option<String> {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return None;
    }
    let rendered = e.to_string();
    let first = rendered
        .lines()
        .next()
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ");
    Some(format!("{first}; see {help}"))
}
