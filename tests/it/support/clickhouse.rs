//! A `clickhouse-server` of the tests' own from a minimal config, with a
//! password, and helpers to query it and to write golang-migrate's table.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::http::client;
use super::{eventually, free_port, tmp_root, ChildGuard};

pub const CLICKHOUSE_PASSWORD: &str = "ch-Pw-5c2e91";

/// A `clickhouse-server` (Debian's 18.16 is enough: the probe uses the HTTP
/// interface) from a minimal config in a temp dir.
pub struct ClickHouse {
    pub port: u16,
    /// The native protocol's port (`CLICKHOUSE_MIGRATION_URL`'s).
    pub tcp_port: u16,
    _child: ChildGuard,
    _dir: tempfile::TempDir,
}

impl ClickHouse {
    pub fn start() -> ClickHouse {
        ClickHouse::start_on(free_port())
    }

    /// On a given HTTP port (for "comes up later").
    pub fn start_on(port: u16) -> ClickHouse {
        let dir = tempfile::Builder::new()
            .prefix("clickhouse-")
            .tempdir_in(tmp_root())
            .unwrap();
        let d = dir.path().display().to_string();
        let tcp_port = free_port();
        std::fs::write(
            dir.path().join("config.xml"),
            format!(
                "<yandex><logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/error.log</errorlog></logger>\
                 <http_port>{port}</http_port><tcp_port>{tcp_port}</tcp_port><listen_host>127.0.0.1</listen_host>\
                 <path>{d}/data/</path><tmp_path>{d}/tmp/</tmp_path><user_files_path>{d}/user_files/</user_files_path>\
                 <format_schema_path>{d}/format_schemas/</format_schema_path><users_config>users.xml</users_config>\
                 <default_profile>default</default_profile><default_database>default</default_database>\
                 <mark_cache_size>67108864</mark_cache_size>\
                 <remote_servers><default><shard><replica><host>127.0.0.1</host><port>{tcp_port}</port></replica></shard></default></remote_servers></yandex>"
            ),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("users.xml"),
            format!(
                "<yandex><profiles><default></default></profiles><users><default><password>{CLICKHOUSE_PASSWORD}</password>\
                 <networks><ip>::/0</ip></networks><profile>default</profile><quota>default</quota></default></users>\
                 <quotas><default></default></quotas></yandex>"
            ),
        )
        .unwrap();
        let child = Command::new("clickhouse-server")
            .arg(format!("--config-file={d}/config.xml"))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start clickhouse-server (apt-get install clickhouse-server)");
        let ch = ClickHouse {
            tcp_port,
            port,
            _child: ChildGuard(child),
            _dir: dir,
        };
        eventually(
            Duration::from_secs(30),
            "clickhouse-server to answer /ping",
            || {
                ch.http("GET", "/ping", "")
                    .is_some_and(|b| b.starts_with("Ok."))
            },
        );
        ch
    }

    pub fn url(&self, db: &str) -> String {
        format!(
            "clickhouse://default:{CLICKHOUSE_PASSWORD}@127.0.0.1:{}/{db}",
            self.port
        )
    }

    /// Runs a query as `default`; panics on a server error.
    pub fn query(&self, sql: &str) -> String {
        let body = self.http("POST", "/", sql).expect("clickhouse answers");
        assert!(!body.starts_with("Code:"), "{sql}: {body}");
        body
    }

    /// One request as `default`; the body whatever the status, `None` when
    /// nothing listens.
    fn http(&self, method: &str, path: &str, body: &str) -> Option<String> {
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("http://127.0.0.1:{}{path}", self.port))
            .header("X-ClickHouse-User", "default")
            .header("X-ClickHouse-Key", CLICKHOUSE_PASSWORD);
        // ureq sends no body with a GET; an empty one is none.
        let response = match body {
            "" => client().run(request.body(()).unwrap()),
            _ => client().run(request.body(body).unwrap()),
        }
        .ok()?;
        response.into_body().read_to_string().ok()
    }

    /// golang-migrate's table, with rows of (version, dirty).
    pub fn migrations(&self, rows: &[(i64, bool)]) {
        self.query("CREATE TABLE IF NOT EXISTS schema_migrations (version Int64, dirty UInt8, sequence UInt64) ENGINE = TinyLog");
        for (i, (version, dirty)) in rows.iter().enumerate() {
            self.query(&format!(
                "INSERT INTO schema_migrations VALUES ({version}, {}, {})",
                u8::from(*dirty),
                i + 1
            ));
        }
    }
}
