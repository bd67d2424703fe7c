"""readygate's own benchmark: detection lag, ready exit, load, footprint.

Every server is real and local: a PostgreSQL cluster made with initdb, an
HTTP server in this process, plain TCP listeners. Times are taken with
time.monotonic() in this process: "ready" is the moment the dependency is
made ready (before the CREATE TABLE is sent, so PostgreSQL lags are upper
bounds), "detected" the moment the gate process has exited.
"""

import datetime
import http.server
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GATE = os.path.join(ROOT, "target", "release", "readygate")
QUICK = "--quick" in sys.argv
RUNS = 8 if QUICK else 30
LATE_GATES = 4 if QUICK else 10
LATE_AFTER = 20.0 if QUICK else 60.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    """A throwaway cluster, run as the postgres user when we are root."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="readygate-bench-")
        os.chmod(self.dir, 0o755)
        self.as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        self.port = free_port()
        self.data = os.path.join(self.dir, "data")
        subprocess.run(self.as_pg + ["initdb", "-D", self.data, "-U", "postgres", "--no-sync", "--auth=trust"],
                       check=True, stdout=subprocess.DEVNULL)
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
                " -c log_connections=on")
        self.log = os.path.join(self.dir, "log")
        subprocess.run(self.as_pg + ["pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "log"), "-w", "-o", opts, "start"],
                       check=True, stdout=subprocess.DEVNULL)
        self.sql("CREATE DATABASE bench", db="postgres")
        self.sql("CREATE DATABASE bench_prisma", db="postgres")
        self.sql("""CREATE TABLE _prisma_migrations (id varchar(36) PRIMARY KEY, checksum varchar(64) NOT NULL,
            finished_at timestamptz, migration_name varchar(255) NOT NULL, logs text, rolled_back_at timestamptz,
            started_at timestamptz NOT NULL DEFAULT now(), applied_steps_count int NOT NULL DEFAULT 0);
            INSERT INTO _prisma_migrations (id, checksum, migration_name, finished_at) VALUES ('0', 'x', '0_init', now())""",
                 db="bench_prisma")

    def url(self, db="bench"):
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def sql(self, query, db="bench"):
        out = subprocess.run(["psql", "-h", self.dir, "-p", str(self.port), "-U", "postgres", "-d", db, "-X", "-q", "-A", "-t",
                              "-v", "ON_ERROR_STOP=1", "-c", query], check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def session(self, db):
        """A persistent psql, so making a table ready costs no process start."""
        return subprocess.Popen(["psql", "-h", self.dir, "-p", str(self.port), "-U", "postgres", "-d", db, "-X", "-q",
                                 "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def stats(self, db):
        """Transactions in a database, and connections readygate opened to it (from the server log)."""
        xacts = int(self.sql(f"SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '{db}'", db="postgres"))
        marker = f"database={db} application_name=readygate"
        with open(self.log, errors="replace") as f:
            sessions = sum(1 for line in f if "connection authorized" in line and marker in line)
        return xacts, sessions

    def stop(self):
        subprocess.run(self.as_pg + ["pg_ctl", "-D", self.data, "-m", "immediate", "stop"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)


class Web:
    """An HTTP server whose paths answer 503 until marked ready; counts requests."""

    def __init__(self):
        self.ready = set()
        self.hits = {}
        web = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                web.hits[self.path] = web.hits.get(self.path, 0) + 1
                ok = self.path in web.ready
                body = b'{"status":"OK","version":"3.225.4"}' if ok else b'{"status":"starting"}'
                self.send_response(200 if ok else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"


class Gate:
    """A readygate process; records when it exits."""

    def __init__(self, args):
        self.started = time.monotonic()
        self.proc = subprocess.Popen([GATE, "--timeout", "5m", "-q"] + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.exited = None
        self.thread = threading.Thread(target=self._wait, daemon=True)
        self.thread.start()

    def _wait(self):
        self.proc.wait()
        self.exited = time.monotonic()

    def finish(self):
        self.thread.join(timeout=300)
        if self.proc.returncode != 0:
            raise SystemExit(f"gate failed ({self.proc.returncode}): {self.proc.stderr.read().decode()}")
        return self.exited

    def peak_rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0


def summary(values):
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]
    return values[0], statistics.median(values), p95, values[-1]


def ms(row):
    return " | ".join(f"{v * 1000:.0f}" for v in row)


class Scenario:
    """One dependency kind: how to name a target and how to make it ready."""

    def __init__(self, kind, pg, web):
        self.kind, self.pg, self.web = kind, pg, web
        self.db = {"postgres": "bench", "prisma": "bench_prisma"}.get(kind)
        self.session = pg.session(self.db) if self.db else None
        self.listeners = []
        self.n = 0

    def target(self):
        self.n += 1
        if self.kind == "tcp":
            port = free_port()
            return [f"tcp://127.0.0.1:{port}"], port
        if self.kind == "http":
            path = f"/health/{self.n}"
            return [self.web.url(path)], path
        name = f"t_{os.getpid()}_{self.n}"
        if self.kind == "prisma":
            return [self.pg.url(self.db), "--prisma-migrations", "--migration", name], name
        return [self.pg.url(self.db), "--table", name], name

    def make_ready(self, key):
        """Makes the dependency ready; returns the moment it happened."""
        if self.kind == "tcp":
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            at = time.monotonic()
            s.bind(("127.0.0.1", key))
            s.listen(64)
            self.listeners.append(s)
            return at
        if self.kind == "http":
            at = time.monotonic()
            self.web.ready.add(key)
            return at
        at = time.monotonic()
        if self.kind == "prisma":
            self.session.stdin.write(f"INSERT INTO _prisma_migrations (id, checksum, migration_name, finished_at)"
                                     f" VALUES ('{key}', 'x', '{key}', now());\n\\echo done\n")
        else:
            self.session.stdin.write(f"CREATE TABLE {key} (id int);\n\\echo done\n")
        while self.session.stdout.readline().strip() != "done":
            pass
        return at

    def close(self):
        for s in self.listeners:
            s.close()
        if self.session:
            self.session.stdin.close()
            self.session.wait()


def lag_runs(scenario, runs, delay):
    lags = []
    for _ in range(runs):
        args, key = scenario.target()
        gate = Gate(args)
        time.sleep(max(0.0, gate.started + delay() - time.monotonic()))
        ready = scenario.make_ready(key)
        lags.append(gate.finish() - ready)
    return lags


def late_runs(scenario, gates):
    """Several gates at once, each ready LATE_AFTER (+0-1 s) after start."""
    before = scenario.pg.stats(scenario.db) if scenario.db else None
    started = []
    for _ in range(gates):
        args, key = scenario.target()
        started.append((Gate(args), key, LATE_AFTER + random.random()))
    t0 = time.monotonic()
    rss = 0
    pending = sorted(started, key=lambda g: g[0].started + g[2])
    lags = []
    readies = []
    for gate, key, after in pending:
        time.sleep(max(0.0, gate.started + after - time.monotonic()))
        if not rss:
            rss = max(g.peak_rss_kib() for g, _, _ in started)
        readies.append((gate, scenario.make_ready(key)))
    for gate, ready in readies:
        lags.append(gate.finish() - ready)
    waited = time.monotonic() - t0
    load = None
    if scenario.db:
        time.sleep(1.5)  # exited backends flush their statistics
        after_stats = scenario.pg.stats(scenario.db)
        load = ((after_stats[0] - before[0]) / gates / waited, (after_stats[1] - before[1]) / gates)
    elif scenario.kind == "http":
        hits = sum(scenario.web.hits.get(k, 0) for _, k, _ in started)
        load = (hits / gates / waited, None)
    return lags, rss, load


def ready_exit(scenario, runs):
    args, key = scenario.target()
    scenario.make_ready(key)
    times = []
    for _ in range(runs):
        gate = Gate(args)
        times.append(gate.finish() - gate.started)
    return times


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    pg = subprocess.run(["postgres", "--version"], capture_output=True, text=True).stdout.strip()
    return f"{os.cpu_count()} cores, {model}; Linux {platform.release()}; {pg}"


def main():
    pg, web = Postgres(), Web()
    kinds = ["tcp", "http", "postgres", "prisma"]
    scenarios = {k: Scenario(k, pg, web) for k in kinds}
    try:
        print(f"detection lag, ready 0.5-2 s after start, {RUNS} runs each", file=sys.stderr)
        early = {k: lag_runs(scenarios[k], RUNS, lambda: random.uniform(0.5, 2.0)) for k in kinds}
        print("ready exit", file=sys.stderr)
        exits = {k: ready_exit(scenarios[k], RUNS) for k in kinds}
        print(f"late: {LATE_GATES} gates per kind, ready after {LATE_AFTER:.0f} s", file=sys.stderr)
        results = {}
        threads = [threading.Thread(target=lambda k=k: results.__setitem__(k, late_runs(scenarios[k], LATE_GATES))) for k in kinds]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for s in scenarios.values():
            s.close()
        pg.stop()
    size = os.path.getsize(GATE)
    write_report(early, exits, results, size)


def write_report(early, exits, late, size):
    cmd = "bench/run --quick" if QUICK else "bench/run"
    lines = [
        "# readygate benchmarks",
        "",
        f"Generated by `{cmd}` on {datetime.date.today().isoformat()}; do not edit by hand.",
        f"Machine: {machine()}.",
        "",
        "All servers are real and on loopback. Default settings (adaptive schedule: 80 ms for 2 s,",
        "slowing to 900 ms by 10 s). Lag = gate exit minus the moment the dependency became ready",
        "(for PostgreSQL, the moment the `CREATE TABLE` or migration row was sent, so an upper bound).",
        "`postgres` waits for `--table`; `prisma` for `--prisma-migrations --migration NAME`. Times in ms.",
        "",
        f"## Detection lag, ready 0.5-2 s after start ({len(early['tcp'])} runs each)",
        "",
        "| target | min | median | p95 | max | target |",
        "|---|---|---|---|---|---|",
    ]
    for k, v in early.items():
        lines.append(f"| {k} | {ms(summary(v))} | median <= 60, p95 <= 120 |")
    n_late = len(late["tcp"][0])
    lines += [
        "",
        f"## Detection lag, ready {LATE_AFTER:.0f}-{LATE_AFTER + 1:.0f} s after start ({n_late} gates per kind, all at once)",
        "",
        "| target | min | median | p95 | max | target |",
        "|---|---|---|---|---|---|",
    ]
    for k, (lags, _, _) in late.items():
        lines.append(f"| {k} | {ms(summary(lags))} | p95 <= 1000 |")
    lines += [
        "",
        f"## Ready exit: everything ready, start to exit 0 ({len(exits['tcp'])} runs each)",
        "",
        "| target | min | median | p95 | max |",
        "|---|---|---|---|---|",
    ]
    for k, v in exits.items():
        lines.append(f"| {k} | {ms(summary(v))} |")
    pg_q, pg_sessions = late["postgres"][2]
    prisma_q, prisma_sessions = late["prisma"][2]
    http_r, _ = late["http"][2]
    rss = max(r for _, r, _ in late.values())
    lines += [
        "",
        f"## Load and footprint while waiting {LATE_AFTER:.0f} s",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| PostgreSQL transactions per second per gate (pg_stat_database) | {pg_q:.2f} | <= 2 |",
        f"| PostgreSQL connections opened per gate (server log, log_connections) | {pg_sessions:.1f} | 1 |",
        f"| same, waiting for a Prisma migration (`--prisma-migrations --migration`): transactions/s | {prisma_q:.2f} | <= 2 |",
        f"| same, waiting for a Prisma migration: connections opened per gate | {prisma_sessions:.1f} | 1 |",
        f"| HTTP requests per second per gate | {http_r:.2f} | <= 2 |",
        f"| peak RSS of a waiting gate (VmHWM) | {rss / 1024:.1f} MiB | |",
        f"| release binary size | {size / 1024 / 1024:.1f} MiB | |",
        "",
    ]
    path = os.path.join(ROOT, "BENCHMARKS.md")
    # bench/sidecar owns the section from its heading on; keep it.
    kept = ""
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
        marker = "\n## Sidecar (`--serve`) footprint"
        if marker in old:
            kept = old[old.index(marker):]
    with open(path, "w") as f:
        f.write("\n".join(lines).rstrip("\n") + "\n" + kept)
    print("\n".join(lines))


if __name__ == "__main__":
    import signal
    # Stopped by a signal: still run the cleanup in main()'s finally.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    main()
