"""The measurements: detection lag, ready exit, long waits, load, the fleet.

Times are time.monotonic() in this process. "Ready" is the moment the
dependency is made ready (before the listener binds, before the path flips,
before CREATE TABLE or the migration row is sent, before the proxy binds),
"exit" the moment wait4 returned the tool's exit. One tool process at a time
in the lag and ready-exit runs; the order of the tools is shuffled in every
round so that noise on the machine spreads over all of them.
"""

import os
import random
import sys
import threading
import time

from lab import (Listener, Postgres, Proc, Proxy, Web, children, closed_port, cpu_ticks, kill_sessions, sample_while)
from peers import PSQL

LAG_TIMEOUT = 20.0  # a tool that has not exited this long after "ready" is killed and counted as failed


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Outcome:
    def __init__(self, value=None, early=False, rc=None, error=""):
        self.value, self.early, self.rc, self.error = value, early, rc, error

    @property
    def ok(self):
        return self.rc == 0


class TcpKind:
    name = "tcp"

    def __init__(self):
        self._ready = None

    def target(self, db=None):
        return {"PORT": closed_port()}

    def make_ready(self, t):
        at = time.monotonic()
        t["_listener"] = Listener(t["PORT"])
        return at

    def release(self, t):
        if "_listener" in t:
            t.pop("_listener").close()

    def ready_target(self):
        if not self._ready:
            self._ready = self.target()
            self.make_ready(self._ready)
        return self._ready

    def close(self):
        if self._ready:
            self.release(self._ready)


class HttpKind:
    name = "http"

    def __init__(self, web):
        self.web = web
        self.n = 0

    def target(self, db=None):
        self.n += 1
        path = f"/health/{self.n}"
        return {"PORT": self.web.port, "HTTP_PATH": path, "HTTP_URL": self.web.url(path)}

    def make_ready(self, t):
        at = time.monotonic()
        self.web.ready.add(t["HTTP_PATH"])
        return at

    def release(self, t):
        pass

    def ready_target(self):
        t = {"PORT": self.web.port, "HTTP_PATH": "/ready", "HTTP_URL": self.web.url("/ready")}
        self.web.ready.add("/ready")
        return t

    def close(self):
        pass


class HttpUpKind(TcpKind):
    """An HTTP server that is not there yet, then starts listening and answers 200 at once
    (a web container whose server starts after its migrations)."""
    name = "httpup"

    def target(self, db=None):
        port = closed_port()
        return {"PORT": port, "HTTP_PATH": "/health", "HTTP_URL": f"http://127.0.0.1:{port}/health", "_load": False}

    def make_ready(self, t):
        at = time.monotonic()
        t["_web"] = Web(port=t["PORT"], always_ready=True)
        return at

    def release(self, t):
        if "_web" in t:
            t.pop("_web").close()


class _SessionKind:
    """PostgreSQL kinds made ready through one persistent psql session per database."""

    def __init__(self, pg, db):
        self.pg, self.db = pg, db
        self.sessions = {}
        self.n = 0
        self._ready = None

    def run(self, db, statement):
        if db not in self.sessions:
            self.sessions[db] = self.pg.session(db)
        s = self.sessions[db]
        at = time.monotonic()
        s.stdin.write(statement + "\n\\echo done\n")
        while True:
            line = s.stdout.readline()
            if not line:
                raise SystemExit(f"the psql session on {db} died")
            if line.strip() == "done":
                return at

    def release(self, t):
        pass

    def ready_target(self):
        if not self._ready:
            self._ready = self.target()
            self.make_ready(self._ready)
        return self._ready

    def close(self):
        for s in self.sessions.values():
            s.stdin.close()
            s.wait()
        self.sessions = {}


class TableKind(_SessionKind):
    name = "table"

    def target(self, db=None):
        self.n += 1
        db = db or self.db
        return {"URL": self.pg.url(db), "DB": db, "TABLE": f"t_{self.n}", "PORT": self.pg.port}

    def make_ready(self, t):
        return self.run(t["DB"], f"CREATE TABLE {t['TABLE']} (id int);")


class PrismaKind(_SessionKind):
    name = "prisma"

    def target(self, db=None):
        self.n += 1
        db = db or self.db
        return {"URL": self.pg.url(db), "DB": db, "MIGRATION": f"{self.n}_add_table", "PORT": self.pg.port}

    def make_ready(self, t):
        m = t["MIGRATION"]
        return self.run(t["DB"], f"INSERT INTO _prisma_migrations (id, checksum, migration_name, finished_at)"
                                 f" VALUES ('{m}', 'x', '{m}', now());")


class PgConnKind:
    """PostgreSQL is up behind a forwarder that starts listening at the ready moment."""
    name = "pgconn"

    def __init__(self, pg):
        self.pg = pg

    def target(self, db=None):
        port = closed_port()
        return {"PORT": port, "URL": self.pg.url("bench", port=port), "DB": "bench", "_proxy": Proxy(port, self.pg.port)}

    def make_ready(self, t):
        return t["_proxy"].open()

    def release(self, t):
        t["_proxy"].close()

    def ready_target(self):
        return {"PORT": self.pg.port, "URL": self.pg.url("bench"), "DB": "bench"}

    def close(self):
        pass


def _run_once(kind, tool, delay):
    t = kind.target()
    try:
        p = Proc(tool.argv(t), env=tool.env)
        due = p.started + delay
        if p.wait(max(0.0, due - time.monotonic())):
            return Outcome(p.exited - due, early=True, rc=p.returncode, error=p.error())
        ready = kind.make_ready(t)
        if not p.wait(LAG_TIMEOUT):
            p.kill()
            return Outcome(error=f"still waiting {LAG_TIMEOUT:.0f} s after ready")
        return Outcome(p.exited - ready, rc=p.returncode, error=p.error() if p.returncode else "")
    finally:
        kind.release(t)


def lag(kind, tools, runs):
    """Ready 0.5-2 s after the tool started; {tool.key: [Outcome]}."""
    out = {tool.key: [] for tool in tools}
    for r in range(runs):
        order = list(tools)
        random.shuffle(order)
        for tool in order:
            out[tool.key].append(_run_once(kind, tool, random.uniform(0.5, 2.0)))
    return out


def ready_exit(kind, tools, runs):
    """Everything ready: start to exit; {tool.key: [Outcome]}."""
    t = kind.ready_target()
    out = {tool.key: [] for tool in tools}
    for r in range(runs):
        order = list(tools)
        random.shuffle(order)
        for tool in order:
            p = Proc(tool.argv(t), env=tool.env)
            if not p.wait(30):
                p.kill()
                out[tool.key].append(Outcome(error="no exit within 30 s"))
                continue
            out[tool.key].append(Outcome(p.exited - p.started, rc=p.returncode, error=p.error() if p.returncode else ""))
    return out


def late(specs, after):
    """Every (kind, tool, instances) at once; each instance's dependency
    becomes ready `after` (+0-1 s) after that instance started."""
    entries = []
    try:
        for kind, tool, n in specs:
            for _ in range(n):
                t = kind.target()
                p = Proc(tool.argv(t), env=tool.env)
                entries.append({"kind": kind, "tool": tool, "t": t, "p": p, "due": p.started + after + random.random()})
        for e in sorted(entries, key=lambda e: e["due"]):
            time.sleep(max(0.0, e["due"] - time.monotonic()))
            if e["p"].done.is_set():
                e["early"] = True
            else:
                e["ready"] = e["kind"].make_ready(e["t"])
        out = {}
        for e in entries:
            p, tool = e["p"], e["tool"]
            if e.get("early"):
                o = Outcome(p.exited - e["due"], early=True, rc=p.returncode, error=p.error())
            elif not p.wait(max(0.0, e["ready"] + LAG_TIMEOUT - time.monotonic())):
                p.kill()
                o = Outcome(error=f"still waiting {LAG_TIMEOUT:.0f} s after ready")
            else:
                o = Outcome(p.exited - e["ready"], rc=p.returncode, error=p.error() if p.returncode else "")
            out.setdefault(tool.key, []).append(o)
        return out
    finally:
        kill_sessions([e["p"].pid for e in entries])
        for e in entries:
            e["kind"].release(e["t"])


class LoadResult:
    def __init__(self, seconds, proc):
        self.seconds = seconds
        self.footprint = proc.footprint()
        self.cpu = proc.cpu_seconds() / seconds * 100  # % of one core, startup included
        self.xacts = self.connections = self.http = None


def load(specs, pg, web, seconds):
    """Each (kind, tool, db) waits `seconds` for something that never happens,
    all at once, PostgreSQL tools in a database of their own and HTTP tools on
    a path of their own; returns {tool.key: LoadResult}."""
    runs = []
    for kind, tool, db in specs:
        t = kind.target(db=db)
        runs.append((tool, t, db))
    before = {db: pg.xacts(db) for _, _, db in runs if db}
    conns_before = {db: pg.connections(db) for _, _, db in runs if db}
    procs = []
    stop = threading.Event()
    try:
        for tool, t, _ in runs:
            procs.append(Proc(tool.argv(t), env=tool.env))
        sampler = threading.Thread(target=sample_while, args=(procs, stop), daemon=True)
        sampler.start()
        t0 = min(p.started for p in procs)
        time.sleep(seconds)
        stop.set()
        sampler.join()
        t1 = time.monotonic()
        gone = {p.pid: p.returncode for p in procs if p.done.is_set()}
        kill_sessions([p.pid for p in procs])
        for p in procs:
            p.wait(10)
    finally:
        stop.set()
        kill_sessions([p.pid for p in procs])
    time.sleep(1.5)  # exited backends flush their statistics
    out = {}
    for (tool, t, db), p in zip(runs, procs):
        r = LoadResult(t1 - t0, p)
        r.gone = gone[p.pid] if p.pid in gone else None  # exited by itself before the end: its exit code
        if db:
            r.xacts = (pg.xacts(db) - before[db]) / r.seconds
            r.connections = pg.connections(db) - conns_before[db]
        if "HTTP_PATH" in t and t.get("_load", True):
            r.http = web.hits.get(t["HTTP_PATH"], 0) / r.seconds
        out[tool.key] = r
    return out


class FleetResult:
    pass


def _app_backends(pm):
    n = 0
    for c in children(pm):
        try:
            with open(f"/proc/{c}/cmdline", "rb") as f:
                if f.read(14) == b"postgres: app ":
                    n += 1
        except OSError:
            pass
    return n


def _server_cpu(pm):
    """CPU seconds of the postmaster, its reaped children and its live ones."""
    return cpu_ticks(pm, with_children=True) + sum(cpu_ticks(c) for c in children(pm))


def _migrate(pg, db, table, tries=5, within=1.0):
    """The migration client: connects as app and creates the table, retrying
    a refused connection at most `tries` times within `within` seconds.
    Returns (attempts, moment the CREATE TABLE was sent or None, errors)."""
    import subprocess
    start = time.monotonic()
    errors = []
    for attempt in range(1, tries + 1):
        p = subprocess.Popen([PSQL, pg.url(db, user="app"), "-X", "-q", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        try:
            p.stdin.write("\\echo connected\n")
            p.stdin.flush()
        except BrokenPipeError:
            pass
        if p.stdout.readline().strip() == "connected":
            at = time.monotonic()
            p.stdin.write(f"CREATE TABLE {table} (id int);\n\\echo done\n")
            p.stdin.flush()
            while True:
                line = p.stdout.readline()
                if not line or line.strip() == "done":
                    break
            p.stdin.close()
            p.wait()
            return attempt, at, errors
        p.wait()
        errors.append(p.stderr.read().strip())
        if time.monotonic() - start >= within:
            break
        time.sleep(0.2)
    return len(errors), None, errors


def fleet(pg, tool, gates, after, n):
    """`gates` copies of tool wait for one table that the migration client
    creates `after` s after they were all started."""
    db, table = f"fleet_{n}", "t"
    pg.sql(f"CREATE DATABASE {db} OWNER app", db="postgres")
    pm = pg.postmaster_pid()
    samples = []
    stop = threading.Event()

    def sampler():
        while not stop.is_set():
            samples.append((time.monotonic(), _app_backends(pm)))
            stop.wait(0.1)

    threading.Thread(target=sampler, daemon=True).start()
    t = {"URL": pg.url(db, user="app"), "DB": db, "TABLE": table, "PORT": pg.port}
    procs = []
    r = FleetResult()
    try:
        log_from = os.path.getsize(pg.log)
        cpu0, t0 = _server_cpu(pm), time.monotonic()
        for _ in range(gates):
            procs.append(Proc(tool.argv(t), env=tool.env))
        launched = time.monotonic()
        r.launch_seconds = launched - t0
        time.sleep(max(0.0, launched + after - time.monotonic()))
        cpu1, t1 = _server_cpu(pm), time.monotonic()
        r.attempts, created, r.migration_errors = _migrate(pg, db, table)
        log_mid = os.path.getsize(pg.log)
        r.connected = created is not None
        r.created_after = (created - t0) if created else None
        deadline = (created or time.monotonic()) + 30.0
        for p in procs:
            p.wait(max(0.0, deadline - time.monotonic()))
        cpu2, t2 = _server_cpu(pm), time.monotonic()
        killed = {p.pid for p in procs if not p.done.is_set()}
        with open(pg.log, "rb") as f:
            f.seek(log_from)
            before_table = f.read(log_mid - log_from).decode(errors="replace").splitlines()
            lines = before_table + f.read().decode(errors="replace").splitlines()
        r.opened = sum(1 for line in lines if "connection authorized: user=app " in line)
        # While waiting: connections per gate per second, the migration client's excluded.
        r.rate_waiting = (sum(1 for line in before_table if "connection authorized: user=app " in line) - (1 if created else 0)
                          ) / gates / ((created or t1) - t0)
        r.refused = sum(1 for line in lines if "FATAL:" in line and (
            "too many clients" in line or "remaining connection slots are reserved" in line))
    finally:
        stop.set()
        kill_sessions([p.pid for p in procs])
    waiting = [c for (ts, c) in samples if ts < (created or t1)]
    r.peak_waiting = max(waiting) if waiting else 0
    r.peak = max(c for _, c in samples) if samples else 0
    r.at_create = [c for (ts, c) in samples if ts <= (created or t1)][-1] if samples else 0
    r.server_cpu_waiting = (cpu1 - cpu0) / (t1 - t0) * 100
    r.server_cpu_total = cpu2 - cpu0
    r.window = t2 - t0
    r.gates = gates
    r.exit0 = [p for p in procs if p.returncode == 0]
    r.nonzero = [p for p in procs if p.pid not in killed and p.returncode != 0]
    r.no_exit = len(killed)
    r.errors = sorted({p.error().splitlines()[-1] if p.error() else f"exit {p.returncode}" for p in r.nonzero})[:3]
    r.early = sum(1 for p in r.exit0 if created and p.exited < created)
    r.lags = [p.exited - created for p in r.exit0] if created else []
    r.client_cpu = sum(p.cpu_seconds() for p in procs)
    # Let the server settle before the next fleet: no app backend left.
    try:
        pg.sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'app'", db="postgres")
    except Exception:
        pass
    end = time.monotonic() + 10
    while _app_backends(pm) and time.monotonic() < end:
        time.sleep(0.1)
    return r


def fleet_cluster():
    pg = Postgres(max_connections=None)  # PostgreSQL's defaults: 100 connections, 3 reserved for superusers
    pg.sql("CREATE ROLE app LOGIN", db="postgres")
    return pg
