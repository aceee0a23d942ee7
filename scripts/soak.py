#!/usr/bin/env python3
"""A kill -9 soak of `bosun serve` (issue 14): exactly once, all the way down.

It makes a throwaway workspace with HOSTS local hosts, submits OPS ops
(each on 1-3 random hosts; three steps per host: `prepare` and `verify`
idempotent, `apply` not; each sleeping 0-SLEEP_MS ms and logging its start
and end to a side-effect log outside the workspace), approves them, then
runs `bosun serve` and kills it with SIGKILL at random moments, KILLS times,
restarting it each time, and lets the last one finish. Then it reads the
side-effect log and the store and prints:

- lost ops: submitted ops not ended (succeeded, failed or needs_attention);
- finished steps re-run: a step that started again after it had ended;
- non-idempotent doubles: `apply` started more than once for one op/host;
- overlaps: two steps on one host running at the same time (any ops);
- unknown outcomes, and how many interrupted steps were recovered from
  their record (`step.recovered` ledger entries);
- `bosun ledger verify`.

Also: steps that logged a start and no end (a step killed, which the soak
never does), steps left `started` in the store, and ops by state.

Exit status 1 when any count but the unknown and recovered ones is not 0,
or the ledger does not verify. Usage: scripts/soak.sh [--ops N] [--kills N] [--hosts N]
[--sleep-ms N] [--seed N] [--bosun PATH] [--keep]."""

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

RUNBOOK = """
id = "soak"
description = "three steps per host, logging to a side-effect log"
[params.tag]
type = "string"
required = true
[params.log]
type = "string"
required = true
[params.a]
type = "string"
default = "0"
[params.b]
type = "string"
default = "0"
[params.c]
type = "string"
default = "0"
[[steps]]
id = "prepare"
idempotent = true
cmd = "echo start {{ params.tag }} prepare {{ host.name }} $(date +%s%N) >> {{ params.log }}; sleep {{ params.a }}; echo end {{ params.tag }} prepare {{ host.name }} $(date +%s%N) >> {{ params.log }}"
[[steps]]
id = "apply"
idempotent = false
cmd = "echo start {{ params.tag }} apply {{ host.name }} $(date +%s%N) >> {{ params.log }}; sleep {{ params.b }}; echo end {{ params.tag }} apply {{ host.name }} $(date +%s%N) >> {{ params.log }}"
[[steps]]
id = "verify"
idempotent = true
cmd = "echo start {{ params.tag }} verify {{ host.name }} $(date +%s%N) >> {{ params.log }}; sleep {{ params.c }}; echo end {{ params.tag }} verify {{ host.name }} $(date +%s%N) >> {{ params.log }}"
"""

ENDED = {"succeeded", "failed", "needs_attention", "denied"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ops", type=int, default=400)
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--hosts", type=int, default=10)
    ap.add_argument("--sleep-ms", type=int, default=500)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--bosun", default=os.environ.get("BOSUN", "target/release/bosun"))
    ap.add_argument("--keep", action="store_true", help="keep the workspace")
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    rnd = random.Random(seed)
    bosun = os.path.abspath(a.bosun)
    if not os.access(bosun, os.X_OK):
        sys.exit(f"soak: no bosun binary at {bosun} (build it, or pass --bosun)")
    tmp = tempfile.mkdtemp(prefix="bosun-soak-")
    ws, keys, log = f"{tmp}/ws", f"{tmp}/keys", f"{tmp}/effects.log"
    env = dict(os.environ, BOSUN_WORKSPACE=ws, BOSUN_KEY_DIR=keys, NO_COLOR="1")
    t0 = time.time()

    def run(*args, check=True):
        p = subprocess.run([bosun, *args], env=env, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            sys.exit(f"soak: bosun {' '.join(args)} failed ({p.returncode}):\n{p.stderr}")
        return p

    def js(*args):
        return json.loads(run(*args).stdout)

    print(f"soak: seed {seed}, {a.ops} ops over {a.hosts} hosts, {a.kills} kills, in {tmp}")
    run("init", ws)
    for who, role in [("alice", "operator"), ("bob", "operator"), ("claude", "agent")]:
        extra = ["--insecure-plaintext"] if role == "operator" else []
        run("key", "new", who, "--role", role, *extra)
    hosts = [f"h{i}" for i in range(a.hosts)]
    with open(f"{ws}/fleet/hosts.toml", "w") as f:
        for h in hosts:
            f.write(f'[[host]]\nname = "{h}"\ntransport = "local"\narch = "x86_64"\n'
                    f'root = ".bosun/sim/{h}"\n\n')
    with open(f"{ws}/runbooks/soak.toml", "w") as f:
        f.write(RUNBOOK)
    run("adopt", "--yes", "--as", "alice")

    def secs():
        return f"{rnd.randint(0, a.sleep_ms) / 1000:.3f}"

    jtis = []
    for i in range(a.ops):
        targets = rnd.sample(hosts, rnd.randint(1, min(3, len(hosts))))
        args = ["submit", "soak", "--as", "claude", "--json",
                "--param", f"tag=op{i}", "--param", f"log={log}",
                "--param", f"a={secs()}", "--param", f"b={secs()}", "--param", f"c={secs()}"]
        for t in targets:
            args += ["--target", t]
        jti = js(*args)["jti"]
        run("approve", "--yes", jti, "--as", "alice")
        jtis.append(jti)
    print(f"soak: {len(jtis)} ops submitted and approved in {time.time() - t0:.1f}s")

    def states():
        ops = js("ops", "list", "--json", "--limit", str(a.ops + 10))
        rows = ops if isinstance(ops, list) else ops.get("ops", [])
        return {o["jti"]: o["state"] for o in rows}

    tags = {j: f"op{i}" for i, j in enumerate(jtis)}
    explained = []

    def logged(tag, step, host):
        """(started, ended) of a step in the side-effect log."""
        started = ended = False
        for line in open(log) if os.path.exists(log) else []:
            parts = line.split()
            if len(parts) == 5 and parts[1:4] == [tag, step, host]:
                started |= parts[0] == "start"
                ended |= parts[0] == "end"
        return started, ended

    def report_unknown(jti):
        """Reports each unknown step of `jti` as its log says; what it did."""
        out = []
        for st in js("ops", "show", jti, "--json")["steps"]:
            if st["status"] != "unknown":
                continue
            started, ended = logged(tags[jti], st["step"], st["host"])
            status = "pass" if ended else "fail"
            why = ("never started" if not started else
                   "ran to its end" if ended else "started, never ended")
            run("step", "report", jti, st["step"], "--host", st["host"], "--status", status,
                "--note", f"soak: the side-effect log says it {why}", "--as", "alice")
            out.append(f"{tags[jti]} {st['step']} on {st['host']}: {why}, reported {status}")
        return out

    kills, t1 = 0, time.time()
    serve_log = open(f"{tmp}/serve.log", "a")
    while True:
        p = subprocess.Popen([bosun, "serve"], env=env, stdout=serve_log, stderr=serve_log,
                             stdin=subprocess.DEVNULL)
        if kills < a.kills:
            time.sleep(rnd.uniform(0.2, 1.5))
            p.send_signal(signal.SIGKILL)
            p.wait()
            kills += 1
            if kills % 10 == 0:
                done = sum(1 for s in states().values() if s in ENDED)
                print(f"soak: {kills} kills, {done}/{len(jtis)} ops ended")
            continue
        # The last serve runs until every op has ended. An op that needs
        # attention is checked as an operator would: a step whose outcome
        # is unknown and that never logged a start never ran (reported
        # `fail`); one that did is reported as its log says.
        deadline = time.time() + 600
        while time.time() < deadline:
            now = states()
            for j, st in now.items():
                if st == "needs_attention" and j in jtis:
                    explained.extend(report_unknown(j))
            if all(now.get(j) in ENDED - {"needs_attention"} for j in jtis):
                break
            time.sleep(0.5)
        p.send_signal(signal.SIGTERM)
        p.wait()
        break
    wall = time.time() - t1

    final = states()
    lost = [j for j in jtis if final.get(j) not in ENDED]
    by_state = {}
    for j in jtis:
        by_state[final.get(j, "missing")] = by_state.get(final.get(j, "missing"), 0) + 1

    # The side-effect log: per (op, step, host) its runs; per host its intervals.
    runs = {}
    for line in open(log) if os.path.exists(log) else []:
        parts = line.split()
        if len(parts) != 5:
            continue
        what, tag, step, host, ns = parts
        r = runs.setdefault((tag, step, host), [])
        if what == "start":
            r.append([int(ns), None])
        elif r and r[-1][1] is None:
            r[-1][1] = int(ns)
    rerun = doubles = 0
    for (tag, step, host), rs in runs.items():
        if any(end is not None for _, end in rs[:-1]):
            rerun += 1
        if step == "apply" and len(rs) > 1:
            doubles += 1
    unended = sum(1 for rs in runs.values() for _, end in rs if end is None)
    overlaps = 0
    per_host = {}
    for (tag, step, host), rs in runs.items():
        for start, end in rs:
            per_host.setdefault(host, []).append((start, end if end is not None else start, tag, step))
    for host, iv in per_host.items():
        iv.sort()
        last_end = None
        for start, end, tag, step in iv:
            if last_end is not None and start < last_end:
                overlaps += 1
            last_end = max(last_end or end, end)

    db = sqlite3.connect(f"file:{ws}/.bosun/bosun.db?mode=ro", uri=True)
    # Counted from the ledger: a reported step's row says how it ended now.
    unknown = db.execute("SELECT COUNT(*) FROM ledger WHERE kind = 'step.unknown'").fetchone()[0]
    left_started = db.execute("SELECT COUNT(*) FROM steps WHERE status = 'started'").fetchone()[0]
    recovered = db.execute("SELECT COUNT(*) FROM ledger WHERE kind = 'step.recovered'").fetchone()[0]
    db.close()
    verify = run("ledger", "verify", "--json", check=False)

    print(f"soak: {kills} kills over {wall:.1f}s; ops by state: {json.dumps(by_state, sort_keys=True)}")
    print(f"  lost ops:               {len(lost)}")
    print(f"  finished steps re-run:  {rerun}")
    print(f"  non-idempotent doubles: {doubles}")
    print(f"  overlapping steps:      {overlaps}")
    print(f"  steps with no end:      {unended}  (started, never logged their end)")
    print(f"  steps left started:     {left_started}")
    print(f"  unknown outcomes:       {unknown}")
    for e in explained:
        print(f"    {e}")
    print(f"  recovered outcomes:     {recovered}")
    print(f"  ledger verify:          {'ok' if verify.returncode == 0 else 'FAILED'}")
    bad = lost or rerun or doubles or overlaps or unended or left_started or verify.returncode != 0
    if a.keep or bad:
        print(f"soak: workspace kept in {tmp}")
    else:
        subprocess.run(["rm", "-rf", tmp])
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
