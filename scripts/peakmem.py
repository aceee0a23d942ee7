#!/usr/bin/env python3
"""Runs a command and prints its wall time and the peak resident memory of
its whole process tree (the sum of VmRSS over the command and every
descendant, sampled every 20 ms), as JSON: {"wall_s": …, "peak_rss_mib": …}.

Used by scripts/bench-ansible.sh so that bosun (one process, threads) and
Ansible (a process per fork) are measured the same way."""
import json, os, subprocess, sys, time

def children():
    kids = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            kids.setdefault(ppid, []).append(int(pid))
        except (OSError, IndexError, ValueError):
            pass
    return kids

def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0

def tree_rss(root):
    kids, total, todo = children(), 0, [root]
    while todo:
        p = todo.pop()
        total += rss_kib(p)
        todo.extend(kids.get(p, []))
    return total

start = time.monotonic()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
peak = 0
while proc.poll() is None:
    peak = max(peak, tree_rss(proc.pid))
    time.sleep(0.02)
wall = time.monotonic() - start
print(json.dumps({"wall_s": round(wall, 3), "peak_rss_mib": round(peak / 1024, 1), "exit": proc.returncode}))
sys.exit(proc.returncode)
