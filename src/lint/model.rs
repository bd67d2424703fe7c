//! What `lint` reads out of Kubernetes objects and compose services: pods
//! (workloads) and their containers, with the environment as written
//! (literal, reference, or out of reach) and the probes and resources.

use super::yaml::Node;

/// Where a workload came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Kubernetes,
    Compose,
}

/// A pod template (Deployment, StatefulSet, Pod, Job ...) or a compose service.
#[derive(Debug)]
pub(crate) struct Workload {
    pub(crate) file: String,
    /// `Deployment/langfuse-worker`, `service langfuse-worker`.
    pub(crate) object: String,
    pub(crate) line: usize,
    pub(crate) source: Source,
    /// A Job, CronJob or bare Pod: runs to completion (a migration, a
    /// one-off), not the web or the worker.
    pub(crate) batch: bool,
    /// Names and labels that say what it is meant to be (lower case).
    pub(crate) words: String,
    pub(crate) init: Vec<Container>,
    pub(crate) containers: Vec<Container>,
    /// compose `depends_on` with its conditions (service, condition).
    pub(crate) depends_on: Vec<(String, String)>,
}

/// One container, or a compose service's one.
#[derive(Debug)]
pub(crate) struct Container {
    pub(crate) name: String,
    pub(crate) line: usize,
    pub(crate) image: String,
    /// entrypoint/command then args, as words.
    pub(crate) command: Vec<String>,
    pub(crate) env: Vec<(String, Value)>,
    /// `envFrom` / `env_file`: variables this file does not show.
    pub(crate) env_from: Vec<String>,
    pub(crate) liveness: Option<Probe>,
    pub(crate) startup: Option<Probe>,
    /// A native sidecar (`restartPolicy: Always` on an init container).
    pub(crate) always: bool,
    /// CPU cores and bytes of memory.
    pub(crate) requests: Resources,
    pub(crate) limits: Resources,
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Resources {
    pub(crate) cpu: Option<f64>,
    pub(crate) memory: Option<f64>,
}

/// A probe's timing, with Kubernetes' defaults filled in.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Probe {
    pub(crate) initial_delay: f64,
    pub(crate) period: f64,
    pub(crate) timeout: f64,
    pub(crate) failures: f64,
}

/// A variable's value as the file gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    Literal(String),
    /// `secretKeyRef` / `configMapKeyRef`: `secret name/key`.
    Ref(String),
    /// `fieldRef`, `resourceFieldRef`, or compose `${...}` interpolation.
    Unknown(String),
}

impl Container {
    /// The variable as the container gets it: the last entry wins.
    pub(crate) fn var(&self, name: &str) -> Option<&Value> {
        self.env
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// Words of the command line, joined, for matching flags.
    pub(crate) fn command_line(&self) -> String {
        self.command.join(" ")
    }
}

impl Workload {
    pub(crate) fn all_containers(&self) -> impl Iterator<Item = &Container> {
        self.init.iter().chain(&self.containers)
    }
}

/// Pod-owning kinds, and where their pod template is.
fn pod_spec(doc: &Node) -> Option<(&Node, &Node)> {
    let kind = doc.str_at(&["kind"])?;
    let template = match kind {
        "Pod" => return Some((doc.get("metadata").unwrap_or(&Node::Null), doc.get("spec")?)),
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "Job"
        | "ReplicationController" => doc.at(&["spec", "template"])?,
        "CronJob" => doc.at(&["spec", "jobTemplate", "spec", "template"])?,
        _ => return None,
    };
    Some((
        template.get("metadata").unwrap_or(&Node::Null),
        template.get("spec")?,
    ))
}

/// Workloads in one Kubernetes document (a `List` holds several).
pub(crate) fn kubernetes(doc: &Node, file: &str, into: &mut Vec<Workload>) {
    if doc.str_at(&["kind"]).is_some_and(|k| k.ends_with("List")) {
        for item in doc.get("items").map(Node::items).unwrap_or_default() {
            kubernetes(item, file, into);
        }
        return;
    }
    let Some((meta, spec)) = pod_spec(doc) else {
        return;
    };
    let kind = doc.str_at(&["kind"]).unwrap_or_default();
    let name = doc.str_at(&["metadata", "name"]).unwrap_or("(unnamed)");
    let mut words = name.to_ascii_lowercase();
    for labels in [doc.at(&["metadata", "labels"]), meta.get("labels")]
        .into_iter()
        .flatten()
    {
        for (k, v) in labels.entries() {
            if matches!(
                k.as_str(),
                "app" | "component" | "app.kubernetes.io/component" | "app.kubernetes.io/name"
            ) {
                words.push(' ');
                words.push_str(&v.text().unwrap_or_default().to_ascii_lowercase());
            }
        }
    }
    let containers = |key: &str| -> Vec<Container> {
        spec.get(key)
            .map(Node::items)
            .unwrap_or_default()
            .iter()
            .map(kube_container)
            .collect()
    };
    into.push(Workload {
        file: file.to_string(),
        object: format!("{kind}/{name}"),
        line: doc.line(),
        source: Source::Kubernetes,
        batch: matches!(kind, "Job" | "CronJob" | "Pod"),
        words,
        init: containers("initContainers"),
        containers: containers("containers"),
        depends_on: Vec::new(),
    });
}

fn kube_container(c: &Node) -> Container {
    let words = |key: &str| -> Vec<String> {
        c.get(key)
            .map(Node::items)
            .unwrap_or_default()
            .iter()
            .filter_map(|w| w.text().map(str::to_string))
            .collect()
    };
    let mut command = words("command");
    command.extend(words("args"));
    let env = c
        .get("env")
        .map(Node::items)
        .unwrap_or_default()
        .iter()
        .filter_map(|e| {
            let name = e.str_at(&["name"])?.to_string();
            let value = if let Some(v) = e.get("value") {
                Value::Literal(v.text().unwrap_or_default().to_string())
            } else if let Some(r) = e.at(&["valueFrom", "secretKeyRef"]) {
                Value::Ref(format!(
                    "secret {}/{}",
                    r.str_at(&["name"]).unwrap_or("?"),
                    r.str_at(&["key"]).unwrap_or("?")
                ))
            } else if let Some(r) = e.at(&["valueFrom", "configMapKeyRef"]) {
                Value::Ref(format!(
                    "configmap {}/{}",
                    r.str_at(&["name"]).unwrap_or("?"),
                    r.str_at(&["key"]).unwrap_or("?")
                ))
            } else if e.get("valueFrom").is_some() {
                Value::Unknown("valueFrom".into())
            } else {
                Value::Literal(String::new())
            };
            Some((name, value))
        })
        .collect();
    let env_from = c
        .get("envFrom")
        .map(Node::items)
        .unwrap_or_default()
        .iter()
        .map(|e| {
            match (
                e.str_at(&["secretRef", "name"]),
                e.str_at(&["configMapRef", "name"]),
            ) {
                (Some(s), _) => format!("secret {s}"),
                (_, Some(m)) => format!("configmap {m}"),
                _ => "envFrom".into(),
            }
        })
        .collect();
    let probe = |key: &str| {
        c.get(key).map(|p| {
            let n = |k: &str, default: f64| {
                p.str_at(&[k])
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(default)
            };
            Probe {
                initial_delay: n("initialDelaySeconds", 0.0),
                period: n("periodSeconds", 10.0),
                timeout: n("timeoutSeconds", 1.0),
                failures: n("failureThreshold", 3.0),
            }
        })
    };
    let resources = |key: &str| Resources {
        cpu: c.str_at(&["resources", key, "cpu"]).and_then(cpu_cores),
        memory: c
            .str_at(&["resources", key, "memory"])
            .and_then(memory_bytes),
    };
    Container {
        name: c.str_at(&["name"]).unwrap_or("(unnamed)").to_string(),
        line: c.line(),
        image: c.str_at(&["image"]).unwrap_or_default().to_string(),
        command,
        env,
        env_from,
        liveness: probe("livenessProbe"),
        startup: probe("startupProbe"),
        always: c.str_at(&["restartPolicy"]) == Some("Always"),
        requests: resources("requests"),
        limits: resources("limits"),
    }
}

/// The services of a compose file.
pub(crate) fn compose(doc: &Node, file: &str, into: &mut Vec<Workload>) {
    for (name, svc) in doc.get("services").map(Node::entries).unwrap_or_default() {
        let words_of = |key: &str| -> Vec<String> {
            match svc.get(key) {
                Some(Node::Text(t)) => t.split_whitespace().map(str::to_string).collect(),
                Some(Node::Seq(items)) => items
                    .iter()
                    .filter_map(|w| w.text().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            }
        };
        let mut command = words_of("entrypoint");
        command.extend(words_of("command"));
        let env = compose_env(svc.get("environment"));
        let env_from = match svc.get("env_file") {
            Some(Node::Text(t)) => vec![format!("env_file {t}")],
            Some(Node::Seq(items)) => items
                .iter()
                .map(|i| {
                    format!(
                        "env_file {}",
                        i.text().or_else(|| i.str_at(&["path"])).unwrap_or("?")
                    )
                })
                .collect(),
            _ => Vec::new(),
        };
        let depends_on = match svc.get("depends_on") {
            Some(Node::Seq(items)) => items
                .iter()
                .filter_map(|i| {
                    i.text()
                        .map(|s| (s.to_string(), "service_started".to_string()))
                })
                .collect(),
            Some(Node::Map(entries, _)) => entries
                .iter()
                .map(|(s, v)| {
                    (
                        s.clone(),
                        v.str_at(&["condition"])
                            .unwrap_or("service_started")
                            .to_string(),
                    )
                })
                .collect(),
            _ => Vec::new(),
        };
        let container = Container {
            name: name.clone(),
            line: svc.line(),
            image: svc.str_at(&["image"]).unwrap_or_default().to_string(),
            command,
            env,
            env_from,
            liveness: None,
            startup: None,
            always: false,
            requests: Resources {
                cpu: svc
                    .str_at(&["deploy", "resources", "reservations", "cpus"])
                    .and_then(cpu_cores),
                memory: svc
                    .str_at(&["deploy", "resources", "reservations", "memory"])
                    .and_then(memory_bytes),
            },
            limits: Resources {
                cpu: svc
                    .str_at(&["deploy", "resources", "limits", "cpus"])
                    .or_else(|| svc.str_at(&["cpus"]))
                    .and_then(cpu_cores),
                memory: svc
                    .str_at(&["deploy", "resources", "limits", "memory"])
                    .or_else(|| svc.str_at(&["mem_limit"]))
                    .and_then(compose_bytes),
            },
        };
        into.push(Workload {
            file: file.to_string(),
            object: format!("service {name}"),
            line: svc.line(),
            source: Source::Compose,
            // `restart: "no"` one-shots (a gate, a migration) are not the app.
            batch: svc.str_at(&["restart"]) == Some("no"),
            words: name.to_ascii_lowercase(),
            init: Vec::new(),
            containers: vec![container],
            depends_on,
        });
    }
}

/// `environment:` as a map or a `KEY=value` list. A value that refers to
/// the shell's variables (`$VAR`, `${VAR:-default}`) is out of reach; `$$`
/// is a literal `$`.
fn compose_env(node: Option<&Node>) -> Vec<(String, Value)> {
    let value = |raw: Option<&str>| match raw {
        Some(v) if interpolates(v) => Value::Unknown(v.to_string()),
        Some(v) => Value::Literal(v.replace("$$", "$")),
        // `KEY` alone or `KEY:` with no value: taken from the shell running compose.
        None => Value::Unknown("from the shell".into()),
    };
    match node {
        Some(Node::Map(entries, _)) => entries
            .iter()
            .map(|(k, v)| (k.clone(), value(v.text())))
            .collect(),
        Some(Node::Seq(items)) => items
            .iter()
            .filter_map(Node::text)
            .map(|item| match item.split_once('=') {
                Some((k, v)) => (k.to_string(), value(Some(v))),
                None => (item.to_string(), value(None)),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether a compose value refers to a variable (`$$` escapes a `$`).
fn interpolates(v: &str) -> bool {
    let bytes = v.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' {
            match bytes.get(i + 1) {
                Some(b'$') => i += 2,
                Some(b'{') => return true,
                Some(c) if c.is_ascii_alphabetic() || *c == b'_' => return true,
                _ => i += 1,
            }
        } else {
            i += 1;
        }
    }
    false
}

/// The defaults in `${VAR:-default}` and `${VAR-default}` (also `:?`
/// messages), which compose uses when the variable is unset.
pub(crate) fn interpolation_defaults(v: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = v;
    while let Some(start) = rest.find("${") {
        let inner = &rest[start + 2..];
        let Some(end) = inner.find('}') else { break };
        let body = &inner[..end];
        if let Some(i) = body.find([':', '-', '?', '+']) {
            let default = body[i..].trim_start_matches([':', '-', '?', '+']);
            if !default.is_empty() {
                found.push(default.to_string());
            }
        }
        rest = &inner[end + 1..];
    }
    found
}

/// The variable names a compose value refers to, for messages.
pub(crate) fn interpolated_names(v: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = v;
    while let Some(start) = rest.find('$') {
        let after = &rest[start + 1..];
        let name: String = after
            .trim_start_matches('{')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() && !after.starts_with('$') {
            found.push(format!("${name}"));
        }
        rest = after.strip_prefix('$').unwrap_or(after);
    }
    found
}

/// Kubernetes CPU quantities: `2`, `1.5`, `500m`.
fn cpu_cores(q: &str) -> Option<f64> {
    match q.strip_suffix('m') {
        Some(milli) => milli.parse::<f64>().ok().map(|m| m / 1000.0),
        None => q.parse().ok(),
    }
}

/// Kubernetes memory quantities (`4Gi`, `4096Mi`, `4G`, `4e9`), in bytes.
fn memory_bytes(q: &str) -> Option<f64> {
    const UNITS: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("m", 1e-3),
    ];
    let q = q.trim();
    for (suffix, factor) in UNITS {
        if let Some(n) = q.strip_suffix(suffix) {
            if let Ok(n) = n.parse::<f64>() {
                return Some(n * factor);
            }
        }
    }
    q.parse().ok()
}

/// Compose's byte values (`4g`, `4G`, `4gb`, `512m`, `1024k`, `100b`):
/// binary units, either case, an optional `b`.
fn compose_bytes(q: &str) -> Option<f64> {
    let q = q.trim().to_ascii_lowercase();
    let q = q.strip_suffix('b').unwrap_or(&q);
    let (n, factor) = match q.chars().last()? {
        'k' => (&q[..q.len() - 1], 1024.0),
        'm' => (&q[..q.len() - 1], 1048576.0),
        'g' => (&q[..q.len() - 1], 1073741824.0),
        't' => (&q[..q.len() - 1], 1099511627776.0),
        _ => (q, 1.0),
    };
    n.parse::<f64>().ok().map(|n| n * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(cpu_cores("500m"), Some(0.5));
        assert_eq!(cpu_cores("2"), Some(2.0));
        assert_eq!(memory_bytes("4Gi"), Some(4294967296.0));
        assert_eq!(memory_bytes("4096Mi"), Some(4294967296.0));
        assert_eq!(memory_bytes("4G"), Some(4e9));
        assert_eq!(memory_bytes("lots"), None);
        for four_gib in ["4g", "4G", "4gb", "4GB", "4096m", "4096M"] {
            assert_eq!(compose_bytes(four_gib), Some(4294967296.0), "{four_gib}");
        }
        assert_eq!(compose_bytes("1GB"), Some(1073741824.0));
        assert_eq!(compose_bytes("100"), Some(100.0));
    }

    #[test]
    fn compose_interpolation() {
        assert!(interpolates("${SALT:-mysalt}") && interpolates("$SALT") && interpolates("a${B}"));
        assert!(!interpolates("pa$$word") && !interpolates("cost: 5$") && !interpolates("plain"));
        assert_eq!(interpolation_defaults("${A:-x}/${B-y}${C}"), vec!["x", "y"]);
        assert_eq!(interpolated_names("${A:-x}/$B$$C"), vec!["$A", "$B"]);
    }
}
