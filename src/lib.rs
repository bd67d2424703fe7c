//! readygate: wait until dependencies are really ready, then exit or exec.
//!
//! `main` calls [`run`] and acts on its [`Finish`]; `run.rs` is the whole
//! sequence in one page, and ARCHITECTURE.md is the map of the rest. The
//! library is not an API: only what `main` and the fuzz targets need is
//! public.

// Every item is `pub(crate)` unless main or the fuzz targets need it, so the
// compiler reports dead code; functions stay short (clippy.toml: 100 lines).
#![deny(unreachable_pub)]
#![warn(clippy::too_many_lines)]

mod attempt;
mod config;
mod duration;
pub mod exit;
mod lint;
mod not_ready;
mod options;
mod preset;
mod probe;
mod report;
mod run;
mod schedule;
mod secret;
mod sidecar;
mod text;
mod wait;

pub use exit as code;
pub use options::{process_env, ConfigError, Env};
pub use report::{outside_line, stderr_line};
pub use run::{run, Finish};

/// The whole command line, `lint` included, for the completions and man
/// pages `xtask` generates; not an API.
#[doc(hidden)]
pub fn cli() -> clap::Command {
    options::command(config::options()).subcommand(lint::command())
}

/// Entry points for the fuzz targets in `fuzz/`; not an API.
#[doc(hidden)]
pub mod fuzzing {
    use std::time::Duration;

    /// Parses a duration as the flags do.
    pub fn parse_duration(raw: &str) -> Result<Duration, String> {
        crate::duration::parse(raw)
    }

    /// Shows a duration as messages do.
    pub fn show_duration(d: Duration) -> String {
        crate::duration::show(d)
    }

    /// A URL with its password and secret query values masked.
    pub fn redact_url(url: &url::Url) -> String {
        crate::secret::redact_url(url)
    }

    /// A target URL as readygate parses it, with the secrets it would
    /// redact, or `None` when it is refused.
    pub fn target(raw: &str) -> Option<(url::Url, Vec<String>)> {
        let target = crate::probe::Target::parse(raw).ok()?;
        let secrets = target.secrets();
        Some((target.url, secrets))
    }

    /// PostgreSQL connect options from a URL; the error is a sentence.
    pub fn postgres_options(url: &url::Url) -> Result<(), String> {
        crate::probe::postgres::connect_options(url, Duration::from_secs(5)).map(drop)
    }

    /// Parses `--http-json POINTER=VALUE` and checks it against `doc`.
    pub fn json_expect(expect: &str, doc: &serde_json::Value) -> Option<Result<(), String>> {
        let expect = crate::probe::http::JsonExpect::parse(expect).ok()?;
        Some(expect.check(doc))
    }

    /// Reads one Redis reply from `bytes` as the Redis probe does: `Some`
    /// with the bytes it took when a whole reply was there, `None` when it
    /// was refused or cut short.
    pub fn redis_reply(bytes: &[u8]) -> Option<usize> {
        let runtime = tokio::runtime::Builder::new_current_thread().build().ok()?;
        runtime.block_on(async {
            let mut rest = bytes;
            crate::probe::redis::read_reply(&mut rest).await.ok()?;
            Some(bytes.len() - rest.len())
        })
    }

    /// Blanks `secret` (and the spellings of it a server may echo) out of
    /// `text`.
    pub fn redact(secret: &str, text: &str) -> String {
        crate::secret::Redactor::new([secret.to_string()]).clean(text)
    }

    /// Shows a database relay's watcher (PostgreSQL's message lengths, or
    /// MySQL's login rules) the client's bytes, then the server's, each cut
    /// into chunks at `cuts` (offsets into the whole): the first cut it
    /// makes, as text. The chunking must not change the verdict.
    pub fn relay_watch(
        postgres: bool,
        client: &[u8],
        server: &[u8],
        cuts: &[usize],
    ) -> Option<String> {
        use crate::probe::relay::Watch;
        fn feed<W: Watch>(
            mut w: W,
            client: &[u8],
            server: &[u8],
            cuts: &[usize],
        ) -> Option<String> {
            let chunks = |bytes: &[u8]| {
                let mut at: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
                at.extend([0, bytes.len()]);
                at.sort_unstable();
                at.dedup();
                at.windows(2)
                    .map(|w| bytes[w[0]..w[1]].to_vec())
                    .collect::<Vec<_>>()
            };
            for chunk in chunks(client) {
                if let Some(cut) = w.client(&chunk) {
                    return Some(format!("{cut:?}"));
                }
            }
            for chunk in chunks(server) {
                if let Some(cut) = w.server(&chunk) {
                    return Some(format!("{cut:?}"));
                }
            }
            None
        }
        match postgres {
            true => feed(
                crate::probe::postgres::watch::Frames::default(),
                client,
                server,
                cuts,
            ),
            false => feed(
                crate::probe::mysql::watch::Login::default(),
                client,
                server,
                cuts,
            ),
        }
    }

    /// The largest reply the Redis probe accepts, in bytes.
    pub const REDIS_REPLY_MAX: usize = crate::probe::redis::REPLY_MAX;
}
