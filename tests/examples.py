"""Checks every example under examples/ the way a user would rely on it:

- each file starts with a comment header saying when to use it;
- Kubernetes manifests validate against the Kubernetes 1.30 schema with
  kubernetes-validate (PyPI); the Helm values' extraInitContainers are
  validated as the init containers of a Pod;
- the compose file validates against the compose specification schema
  (the current compose-spec.json, vendored in tests/fixtures/compose-spec/);
- every readygate invocation inside them (args, plus the environment the
  example gives it) is accepted by `readygate --print-config`.

Usage: python3 tests/examples.py READYGATE_BINARY CACHE_DIR
"""

import json
import os
import re
import subprocess
import sys
import tempfile

import jsonschema
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GATE, CACHE = sys.argv[1], sys.argv[2]
K8S_VERSION = "1.30.0"

# What envFrom (the worker's secret) would hold: Langfuse's own variables.
WORKER_ENV = {
    "DATABASE_HOST": "langfuse-postgresql:5432",
    "DATABASE_USERNAME": "postgres",
    "DATABASE_PASSWORD": "example-Pw-1",
    "DATABASE_NAME": "postgres_langfuse",
    "REDIS_HOST": "langfuse-redis",
    "REDIS_AUTH": "example-Pw-2",
    "CLICKHOUSE_URL": "http://langfuse-clickhouse:8123",
    "CLICKHOUSE_USER": "default",
    "CLICKHOUSE_PASSWORD": "example-Pw-3",
}

checked = {"files": 0, "manifests": 0, "invocations": 0}


def fail(msg):
    print(f"examples: {msg}", file=sys.stderr)
    sys.exit(1)


def header(path):
    with open(path) as f:
        first = f.readline()
    if not first.startswith("#"):
        fail(f"{path} does not start with a comment saying when to use it")


def k8s_validate(path):
    out = subprocess.run([sys.executable, "-m", "kubernetes_validate", "-k", K8S_VERSION, "--strict", path], capture_output=True, text=True)
    if out.returncode != 0:
        fail(f"{path} is not valid Kubernetes {K8S_VERSION}: {out.stdout}{out.stderr}")
    checked["manifests"] += 1


def env_of(container, labels):
    env = {}
    if container.get("envFrom"):
        env.update(WORKER_ENV)
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        elif "fieldRef" in item.get("valueFrom", {}):
            path = item["valueFrom"]["fieldRef"]["fieldPath"]
            key = path.split("'")[1] if "labels[" in path else None
            env[item["name"]] = labels.get(key, "")
    return env


def run_gate(args, env, where, expect=None):
    full_env = {"PATH": os.environ.get("PATH", "")}
    full_env.update(env)
    # --print-config first: anything after "--" is the wrapped command.
    out = subprocess.run([GATE, "--print-config"] + args, capture_output=True, text=True, env=full_env, stdin=subprocess.DEVNULL)
    if out.returncode != 0:
        fail(f"{where}: readygate {' '.join(args)} refused it: {out.stderr.strip()}")
    if expect and expect not in out.stdout:
        fail(f"{where}: expected {expect!r} in --print-config output:\n{out.stdout}")
    checked["invocations"] += 1


def gate_containers(spec):
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            if "readygate" in c.get("image", ""):
                yield c


def kubernetes():
    folder = os.path.join(ROOT, "examples", "kubernetes")
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        header(path)
        k8s_validate(path)
        checked["files"] += 1
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                template = doc["spec"]["template"]
                labels = template["metadata"].get("labels", {})
                for c in gate_containers(template["spec"]):
                    run_gate(c.get("command", [])[1:] + c.get("args", []), env_of(c, labels), f"{name}/{c['name']}", "here: wait")


def helm():
    path = os.path.join(ROOT, "examples", "helm", "langfuse-values.yaml")
    header(path)
    with open(path) as f:
        values = yaml.safe_load(f)
    inits = values["langfuse"]["extraInitContainers"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "langfuse-worker"},
        "spec": {"initContainers": inits, "containers": [{"name": "worker", "image": "langfuse/langfuse-worker:3"}]},
    }
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as tmp:
        yaml.safe_dump(pod, tmp)
    try:
        k8s_validate(tmp.name)
    finally:
        os.unlink(tmp.name)
    checked["files"] += 1
    for c in gate_containers(pod["spec"]):
        # The chart puts the same init container into both pods.
        # The chart labels its pods app: worker and app: web.
        run_gate(c["args"], env_of(c, {"app": "worker"}), "helm worker pod", "here: wait")
        run_gate(c["args"], env_of(c, {"app": "web"}), "helm web pod", "here: do not wait")


def compose_schema():
    """The current Compose Specification schema, vendored from
    compose-spec/compose-spec (tests/fixtures/compose-spec/README.md says
    which commit): the docker-compose 1.29.2 wheel's copy was years old."""
    with open(os.path.join(ROOT, "tests", "fixtures", "compose-spec", "compose-spec.json")) as f:
        return json.load(f)


def compose():
    path = os.path.join(ROOT, "examples", "compose", "docker-compose.yml")
    header(path)
    with open(path) as f:
        doc = yaml.safe_load(f)
    try:
        jsonschema.validate(doc, compose_schema())
    except jsonschema.ValidationError as e:
        fail(f"{path} does not follow the compose specification: {e.message}")
    # A complete file: every service a service depends on is defined here.
    services = doc.get("services", {})
    for name, service in services.items():
        needs = service.get("depends_on", {})
        for other in needs if isinstance(needs, (list, dict)) else []:
            if other not in services:
                fail(f"{path}: service {name} depends on {other}, which the file does not define")
    checked["files"] += 1
    checked["manifests"] += 1
    for name, svc in doc["services"].items():
        entry = svc.get("entrypoint") or []
        if entry and entry[0].endswith("readygate"):
            args = entry[1:] + list(svc.get("command", []))
        elif svc.get("image", "").startswith("readygate"):
            args = list(svc.get("command", []))
        else:
            continue
        env = {k: interpolate(str(v)) for k, v in svc.get("environment", {}).items()}
        expect = "mode: serve" if "--serve" in args else "here: wait"
        run_gate(args, env, f"compose/{name}", expect)
        test = (svc.get("healthcheck") or {}).get("test") or []
        if len(test) > 2 and test[0] == "CMD" and test[1].endswith("readygate"):
            run_gate(test[2:], env, f"compose/{name} healthcheck", "mode: once")


def interpolate(value):
    """What compose makes of ${VAR:-default} with none of them set: the default."""
    return re.sub(r"\$\{\w+(?::?-([^}]*))?\}", lambda m: m.group(1) or "", value)


kubernetes()
helm()
compose()
print(json.dumps(checked))
