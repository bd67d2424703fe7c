//! The `readygate` binary: run, then exit or become the command.

use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

use readygate::{code, outside_line, process_env, run, stderr_line, Finish};

fn main() -> ExitCode {
    let env = match process_env() {
        Ok(env) => env,
        Err(e) => {
            stderr_line(&format!("readygate: error: {e}"));
            return ExitCode::from(code::USAGE);
        }
    };
    match run(std::env::args_os(), env) {
        Finish::Exit(code) => ExitCode::from(code),
        Finish::Exec(command) => {
            let mut cmd = Command::new(&command[0]);
            cmd.args(&command[1..]);
            // readygate's own settings (header tokens among them) are not the
            // command's business.
            for (name, _) in std::env::vars_os() {
                if name.as_encoded_bytes().starts_with(b"READYGATE_") {
                    cmd.env_remove(name);
                }
            }
            // Only returns on failure.
            let err = cmd.exec();
            let status = match err.kind() {
                std::io::ErrorKind::NotFound => code::NOT_FOUND,
                _ => code::NOT_EXECUTABLE,
            };
            outside_line(
                "ERROR",
                &format!(
                    "readygate: error: cannot run {:?}: {err}",
                    command[0].to_string_lossy()
                ),
            );
            ExitCode::from(status)
        }
    }
}
