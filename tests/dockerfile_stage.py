#!/usr/bin/env python3
"""Runs the Dockerfile's `compiled` stage here, step by step, for arm64.

No base image is reachable from this machine, so BuildKit cannot run the
stage; this does what it would: the build context filtered by
.dockerignore, WORKDIR, ARG TARGETARCH, COPY and RUN in order, in an empty
directory standing for the image. The apt-get step is not run (it would
empty the host's package lists); the packages it names must be installed
here, and are installed when missing. Then it checks what the issue asks of
the stage:

- it cross-compiles: the binary is a static aarch64 executable that runs
  under qemu-aarch64-static and prints `readygate <version>`;
- its dependency layer survives source edits: the RUN after `COPY src`
  rebuilds the crate and no dependency (every dependency's .rlib is
  untouched).

Usage: tests/dockerfile_stage.py (from the repository root or anywhere)."""

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCH = "arm64"
TRIPLE = "aarch64-unknown-linux-musl"


def fail(message):
    print(f"dockerfile_stage: {message}", file=sys.stderr)
    sys.exit(1)


def instructions(path):
    """The Dockerfile's instructions as (keyword, rest), continuations joined."""
    out, pending = [], ""
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if line.lstrip().startswith("#"):
                continue
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            whole = (pending + line).strip()
            pending = ""
            keyword, _, rest = whole.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def ignored(rel, patterns):
    """Whether .dockerignore leaves `rel` out of the context (last match wins)."""
    out = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        p = pattern[1:] if negate else pattern
        p = p.strip("/")
        if fnmatch.fnmatch(rel, p) or rel.startswith(p + "/"):
            out = not negate
    return out


def stage(steps, name):
    start = next((i for i, (k, r) in enumerate(steps) if k == "FROM" and r.endswith(f"AS {name}")), None)
    if start is None:
        fail(f"the Dockerfile has no stage named {name}")
    end = next((i for i in range(start + 1, len(steps)) if steps[i][0] == "FROM"), len(steps))
    if "--platform=$BUILDPLATFORM" not in steps[start][1]:
        fail(f"the {name} stage does not run on the build platform (FROM --platform=$BUILDPLATFORM)")
    return steps[start + 1:end]


def rlibs(target_dir):
    deps = os.path.join(target_dir, TRIPLE, "release", "deps")
    if not os.path.isdir(deps):
        return {}
    return {
        n: os.stat(os.path.join(deps, n)).st_mtime_ns
        for n in os.listdir(deps)
        if n.endswith(".rlib") and not n.startswith("libreadygate")
    }


def apt_packages(command):
    words = shlex.split(command.split("install", 1)[1].split("&&")[0].split(">")[0])
    return [w for w in words if not w.startswith("-")]


def main():
    with open(os.path.join(ROOT, ".dockerignore")) as f:
        patterns = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    steps = stage(instructions(os.path.join(ROOT, "Dockerfile")), "compiled")
    image = tempfile.mkdtemp(prefix="readygate-dockerfile-")
    env = dict(os.environ)
    cwd = image
    before = None
    runs = 0
    try:
        for keyword, rest in steps:
            if keyword == "ARG":
                name = rest.split("=")[0]
                if name != "TARGETARCH":
                    fail(f"unexpected ARG {rest}")
                env["TARGETARCH"] = ARCH
            elif keyword == "WORKDIR":
                cwd = os.path.join(image, rest.lstrip("/"))
                os.makedirs(cwd, exist_ok=True)
            elif keyword == "COPY":
                *sources, dest = rest.split()
                to = os.path.join(cwd, dest)
                for source in sources:
                    rel = os.path.normpath(source)
                    if ignored(rel, patterns):
                        fail(f"COPY {source}: .dockerignore leaves it out of the context")
                    src = os.path.join(ROOT, rel)
                    if not os.path.exists(src):
                        fail(f"COPY {source}: no such file in the repository")
                    if os.path.isdir(src):
                        shutil.copytree(src, to, dirs_exist_ok=True,
                                        ignore=lambda d, names: [n for n in names if ignored(os.path.relpath(os.path.join(d, n), ROOT), patterns)])
                    else:
                        target = os.path.join(to, os.path.basename(source)) if dest.endswith("/") else to
                        os.makedirs(os.path.dirname(target), exist_ok=True)
                        shutil.copy2(src, target)
            elif keyword == "RUN" and rest.startswith("apt-get update"):
                missing = [p for p in apt_packages(rest)
                           if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]
                if missing:
                    subprocess.run(["apt-get", "update", "-qq"], check=True)
                    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True,
                                   env=dict(env, DEBIAN_FRONTEND="noninteractive"))
            elif keyword == "RUN":
                runs += 1
                ran = subprocess.run(["bash", "-euo", "pipefail", "-c", rest], cwd=cwd, env=env, stdin=subprocess.DEVNULL)
                if ran.returncode != 0:
                    fail(f"RUN #{runs} failed (exit {ran.returncode}): {rest[:120]}")
                if runs == 1:
                    before = rlibs(os.path.join(cwd, "target"))
                    if not before:
                        fail("the first RUN built no dependency for the target: not a dependency layer")
            else:
                fail(f"unexpected {keyword} in the compiled stage")
        after = rlibs(os.path.join(cwd, "target"))
        rebuilt = sorted(n for n in before if after.get(n) != before[n])
        if rebuilt:
            fail(f"the RUN after COPY src rebuilt dependencies: {rebuilt[:5]}")
        binary = os.path.join(cwd, "out", "readygate")
        if not os.path.exists(os.path.join(cwd, "out", "ca-certificates.crt")):
            fail("the stage's out/ lacks ca-certificates.crt")
        kind = subprocess.run(["file", binary], capture_output=True, text=True).stdout
        if "ARM aarch64" not in kind or "statically linked" not in kind:
            fail(f"out/readygate is not a static aarch64 executable: {kind.strip()}")
        with open(os.path.join(ROOT, "Cargo.toml")) as f:
            version = re.search(r'^version = "(.*)"$', f.read(), re.M).group(1)
        said = subprocess.run(["qemu-aarch64-static", binary, "--version"], capture_output=True, text=True).stdout.strip()
        if said != f"readygate {version}":
            fail(f"out/readygate --version under qemu printed {said!r}, want 'readygate {version}'")
        print(f"dockerfile_stage: ok (TARGETARCH={ARCH}: {os.path.getsize(binary)} bytes, "
              f"{len(before)} dependencies built once and reused, {said})")
    finally:
        shutil.rmtree(image, ignore_errors=True)


main()
