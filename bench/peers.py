"""The tools people use instead of readygate, and how each is run.

Every configuration is a command template; $PORT, $URL, $DB, $TABLE,
$MIGRATION, $HTTP_URL and $HTTP_PATH are filled per run. The report shows
the templates as they are.
"""

import glob
import json
import os
import re
import shlex
import shutil
import subprocess

from lab import GATE, GATE_SHOWN, ROOT, STATIC_GATE

PEERS = os.path.join(ROOT, "target", "bench-peers")  # npm installs, pinned by bench/run
WAIT_ON = os.path.join(PEERS, "wait-on", "node_modules", ".bin", "wait-on")
WAIT_PORT = os.path.join(PEERS, "wait-port", "node_modules", ".bin", "wait-port")
WAIT_PORT_MODULES = os.path.join(PEERS, "wait-port", "node_modules")
WAIT_FOR_IT = shutil.which("wait-for-it") or "/usr/bin/wait-for-it"
NODE = shutil.which("node") or "/usr/bin/node"


def _pg_bin():
    """The real PostgreSQL client binaries. Debian's /usr/bin/psql and
    pg_isready are pg_wrapper, a Perl script that costs ~25 ms per call
    before it execs them; the official postgres image puts this directory
    on PATH instead, so the loops are measured without the wrapper."""
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]))
    for d in reversed(dirs):
        if os.path.exists(os.path.join(d, "psql")):
            return d
    return os.path.dirname(shutil.which("psql") or "/usr/bin/psql")


PG_BIN = _pg_bin()
PSQL = os.path.join(PG_BIN, "psql")
PG_ISREADY = os.path.join(PG_BIN, "pg_isready")
LOOP_ENV = dict(os.environ, PATH=PG_BIN + ":" + os.environ.get("PATH", "/usr/bin:/bin"))
NODE_ENV = dict(os.environ, NODE_PATH=WAIT_PORT_MODULES)

PROGRAMS = {"readygate": GATE, "wait-on": WAIT_ON, "wait-port": WAIT_PORT, "wait-for-it": WAIT_FOR_IT, "node": NODE}

KINDS = {
    "tcp": "TCP: a port opens",
    "http": "HTTP: an endpoint flips from 503 to 200",
    "httpup": "HTTP: the server starts listening, answering 200",
    "table": "PostgreSQL: a table is created",
    "prisma": "PostgreSQL: a Prisma migration finishes (readygate only)",
    "pgconn": "PostgreSQL: the server starts accepting connections",
}


class Tool:
    def __init__(self, kind, name, setting, template, default=False, blind=False, env=None, env_shown=""):
        self.kind, self.name, self.setting = kind, name, setting
        self.template = template
        self.default = default  # the tool at its defaults (what "no peer faster at its defaults" compares)
        self.blind = blind      # cannot see the condition (pg_isready, a port check, for a table)
        self.env = env
        self.env_shown = env_shown
        self.key = f"{kind}/{name} {setting}"
        self.label = f"{name} ({setting})" if setting else name

    @property
    def readygate(self):
        return self.name == "readygate"

    def argv(self, t):
        out = []
        for i, arg in enumerate(self.template):
            if i == 0:
                arg = PROGRAMS.get(arg, arg)
            for k in sorted(t, key=len, reverse=True):
                if not k.startswith("_"):
                    arg = arg.replace("$" + k, str(t[k]))
            out.append(arg)
        return out

    def command(self):
        return self.env_shown + " ".join(_shown(a) for a in self.template)


def _shown(arg):
    """An argument as it would be typed ($-placeholders left visible)."""
    if re.fullmatch(r"[\w@%+=:,./$-]+", arg):
        return arg
    if "'" in arg and '"' not in arg:
        return f'"{arg}"'
    return shlex.quote(arg)


def _gate(kind, *args):
    return Tool(kind, "readygate", "", ["readygate", "--timeout", "5m", "-q", *args], default=True)


def _loop(kind, name, check, sleep, blind=False):
    return Tool(kind, f"{name} loop", f"sleep {sleep}", ["bash", "-c", f"until {check}; do sleep {sleep}; done"],
                default=(sleep == "1"), blind=blind, env=LOOP_ENV)


def _wait_port_api(kind, extra):
    script = ("require('wait-port')({host:'127.0.0.1',port:$PORT," + extra +
              "interval:100,output:'silent'}).then(r=>process.exit(r.open?0:1))")
    return Tool(kind, "wait-port", "API, 100 ms", ["node", "-e", script], env=NODE_ENV,
                env_shown="NODE_PATH=target/bench-peers/wait-port/node_modules ")


PSQL_TABLE = 'psql "$URL" -Atqc "SELECT 1 FROM $TABLE LIMIT 1" >/dev/null 2>&1'
PSQL_CONN = 'psql "$URL" -Atqc "SELECT 1" >/dev/null 2>&1'
PG_ISREADY_CHECK = "pg_isready -h 127.0.0.1 -p $PORT -U postgres -d $DB -q"

TOOLS = [
    _gate("tcp", "tcp://127.0.0.1:$PORT"),
    Tool("tcp", "wait-for-it", "", ["wait-for-it", "-q", "-t", "300", "127.0.0.1:$PORT"], default=True),
    Tool("tcp", "wait-on", "default, 250 ms", ["wait-on", "tcp:127.0.0.1:$PORT"], default=True),
    Tool("tcp", "wait-on", "100 ms", ["wait-on", "-i", "100", "tcp:127.0.0.1:$PORT"]),
    Tool("tcp", "wait-port", "default, 1 s", ["wait-port", "127.0.0.1:$PORT"], default=True),
    _wait_port_api("tcp", ""),

    _gate("http", "$HTTP_URL"),
    Tool("http", "wait-on", "default, 250 ms", ["wait-on", "$HTTP_URL"], default=True),
    Tool("http", "wait-on", "100 ms", ["wait-on", "-i", "100", "$HTTP_URL"]),
    Tool("http", "wait-port", "default, 1 s", ["wait-port", "$HTTP_URL"], default=True),
    _wait_port_api("http", "protocol:'http',path:'$HTTP_PATH',"),

    _gate("httpup", "$HTTP_URL"),
    Tool("httpup", "wait-on", "default, 250 ms", ["wait-on", "$HTTP_URL"], default=True),
    Tool("httpup", "wait-on", "100 ms", ["wait-on", "-i", "100", "$HTTP_URL"]),
    Tool("httpup", "wait-port", "default, 1 s", ["wait-port", "$HTTP_URL"], default=True),
    _wait_port_api("httpup", "protocol:'http',path:'$HTTP_PATH',"),

    _gate("table", "$URL", "--table", "$TABLE"),
    _loop("table", "psql", PSQL_TABLE, "1"),
    _loop("table", "psql", PSQL_TABLE, "0.1"),
    _loop("table", "pg_isready", PG_ISREADY_CHECK, "1", blind=True),
    _loop("table", "pg_isready", PG_ISREADY_CHECK, "0.1", blind=True),
    Tool("table", "wait-for-it", "PostgreSQL's port", ["wait-for-it", "-q", "-t", "300", "127.0.0.1:$PORT"], default=True,
         blind=True),

    _gate("prisma", "$URL", "--prisma-migrations", "--migration", "$MIGRATION"),

    _gate("pgconn", "$URL"),
    _loop("pgconn", "pg_isready", PG_ISREADY_CHECK, "1"),
    _loop("pgconn", "pg_isready", PG_ISREADY_CHECK, "0.1"),
    _loop("pgconn", "psql", PSQL_CONN, "1"),
    _loop("pgconn", "psql", PSQL_CONN, "0.1"),
]


def tools(kind, blind=True):
    return [t for t in TOOLS if t.kind == kind and (blind or not t.blind)]


# The fleet: 100 of these on one server, as the non-superuser role app.
FLEET = [
    Tool("fleet", "readygate", "", ["readygate", "--timeout", "2m", "-q", "$URL", "--table", "$TABLE"], default=True),
    _loop("fleet", "psql", PSQL_TABLE, "1"),
    _loop("fleet", "psql", PSQL_TABLE, "0.1"),
]


def missing():
    return [p for p in (GATE, WAIT_ON, WAIT_PORT, WAIT_FOR_IT, NODE, PSQL, PG_ISREADY) if not os.path.exists(p)]


def _out(argv, env=None):
    try:
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def _package_json(modules, name):
    with open(os.path.join(modules, name, "package.json")) as f:
        return json.load(f)["version"]


def _dpkg(field, *packages):
    out = _out(["dpkg-query", "-W", "-f", "${Package}\t${" + field + "}\n", *packages])
    return dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)


def versions():
    """(tool, version, where it came from)."""
    deb = _dpkg("Version", "wait-for-it", "postgresql-client-15", "nodejs", "bash")
    return [
        ("readygate", _out([GATE, "--version"]), f"`readygate --version` (`{GATE_SHOWN}`)"),
        ("wait-on", _package_json(os.path.join(PEERS, "wait-on", "node_modules"), "wait-on"),
         "npm, pinned in bench/run; it has no `--version` (prints its help), so from its package.json"),
        ("wait-port", _out([WAIT_PORT, "--version"]), "npm, pinned in bench/run; `wait-port --version`"),
        ("wait-for-it", deb.get("wait-for-it", "?"), "Debian package, `dpkg-query -W wait-for-it`"),
        ("psql", _out([PSQL, "--version"]), f"`{PSQL}` (Debian postgresql-client {deb.get('postgresql-client-15', '?')})"),
        ("pg_isready", _out([PG_ISREADY, "--version"]), f"`{PG_ISREADY}`"),
        ("node", _out([NODE, "--version"]), f"`{NODE}` (Debian package nodejs {deb.get('nodejs', '?')})"),
        ("bash", _out(["bash", "--version"]).splitlines()[0] if _out(["bash", "--version"]) != "?" else "?",
         "runs wait-for-it and the loops"),
    ]


def _du(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            fp = os.path.join(dirpath, f)
            if not os.path.islink(fp):
                total += os.path.getsize(fp)
    return total


def _modules(name):
    """Size of a peer's own node_modules (installed alone, so it is its whole dependency tree)."""
    modules = os.path.join(PEERS, name, "node_modules")
    count = sum(1 for p in glob.glob(os.path.join(modules, "*", "package.json")) + glob.glob(
        os.path.join(modules, "@*", "*", "package.json")))
    return f"node_modules {_du(modules) / 1024 / 1024:.1f} MiB ({count} packages)"


def sizes():
    """What each tool costs on disk: {name: (own size text, runtime text)}."""
    kib = {k: int(v) for k, v in _dpkg("Installed-Size", "nodejs", "bash", "coreutils", "postgresql-client-15", "libpq5",
                                          "postgresql-client-common").items() if v.strip().isdigit()}
    mib = lambda b: f"{b / 1024 / 1024:.1f} MiB"  # noqa: E731
    node = os.path.getsize(os.path.realpath(NODE))
    node_pkg = kib.get("nodejs", 0) * 1024
    runtime_node = f"node: binary {mib(node)}, Debian package nodejs {mib(node_pkg)} installed"
    bash = f"bash (package {mib(kib.get('bash', 0) * 1024)} installed)"
    pg_client = sum(kib.get(p, 0) for p in ("postgresql-client-15", "libpq5", "postgresql-client-common")) * 1024
    if os.path.exists(STATIC_GATE):
        gate = (f"static (musl) binary {os.path.getsize(STATIC_GATE):,} bytes ({mib(os.path.getsize(STATIC_GATE))}); "
                f"glibc release binary {os.path.getsize(GATE):,} bytes")
    else:
        gate = f"glibc release binary {os.path.getsize(GATE):,} bytes ({mib(os.path.getsize(GATE))}); no static build found"
    return {
        "readygate": (gate, "none (static binary)" if os.path.exists(STATIC_GATE) else "glibc"),
        "wait-on": (_modules("wait-on"), runtime_node),
        "wait-port": (_modules("wait-port"), runtime_node),
        "wait-for-it": (f"script {os.path.getsize(WAIT_FOR_IT):,} bytes", bash + ", coreutils `timeout`"),
        "psql loop": (f"psql binary {os.path.getsize(PSQL):,} bytes",
                      f"{bash}; postgresql-client-15 + libpq5 + postgresql-client-common {mib(pg_client)} installed"),
        "pg_isready loop": (f"pg_isready binary {os.path.getsize(PG_ISREADY):,} bytes",
                            f"{bash}; postgresql-client-15 + libpq5 + postgresql-client-common {mib(pg_client)} installed"),
    }


def static_size():
    """(bytes, which binary) for the size target."""
    if os.path.exists(STATIC_GATE):
        return os.path.getsize(STATIC_GATE), "static musl binary"
    return os.path.getsize(GATE), "glibc release binary (no static build found)"
