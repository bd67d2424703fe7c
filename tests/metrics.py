"""Checks a real sidecar's /metrics with prometheus_client's parser, the
strict reference for the Prometheus text format (the Rust test
serve::metrics_parse_with_the_prometheus_parser reads the same page with a
lenient crate):

- a readygate sidecar (`--serve 127.0.0.1:0`) waits on an HTTP endpoint that
  answers 503, served here;
- once a failed check is counted, /metrics must parse, and the samples must
  say what the gate saw: not ready, one "response" failure or more, all 16
  failure reasons present, a histogram with its +Inf bucket, build_info 1.

Usage: python3 tests/metrics.py READYGATE_BINARY
"""

import os
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client.parser import text_string_to_metric_families

GATE = sys.argv[1]


def fail(msg):
    print(f"metrics: {msg}", file=sys.stderr)
    sys.exit(1)


class Unavailable(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"{}"
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def sidecar_port(gate, log):
    """Reads the gate's log until it says where it serves; keeps reading."""
    found = threading.Event()
    port = []

    def read():
        for line in gate.stderr:
            log.append(line)
            if "serving" in line and not port:
                tail = line.rsplit("http://127.0.0.1:", 1)[-1].strip()
                if tail.isdigit():
                    port.append(int(tail))
                    found.set()

    threading.Thread(target=read, daemon=True).start()
    if not found.wait(10):
        fail("the sidecar did not log the address it serves on:\n" + "".join(log))
    return port[0]


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return r.status, r.read().decode()


def check(text):
    names = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                names.setdefault(sample.name, []).append(sample)
    except ValueError as e:
        fail(f"prometheus_client rejected /metrics: {e}\n{text}")
    try:
        ready = names["readygate_target_ready"][0]
        assert ready.value == 0 and ready.labels["kind"] == "http", ready
        assert names["readygate_ready"][0].value == 0
        failures = {s.labels["reason"]: s.value for s in names["readygate_check_failures_total"]}
        assert failures["response"] >= 1 and failures["auth"] == 0 and len(failures) == 16, failures
        assert names["readygate_check_duration_seconds_count"][0].value >= 1
        assert any(s.labels.get("le") == "+Inf" for s in names["readygate_check_duration_seconds_bucket"])
        assert names["readygate_build_info"][0].value == 1
    except (AssertionError, KeyError, IndexError) as e:
        fail(f"/metrics does not say what the gate saw: {e!r}\n{text}")
    return len(names)


def main():
    web = ThreadingHTTPServer(("127.0.0.1", 0), Unavailable)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{web.server_port}/h"
    gate = subprocess.Popen(
        [GATE, url, "--interval", "200ms", "--serve", "127.0.0.1:0"],
        env={"PATH": os.environ.get("PATH", "")},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    log = []
    try:
        port = sidecar_port(gate, log)
        deadline = time.monotonic() + 5
        while True:
            status, text = get(port, "/metrics")
            if any('reason="response"' in l and not l.endswith(" 0") for l in text.splitlines()):
                break
            if time.monotonic() > deadline:
                fail(f"no failed check counted within 5 s:\n{text}")
            time.sleep(0.02)
        status, text = get(port, "/metrics")
        if status != 200:
            fail(f"/metrics answered {status}")
        print(f"metrics: ok, {check(text)} sample names")
    finally:
        gate.kill()
        gate.wait()
        web.shutdown()


main()
