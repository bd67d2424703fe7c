//! The rules: what a Langfuse deployment must get right for the worker to
//! start cleanly, each from Langfuse v4.16.0's source or chart 2.0.0 (the
//! facts and their files are listed in `docs/lint.md`). A rule reads the
//! workloads and adds findings; a value the file does not hold (a
//! `secretKeyRef`, `envFrom`, `${VAR}`) is "not checkable here", never guessed.

use super::model::{Container, Source, Value, Workload};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Severity {
    Error,
    Warning,
    Note,
}

impl Severity {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

/// The four known causes of a crash-looping worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cause {
    Address,
    Image,
    Migration,
    SlowStart,
}

impl Cause {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Cause::Address => "cause 1: listens on the wrong address",
            Cause::Image => "cause 2: wrong image or release",
            Cause::Migration => "cause 3: starts before the database is migrated",
            Cause::SlowStart => "cause 4: killed during a slow start",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Finding {
    pub(crate) severity: Severity,
    pub(crate) rule: &'static str,
    pub(crate) file: String,
    pub(crate) line: usize,
    pub(crate) object: String,
    pub(crate) container: Option<String>,
    pub(crate) what: String,
    pub(crate) cause: Option<Cause>,
    pub(crate) fix: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Web,
    Worker,
}

impl Role {
    fn noun(self) -> &'static str {
        match self {
            Role::Web => "web",
            Role::Worker => "worker",
        }
    }
}

/// A Langfuse container: what it is meant to be, and what its image is.
struct App<'a> {
    workload: &'a Workload,
    container: &'a Container,
    role: Role,
    image_role: Role,
}

/// Langfuse's documented minimum for web and worker containers: 2 CPU,
/// 4 GiB (langfuse-docs `self-hosting/configuration/scaling.mdx`).
const MIN_CPU: f64 = 2.0;
const MIN_MEMORY: f64 = 4.0 * 1024.0 * 1024.0 * 1024.0;

/// A liveness probe must allow this much start-up without a startupProbe.
const MIN_GRACE: f64 = 60.0;

/// Characters `web/entrypoint.sh` and `worker/entrypoint.sh` copy into
/// `postgresql://USER:PASSWORD@HOST/NAME` unencoded, breaking the URL.
const URL_BREAKING: &[char] = &['@', ':', '/', '?', '#', '[', ']', '%', ' '];

/// The variables web and worker must agree on (docs: "They need to be
/// provided for the Langfuse Web and Langfuse Worker containers"), and
/// whether their values may be shown.
const SHARED: &[(&str, bool)] = &[
    ("DATABASE_URL", false),
    ("DATABASE_HOST", true),
    ("DATABASE_NAME", true),
    ("DATABASE_USERNAME", true),
    ("REDIS_CONNECTION_STRING", false),
    ("REDIS_HOST", true),
    ("REDIS_PORT", true),
    ("CLICKHOUSE_URL", true),
    ("CLICKHOUSE_USER", true),
    ("CLICKHOUSE_DB", true),
    ("LANGFUSE_S3_EVENT_UPLOAD_BUCKET", true),
    ("SALT", false),
    ("ENCRYPTION_KEY", false),
];

/// What the image's repository says it is: `…/langfuse/langfuse[:tag]`
/// is the web, `…/langfuse/langfuse-worker[:tag]` the worker.
fn image_role(image: &str) -> Option<Role> {
    let repo = repository(image);
    let mut parts = repo.rsplit('/');
    let (name, owner) = (parts.next()?, parts.next()?);
    match (owner, name) {
        ("langfuse", "langfuse") => Some(Role::Web),
        ("langfuse", "langfuse-worker") => Some(Role::Worker),
        _ => None,
    }
}

/// The Langfuse web image, any registry, tag or digest.
pub(super) fn is_web_image(image: &str) -> bool {
    image_role(image) == Some(Role::Web)
}

/// The image without tag and digest.
fn repository(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    match no_digest.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => no_digest,
    }
}

/// The tag, if any (`None` for none; a digest-only image is pinned).
fn tag(image: &str) -> Option<&str> {
    let no_digest = image.split('@').next().unwrap_or(image);
    match no_digest.rsplit_once(':') {
        Some((_, tag)) if !tag.contains('/') => Some(tag),
        _ => None,
    }
}

/// `4.16.0` (or `v4.16.0`): one release, not a moving tag.
fn exact_release(tag: &str) -> bool {
    let t = tag.strip_prefix('v').unwrap_or(tag);
    let parts: Vec<&str> = t.split(['.', '-']).collect();
    parts.len() >= 3
        && parts[..3]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// What names and labels say a container is meant to be.
fn intended(workload: &Workload, container: &Container) -> Option<Role> {
    let from = |words: &str| {
        if words.contains("worker") {
            Some(Role::Worker)
        } else if words.contains("web") {
            Some(Role::Web)
        } else {
            None
        }
    };
    from(&container.name.to_ascii_lowercase()).or_else(|| from(&workload.words))
}

fn apps<'a>(workloads: &[&'a Workload]) -> Vec<App<'a>> {
    let mut found = Vec::new();
    // A Job running the web image (a migration) is not the web: it neither
    // listens nor serves. A Langfuse container run as a native sidecar is.
    for workload in workloads.iter().filter(|w| !w.batch) {
        let sidecars = workload.init.iter().filter(|c| c.always);
        for container in workload.containers.iter().chain(sidecars) {
            if let Some(image_role) = image_role(&container.image) {
                let role = intended(workload, container).unwrap_or(image_role);
                found.push(App {
                    workload,
                    container,
                    role,
                    image_role,
                });
            }
        }
    }
    found
}

/// A readygate container: its image, or the preset's flags.
fn is_gate(c: &Container) -> bool {
    let line = c.command_line();
    c.image.contains("readygate") || line.contains("readygate") || line.contains("--langfuse-web")
}

/// A readygate that waits for the Langfuse web: `--langfuse-web` (or the
/// preset, which needs it), as a flag or through its variable.
fn waits_for_web(c: &Container) -> bool {
    let line = c.command_line();
    is_gate(c)
        && (line.contains("--langfuse-web")
            || line.contains("langfuse-worker")
            || c.var("READYGATE_LANGFUSE_WEB").is_some()
            || c.var("READYGATE_PRESET").is_some())
}

/// A value as messages may show it: never the text of one out of reach.
fn describe(v: &Value) -> String {
    match v {
        Value::Literal(_) => "a literal value".into(),
        Value::Ref(r) => r.clone(),
        Value::Unknown(u) if u == "from the shell" || u == "valueFrom" => u.clone(),
        Value::Unknown(u) => {
            let names = super::model::interpolated_names(u);
            match names.is_empty() {
                true => "an interpolated value".into(),
                false => format!("compose interpolation of {}", names.join(", ")),
            }
        }
    }
}

/// A literal that may be shown: URLs without their passwords.
fn show_literal(v: &str) -> String {
    match url::Url::parse(v) {
        Ok(url) if url.has_host() => crate::secret::redact_url(&url),
        Ok(_) | Err(_) if v.contains(['@', ':', '/']) => "(not shown)".into(),
        _ => crate::text::shorten_to(v, 80),
    }
}

impl App<'_> {
    fn finding(
        &self,
        severity: Severity,
        rule: &'static str,
        what: String,
        cause: Option<Cause>,
        fix: String,
    ) -> Finding {
        Finding {
            severity,
            rule,
            file: self.workload.file.clone(),
            line: if self.container.line > 0 {
                self.container.line
            } else {
                self.workload.line
            },
            object: self.workload.object.clone(),
            // A compose service is its one container.
            container: match self.workload.source {
                Source::Kubernetes => Some(self.container.name.clone()),
                Source::Compose => None,
            },
            what,
            cause,
            fix,
        }
    }
}

/// Every rule over every workload of every input, in a stable order.
pub(crate) fn check(workloads: &[&Workload]) -> Vec<Finding> {
    let apps = apps(workloads);
    let mut out = Vec::new();
    for app in &apps {
        wrong_image(app, &mut out);
        hostname(app, &mut out);
        liveness(app, &mut out);
        resources(app, &mut out);
        database_password(app, &mut out);
        if app.role == Role::Worker {
            worker_needs(app, &mut out);
            gate_before_worker(app, workloads, &mut out);
        } else {
            migrations_disabled(app, workloads, &mut out);
            gate_in_web_pod(app, &mut out);
        }
    }
    releases(&apps, workloads, &mut out);
    agreement(&apps, &mut out);
    out
}

fn wrong_image(app: &App, out: &mut Vec<Finding>) {
    if app.role == app.image_role {
        return;
    }
    let (want, repo) = match app.role {
        Role::Worker => ("langfuse/langfuse-worker", "the web image"),
        Role::Web => ("langfuse/langfuse", "the worker image"),
    };
    let replaced = app.container.image.replacen(
        repository(&app.container.image),
        &repository(&app.container.image).replace(
            match app.image_role {
                Role::Web => "langfuse/langfuse",
                Role::Worker => "langfuse/langfuse-worker",
            },
            want,
        ),
        1,
    );
    out.push(app.finding(
        Severity::Error,
        "wrong-image",
        format!(
            "is the {} but runs {repo} {}",
            app.role.noun(),
            app.container.image
        ),
        Some(Cause::Image),
        format!("use {replaced}"),
    ));
}

fn hostname(app: &App, out: &mut Vec<Finding>) {
    let c = app.container;
    let port = match app.role {
        Role::Worker => 3030,
        Role::Web => 3000,
    };
    let fix = "set HOSTNAME=0.0.0.0 in its environment (Kubernetes and Docker set HOSTNAME to the pod or container name, and Langfuse binds to HOSTNAME)".to_string();
    match c.var("HOSTNAME") {
        Some(Value::Literal(v)) if v == "0.0.0.0" || v == "::" => {}
        Some(Value::Literal(v)) => out.push(app.finding(
            Severity::Warning,
            "hostname",
            format!("sets HOSTNAME={:?}: the {} listens on that name's address only, port {port}", show_literal(v), app.role.noun()),
            Some(Cause::Address),
            fix,
        )),
        Some(v @ (Value::Ref(_) | Value::Unknown(_))) => out.push(app.finding(
            Severity::Note,
            "hostname",
            format!("takes HOSTNAME from {}: not checkable here; it must be 0.0.0.0", describe(v)),
            Some(Cause::Address),
            fix,
        )),
        None if !c.env_from.is_empty() => out.push(app.finding(
            Severity::Note,
            "hostname",
            format!("HOSTNAME may come from {}: not checkable here; it must be 0.0.0.0", c.env_from.join(", ")),
            Some(Cause::Address),
            fix,
        )),
        None => out.push(app.finding(
            Severity::Warning,
            "hostname",
            format!("does not set HOSTNAME=0.0.0.0: the {} binds to the {} name's address only (port {port}); probes and proxies over localhost are refused", app.role.noun(), match app.workload.source { Source::Kubernetes => "pod", Source::Compose => "container" }),
            Some(Cause::Address),
            fix,
        )),
    }
}

fn liveness(app: &App, out: &mut Vec<Finding>) {
    let c = app.container;
    let Some(live) = c.liveness else { return };
    if c.startup.is_none() {
        let grace = live.initial_delay + live.period * live.failures;
        if grace < MIN_GRACE {
            let why = match app.role {
                Role::Worker => "the worker answers /api/health only after its start-up work (model prices, evaluators, dashboards)",
                Role::Web => "the web migrates PostgreSQL and ClickHouse before it listens; killed mid-migration, it restarts for ever",
            };
            out.push(app.finding(
                Severity::Warning,
                "liveness-grace",
                format!("livenessProbe gives a slow start {grace}s (initialDelaySeconds + periodSeconds x failureThreshold) and there is no startupProbe: {why}"),
                Some(Cause::SlowStart),
                "add a startupProbe on the same endpoint (e.g. periodSeconds: 5, failureThreshold: 60), or raise initialDelaySeconds so the grace is at least 60s".into(),
            ));
        }
    }
    if live.timeout <= 1.0 {
        out.push(app.finding(
            Severity::Warning,
            "liveness-timeout",
            format!("livenessProbe timeoutSeconds is {} (Kubernetes' default is 1): the health endpoint queries PostgreSQL and Redis, and a busy {} answers slower", live.timeout, app.role.noun()),
            Some(Cause::SlowStart),
            "set timeoutSeconds: 5 (the chart's value)".into(),
        ));
    }
}

fn resources(app: &App, out: &mut Vec<Finding>) {
    let c = app.container;
    let gib = |b: f64| b / (1024.0 * 1024.0 * 1024.0);
    let mut low = Vec::new();
    if let Some(cpu) = c.limits.cpu.filter(|&v| v < MIN_CPU) {
        low.push(format!("CPU limit {cpu}"));
    }
    if let Some(mem) = c.limits.memory.filter(|&v| v < MIN_MEMORY) {
        low.push(format!("memory limit {:.2} GiB", gib(mem)));
    }
    let fix = "give it at least 2 CPU and 4Gi of memory, requests and limits (Langfuse's documented minimum), and NODE_OPTIONS=--max-old-space-size to match the memory".to_string();
    if !low.is_empty() {
        out.push(app.finding(
            Severity::Warning,
            "resources",
            format!("{} below Langfuse's documented minimum of 2 CPU and 4 GiB: throttled or OOM-killed under load and slow to start", low.join(", ")),
            Some(Cause::SlowStart),
            fix,
        ));
        return;
    }
    let short = c.requests.cpu.is_none_or(|v| v < MIN_CPU)
        || c.requests.memory.is_none_or(|v| v < MIN_MEMORY);
    if short && app.workload.source == Source::Kubernetes {
        out.push(app.finding(
            Severity::Note,
            "resources",
            "requests less than Langfuse's documented minimum of 2 CPU and 4 GiB (or none): it may be scheduled where that much is not free".into(),
            Some(Cause::SlowStart),
            fix,
        ));
    }
}

fn database_password(app: &App, out: &mut Vec<Finding>) {
    let c = app.container;
    if c.var("DATABASE_URL").is_some() {
        return;
    }
    if let Some(Value::Literal(port)) = c
        .var("DATABASE_PORT")
        .filter(|v| **v != Value::Literal("5432".into()))
    {
        out.push(app.finding(
            Severity::Warning,
            "database-port",
            format!("sets DATABASE_PORT={:?}, which Langfuse never reads: the entrypoint builds DATABASE_URL without a port, so it connects to 5432", show_literal(port)),
            None,
            "put the port in DATABASE_HOST (host:port), or set DATABASE_URL".into(),
        ));
    }
    let fix = "set DATABASE_URL with the password percent-encoded, or use a password without @ : / ? # [ ] % or spaces".to_string();
    match c.var("DATABASE_PASSWORD") {
        Some(Value::Literal(p)) if p.contains(URL_BREAKING) || !p.is_ascii() => out.push(app.finding(
            Severity::Error,
            "database-password",
            "DATABASE_PASSWORD holds a character the entrypoint copies into DATABASE_URL unencoded (@ : / ? # [ ] %, a space or non-ASCII): the connection fails".into(),
            None,
            fix,
        )),
        Some(v @ (Value::Ref(_) | Value::Unknown(_))) => out.push(app.finding(
            Severity::Note,
            "database-password",
            format!("DATABASE_PASSWORD comes from {}: not checkable here; the entrypoint copies it into DATABASE_URL unencoded", describe(v)),
            None,
            fix,
        )),
        _ => {}
    }
}

/// What the worker cannot start (or work) without: `worker/src/env.ts`
/// requires these, and Redis, `SALT` and `ENCRYPTION_KEY` are needed at
/// the first job that uses them.
fn worker_needs(app: &App, out: &mut Vec<Finding>) {
    let c = app.container;
    let has = |name: &str| {
        c.var(name)
            .is_some_and(|v| *v != Value::Literal(String::new()))
    };
    let database = has("DATABASE_URL")
        || [
            "DATABASE_HOST",
            "DATABASE_USERNAME",
            "DATABASE_PASSWORD",
            "DATABASE_NAME",
        ]
        .iter()
        .all(|n| has(n));
    let redis = has("REDIS_CONNECTION_STRING")
        || has("REDIS_HOST")
        || has("REDIS_CLUSTER_NODES")
        || has("REDIS_SENTINEL_NODES");
    let mut missing: Vec<(&str, Severity)> = Vec::new();
    if !database {
        missing.push((
            "DATABASE_URL (or DATABASE_HOST, _USERNAME, _PASSWORD and _NAME)",
            Severity::Error,
        ));
    }
    for name in [
        "CLICKHOUSE_URL",
        "CLICKHOUSE_USER",
        "CLICKHOUSE_PASSWORD",
        "LANGFUSE_S3_EVENT_UPLOAD_BUCKET",
    ] {
        if !has(name) {
            missing.push((name, Severity::Error));
        }
    }
    if !redis {
        missing.push(("REDIS_CONNECTION_STRING (or REDIS_HOST)", Severity::Error));
    }
    for name in ["SALT", "ENCRYPTION_KEY"] {
        if !has(name) {
            missing.push((name, Severity::Warning));
        }
    }
    if missing.is_empty() {
        return;
    }
    if !c.env_from.is_empty() {
        let names: Vec<&str> = missing.iter().map(|(n, _)| *n).collect();
        out.push(app.finding(
            Severity::Note,
            "worker-env",
            format!(
                "{} not set here; they may come from {}: not checkable here",
                names.join(", "),
                c.env_from.join(", ")
            ),
            None,
            "make sure that secret holds them".into(),
        ));
        return;
    }
    for severity in [Severity::Error, Severity::Warning] {
        let names: Vec<&str> = missing
            .iter()
            .filter(|(_, s)| *s == severity)
            .map(|(n, _)| *n)
            .collect();
        if names.is_empty() {
            continue;
        }
        let what = match severity {
            Severity::Error => format!("lacks {}: the worker exits at start (\"Failed to start worker\") or its health check fails", names.join(", ")),
            _ => format!("lacks {}: jobs that encrypt, decrypt or hash API keys fail", names.join(", ")),
        };
        out.push(app.finding(
            severity,
            "worker-env",
            what,
            None,
            "give the worker the same Langfuse variables as the web".into(),
        ));
    }
}

/// Something must wait for the web's migrations before the worker starts.
fn gate_before_worker(app: &App, workloads: &[&Workload], out: &mut Vec<Finding>) {
    let w = app.workload;
    // A native sidecar (restartPolicy: Always) holds the app back only
    // with a startupProbe.
    if let Some(sidecar) = w
        .init
        .iter()
        .find(|c| c.always && c.startup.is_none() && is_gate(c))
    {
        out.push(Finding {
            container: Some(sidecar.name.clone()),
            ..app.finding(
                Severity::Warning,
                "no-gate",
                "readygate runs as a native sidecar without a startupProbe: Kubernetes starts the worker at once, without waiting for it".into(),
                Some(Cause::Migration),
                "give the sidecar a startupProbe on /startupz (examples/kubernetes/native-sidecar.yaml)".into(),
            )
        });
        return;
    }
    let waits = match w.source {
        Source::Kubernetes => w.init.iter().any(|c| !c.always || c.startup.is_some()),
        // A gate that completed, or a web that is healthy (it listens
        // only once migrated); a healthy database says nothing of its schema.
        Source::Compose => {
            is_gate(app.container)
                || w.depends_on.iter().any(|(service, condition)| {
                    let named = |o: &&&Workload| {
                        o.object.strip_prefix("service ") == Some(service.as_str())
                    };
                    let Some(dep) = workloads.iter().find(named) else {
                        return false;
                    };
                    let gate = dep.containers.iter().any(is_gate);
                    let web = dep
                        .containers
                        .iter()
                        .any(|c| image_role(&c.image) == Some(Role::Web));
                    (gate && condition == "service_completed_successfully")
                        || (web && condition == "service_healthy")
                })
        }
    };
    if !waits {
        let fix = match w.source {
            Source::Kubernetes => "add readygate as an init container: --preset langfuse-worker --langfuse-web http://langfuse-web:3000 --expect-version <release> (examples/kubernetes)",
            Source::Compose => "add a readygate service the worker depends on with condition: service_completed_successfully (examples/compose)",
        };
        out.push(app.finding(
            Severity::Warning,
            "no-gate",
            "nothing waits for the web's migrations before the worker starts: on a fresh or upgraded database it fails its first jobs or its health check".into(),
            Some(Cause::Migration),
            fix.into(),
        ));
    }
}

/// `LANGFUSE_AUTO_*_MIGRATION_DISABLED=true` on the web (read only by
/// `web/entrypoint.sh`): then something else must migrate.
fn migrations_disabled(app: &App, workloads: &[&Workload], out: &mut Vec<Finding>) {
    let migrates = |runs: &dyn Fn(&str) -> bool| {
        workloads
            .iter()
            .flat_map(|w| w.all_containers())
            .any(|c| runs(&c.command_line()))
    };
    let prisma = |line: &str| line.contains("migrate deploy");
    let clickhouse = |line: &str| {
        line.contains("clickhouse/scripts/up.sh")
            || (line.contains("clickhouse") && line.contains("migrate") && line.contains(" up"))
    };
    for (var, store, runs) in [
        (
            "LANGFUSE_AUTO_POSTGRES_MIGRATION_DISABLED",
            "PostgreSQL",
            &prisma as &dyn Fn(&str) -> bool,
        ),
        (
            "LANGFUSE_AUTO_CLICKHOUSE_MIGRATION_DISABLED",
            "ClickHouse",
            &clickhouse,
        ),
    ] {
        if migrates(runs) {
            continue;
        }
        let fix = format!(
            "remove {var}, or run the {store} migrations in a Job before the web and worker start"
        );
        match app.container.var(var) {
            Some(Value::Literal(v)) if v == "true" => out.push(app.finding(
                Severity::Error,
                "migrations-disabled",
                format!("sets {var}=true and nothing here runs the {store} migrations: the worker waits (or fails) for ever on a fresh database"),
                Some(Cause::Migration),
                fix,
            )),
            Some(v @ (Value::Ref(_) | Value::Unknown(_))) => out.push(app.finding(
                Severity::Note,
                "migrations-disabled",
                format!("takes {var} from {}: not checkable here; if it is true, nothing here runs the {store} migrations", describe(v)),
                Some(Cause::Migration),
                fix,
            )),
            _ => {}
        }
    }
}

/// A gate that waits for the web, inside the web's own pod, never ends.
fn gate_in_web_pod(app: &App, out: &mut Vec<Finding>) {
    // A native sidecar without a startupProbe holds nothing back.
    let blocking = |c: &&Container| waits_for_web(c) && !(c.always && c.startup.is_none());
    for gate in app.workload.init.iter().filter(blocking) {
        let conditional =
            gate.command_line().contains("--only-if") || gate.var("READYGATE_ONLY_IF").is_some();
        if !conditional {
            out.push(Finding {
                container: Some(gate.name.clone()),
                line: if gate.line > 0 { gate.line } else { app.workload.line },
                ..app.finding(
                    Severity::Error,
                    "gate-in-web-pod",
                    "readygate waits for the web inside the web's own pod, which starts only after it: it never finishes".into(),
                    Some(Cause::Migration),
                    "add --only-if on the pod's label (e.g. --only-if COMPONENT=worker with COMPONENT from metadata.labels['app'], see examples/helm), or move it to the worker's pod".into(),
                )
            });
        }
    }
}

/// Web and worker from one release, pinned; the gate expects that release.
fn releases(apps: &[App], workloads: &[&Workload], out: &mut Vec<Finding>) {
    for app in apps {
        let image = &app.container.image;
        let digest = image.contains('@');
        match tag(image) {
            Some(t) if exact_release(t) => {}
            _ if digest => {}
            t => out.push(app.finding(
                Severity::Warning,
                "floating-tag",
                format!(
                    "runs {image}, {}: web and worker can pull different releases",
                    t.map_or("without a tag (latest)".to_string(), |t| format!(
                        "a moving tag ({t})"
                    ))
                ),
                Some(Cause::Image),
                "pin one release on web and worker, e.g. :4.16.0".into(),
            )),
        }
    }
    let exact = |role: Role| -> Vec<(&App, &str)> {
        apps.iter()
            .filter(|a| a.role == role)
            .filter_map(|a| {
                tag(&a.container.image)
                    .filter(|t| exact_release(t))
                    .map(|t| (a, t))
            })
            .collect()
    };
    let webs = exact(Role::Web);
    let plain = |t: &str| t.trim_start_matches('v').to_string();
    for (worker, wt) in exact(Role::Worker) {
        if let Some((web, t)) = webs.iter().find(|(_, t)| plain(t) != plain(wt)) {
            out.push(worker.finding(
                Severity::Error,
                "release-mismatch",
                format!(
                    "runs release {wt}, the web ({}) {t}: web and worker must run one release",
                    web.workload.object
                ),
                Some(Cause::Image),
                "deploy both from the same tag".into(),
            ));
        }
    }
    // The gate's --expect-version against the web's release.
    let Some((_, web_tag)) = webs.first() else {
        return;
    };
    for w in workloads {
        for gate in w.all_containers().filter(|c| waits_for_web(c)) {
            let flag = gate
                .command
                .iter()
                .position(|a| a == "--expect-version")
                .and_then(|i| gate.command.get(i + 1))
                .cloned()
                .or_else(|| {
                    gate.command
                        .iter()
                        .find_map(|a| a.strip_prefix("--expect-version=").map(str::to_string))
                });
            let expected = flag.or_else(|| match gate.var("READYGATE_EXPECT_VERSION") {
                Some(Value::Literal(v)) => Some(v.clone()),
                _ => None,
            });
            if let Some(v) = expected.filter(|v| plain(v) != plain(web_tag)) {
                out.push(Finding {
                    severity: Severity::Error,
                    rule: "gate-version",
                    file: w.file.clone(),
                    line: if gate.line > 0 { gate.line } else { w.line },
                    object: w.object.clone(),
                    container: Some(gate.name.clone()),
                    what: format!("readygate expects release {v}, the web runs {web_tag}: it waits until its deadline and fails"),
                    cause: Some(Cause::Image),
                    fix: format!("--expect-version {web_tag}"),
                });
            }
        }
    }
}

/// Langfuse's defaults for shared variables one side may leave unset.
const DEFAULTS: &[(&str, &str)] = &[("CLICKHOUSE_DB", "default"), ("REDIS_PORT", "6379")];

/// Web and worker must agree on the stores and keys they share.
fn agreement(apps: &[App], out: &mut Vec<Finding>) {
    let default_of = |name: &str, app: &App| {
        DEFAULTS
            .iter()
            .find(|(n, _)| *n == name)
            .filter(|_| app.container.env_from.is_empty())
            .map(|(_, d)| Value::Literal((*d).to_string()))
    };
    // Every worker against every web (two web Deployments, split manifests).
    let webs = apps.iter().filter(|a| a.role == Role::Web);
    let pairs = webs.flat_map(|web| {
        apps.iter()
            .filter(|a| a.role == Role::Worker)
            .map(move |w| (web, w))
    });
    for (web, worker) in pairs {
        for (name, showable) in SHARED {
            let a = web
                .container
                .var(name)
                .cloned()
                .or_else(|| default_of(name, web));
            let b = worker
                .container
                .var(name)
                .cloned()
                .or_else(|| default_of(name, worker));
            let (Some(a), Some(b)) = (a, b) else { continue };
            match (&a, &b) {
                (x, y) if x == y => {}
                (Value::Literal(x), Value::Literal(y)) => {
                    let values = match showable {
                        true => format!(
                            " ({:?} on the web, {:?} here)",
                            show_literal(x),
                            show_literal(y)
                        ),
                        false => String::new(),
                    };
                    out.push(worker.finding(
                        Severity::Error,
                        "web-worker-differ",
                        format!("{name} differs from the web's ({}){values}: web and worker must share it", web.workload.object),
                        None,
                        format!("give both the same {name}"),
                    ));
                }
                (x, y) => out.push(worker.finding(
                    Severity::Note,
                    "web-worker-differ",
                    format!(
                        "{name}: the web's ({}) and the worker's ({}) are not checkable here",
                        describe(x),
                        describe(y)
                    ),
                    None,
                    format!("make sure both resolve to the same {name}"),
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_and_tags() {
        assert_eq!(image_role("langfuse/langfuse:4.16.0"), Some(Role::Web));
        assert_eq!(
            image_role("docker.langfuse.com/langfuse/langfuse-worker:4"),
            Some(Role::Worker)
        );
        assert_eq!(
            image_role("ghcr.io/langfuse/langfuse-worker@sha256:ab"),
            Some(Role::Worker)
        );
        assert_eq!(
            image_role("registry:5000/langfuse/langfuse"),
            Some(Role::Web)
        );
        assert_eq!(image_role("postgres:16"), None);
        assert_eq!(tag("registry:5000/langfuse/langfuse"), None);
        assert_eq!(tag("langfuse/langfuse:4.16.0@sha256:ab"), Some("4.16.0"));
        assert!(exact_release("4.16.0") && exact_release("v4.16.0"));
        assert!(!exact_release("4") && !exact_release("4.16") && !exact_release("latest"));
    }
}
