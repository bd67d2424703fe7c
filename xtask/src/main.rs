//! `cargo run -p xtask -- docs OUT`: writes readygate's shell completions
//! (bash, zsh, fish) and man pages (`readygate.1`, `readygate-lint.1`) into
//! OUT, generated from the same clap definition the binary parses with, so
//! they cannot drift from `--help`. Release artefacts; not shipped in the
//! binary, which stays small.

use std::fs;
use std::path::Path;
use std::process::ExitCode;

use clap_complete::{generate_to, Shell};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [task, out] = args.as_slice() else {
        eprintln!("usage: cargo run -p xtask -- docs OUT");
        return ExitCode::from(2);
    };
    if task != "docs" {
        eprintln!("xtask: unknown task {task:?}; the only one is docs");
        return ExitCode::from(2);
    }
    match docs(Path::new(out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn docs(out: &Path) -> std::io::Result<()> {
    let completions = out.join("completions");
    let man = out.join("man");
    fs::create_dir_all(&completions)?;
    fs::create_dir_all(&man)?;
    let mut cmd = readygate::cli();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        generate_to(shell, &mut cmd, "readygate", &completions)?;
    }
    let cmd = readygate::cli();
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    fs::write(man.join("readygate.1"), page)?;
    for sub in cmd.get_subcommands() {
        // A tool that runs once: the page's name may live for ever.
        let name: &'static str =
            Box::leak(format!("readygate-{}", sub.get_name()).into_boxed_str());
        let mut page = Vec::new();
        clap_mangen::Man::new(sub.clone().name(name)).render(&mut page)?;
        fs::write(man.join(format!("{name}.1")), page)?;
    }
    Ok(())
}
