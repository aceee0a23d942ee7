#!/usr/bin/env python3
"""Pages an intake commit writes, by table or index.

Reads the write-ahead log of a workspace kept by
`bosun bench intake --keep DIR` and counts, for the commits in the middle
of the run, the frames (whole pages) each commit appended and which b-tree
each page belongs to (SQLite's dbstat). Every frame is a page written and
later synced, so this is what a group commit costs the disk.

    target/release/bosun bench intake --rate 2000 --ops 10000 --keep /tmp/kb
    python3 scripts/wal-frames.py /tmp/kb

The log holds the frames since it last started over, so run it on a
workspace whose run ended a moment ago (the checkpointer folds the log into
the database every 500 ms, but under sustained load the log keeps growing).
"""
import collections
import sqlite3
import statistics
import struct
import sys


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    state = sys.argv[1].rstrip("/") + "/.bosun"
    with open(state + "/bosun.db-wal", "rb") as f:
        wal = f.read()
    if len(wal) < 32:
        print("the write-ahead log is empty: nothing to count", file=sys.stderr)
        return 1
    page = struct.unpack(">I", wal[8:12])[0]
    salt = wal[16:24]
    commits, cur, off = [], [], 32
    while off + 24 + page <= len(wal):
        pgno, commit = struct.unpack(">II", wal[off : off + 8])
        if wal[off + 8 : off + 16] != salt:
            break
        cur.append(pgno)
        if commit:
            commits.append(cur)
            cur = []
        off += 24 + page
    if not commits:
        print("no commit in the write-ahead log", file=sys.stderr)
        return 1
    db = sqlite3.connect(f"file:{state}/bosun.db?mode=ro", uri=True)
    owner = {pgno: name for name, pgno in db.execute("SELECT name, pageno FROM dbstat")}
    mid = commits[len(commits) // 4 : len(commits) // 4 + 1000]
    per = collections.Counter()
    for c in mid:
        for p in c:
            per[owner.get(p, "(page freed since)")] += 1
    print(
        f"{len(commits)} commits in the log; the {len(mid)} from a quarter in: "
        f"median {statistics.median(len(c) for c in mid):.0f} frames of {page} bytes each"
    )
    for name, n in per.most_common():
        print(f"  {name:32s} {n / len(mid):5.2f} per commit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
