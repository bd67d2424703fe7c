//! Raw command-line arguments, as clap sees them. Values stay strings here;
//! `config` validates them together with their `READYGATE_*` twins, so an
//! error can name whichever of the two the bad value came from.

use clap::Parser;

/// Wait until dependencies are really ready (PostgreSQL migrated, HTTP health
/// answering), then exit 0 or run a command.
///
/// Every option has a READYGATE_* environment twin; the flag wins.
/// Exit codes: 0 ready, 1 deadline passed, 2 usage or configuration error,
/// 3 permanent failure with --fail-fast, 126/127 command not runnable,
/// 130/143 stopped by SIGINT/SIGTERM.
#[derive(Parser, Debug, Default)]
#[command(name = "readygate", version, max_term_width = 100)]
pub struct Cli {
    /// Targets: tcp://host:port, http(s)://..., postgres(ql)://user:pass@host:port/db,
    /// redis(s)://:pass@host:6379/0, clickhouse://user:pass@host:8123/db
    /// [env: READYGATE_TARGETS, whitespace separated]
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,

    /// Give up after this long; 0 waits forever [default: 5m] [env: READYGATE_TIMEOUT]
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,

    /// Fixed time between attempts [default: adaptive: 80ms for 2s, slowing to 900ms by 10s]
    /// [env: READYGATE_INTERVAL]
    #[arg(long, value_name = "DURATION")]
    pub interval: Option<String>,

    /// Longest single attempt, clipped to what is left of --timeout [default: 5s]
    /// [env: READYGATE_ATTEMPT_TIMEOUT]
    #[arg(long, value_name = "DURATION")]
    pub attempt_timeout: Option<String>,

    /// How often to log a "still waiting" line per unready target [default: 10s]
    /// [env: READYGATE_PROGRESS_EVERY]
    #[arg(long, value_name = "DURATION")]
    pub progress_every: Option<String>,

    /// Add the checks a Langfuse worker needs, from its own environment:
    /// langfuse-worker (needs --langfuse-web) [env: READYGATE_PRESET]
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,

    /// With --preset langfuse-worker: the Langfuse web's base URL, e.g.
    /// http://langfuse-web:3000 [env: READYGATE_LANGFUSE_WEB]
    #[arg(long, value_name = "URL")]
    pub langfuse_web: Option<String>,

    /// The health endpoint's JSON "version" must be this release (a leading v is
    /// ignored); with the preset, the web's [env: READYGATE_EXPECT_VERSION]
    #[arg(long, value_name = "VERSION")]
    pub expect_version: Option<String>,

    /// Sidecar mode: keep checking and serve /readyz, /startupz, /livez and
    /// /metrics on this address, e.g. 0.0.0.0:9477 (port 0 picks one) [env: READYGATE_SERVE]
    #[arg(long, value_name = "ADDR")]
    pub serve: Option<String>,

    /// Check every target once, print one line each, exit 0 if all ready, else 1
    /// (3 with --fail-fast on a permanent failure)
    /// [env: READYGATE_ONCE]
    #[arg(long)]
    pub once: bool,

    /// Exit 3 at once on failures waiting cannot fix: bad password, unknown
    /// database, TLS verification [env: READYGATE_FAIL_FAST]
    #[arg(long)]
    pub fail_fast: bool,

    /// Print the resolved configuration (secrets redacted) and exit without connecting
    /// [env: READYGATE_PRINT_CONFIG]
    #[arg(long)]
    pub print_config: bool,

    /// Log only errors and the final summary [env: READYGATE_QUIET]
    #[arg(short, long)]
    pub quiet: bool,

    /// Log format on stderr: text or json [default: text] [env: READYGATE_LOG_FORMAT]
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,

    /// PostgreSQL: this table must exist (schema.name, or name through search_path); repeatable
    /// [env: READYGATE_TABLES, comma or whitespace separated]
    #[arg(long = "table", value_name = "NAME")]
    pub tables: Vec<String>,

    /// PostgreSQL: Prisma migrations must be complete (none failed or running, one applied)
    /// [env: READYGATE_PRISMA_MIGRATIONS]
    #[arg(long)]
    pub prisma_migrations: bool,

    /// PostgreSQL: this Prisma migration must be applied; repeatable
    /// [env: READYGATE_MIGRATIONS, comma or whitespace separated]
    #[arg(long = "migration", value_name = "NAME")]
    pub migrations: Vec<String>,

    /// PostgreSQL: every migration in this prisma/migrations directory must be applied
    /// [env: READYGATE_PRISMA_MIGRATIONS_DIR]
    #[arg(long, value_name = "DIR")]
    pub prisma_migrations_dir: Option<String>,

    /// PostgreSQL: this query must return true; runs read-only with a statement timeout
    /// [env: READYGATE_SQL]
    #[arg(long, value_name = "QUERY")]
    pub sql: Option<String>,

    /// ClickHouse: this table must exist in the URL's database; repeatable
    /// [env: READYGATE_CLICKHOUSE_TABLES, comma or whitespace separated]
    #[arg(long = "clickhouse-table", value_name = "NAME")]
    pub clickhouse_tables: Vec<String>,

    /// ClickHouse: the newest golang-migrate schema_migrations row must not be dirty
    /// [env: READYGATE_CLICKHOUSE_MIGRATIONS]
    #[arg(long)]
    pub clickhouse_migrations: bool,

    /// HTTP: accepted status codes, e.g. 200 or 200-299,304 [default: 200-299]
    /// [env: READYGATE_HTTP_STATUS]
    #[arg(long, value_name = "CODES")]
    pub http_status: Option<String>,

    /// HTTP: the JSON value at an RFC 6901 pointer must equal VALUE, e.g. /status=OK; repeatable
    /// [env: READYGATE_HTTP_JSON, one per line]
    #[arg(long, value_name = "POINTER=VALUE")]
    pub http_json: Vec<String>,

    /// HTTP: the body must contain this text [env: READYGATE_HTTP_BODY]
    #[arg(long, value_name = "TEXT")]
    pub http_body: Option<String>,

    /// HTTP: send this header, e.g. 'Authorization: Bearer ...'; repeatable
    /// [env: READYGATE_HTTP_HEADERS, one per line]
    #[arg(long = "http-header", value_name = "NAME: VALUE")]
    pub http_headers: Vec<String>,

    /// HTTPS: trust the CA certificates in this PEM file [env: READYGATE_CA_FILE]
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<String>,

    /// HTTPS: do not verify certificates (unsafe; logged as a warning) [env: READYGATE_INSECURE]
    #[arg(long)]
    pub insecure: bool,

    /// Only wait when the environment variable NAME equals VALUE, else exit 0 (or run
    /// the command) at once; repeatable, all must hold [env: READYGATE_ONLY_IF, one per line]
    #[arg(long = "only-if", value_name = "NAME=VALUE")]
    pub only_if: Vec<String>,

    /// Do not wait when the environment variable NAME equals VALUE; repeatable, any
    /// skips [env: READYGATE_SKIP_IF, one per line]
    #[arg(long = "skip-if", value_name = "NAME=VALUE")]
    pub skip_if: Vec<String>,

    /// On failure, also write the summary here [default: /dev/termination-log when writable]
    /// [env: READYGATE_TERMINATION_LOG]
    #[arg(long, value_name = "PATH")]
    pub termination_log: Option<String>,

    /// Once ready, replace readygate with this command (same PID)
    #[arg(last = true, value_name = "COMMAND", value_parser = clap::value_parser!(std::ffi::OsString))]
    pub command: Vec<std::ffi::OsString>,
}
