"""BENCHMARKS.md from the results of bench.py."""

import datetime
import os

import peers
from lab import GATE_SHOWN, ROOT, summary

SIDECAR = "\n## Sidecar (`--serve`) footprint"


def _ms(v):
    return f"{v * 1000:.0f}"


def _mib(kib):
    return f"{kib / 1024:.1f}"


def _ratio(ours, theirs):
    if ours is None or theirs is None or theirs <= 0 or ours < 0:
        return "n/a"
    r = ours / theirs
    return f"{r:.2f}" if r >= 0.1 else f"{r:.3f}"


def _mark(ok):
    return "**met**" if ok else "**MISSED**"


class Stats:
    """Outcomes of one tool configuration: the successful values and counts."""

    def __init__(self, outcomes):
        self.n = len(outcomes)
        ok = [o for o in outcomes if o.ok]
        self.failed = self.n - len(ok)
        self.early = sum(1 for o in ok if o.early)
        self.values = [o.value for o in ok]
        self.errors = sorted({o.error.splitlines()[-1] for o in outcomes if not o.ok and o.error})
        self.summary = summary(self.values) if self.values else None

    @property
    def median(self):
        return self.summary[1] if self.summary else None

    @property
    def p95(self):
        return self.summary[2] if self.summary else None

    def cells(self):
        return " | ".join(_ms(v) for v in self.summary) if self.summary else "- | - | - | -"


class Report:
    def __init__(self, r, sections):
        self.r, self.sections = r, sections
        self.lines = []
        self.targets = []  # (what, readygate's value, met)

    def add(self, *lines):
        self.lines += lines

    def target(self, what, value, ok):
        self.targets.append((what, value, ok))
        return f"{what}: {_mark(ok)}"

    def table(self, header, rows):
        self.add("| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows), "")


def _tools(kind, outcomes):
    """The tool configurations of a kind that have outcomes, readygate first."""
    return [t for t in peers.TOOLS if t.kind == kind and t.key in outcomes]


# Kinds whose every attempt costs the other side an answer: after the first
# seconds readygate asks them at most twice a second (the load targets), so at
# long waits a peer polling faster can see them sooner.
GENTLE = {
    "http": "an endpoint that answers 503 is asked at most twice a second after the first 10 s "
            "(the load target below), where wait-on's fixed 250 ms asks 4 times; "
            "`--interval 250ms` makes readygate ask as often. A server that is not listening yet costs "
            "nothing to ask, and is asked every 80 ms at any wait length: see the next table",
    "table": "every attempt is a query on the server",
    "prisma": "every attempt is a query on the server",
    "pgconn": "every attempt is a login on the server",
}


def _lag_section(rep, data, late=False):
    r = rep.r
    for kind, label in peers.KINDS.items():
        outcomes = data.get(kind) if not late else {k: v for k, v in data.items() if k.startswith(kind + "/")}
        if not outcomes:
            continue
        tools = _tools(kind, outcomes)
        stats = {t.key: Stats(outcomes[t.key]) for t in tools}
        gate = next(t for t in tools if t.readygate)
        g = stats[gate.key]
        rep.add(f"### {label}", "")
        rows = []
        for t in tools:
            s = stats[t.key]
            if t.readygate:
                if late:
                    tgt = rep.target(f"ready after {r['late_after']:.0f} s, {kind}: p95 <= 1000 ms",
                                     f"p95 {_ms(g.p95)} ms" if g.summary else "no result",
                                     g.summary is not None and g.p95 <= 1.0 and g.failed == 0 and g.early == 0)
                else:
                    a = rep.target(f"ready within 2 s, {kind}: median <= 60 ms", f"{_ms(g.median)} ms" if g.summary else "-",
                                   g.summary is not None and g.median <= 0.060 and g.failed == 0 and g.early == 0)
                    b = rep.target(f"ready within 2 s, {kind}: p95 <= 120 ms", f"{_ms(g.p95)} ms" if g.summary else "-",
                                   g.summary is not None and g.p95 <= 0.120 and g.failed == 0 and g.early == 0)
                    tgt = f"median <= 60 {a.split(': ')[-1]}, p95 <= 120 {b.split(': ')[-1]}"
                ratio = "1"
            else:
                tgt = ""
                ratio = _ratio(g.median, s.median) if s.early == 0 else "n/a"
            early = f"{s.early}/{s.n - s.failed}" if s.early else "0"
            rows.append([t.label, str(s.n), early, str(s.failed), s.cells(), ratio, tgt])
        rep.table(["tool", "runs" if not late else "instances", "exited before ready", "failed", "min", "median", "p95", "max",
                   "readygate ÷ this (median)", "target (readygate)"], rows)
        notes = []
        for t in tools:
            s = stats[t.key]
            if t.blind and s.early:
                what = {"table": "the table exists"}.get(kind, "it is ready")
                notes.append(f"- {t.label} exits before {what} in {s.early}/{s.n - s.failed} runs "
                             f"(median {_ms(-s.median)} ms before): it cannot see a table, so it declares ready too early.")
            elif s.early:
                notes.append(f"- {t.label} exited before ready in {s.early} runs: a false ready.")
            if s.errors:
                notes.append(f"- {t.label} failed {s.failed} times: {'; '.join(s.errors[:2])}")
        defaults = [t for t in tools if t.default and not t.blind and not t.readygate and stats[t.key].summary]
        if defaults and g.summary:
            fastest = min(defaults, key=lambda t: stats[t.key].median)
            shown = (f"readygate {_ms(g.median)} ms; fastest peer at its defaults: {fastest.label} "
                     f"{_ms(stats[fastest.key].median)} ms")
            if not late:
                rep.target(f"no peer faster at its defaults, {kind}", shown, stats[fastest.key].median >= g.median)
            elif kind in GENTLE:
                notes.append(f"- Not a target, by design: {GENTLE[kind]} ({shown}.)")
            else:
                rep.target(f"no peer faster at its defaults, ready after {r['late_after']:.0f} s, {kind}", shown,
                           stats[fastest.key].median >= g.median)
        if not late:
            quicker = [t for t in tools if not t.readygate and not t.default and not t.blind and stats[t.key].summary
                       and g.summary and stats[t.key].median < g.median]
            for t in quicker:
                notes.append(f"- faster than readygate at a non-default setting: {t.label}, median "
                             f"{_ms(stats[t.key].median)} ms.")
        if notes:
            rep.add(*notes, "")


def _exit_section(rep):
    limits = {"tcp": 0.010, "http": 0.010, "table": 0.015}
    for kind, label in peers.KINDS.items():
        outcomes = rep.r["exit"].get(kind)
        if not outcomes:
            continue
        tools = _tools(kind, outcomes)
        stats = {t.key: Stats(outcomes[t.key]) for t in tools}
        g = stats[next(t for t in tools if t.readygate).key]
        rows = []
        for t in tools:
            s = stats[t.key]
            tgt = ""
            if t.readygate and kind in limits:
                tgt = rep.target(f"ready exit, {kind}: median <= {limits[kind] * 1000:.0f} ms",
                                 f"{_ms(g.median)} ms" if g.summary else "-",
                                 g.summary is not None and g.median <= limits[kind] and g.failed == 0)
                tgt = f"median <= {limits[kind] * 1000:.0f}: {tgt.split(': ')[-1]}"
            rows.append([t.label, str(s.n), str(s.failed), s.cells(), "1" if t.readygate else _ratio(g.median, s.median), tgt])
        rep.add(f"### {label}", "")
        rep.table(["tool", "runs", "failed", "min", "median", "p95", "max", "readygate ÷ this (median)", "target (readygate)"],
                  rows)


def _footprint_section(rep):
    r = rep.r
    load = r["load"]
    gate_rss = 0
    rows = []
    for kind, label in peers.KINDS.items():
        tools = [t for t in peers.TOOLS if t.kind == kind and t.key in load]
        if not tools:
            continue
        g = next(load[t.key] for t in tools if t.readygate)
        for t in tools:
            x = load[t.key]
            main, child, tree = x.footprint
            if t.readygate:
                gate_rss = max(gate_rss, main)
            note = "" if x.gone is None else f" (exited {x.gone} by itself)"
            rows.append([kind, t.label + note, _mib(main), _mib(child) if child else "-", _mib(tree),
                         "1" if t.readygate else _ratio(g.footprint[2], tree), f"{x.cpu:.2f}"])
    rep.table(["kind", "tool", "main process peak RSS, MiB", "largest child, MiB", "whole tree, MiB",
               "readygate ÷ this (whole tree)", f"CPU over the {r['load_seconds']:.0f} s, % of a core"], rows)
    rep.add(rep.target("peak RSS of a waiting gate <= 6 MiB", f"{gate_rss / 1024:.1f} MiB", gate_rss <= 6 * 1024), "")
    return gate_rss


def _load_section(rep):
    r = rep.r
    load = r["load"]
    secs = r["load_seconds"]
    rows = []
    for kind in ("table", "prisma"):
        for t in [t for t in peers.TOOLS if t.kind == kind and t.key in load]:
            x = load[t.key]
            tgt = ""
            if t.readygate:
                a = rep.target(f"load over {secs:.0f} s, {kind}: <= 2 queries/s", f"{x.xacts:.2f}/s", x.xacts <= 2)
                b = rep.target(f"load over {secs:.0f} s, {kind}: one connection per gate", f"{x.connections}",
                               x.connections == 1)
                tgt = f"<= 2/s {a.split(': ')[-1]}; one connection {b.split(': ')[-1]}"
            rows.append([kind, t.label, f"{x.xacts:.2f}", str(x.connections), f"{x.connections / x.seconds:.2f}", tgt])
    rep.table(["kind", "tool", "transactions/s (pg_stat_database)", f"connections opened in {secs:.0f} s (server log)",
               "connections/s", "target (readygate)"], rows)
    rows = []
    for t in [t for t in peers.TOOLS if t.kind == "http" and t.key in load]:
        x = load[t.key]
        tgt = ""
        if t.readygate:
            tgt = rep.target(f"load over {secs:.0f} s, http: <= 2 requests/s", f"{x.http:.2f}/s", x.http <= 2)
            tgt = f"<= 2/s: {tgt.split(': ')[-1]}"
        rows.append([t.label, f"{x.http:.2f}", tgt])
    rep.table(["tool", "HTTP requests/s to a 503 endpoint", "target (readygate)"], rows)


def _fleet_section(rep):
    r = rep.r
    rows = []
    for tool, f in r["fleet"]:
        s = summary(f.lags) if f.lags else None
        mig = (f"yes, try {f.attempts}" if f.connected else f"**no** ({f.attempts} tries in 1 s)")
        rows.append([tool.label, f"{len(f.exit0)}/{f.gates}", str(len(f.nonzero)), str(f.no_exit), str(f.early), mig,
                     str(f.peak_waiting), str(f.at_create), str(f.opened), f"{f.rate_waiting:.2f}", str(f.refused), f"{f.server_cpu_waiting:.0f}",
                     f"{f.client_cpu:.1f}",
                     " / ".join(_ms(v) for v in s) if s else "-"])
        if tool.readygate:
            rep.target("fleet: the migration client connects (first try)",
                       f"{'connected on try ' + str(f.attempts) if f.connected else 'did not connect'}",
                       f.connected and f.attempts == 1)
            rep.target("fleet: every gate exits 0 within 1 s of the table appearing",
                       f"{len(f.exit0)}/{f.gates} exited 0, slowest {_ms(s[3])} ms" if s else f"{len(f.exit0)}/{f.gates} exited 0",
                       len(f.exit0) == f.gates and s is not None and s[3] <= 1.0 and f.early == 0)
    rep.table(["tool x 100", "exited 0", "exited non-zero", "still waiting 30 s after the table", "exited before the table",
               "migration client connected", "peak app connections while waiting", "app connections when the table was created",
               "connections opened (server log)", "per gate per second while waiting", "connections refused (server log)", "server CPU while waiting, % of a core", "the 100 processes' own CPU, s",
               "exit after the table: min / median / p95 / max, ms"], rows)
    notes = []
    for tool, f in r["fleet"]:
        if f.migration_errors:
            notes.append(f"- {tool.label}: the migration client was refused: {f.migration_errors[0].splitlines()[-1]}")
        if f.errors:
            notes.append(f"- {tool.label}: gates that exited non-zero said: {'; '.join(f.errors)}")
        notes.append(f"- {tool.label}: launching the 100 processes took {f.launch_seconds:.1f} s; the table was created "
                     f"{f.created_after:.1f} s after the first started" if f.created_after else
                     f"- {tool.label}: launching took {f.launch_seconds:.1f} s; no table was created")
    rep.add(*notes, "")


def render(r, sections):
    rep = Report(r, sections)
    cmd = "bench/run --quick" if r["quick"] else "bench/run"
    static_bytes, static_what = r["static"]
    body = Report(r, sections)  # the sections, rendered first so that the targets are known for the summary
    b = body

    b.add("## Tools, versions and command lines", "")
    b.table(["tool", "version", "source"], [[n, f"`{v}`", s] for n, v, s in r["versions"]])
    b.add("Each configuration, exactly as run (`$PORT`, `$URL`, `$DB`, `$TABLE`, `$MIGRATION`, `$HTTP_URL`, "
          f"`$HTTP_PATH` filled per run; `readygate` is `{GATE_SHOWN}`, `wait-on` and `wait-port` are "
          "`target/bench-peers/*/node_modules/.bin/*`, run directly, not through npx):", "")
    b.table(["kind", "configuration", "command"],
            [[t.kind, t.label + (" (cannot see the table)" if t.blind else ""), f"`{t.command()}`"]
             for t in peers.TOOLS + peers.FLEET])
    b.add("What each one checks:", "",
          "- readygate: see README (TCP connect; HTTP GET status 200-299; PostgreSQL login, not in recovery, every `--table` "
          "exists; `--prisma-migrations --migration NAME`: that migration finished). Adaptive schedule: every 80 ms for 2 s, "
          "slowing to every 900 ms by the 10th second; no fast setting, so one configuration.",
          "- wait-for-it: bash `echo > /dev/tcp/HOST/PORT`, then `sleep 1`; no interval option. With `-t` (needed for waits "
          "over its default 15 s) it re-runs itself under coreutils `timeout`: three processes.",
          "- wait-on: `tcp:` a TCP connect (300 ms connect timeout); `http://` a **HEAD** request answering 2xx "
          "(`http-get://` would send GET); `-i` sets the interval (default 250 ms).",
          "- wait-port: a TCP connect; for `http://HOST:PORT/PATH` it writes a raw `GET PATH HTTP/1.1` and succeeds when "
          "the status line of the first chunk it reads starts with 2. Its command line has no interval option (fixed 1 s); "
          "the 100 ms rows use its Node API's `interval` through `node -e`.",
          "- pg_isready loop: the server accepts connections (`pg_isready` cannot ask for a table).",
          "- psql loop: `SELECT 1 FROM table LIMIT 1` succeeds (`SELECT 1` for \"accepting connections\"). The loops run the "
          f"real client binaries in `{peers.PG_BIN}`, as the official postgres image has them on PATH: Debian's "
          "`/usr/bin/psql` and `pg_isready` are pg_wrapper, a Perl script that adds about 25 ms to every call.",
          "")

    if "lag" in sections:
        b.add(f"## Detection lag, ready 0.5-2 s after start ({r['runs']} runs per configuration)", "",
              "The tool starts while the dependency is not ready; at a random moment 0.5-2 s after its start the "
              "dependency becomes ready; lag = tool exit - ready moment (for PostgreSQL the moment the `CREATE TABLE` "
              "or migration row was sent, so an upper bound; \"accepting connections\" is a forwarder to a running "
              "server that starts listening at the ready moment). One tool process at a time, the order shuffled in "
              "every round. A tool that exits 0 before the ready moment \"exited before ready\": its lag is negative. "
              "Times in ms.", "")
        _lag_section(b, r["lag"])
    if "late" in sections:
        b.add(f"## Detection lag, ready {r['late_after']:.0f}-{r['late_after'] + 1:.0f} s after start", "",
              f"All configurations of a group (TCP and HTTP; then the PostgreSQL kinds) at once: {r['late_gates']} "
              f"readygate processes per kind, {r['late_peers']} of every other configuration, each with its own port, "
              f"path, table or migration, each made ready {r['late_after']:.0f} s (+0-1 s) after its own start. "
              "Tools that cannot see the condition are left out here. Times in ms.", "",
              "What a waiting gate costs the other side decides how often readygate asks after the first seconds: "
              "a connect that nothing accepts (a closed port, an HTTP server not listening yet) costs nothing, "
              "and is retried every 80 ms at any wait length (12.5 refused connects a second); an answer (an HTTP "
              "503, a query) slows down to at most 2 a second, measured under \"Load\" below.", "")
        _lag_section(b, r["late"], late=True)
    if "exit" in sections:
        b.add(f"## Ready exit: everything already ready, start to exit 0 ({r['runs']} runs each)", "",
              "Process start (before fork) to exit, interleaved like the lag runs. The interval does not matter here "
              "(the first check passes), so each tool runs at its defaults. Node's start-up is part of the cost. "
              "Times in ms.", "")
        _exit_section(b)
    if "load" in sections:
        b.add(f"## Footprint while waiting ({r['load_seconds']:.0f} s, all configurations at once)", "",
              "Every configuration waits for something that never comes (a closed port, a 503 path, a missing table "
              "or migration, a PostgreSQL port nobody listens on). Main process peak RSS: VmHWM. Largest child: the "
              "largest VmHWM seen among the processes it started (the psql or pg_isready of a "
              "loop, wait-for-it's `timeout`, second bash and `sleep`), sampled every 10 ms: a check that lives 10-20 "
              "ms is caught often but not at every moment of its life, so this is a lower bound. Whole tree: the larger of the sampled peak sum of VmRSS over the process tree and main + "
              "largest child (a loop runs one check at a time). CPU: the process and its reaped children over the "
              "window, start-up included.", "")
        _footprint_section(b)
        b.add("On disk:", "")
        b.table(["tool", "itself", "what it needs to run"], [[k, a, c] for k, (a, c) in r["sizes"].items()])
        b.add(b.target("static binary <= 8 MiB", f"{static_bytes:,} bytes ({static_what})", static_bytes <= 8 * 1024 * 1024),
              "")
        b.add(f"## Load while waiting {r['load_seconds']:.0f} s", "",
              "From the same window: every PostgreSQL configuration in a database of its own (transactions from "
              "`pg_stat_database.xact_commit + xact_rollback`, connections from the server log with `log_connections=on`), "
              "every HTTP configuration on a path of its own on the test server, which counts GET and HEAD requests.", "")
        _load_section(b)
    if "fleet" in sections:
        b.add(f"## Fleet: {r['fleet_gates']} gates on one PostgreSQL with max_connections = 100", "",
              "A separate cluster at PostgreSQL's defaults (max_connections = 100, superuser_reserved_connections = 3, "
              "so 97 slots for other roles); every gate and the migration client connect as the non-superuser role "
              f"`app`. {r['fleet_gates']} copies of a configuration start; {r['fleet_after']:.0f} s after the last one "
              "started, a migration client (psql) connects, retrying a refused connection at most 5 times within 1 s, "
              "and creates the table. App connections are counted every 100 ms from the backends' process titles in "
              "/proc (so the counting takes no slot). Server CPU: postmaster utime+stime+cutime+cstime plus its live "
              "children's utime+stime, from /proc, over the wait before the table. Exit times are measured from the "
              "moment the `CREATE TABLE` was sent.", "")
        _fleet_section(b)

    # Now the page: header, summary, targets, then the sections.
    rep.add("# readygate benchmarks: readygate and the tools people use instead", "",
            f"Generated by `{cmd}` on {datetime.date.today().isoformat()} in {r.get('minutes', 0):.0f} minutes; "
            "do not edit by hand (bench/sidecar appends the last section).",
            f"Machine: {r['machine']}.", "")
    if r["quick"]:
        rep.add(f"**Quick run**: {r['runs']} runs per configuration, long waits of {r['late_after']:.0f} s, a "
                f"{r['load_seconds']:.0f} s load window; the numbers are indicative only.", "")
    rep.add("All servers are real and on loopback. Ratios are readygate's value divided by the other tool's: "
            "below 1, readygate is faster or smaller.", "")
    rep.add("## Targets", "")
    rep.table(["target", "readygate", ""], [[w, v, _mark(ok)] for w, v, ok in body.targets])
    rep.add(*body.lines)
    rep.add("## Headline numbers", "", *headline(r, sections).splitlines()[1:], "")
    return "\n".join(rep.lines).rstrip("\n") + "\n"


def _med(stats_outcomes):
    s = Stats(stats_outcomes)
    return s.median


def headline(r, sections):
    out = ["Headline numbers for the README:"]
    lag = r.get("lag")
    if lag:
        for kind, label in (("tcp", "TCP port"), ("http", "HTTP 503->200"), ("table", "PostgreSQL table")):
            parts = []
            for t in peers.tools(kind):
                if t.key not in lag[kind]:
                    continue
                s = Stats(lag[kind][t.key])
                if t.blind:
                    parts.append(f"{t.label} exits before the table exists in {s.early}/{s.n - s.failed} runs")
                elif s.summary:
                    parts.append(f"{t.label} {_ms(s.median)}")
            out.append(f"- Detection lag, {label} ready 0.5-2 s after start, median ms: " + "; ".join(parts))
    ex = r.get("exit")
    if ex:
        parts = []
        for kind in ("tcp", "table"):
            for t in peers.tools(kind, blind=False):
                if t.key in ex.get(kind, {}):
                    parts.append(f"{t.label} ({kind}) {_ms(_med(ex[kind][t.key]))}")
        out.append("- Ready exit (already ready), median ms: " + "; ".join(parts))
    load = r.get("load")
    if load:
        parts = []
        for kind in ("tcp", "table"):
            for t in peers.tools(kind, blind=False):
                if t.key in load and t.default:
                    parts.append(f"{t.label} ({kind}) {_mib(load[t.key].footprint[2])}")
        out.append("- Peak RSS while waiting, whole process tree, MiB: " + "; ".join(parts))
        parts = []
        for t in peers.tools("table", blind=False):
            if t.key in load:
                x = load[t.key]
                parts.append(f"{t.label} {x.xacts:.2f} transactions/s, {x.connections} connections in "
                             f"{x.seconds:.0f} s")
        out.append("- Waiting for a missing table: " + "; ".join(parts))
    fl = r.get("fleet")
    if fl:
        parts = []
        for tool, f in fl:
            s = summary(f.lags) if f.lags else None
            parts.append(f"{tool.label}: {len(f.exit0)}/{f.gates} exited 0"
                         + (f", slowest {_ms(s[3])} ms after the table" if s else "")
                         + f", peak {f.peak_waiting} connections while waiting, migration client "
                         + (f"connected on try {f.attempts}" if f.connected else "**refused**"))
        out.append(f"- {r['fleet_gates']} gates, max_connections=100: " + "; ".join(parts))
    return "\n".join(out)


def write(text):
    path = os.path.join(ROOT, "BENCHMARKS.md")
    kept = ""
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
        if SIDECAR in old:
            kept = old[old.index(SIDECAR):]
    with open(path, "w") as f:
        f.write(text + kept)
