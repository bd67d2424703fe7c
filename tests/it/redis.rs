//! The Redis probe against real redis-server instances.

use std::time::Duration;

use crate::support::{finish, free_port, readygate, run, spawn, Certs, Redis, RedisCluster};

#[test]
fn ping_with_and_without_a_password() {
    let mut row = crate::record::row(
        "Redis",
        "wrong password, with --fail-fast",
        "exit 3 at once naming the login failure, never the password",
    );
    let open = Redis::start(None);
    let ran = run(readygate().args([
        &format!("redis://127.0.0.1:{}/0", open.port),
        "--timeout",
        "5s",
    ]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);

    let locked = Redis::start(Some("redis-Pw-9a7c"));
    let ran = run(readygate().args([
        &format!("redis://:redis-Pw-9a7c@127.0.0.1:{}/2", locked.port),
        "--timeout",
        "5s",
    ]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);

    let wrong = format!("redis://:not-it-Pw-0000@127.0.0.1:{}", locked.port);
    let ran = run(readygate().args([&wrong, "--timeout", "500ms"]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("Redis rejected the login"),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("not-it-Pw-0000"), "{}", ran.stderr);
    let ran = run(readygate().args([&wrong, "--fail-fast", "--timeout", "10s"]));
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);

    let none = format!("redis://127.0.0.1:{}", locked.port);
    let ran = run(readygate().args([&none, "--timeout", "500ms"]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(ran.stderr.contains("REDIS_AUTH"), "{}", ran.stderr);
    row.saw("exit 3, \"Redis rejected the login\"");
}

#[test]
fn waits_for_redis_to_come_up() {
    let mut row = crate::record::row(
        "Redis",
        "down when the gate starts, started later",
        "keeps trying, ready once PING answers",
    );
    let port = free_port();
    let child = spawn(readygate().args([&format!("redis://127.0.0.1:{port}"), "--timeout", "20s"]));
    std::thread::sleep(Duration::from_millis(700));
    let _redis = Redis::start_on(port);
    let ran = finish(child);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    row.saw("exit 0 once redis-server was up");
}

#[test]
fn rediss_needs_the_ca() {
    let certs = Certs::generate();
    let redis = Redis::start_tls(&certs, Some("tls-Pw-31b0"));
    let url = format!("rediss://:tls-Pw-31b0@localhost:{}", redis.port);
    let ran = run(readygate().args([&url, "--ca-file", &certs.path("ca.pem"), "--timeout", "10s"]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let ran = run(readygate().args([
        &url,
        "--ca-file",
        &certs.path("other-ca.pem"),
        "--timeout",
        "3s",
    ]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(ran.stderr.contains("TLS"), "{}", ran.stderr);
}

#[test]
fn a_server_loading_its_dataset_is_not_ready_until_it_is_done() {
    let mut row = crate::record::row(
        "Redis",
        "server still loading its dataset (LOADING)",
        "not ready: loading; ready once loaded",
    );
    let redis = Redis::start_loading();
    let ran = run(readygate()
        .args([
            &format!("redis://127.0.0.1:{}", redis.port),
            "--timeout",
            "60s",
            "--log-format",
            "json",
        ])
        .env("READYGATE_LOG", "readygate=debug"));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("Redis is loading its dataset into memory"),
        "never saw LOADING: {}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains(r#""class":"starting""#),
        "{}",
        ran.stderr
    );
    row.saw("not ready while LOADING, exit 0 after");
}

#[test]
fn rediss_with_insecure_skips_verification_as_it_says() {
    let mut row = crate::record::row(
        "Hostile input",
        "rediss:// with --insecure, or with #insecure in the URL, and a certificate no CA given vouches for",
        "--insecure means it for every TLS kind: ready (with the warning); without it, a TLS failure",
    );
    let certs = Certs::generate();
    let redis = Redis::start_tls(&certs, Some("tls-Pw-31b0"));
    let url = format!("rediss://:tls-Pw-31b0@localhost:{}", redis.port);
    let ran = run(readygate().args([&url, "--insecure", "--timeout", "10s"]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(ran.stderr.contains("NOT verified"), "{}", ran.stderr);
    let ran = run(readygate().args([&format!("{url}/#insecure"), "--timeout", "10s"]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let ran = run(readygate().args([&url, "--timeout", "2s"]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(ran.stderr.contains("TLS"), "{}", ran.stderr);
    row.saw(
        "--insecure: exit 0 with the warning; #insecure: exit 0; neither: exit 1, a TLS failure",
    );
}

#[test]
fn a_cluster_is_ready_once_formed_and_every_node_answers() {
    let mut row = crate::record::row(
        "Redis",
        "redis-cluster:// over 3 masters (redis-cli --cluster create) that form while the gate waits; a standalone server named as a cluster",
        "not ready (cluster_state:fail) until formed, then exit 0; a standalone server: not in cluster mode",
    );
    let cluster = RedisCluster::start("cl-Pw-5e1");
    let ports: Vec<u16> = cluster.nodes.iter().map(|n| n.port).collect();
    let url = format!(
        "redis-cluster://:cl-Pw-5e1@127.0.0.1:{}?addr=127.0.0.1:{}&addr=127.0.0.1:{}",
        ports[0], ports[1], ports[2]
    );
    let ran = run(readygate().args([&url, "--timeout", "1s"]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(ran.stderr.contains("cluster_state:fail"), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("redis-cli --cluster check"),
        "{}",
        ran.stderr
    );
    let gate = spawn(readygate().args([&url, "--timeout", "60s"]));
    cluster.create();
    let ran = finish(gate);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(
        !ran.all_output().contains("cl-Pw-5e1"),
        "{}",
        ran.all_output()
    );

    let single = Redis::start(None);
    let ran = run(readygate().args([
        &format!("redis-cluster://127.0.0.1:{}", single.port),
        "--timeout",
        "1s",
    ]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("is not in cluster mode"),
        "{}",
        ran.stderr
    );
    row.saw(
        "cluster_state:fail before create, exit 0 after; standalone: \"is not in cluster mode\"",
    );
}

#[test]
fn a_sentinel_names_the_master_which_must_answer_as_master() {
    let mut row = crate::record::row(
        "Redis",
        "redis-sentinel:// with a real sentinel and master (passwords on both); a wrong master name; a wrong sentinel password",
        "exit 0; \"knows no master named\"; a rejected login (exit 3 with --fail-fast)",
    );
    let master = Redis::start(Some("m-Pw-77aa"));
    let sentinel = Redis::start_sentinel(master.port, "lfmaster", "m-Pw-77aa", "s-Pw-88bb");
    let url = |name: &str, sentinel_pw: &str| {
        format!(
            "redis-sentinel://:m-Pw-77aa@127.0.0.1:{}/{name}?sentinel_password={sentinel_pw}",
            sentinel.port
        )
    };
    let ran = run(readygate().args([&url("lfmaster", "s-Pw-88bb"), "--timeout", "20s"]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let ran = run(readygate().args([&url("nosuch", "s-Pw-88bb"), "--timeout", "1s"]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("knows no master named \"nosuch\""),
        "{}",
        ran.stderr
    );
    let ran = run(readygate().args([
        &url("lfmaster", "wrong-Pw-99"),
        "--fail-fast",
        "--timeout",
        "5s",
    ]));
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("Redis rejected the login"),
        "{}",
        ran.stderr
    );
    for secret in ["m-Pw-77aa", "s-Pw-88bb", "wrong-Pw-99"] {
        assert!(!ran.all_output().contains(secret), "{}", ran.all_output());
    }
    row.saw(
        "exit 0; \"knows no master named\"; exit 3 \"Redis rejected the login\", no password shown",
    );
}

#[test]
fn an_acl_user_logs_in_by_name() {
    let mut row = crate::record::row(
        "Redis",
        "an ACL user (default user off): right and wrong password",
        "exit 0; exit 3 with --fail-fast, \"Redis rejected the login\"",
    );
    let redis = Redis::start_acl("worker", "acl-Pw-1234");
    let ran = run(readygate().args([
        &format!("redis://worker:acl-Pw-1234@127.0.0.1:{}", redis.port),
        "--timeout",
        "10s",
    ]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let ran = run(readygate().args([
        &format!("redis://worker:not-Pw-4321@127.0.0.1:{}", redis.port),
        "--fail-fast",
        "--timeout",
        "5s",
    ]));
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert!(ran.stderr.contains("WRONGPASS"), "{}", ran.stderr);
    row.saw("exit 0; exit 3 WRONGPASS");
}

#[test]
fn a_hung_sentinel_does_not_hold_up_a_healthy_one() {
    use crate::support::{Hostile, Misbehave};
    let mut row = crate::record::row(
        "Redis",
        "redis-sentinel:// whose first sentinel accepts and never answers, the second a real sentinel",
        "the sentinels are asked at once: ready through the second, well within the attempt timeout",
    );
    let hung = Hostile::start(Misbehave::Silent);
    let master = Redis::start(Some("m-Pw-77aa"));
    let sentinel = Redis::start_sentinel(master.port, "lf", "m-Pw-77aa", "s-Pw-88bb");
    let url = format!(
        "redis-sentinel://:m-Pw-77aa@127.0.0.1:{}/lf?addr=127.0.0.1:{}&sentinel_password=s-Pw-88bb",
        hung.port, sentinel.port
    );
    let ran = run(readygate().args([&url, "--timeout", "20s"]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(ran.elapsed < Duration::from_secs(4), "{:?}", ran.elapsed);
    row.saw(format!("exit 0 in {:.1} s", ran.elapsed.as_secs_f64()));
}

#[test]
fn an_acl_user_without_admin_commands_passes_as_langfuse_would() {
    let mut row = crate::record::row(
        "Redis",
        "sentinel master reached as an ACL user with +@all -@admin (ROLE refused with NOPERM); a database number beyond the server's",
        "the role is read from INFO replication instead (as ioredis does): ready; the bad database is a permanent error (exit 3 with --fail-fast)",
    );
    let master = Redis::start_acl_without_admin("worker", "acl-Pw-1234");
    let sentinel = Redis::start_sentinel_for_user(master.port, "lf", "worker", "acl-Pw-1234");
    let url = format!(
        "redis-sentinel://worker:acl-Pw-1234@127.0.0.1:{}/lf",
        sentinel.port
    );
    let ran = run(readygate().args([&url, "--timeout", "20s"]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let ran = run(readygate().args([
        &format!("redis://worker:acl-Pw-1234@127.0.0.1:{}/999", master.port),
        "--fail-fast",
        "--timeout",
        "5s",
    ]));
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("DB index is out of range"),
        "{}",
        ran.stderr
    );
    row.saw("exit 0 via INFO replication; exit 3 \"DB index is out of range\"");
}

#[test]
fn a_password_for_a_server_without_one_is_let_through() {
    let mut row = crate::record::row(
        "Redis",
        "a password in the URL for a server that has none (AUTH answers \"called without any password configured\")",
        "ready, as redis-cli and ioredis carry on",
    );
    let open = Redis::start(None);
    let ran = run(readygate().args([
        &format!("redis://:spare-Pw-1@127.0.0.1:{}", open.port),
        "--timeout",
        "5s",
    ]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    row.saw("exit 0");
}

#[test]
fn a_plain_url_at_a_sentinel_or_a_replica_is_not_ready() {
    let mut row = crate::record::row(
        "Redis",
        "redis:// pointed at a sentinel's port (it answers PING too), and at a read-only replica",
        "not ready, saying which and what to write instead; the sentinel is permanent (exit 3 with --fail-fast)",
    );
    let master = Redis::start(None);
    let sentinel = Redis::start_sentinel(master.port, "lf", "unused", "s-Pw-1");
    let ran = run(readygate().args([
        &format!("redis://:s-Pw-1@127.0.0.1:{}", sentinel.port),
        "--fail-fast",
        "--timeout",
        "5s",
    ]));
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("is a Redis sentinel, not a server"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("redis-sentinel://"), "{}", ran.stderr);
    let replica = Redis::start_replica_of(master.port);
    let ran = run(readygate().args([
        &format!("redis://127.0.0.1:{}", replica.port),
        "--timeout",
        "1s",
    ]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("is a read-only replica"),
        "{}",
        ran.stderr
    );
    row.saw(
        "sentinel: exit 3 naming redis-sentinel://; replica: exit 1 \"is a read-only replica\"",
    );
}
