"""readygate side by side with the tools people use instead.

Detection lag, ready exit, long waits, load, footprint and a fleet of 100
gates on one PostgreSQL, for readygate, wait-for-it, wait-on, wait-port and
pg_isready / psql loops, against real servers on loopback; rewrites
BENCHMARKS.md (keeping the sidecar section that bench/sidecar appends).

Usage: bench/bench.py [--quick] [--only lag,exit,late,load,fleet] [--runs N]
(--only and --runs are for development: they print but do not write the report).
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# bench/sidecar.py imports these from here.
from lab import GATE, ROOT, Postgres, Web, free_port, machine  # noqa: E402,F401


def _arg(name, default=None):
    if name in sys.argv:
        i = sys.argv.index(name)
        if i + 1 < len(sys.argv):
            return sys.argv[i + 1]
        raise SystemExit(f"{name} needs a value")
    return default


QUICK = "--quick" in sys.argv
RUNS = int(_arg("--runs", 8 if QUICK else 30))
LATE_AFTER = 20.0 if QUICK else 60.0
LATE_GATES = 4 if QUICK else 10   # readygate instances per kind in the long waits
LATE_PEERS = 2 if QUICK else 5    # instances of every other configuration
LOAD_SECONDS = 60.0  # in quick runs too: readygate polls fast for its first seconds, so a shorter window is not comparable
FLEET_GATES = 100
FLEET_AFTER = 10.0
SECTIONS = ["lag", "exit", "late", "load", "fleet"]


def main():
    import lab
    import measure
    import peers
    import report
    from measure import log

    only = _arg("--only")
    sections = only.split(",") if only else SECTIONS
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"--only: unknown section(s) {', '.join(sorted(unknown))}; know {', '.join(SECTIONS)}")
    missing = peers.missing()
    if missing:
        raise SystemExit("missing: " + ", ".join(missing) + " (bench/run builds readygate and installs the peers)")

    started = time.monotonic()
    results = {"runs": RUNS, "late_after": LATE_AFTER, "late_gates": LATE_GATES, "late_peers": LATE_PEERS,
               "load_seconds": LOAD_SECONDS, "fleet_gates": FLEET_GATES, "fleet_after": FLEET_AFTER, "quick": QUICK}
    results["versions"] = peers.versions()
    results["sizes"] = peers.sizes()
    results["static"] = peers.static_size()
    results["machine"] = machine()
    kinds_order = list(peers.KINDS)
    kinds = {}
    pg = web = None
    try:
        pg, web = Postgres(), Web()
        kinds = {"tcp": measure.TcpKind(), "http": measure.HttpKind(web), "httpup": measure.HttpUpKind(),
                 "table": measure.TableKind(pg, "bench"),
                 "prisma": measure.PrismaKind(pg, "bench_prisma"), "pgconn": measure.PgConnKind(pg)}
        if "lag" in sections:
            results["lag"] = {}
            for k in kinds_order:
                tools = peers.tools(k)
                log(f"detection lag, {k}: {len(tools)} configurations x {RUNS} runs, ready 0.5-2 s after start")
                results["lag"][k] = measure.lag(kinds[k], tools, RUNS)
        if "exit" in sections:
            results["exit"] = {}
            for k in kinds_order:
                tools = [t for t in peers.tools(k, blind=False) if t.default]
                log(f"ready exit, {k}: {len(tools)} tools x {RUNS} runs")
                results["exit"][k] = measure.ready_exit(kinds[k], tools, RUNS)
        if "late" in sections:
            results["late"] = {}
            for group in (["tcp", "http", "httpup"], ["table", "prisma", "pgconn"]):
                specs = [(kinds[k], t, LATE_GATES if t.readygate else LATE_PEERS) for k in group
                         for t in peers.tools(k, blind=False)]
                log(f"long wait, {'+'.join(group)}: {sum(n for _, _, n in specs)} processes at once, "
                    f"ready {LATE_AFTER:.0f}-{LATE_AFTER + 1:.0f} s after start")
                results["late"].update(measure.late(specs, LATE_AFTER))
        if "load" in sections:
            specs = []
            for i, t in enumerate(t for k in kinds_order for t in peers.tools(k, blind=False)):
                db = None
                if t.kind in ("table", "prisma"):
                    db = f"load_{i}"
                    pg.sql(f"CREATE DATABASE {db}", db="postgres")
                    if t.kind == "prisma":
                        pg.prisma_schema(db)
                specs.append((kinds[t.kind], t, db))
            log(f"load and footprint: {len(specs)} processes waiting {LOAD_SECONDS:.0f} s for what never comes")
            results["load"] = measure.load(specs, pg, web, LOAD_SECONDS)
        for kind in kinds.values():
            kind.close()
        kinds = {}
        pg.stop()
        if "fleet" in sections:
            log(f"fleet: {FLEET_GATES} gates as a non-superuser role on a server with max_connections=100, "
                f"the table created {FLEET_AFTER:.0f} s after they started")
            fpg = measure.fleet_cluster()
            results["fleet"] = []
            for n, tool in enumerate(peers.FLEET):
                log(f"fleet: {tool.label}")
                results["fleet"].append((tool, measure.fleet(fpg, tool, FLEET_GATES, FLEET_AFTER, n)))
            fpg.stop()
    finally:
        for kind in kinds.values():
            try:
                kind.close()
            except Exception:
                pass
        lab.cleanup()
    results["minutes"] = (time.monotonic() - started) / 60
    log(f"done in {results['minutes']:.1f} min")
    text = report.render(results, sections)
    if sections == SECTIONS and "--runs" not in sys.argv:
        report.write(text)
    print(text)
    print(report.headline(results, sections))


if __name__ == "__main__":
    import signal
    # Stopped by a signal: still run the cleanup in main()'s finally.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(1))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored (`cmd &`)
    main()
