"""Checks that every pod the examples deploy meets Pod Security Standards
"restricted" (and so "baseline"), with checkov, a real policy tool from PyPI,
not rules written here: the Kubernetes examples, and the Helm chart's pods
rendered with examples/helm/langfuse-values.yaml
(tests/fixtures/lint/chart-2.0.0-readygate.yaml). Each check must have run
on every pod-owning object and passed. Usage: python3 tests/pod_security.py
"""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# checkov's checks for the Pod Security Standards' controls.
PSS = {
    "CKV_K8S_16": "privileged containers (baseline)",
    "CKV_K8S_17": "host PID namespace (baseline)",
    "CKV_K8S_18": "host IPC namespace (baseline)",
    "CKV_K8S_19": "host network namespace (baseline)",
    "CKV_K8S_25": "added capabilities (baseline)",
    "CKV_K8S_26": "host ports (baseline)",
    "CKV_K8S_27": "the Docker socket as a hostPath (baseline)",
    "CKV_K8S_39": "CAP_SYS_ADMIN (baseline)",
    "CKV_K8S_20": "allowPrivilegeEscalation: false (restricted)",
    "CKV_K8S_23": "runAsNonRoot (restricted)",
    "CKV_K8S_28": "NET_RAW dropped (restricted)",
    "CKV_K8S_37": "capabilities: drop ALL (restricted)",
    "CKV_K8S_31": "seccomp RuntimeDefault (restricted)",
}

FILES = [
    "examples/kubernetes/langfuse-worker-init.yaml",
    "examples/kubernetes/native-sidecar.yaml",
    "tests/fixtures/lint/chart-2.0.0-readygate.yaml",
]


def main():
    out = subprocess.run(
        [sys.executable, "-m", "checkov.main", "--framework", "kubernetes", "--skip-download", "--compact", "-o", "json",
         "--check", ",".join(PSS)] + sum([["-f", os.path.join(ROOT, f)] for f in FILES], []),
        capture_output=True, text=True, stdin=subprocess.DEVNULL)
    try:
        reports = json.loads(out.stdout)
    except json.JSONDecodeError:
        sys.exit(f"pod security: checkov did not run: {out.stderr[-2000:]}")
    reports = reports if isinstance(reports, list) else [reports]
    failed = [f for r in reports for f in r["results"]["failed_checks"]]
    passed = [p for r in reports for p in r["results"]["passed_checks"]]
    for f in failed:
        print(f"pod security: {f['file_path']} {f['resource']}: {f['check_id']} {PSS.get(f['check_id'], '')}", file=sys.stderr)
    # Every check ran on every file's pods: nothing passes by not being looked at.
    for path in FILES:
        ran = {p["check_id"] for p in passed if p["file_path"].endswith(path)}
        missing = set(PSS) - ran
        if missing:
            sys.exit(f"pod security: {path}: checks that did not run: {sorted(missing)}")
    if failed:
        sys.exit(1)
    print(json.dumps({"files": len(FILES), "checks": len(PSS), "passed": len(passed)}))


main()
