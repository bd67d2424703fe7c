//! `redis-server` processes of the tests' own: plain, with a password, over
//! TLS, on a port chosen in advance, or busy loading a dataset at start.

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{check, eventually, free_port, tmp_root, Certs, ChildGuard};

/// A `redis-server` of this test's own, on a free port, with no persistence.
pub struct Redis {
    pub port: u16,
    _child: ChildGuard,
    _dir: tempfile::TempDir,
}

impl Redis {
    /// Plain TCP; `password` sets `requirepass`.
    pub fn start(password: Option<&str>) -> Redis {
        Redis::launch(password, None)
    }

    /// Plain TCP on a given port (for "comes up later").
    pub fn start_on(port: u16) -> Redis {
        Redis::launch_on(port, None, None)
    }

    /// A server that spends a few seconds loading a dataset at start
    /// (`key-load-delay`), answering `LOADING` meanwhile.
    pub fn start_loading() -> Redis {
        let filler =
            Redis::launch_with(free_port(), None, None, &["--enable-debug-command", "yes"]);
        let cli = |args: &[&str]| {
            check(
                Command::new("redis-cli")
                    .args(["-p", &filler.port.to_string()])
                    .args(args),
                "redis-cli",
            );
        };
        cli(&["DEBUG", "POPULATE", "20000"]);
        cli(&["SAVE"]);
        let port = free_port();
        let dir = tempfile::Builder::new()
            .prefix("redis-")
            .tempdir_in(tmp_root())
            .unwrap();
        std::fs::copy(
            filler._dir.path().join("dump.rdb"),
            dir.path().join("dump.rdb"),
        )
        .unwrap();
        drop(filler);
        let extra = [
            "--key-load-delay",
            "100",
            "--loading-process-events-interval-bytes",
            "1024",
        ];
        Redis::launch_in(dir, port, None, None, &extra)
    }

    /// With an ACL user `user` (all commands, all keys) and the default
    /// user switched off.
    pub fn start_acl(user: &str, password: &str) -> Redis {
        let pass = format!(">{password}");
        let rules = [
            "--user", user, "on", &pass, "~*", "&*", "+@all", "--user", "default", "off",
        ];
        Redis::launch_with(free_port(), None, None, &rules)
    }

    /// An ACL user with every command but the `@admin` ones (`ROLE`, ...),
    /// as a cautious operator writes it; the default user off.
    pub fn start_acl_without_admin(user: &str, password: &str) -> Redis {
        let pass = format!(">{password}");
        let rules = [
            "--user", user, "on", &pass, "~*", "&*", "+@all", "-@admin", "--user", "default", "off",
        ];
        Redis::launch_with(free_port(), None, None, &rules)
    }

    /// A sentinel watching a master whose ACL user is `user`.
    pub fn start_sentinel_for_user(
        master_port: u16,
        name: &str,
        user: &str,
        password: &str,
    ) -> Redis {
        Redis::sentinel_with(
            master_port,
            name,
            &format!("sentinel auth-user {name} {user}\nsentinel auth-pass {name} {password}\n"),
        )
    }

    /// A replica of the server at `master_port`.
    pub fn start_replica_of(master_port: u16) -> Redis {
        let master = format!("{master_port}");
        Redis::launch_with(
            free_port(),
            None,
            None,
            &["--replicaof", "127.0.0.1", &master],
        )
    }

    /// One node of a cluster, not yet joined (see `RedisCluster`).
    fn start_cluster_node(password: &str) -> Redis {
        // The bus port would otherwise be port + 10000, which nobody checked
        // is free (and may fall in the ephemeral range).
        let bus = free_port().to_string();
        let extra = [
            "--cluster-port",
            &bus,
            "--cluster-enabled",
            "yes",
            "--cluster-node-timeout",
            "2000",
            "--masterauth",
            password,
        ];
        Redis::launch_with(free_port(), Some(password), None, &extra)
    }

    /// A sentinel watching the master at `master_port` as `name`, with
    /// `password` for the master and `own_password` for itself.
    pub fn start_sentinel(
        master_port: u16,
        name: &str,
        password: &str,
        own_password: &str,
    ) -> Redis {
        Redis::sentinel_with(
            master_port,
            name,
            &format!("sentinel auth-pass {name} {password}\nrequirepass {own_password}\n"),
        )
    }

    fn sentinel_with(master_port: u16, name: &str, extra_conf: &str) -> Redis {
        let port = free_port();
        let dir = tempfile::Builder::new()
            .prefix("sentinel-")
            .tempdir_in(tmp_root())
            .unwrap();
        let conf = dir.path().join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {dir}\nsentinel monitor {name} 127.0.0.1 {master_port} 1\nsentinel down-after-milliseconds {name} 5000\n{extra_conf}",
                dir = dir.path().display()
            ),
        )
        .unwrap();
        let child = Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server --sentinel (apt-get install redis-server)");
        let sentinel = Redis {
            port,
            _child: ChildGuard(child),
            _dir: dir,
        };
        eventually(Duration::from_secs(10), "redis sentinel to listen", || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        sentinel
    }

    /// TLS only, with the server certificate in `certs`.
    pub fn start_tls(certs: &Certs, password: Option<&str>) -> Redis {
        Redis::launch(password, Some(certs))
    }

    /// TLS only, and a client certificate signed by the test CA required.
    pub fn start_mutual_tls(certs: &Certs, password: Option<&str>) -> Redis {
        Redis::launch_with(
            free_port(),
            password,
            Some(certs),
            &["--tls-auth-clients", "yes"],
        )
    }

    fn launch(password: Option<&str>, certs: Option<&Certs>) -> Redis {
        Redis::launch_on(free_port(), password, certs)
    }

    fn launch_on(port: u16, password: Option<&str>, certs: Option<&Certs>) -> Redis {
        Redis::launch_with(port, password, certs, &[])
    }

    fn launch_with(
        port: u16,
        password: Option<&str>,
        certs: Option<&Certs>,
        extra: &[&str],
    ) -> Redis {
        let dir = tempfile::Builder::new()
            .prefix("redis-")
            .tempdir_in(tmp_root())
            .unwrap();
        Redis::launch_in(dir, port, password, certs, extra)
    }

    /// Starts redis-server with its data directory in `dir`.
    fn launch_in(
        dir: tempfile::TempDir,
        port: u16,
        password: Option<&str>,
        certs: Option<&Certs>,
        extra: &[&str],
    ) -> Redis {
        let mut cmd = Command::new("redis-server");
        cmd.args([
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
        ])
        .arg(dir.path());
        match certs {
            None => cmd.args(["--port", &port.to_string()]),
            Some(c) => cmd
                .args([
                    "--port",
                    "0",
                    "--tls-port",
                    &port.to_string(),
                    "--tls-auth-clients",
                    "no",
                ])
                .args([
                    "--tls-cert-file",
                    &c.path("server.pem"),
                    "--tls-key-file",
                    &c.path("server.key"),
                    "--tls-ca-cert-file",
                    &c.path("ca.pem"),
                ]),
        };
        if let Some(pw) = password {
            cmd.args(["--requirepass", pw]);
        }
        cmd.args(extra);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server (apt-get install redis-server)");
        let redis = Redis {
            port,
            _child: ChildGuard(child),
            _dir: dir,
        };
        eventually(Duration::from_secs(10), "redis-server to listen", || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        redis
    }
}

/// Three masters that are not yet a cluster until `create` joins them.
pub struct RedisCluster {
    pub nodes: Vec<Redis>,
    password: String,
}

impl RedisCluster {
    pub fn start(password: &str) -> RedisCluster {
        RedisCluster {
            nodes: (0..3)
                .map(|_| Redis::start_cluster_node(password))
                .collect(),
            password: password.to_string(),
        }
    }

    /// `redis-cli --cluster create` over the three nodes, no replicas.
    pub fn create(&self) {
        let addrs: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        check(
            Command::new("redis-cli")
                .args([
                    "--no-auth-warning",
                    "-a",
                    &self.password,
                    "--cluster",
                    "create",
                ])
                .args(&addrs)
                .args(["--cluster-replicas", "0", "--cluster-yes"]),
            "redis-cli --cluster create",
        );
    }
}
