"""The benchmark's laboratory: real servers on loopback, tool processes, cleanup.

Everything here is shared by bench.py (readygate against its peers) and
sidecar.py (the --serve footprint). Servers: a throwaway PostgreSQL cluster
made with initdb, an HTTP server in this process, plain TCP listeners and a
TCP forwarder that starts listening on demand. Every tool runs in a session
of its own, so that one scan of /proc finds and kills everything it started,
grandchildren included.
"""

import http.server
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATIC_GATE = os.path.join(ROOT, "target", "x86_64-unknown-linux-musl", "release", "readygate")
# What is measured: the static binary the image ships (bench/run builds it),
# else the glibc release build.
GATE = STATIC_GATE if os.path.exists(STATIC_GATE) else os.path.join(ROOT, "target", "release", "readygate")
GATE_SHOWN = os.path.relpath(GATE, ROOT)
CLK_TCK = os.sysconf("SC_CLK_TCK")

CLUSTERS = []   # every Postgres made, so an interrupted run still stops them
SESSIONS = set()  # session ids of every tool process started
_LOCK = threading.Lock()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port():
    """A port nothing listens on, below the ephemeral range (32768-60999).

    Polling a closed port inside the ephemeral range can "succeed" through a
    TCP self-connect (the kernel picks the destination port as the source
    port) once in a few tens of thousands of attempts, which the long waits
    here would hit.
    """
    while True:
        port = random.randrange(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


class Postgres:
    """A throwaway cluster, run as the postgres user when we are root.

    max_connections=None leaves PostgreSQL's default (100, with 3 reserved
    for superusers)."""

    def __init__(self, max_connections=200):
        CLUSTERS.append(self)
        self.stopped = False
        self.dir = tempfile.mkdtemp(prefix="readygate-bench-")
        os.chmod(self.dir, 0o755)
        self.as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        self.port = free_port()
        self.data = os.path.join(self.dir, "data")
        subprocess.run(self.as_pg + ["initdb", "-D", self.data, "-U", "postgres", "--no-sync", "--auth=trust"],
                       check=True, stdout=subprocess.DEVNULL)
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c log_connections=on"
        if max_connections is not None:
            opts += f" -c max_connections={max_connections}"
        self.log = os.path.join(self.dir, "log")
        subprocess.run(self.as_pg + ["pg_ctl", "-D", self.data, "-l", self.log, "-w", "-o", opts, "start"],
                       check=True, stdout=subprocess.DEVNULL)
        self.sql("CREATE DATABASE bench", db="postgres")
        self.sql("CREATE DATABASE bench_prisma", db="postgres")
        self.prisma_schema("bench_prisma")

    def prisma_schema(self, db):
        self.sql("""CREATE TABLE _prisma_migrations (id varchar(36) PRIMARY KEY, checksum varchar(64) NOT NULL,
            finished_at timestamptz, migration_name varchar(255) NOT NULL, logs text, rolled_back_at timestamptz,
            started_at timestamptz NOT NULL DEFAULT now(), applied_steps_count int NOT NULL DEFAULT 0);
            INSERT INTO _prisma_migrations (id, checksum, migration_name, finished_at) VALUES ('0', 'x', '0_init', now())""",
                 db=db)

    def url(self, db="bench", user="postgres", port=None):
        return f"postgres://{user}@127.0.0.1:{port or self.port}/{db}"

    def sql(self, query, db="bench"):
        out = subprocess.run(["psql", "-h", self.dir, "-p", str(self.port), "-U", "postgres", "-d", db, "-X", "-q", "-A", "-t",
                              "-v", "ON_ERROR_STOP=1", "-c", query], check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def session(self, db):
        """A persistent psql, so making a table ready costs no process start."""
        return subprocess.Popen(["psql", "-h", self.dir, "-p", str(self.port), "-U", "postgres", "-d", db, "-X", "-q",
                                 "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def xacts(self, db):
        return int(self.sql(f"SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '{db}'", db="postgres"))

    def connections(self, db, application_name=None):
        """Connections authorized to a database so far (server log, log_connections=on)."""
        marker = f"database={db} application_name={application_name or ''}"
        with open(self.log, errors="replace") as f:
            return sum(1 for line in f if "connection authorized" in line and marker in line)

    def stats(self, db):
        """Transactions in a database, and connections readygate opened to it (from the server log)."""
        return self.xacts(db), self.connections(db, "readygate")

    def postmaster_pid(self):
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            return int(f.readline())

    def stop(self):
        if self.stopped:
            return
        self.stopped = True
        subprocess.run(self.as_pg + ["pg_ctl", "-D", self.data, "-m", "immediate", "stop"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)


class Web:
    """An HTTP server whose paths answer 503 until marked ready (or 200 from the start with
    always_ready); counts requests (GET and HEAD)."""

    def __init__(self, port=0, always_ready=False):
        self.ready = set()
        self.hits = {}
        web = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def answer(self, body_too):
                with _LOCK:
                    web.hits[self.path] = web.hits.get(self.path, 0) + 1
                ok = always_ready or self.path in web.ready
                body = b'{"status":"OK","version":"3.225.4"}' if ok else b'{"status":"starting"}'
                self.send_response(200 if ok else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body_too:
                    self.wfile.write(body)

            def do_GET(self):
                self.answer(True)

            def do_HEAD(self):  # wait-on's http:// resources send HEAD
                self.answer(False)

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            request_queue_size = 512  # the default 5 drops SYNs when many clients poll at once
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # clients that hang up mid-request (wait-port does) are not news

        self.server = Server(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Listener:
    """A TCP server that accepts and closes every connection, like a real one that is up."""

    def __init__(self, port):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(512)
        self.sock.settimeout(0.2)
        self.open = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while self.open:
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            conn.close()

    def close(self):
        self.open = False
        self.sock.close()


class Proxy:
    """Forwards a port to PostgreSQL; listens only from open() on, so "the
    server starts accepting connections" happens at a moment we choose."""

    def __init__(self, port, upstream_port):
        self.port, self.upstream = port, upstream_port
        self.sock = None
        self.conns = []

    def open(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        at = time.monotonic()
        s.bind(("127.0.0.1", self.port))
        s.listen(512)
        s.settimeout(0.2)
        self.sock = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()
        return at

    def _accept(self, s):
        while self.sock is s:
            try:
                client, _ = s.accept()
            except (socket.timeout, OSError):
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream))
            except OSError:
                client.close()
                continue
            client.settimeout(None)
            with _LOCK:
                self.conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        s, self.sock = self.sock, None
        if s:
            s.close()
        with _LOCK:
            conns, self.conns = self.conns, []
        for c in conns:
            try:
                c.close()
            except OSError:
                pass


def _read_status(pid, *keys):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k = line.split(":", 1)[0]
                if k in keys:
                    out[k] = int(line.split()[1])
    except OSError:
        pass
    return out


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def descendants(pid):
    out, todo = [], children(pid)
    while todo:
        c = todo.pop()
        out.append(c)
        todo += children(c)
    return out


def cpu_ticks(pid, with_children=False):
    """utime+stime of a process (and cutime+cstime: its reaped children), in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if with_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def kill_sessions(sids):
    """SIGKILL every process in these sessions (a tool and all it started)."""
    sids = set(sids)
    if not sids:
        return
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) in sids:
            try:
                os.kill(int(entry), signal.SIGKILL)
            except OSError:
                pass


class Proc:
    """A tool process in a session of its own; a thread reaps it with wait4,
    which gives the exit moment and its CPU time (the process and every
    descendant it reaped)."""

    def __init__(self, argv, env=None, cwd=None):
        self.stderr = tempfile.TemporaryFile()
        self.started = time.monotonic()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.stderr,
                                     start_new_session=True, env=env, cwd=cwd)
        self.pid = self.proc.pid
        with _LOCK:
            SESSIONS.add(self.pid)
        self.exited = None
        self.returncode = None
        self.rusage = None
        self.done = threading.Event()
        # Memory samples: the main process's VmHWM, the largest VmHWM of any
        # descendant seen, the largest sum of VmRSS over the whole tree.
        self.main_hwm = self.child_hwm = self.tree_peak = 0
        self.forks = False  # has been seen with children: sampled more often
        threading.Thread(target=self._reap, daemon=True).start()

    def _reap(self):
        _, status, rusage = os.wait4(self.pid, 0)
        self.exited = time.monotonic()
        self.returncode = os.waitstatus_to_exitcode(status)
        self.proc.returncode = self.returncode  # so Popen never waits for it again
        self.rusage = rusage
        self.done.set()

    def wait(self, timeout=None):
        return self.done.wait(timeout)

    def sample(self):
        """VmHWM is per address space, so it is exact for the main process
        and for each child from its exec on. (wait4's ru_maxrss is not: it
        includes the image of whatever exec'd, here this Python process.) A
        short-lived child is only seen if a sample falls in its lifetime, so
        the child figures are sampled peaks, a lower bound of the true one."""
        if self.done.is_set():
            return
        main = _read_status(self.pid, "VmHWM", "VmRSS")
        if not main:
            return
        self.main_hwm = max(self.main_hwm, main.get("VmHWM", 0))
        total = main.get("VmRSS", 0)
        for c in descendants(self.pid):
            self.forks = True
            st = _read_status(c, "VmHWM", "VmRSS")
            total += st.get("VmRSS", 0)
            self.child_hwm = max(self.child_hwm, st.get("VmHWM", 0))
        self.tree_peak = max(self.tree_peak, total)

    def kill(self):
        kill_sessions([self.pid])
        self.wait(10)
        kill_sessions([self.pid])  # anything its descendants forked meanwhile

    def error(self):
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace").strip()

    def cpu_seconds(self):
        return self.rusage.ru_utime + self.rusage.ru_stime if self.rusage else 0.0

    def footprint(self):
        """Peak RSS in KiB: (main process, largest child seen, whole tree).
        The whole tree is the larger of the sampled peak sum and main +
        largest child (a polling loop runs one check at a time)."""
        tree = max(self.tree_peak, self.main_hwm + self.child_hwm) if self.child_hwm else self.main_hwm
        return self.main_hwm, self.child_hwm, tree


def sample_while(procs, stop, every=0.01):
    """Samples the memory of procs until stop is set (run in a thread):
    every 10 ms the ones that start children (a psql in a loop lives 10-20
    ms), every 100 ms the others."""
    n = 0
    while not stop.is_set():
        for p in procs:
            if p.forks or n % 10 == 0:
                p.sample()
        n += 1
        stop.wait(every)


def summary(values):
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]
    return values[0], statistics.median(values), p95, values[-1]


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    pg = subprocess.run(["postgres", "--version"], capture_output=True, text=True).stdout.strip()
    return f"{os.cpu_count()} cores, {model}; Linux {platform.release()}; {pg}"


def cleanup():
    """Stops every tool process and cluster this run started."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    with _LOCK:
        sids = set(SESSIONS)
    kill_sessions(sids)
    for c in CLUSTERS:
        c.stop()
