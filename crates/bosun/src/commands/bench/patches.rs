//! `bosun bench patches`: issue 17's three figures, each beside what a
//! user would run instead, on a synthetic series written in the shape of
//! `git format-patch` output (mail header, diff, signature trailer):
//!
//! - promote: the tree read and a host's manifest resolved into the
//!   cumulative patch and its lock, beside `cat` of the same files piped
//!   to `b2sum` (the floor: read every byte and hash it);
//! - the conflict and duplicate scan across a tree of many patchsets,
//!   beside `git patch-id --stable` over the same patches (how duplicates
//!   are found by hand);
//! - `patches check` (bosun-kernel::apply) of a series against a real git
//!   checkout, beside a loop of `git apply --check`, one per patch.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bosun_control::Result;
use clap::Args;
use serde_json::json;

use super::other;

/// `bosun bench patches`.
#[derive(Args, Debug)]
pub struct PatchesArgs {
    /// Patches promoted (about 100 KB each).
    #[arg(long, default_value_t = 500)]
    pub promote: usize,
    /// Patches in the conflict and duplicate scan (about 2 KB each).
    #[arg(long, default_value_t = 2000)]
    pub scan: usize,
    /// Patches in the checked series.
    #[arg(long, default_value_t = 500)]
    pub check: usize,
    /// Runs of each side (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Output JSON.
    #[arg(long)]
    pub json: bool,
}

/// Patches per patchset.
const PER_SET: usize = 10;

/// The patch that changes every `every`-th line of file `f{i}` (of
/// `lines` lines), as `git format-patch` writes it; `shared` adds a hunk
/// to `shared.c` at its own line range (different patches never overlap).
fn patch(i: usize, lines: usize, every: usize, shared: bool) -> String {
    let mut s = format!(
        "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\nFrom: Bench <bench@example.org>\nSubject: [PATCH] bench: change f{i}\n\n---\n f{i}.c | 2 +-\n\ndiff --git a/f{i}.c b/f{i}.c\n--- a/f{i}.c\n+++ b/f{i}.c\n"
    );
    let mut at = 4;
    while at + 4 <= lines {
        let _ = writeln!(s, "@@ -{},7 +{},7 @@", at - 3, at - 3);
        for j in at - 3..at {
            let _ = writeln!(s, " line {i}.{j}");
        }
        let _ = writeln!(s, "-line {i}.{at}");
        let _ = writeln!(s, "+LINE {i}.{at}");
        for j in at + 1..at + 4 {
            let _ = writeln!(s, " line {i}.{j}");
        }
        at += every;
    }
    if shared {
        let at = 10 * i + 4;
        let _ = write!(
            s,
            "diff --git a/shared.c b/shared.c\n--- a/shared.c\n+++ b/shared.c\n@@ -{},3 +{},3 @@\n shared {}\n-shared {at}\n+SHARED {at}\n shared {}\n",
            at - 1,
            at - 1,
            at - 1,
            at + 1
        );
    }
    s.push_str("-- \n2.47.3\n\n");
    s
}

fn file(i: usize, lines: usize) -> String {
    (1..=lines).map(|j| format!("line {i}.{j}\n")).collect()
}

/// A workspace tree of `n` patches in patchsets of [`PER_SET`], each its
/// own campaign, and `fleet/bench.yaml` selecting them all.
fn tree(root: &Path, n: usize, lines: usize, every: usize, shared: bool) -> Result<Vec<String>> {
    let io = |e: std::io::Error| other(format!("{}: {e}", root.display()));
    let mut paths = Vec::new();
    for i in 0..n {
        let set = format!("patches/driver/bench/ps{:04}", i / PER_SET);
        let dir = root.join(&set);
        if i % PER_SET == 0 {
            std::fs::create_dir_all(&dir).map_err(io)?;
            std::fs::write(
                dir.join("patchset.toml"),
                format!("campaign = \"bench{}\"\n", i / PER_SET),
            )
            .map_err(io)?;
        }
        let name = format!("{:04}-bench-change-f{i}.patch", i % PER_SET);
        std::fs::write(dir.join(&name), patch(i, lines, every, shared)).map_err(io)?;
        paths.push(format!("{set}/{name}"));
    }
    std::fs::create_dir_all(root.join("fleet")).map_err(io)?;
    std::fs::write(
        root.join("fleet/bench.yaml"),
        "baseline:\n  tree: https://example.org/linux.git\n  ref: v7.0\nsuffix: bench\narch: aarch64\nscopes:\n  - driver/bench\ninstall: alongside\n",
    )
    .map_err(io)?;
    Ok(paths)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn time<T>(runs: usize, mut f: impl FnMut() -> Result<T>) -> Result<Duration> {
    let mut v = Vec::new();
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        f()?;
        v.push(t.elapsed());
    }
    Ok(median(v))
}

fn sh(dir: &Path, script: &str) -> Result<()> {
    let o = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| other(format!("sh: {e}")))?;
    if !o.status.success() {
        return Err(other(format!(
            "bench broken: `{script}`: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )));
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Runs the three comparisons and prints them.
pub fn patches(a: &PatchesArgs) -> Result<()> {
    let tmp = tempfile::tempdir().map_err(|e| other(format!("temp dir: {e}")))?;
    let kernel = |e: bosun_kernel::KernelError| other(e.to_string());

    // 1. promote: ~100 KB per patch.
    let p = tmp.path().join("promote");
    let paths = tree(&p, a.promote, 7200, 10, false)?;
    let bytes: u64 = paths
        .iter()
        .filter_map(|q| std::fs::metadata(p.join(q)).ok())
        .map(|m| m.len())
        .sum();
    let manifest =
        std::fs::read_to_string(p.join("fleet/bench.yaml")).map_err(|e| other(e.to_string()))?;
    let promote = time(a.runs, || {
        let t = bosun_kernel::Tree::read(&p).map_err(kernel)?;
        bosun_kernel::promote(&t, "bench", "fleet/bench.yaml", &manifest).map_err(kernel)
    })?;
    let list = paths.join(" ");
    let floor = time(a.runs, || sh(&p, &format!("cat {list} | b2sum")))?;

    // 2. the scan: ~2 KB per patch, one shared file.
    let s = tmp.path().join("scan");
    let spaths = tree(&s, a.scan, 120, 30, true)?;
    let st = bosun_kernel::Tree::read(&s).map_err(kernel)?;
    let sets: Vec<&bosun_kernel::Patchset> = st.sets.values().collect();
    let mut found = (0, 0);
    let scan = time(a.runs, || {
        found = (
            bosun_kernel::conflicts(&sets).len(),
            bosun_kernel::duplicates(&sets).len(),
        );
        Ok(())
    })?;
    let slist = spaths.join(" ");
    let patch_id = time(a.runs, || {
        sh(&s, &format!("cat {slist} | git patch-id --stable"))
    })?;

    // 3. check against a real checkout.
    let c = tmp.path().join("check");
    let cpaths = tree(&c, a.check, 600, 40, false)?;
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).map_err(|e| other(e.to_string()))?;
    for i in 0..a.check {
        std::fs::write(src.join(format!("f{i}.c")), file(i, 600))
            .map_err(|e| other(e.to_string()))?;
    }
    sh(
        &src,
        "git init -q && git add -A && git -c user.name=b -c user.email=b@x commit -qm base && git tag v7.0",
    )?;
    let ct = bosun_kernel::Tree::read(&c).map_err(kernel)?;
    let csets: Vec<&bosun_kernel::Patchset> = ct.sets.values().collect();
    let mut n = 0usize;
    let check = time(a.runs, || {
        n += 1;
        let scratch = tmp.path().join(format!("scratch-{n}"));
        let r = bosun_kernel::check(&src, "v7.0", &csets, &scratch).map_err(kernel)?;
        match r.failed {
            None => Ok(()),
            Some(f) => Err(other(format!("bench broken: {} failed", f.patch))),
        }
    })?;
    let clist: Vec<String> = cpaths
        .iter()
        .map(|q| c.join(q).display().to_string())
        .collect();
    let git_loop = time(a.runs, || {
        sh(
            &src,
            &format!(
                "for p in {}; do git apply --check \"$p\" || exit 1; done",
                clist.join(" ")
            ),
        )
    })?;

    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    if a.json {
        outln!(
            "{}",
            json!({
                "promote": {"patches": a.promote, "bytes": bytes, "ms": ms(promote), "cat_b2sum_ms": ms(floor)},
                "scan": {"patches": a.scan, "ms": ms(scan), "conflicts": found.0, "duplicates": found.1, "git_patch_id_ms": ms(patch_id)},
                "check": {"patches": a.check, "ms": ms(check), "git_apply_check_loop_ms": ms(git_loop), "speedup": ratio(git_loop, check)},
                "runs": a.runs,
            })
        );
        return Ok(());
    }
    outln!(
        "promote: {} patches, {:.1} MB: {:.0} ms (target ≤ 1000); `cat | b2sum` of the same files: {:.0} ms",
        a.promote,
        bytes as f64 / 1e6,
        ms(promote),
        ms(floor)
    );
    outln!(
        "scan: conflicts and duplicates across {} patches: {:.0} ms (target ≤ 2000; {} conflicts, {} duplicates); `git patch-id --stable`: {:.0} ms",
        a.scan,
        ms(scan),
        found.0,
        found.1,
        ms(patch_id)
    );
    outln!(
        "check: {} patches against a git checkout: {:.0} ms; a `git apply --check` loop: {:.0} ms ({:.1}× faster; target ≥ 10×)",
        a.check,
        ms(check),
        ms(git_loop),
        ratio(git_loop, check)
    );
    outln!("(median of {} runs each)", a.runs.max(1));
    Ok(())
}
