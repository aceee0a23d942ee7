//! `bosun patches promote` on real patches: a scratch kernel-like repo,
//! series made by the real `git format-patch` (signature trailers, a
//! deleted `- ` line, a rename, a binary file), promoted; the cumulative
//! patch must apply with the real `git apply` on the baseline, the lock's
//! digests must be what `b2sum` prints, and the same inputs must give the
//! same bytes.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::Lab;
use common::kernel::b2sum;

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .args([
            "-c",
            "user.name=Kernel Hacker",
            "-c",
            "user.email=k@example.org",
        ])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// A repo at tag v7.0 and four patches after it, by `git format-patch`.
fn series(dir: &Path) -> Vec<std::path::PathBuf> {
    let src = dir.join("linux");
    std::fs::create_dir_all(src.join("arch/arm64/boot/dts")).unwrap();
    std::fs::create_dir_all(src.join("drivers/net")).unwrap();
    let dts = (1..=40)
        .map(|i| {
            if i == 20 {
                "- \n".to_string()
            } else {
                format!("\tnode{i} {{ status = \"okay\"; }};\n")
            }
        })
        .collect::<String>();
    std::fs::write(src.join("arch/arm64/boot/dts/pbp.dts"), &dts).unwrap();
    std::fs::write(
        src.join("drivers/net/old.c"),
        "int old(void) { return 0; }\n",
    )
    .unwrap();
    std::fs::write(src.join("firmware.bin"), [0u8, 1, 2, 3, 255, 254]).unwrap();
    git(&src, &["init", "-q"]);
    git(&src, &["add", "."]);
    git(&src, &["commit", "-qm", "v7.0"]);
    git(&src, &["tag", "v7.0"]);
    // 1: OC OPP tables (a context change near the top).
    let d1 = dts.replace(
        "\tnode3 { status = \"okay\"; };\n",
        "\tnode3 { status = \"okay\"; opp = <2184>; };\n",
    );
    std::fs::write(src.join("arch/arm64/boot/dts/pbp.dts"), &d1).unwrap();
    git(
        &src,
        &["commit", "-qam", "arm64: dts: pinebook-pro: OC OPP tables"],
    );
    // 2: delete the line `- ` (its hunk line reads `-- `).
    let d2 = d1.replace("- \n", "");
    std::fs::write(src.join("arch/arm64/boot/dts/pbp.dts"), &d2).unwrap();
    git(
        &src,
        &[
            "commit",
            "-qam",
            "arm64: dts: pinebook-pro: drop a stray line",
        ],
    );
    // 3: a rename.
    git(&src, &["mv", "drivers/net/old.c", "drivers/net/new.c"]);
    git(&src, &["commit", "-qm", "net: rename old to new"]);
    // 4: a binary change.
    std::fs::write(src.join("firmware.bin"), [9u8, 8, 7, 0, 0, 1, 2]).unwrap();
    git(&src, &["commit", "-qam", "firmware: update blob"]);
    let out = dir.join("series");
    git(
        &src,
        &["format-patch", "-q", "-o", out.to_str().unwrap(), "v7.0"],
    );
    let mut files: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 4);
    // format-patch's trailer, which must not reach the cumulative patch.
    let first = std::fs::read_to_string(&files[0]).unwrap();
    assert!(first.contains("\n-- \n"), "{first}");
    let second = std::fs::read_to_string(&files[1]).unwrap();
    assert!(
        second.contains("\n-- \n \tnode21"),
        "the `- ` deletion: {second}"
    );
    files
}

const MANIFEST: &str = "baseline:\n  tree: linux\n  ref: v7.0\nsuffix: fresnel-fourier\narch: aarch64\nscopes:\n  - board/pinebook-pro\ninstall: alongside\npatch_authoring_context: mmind/linux-rockchip v7.0\n";

#[test]
fn promote_makes_a_cumulative_patch_git_applies_and_a_lock_b2sum_confirms() {
    let lab = Lab::new();
    let files = series(lab.tmp.path());
    let names: Vec<&str> = files.iter().map(|f| f.to_str().unwrap()).collect();
    // Imported at their scope: names, bytes and authorship kept.
    let mut args = vec!["patches", "import", "fresnel-fourier"];
    args.extend(&names);
    let no_scope = lab.run(&args);
    assert!(!no_scope.status.success(), "refused without --to");
    args.extend(["--to", "board/pinebook-pro"]);
    let out = lab.ok(&args);
    assert!(
        out.contains("board/pinebook-pro/fresnel-fourier: 4 written"),
        "{out}"
    );
    let again = lab.ok(&args);
    assert!(again.contains("0 written, 4 already there"), "{again}");
    let first = files[0].file_name().unwrap().to_str().unwrap();
    let kept = std::fs::read(lab.path(&format!(
        "patches/board/pinebook-pro/fresnel-fourier/{first}"
    )))
    .unwrap();
    assert_eq!(kept, std::fs::read(&files[0]).unwrap());
    assert!(String::from_utf8_lossy(&kept).contains("From: Kernel Hacker <k@example.org>"));
    lab.write("fleet/fresnel.yaml", MANIFEST);
    // A manifest is a governed file: a preview shows the file and says it
    // is not adopted; an op needs it adopted.
    let o = lab.run(&["patches", "promote", "fresnel"]);
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("fleet/fresnel.yaml is not adopted"), "{err}");
    let o = lab.run(&["patches", "promote", "fresnel", "--submit", "--as", "alice"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("fleet/fresnel.yaml is not adopted"), "{err}");
    assert!(err.contains("bosun adopt"), "{err}");
    lab.adopt();
    // Shown, nothing written.
    let shown = lab.ok(&["patches", "promote", "fresnel"]);
    assert!(shown.contains("4 patch(es)"), "{shown}");
    assert!(shown.contains("trailer stripped"), "{shown}");
    assert!(!lab.path("kernel/fresnel/cumulative.patch").exists());
    // Written, with the lock.
    let lock: serde_json::Value =
        serde_json::from_str(&lab.ok(&["patches", "promote", "fresnel", "--write", "--json"]))
            .unwrap();
    let cumulative = lab.path("kernel/fresnel/cumulative.patch");
    assert_eq!(lock["cumulative"]["b2"], b2sum(&cumulative), "{lock}");
    assert_eq!(
        lock["cumulative"]["bytes"],
        std::fs::metadata(&cumulative).unwrap().len()
    );
    assert_eq!(lock["manifest_b2"], b2sum(&lab.path("fleet/fresnel.yaml")));
    for p in lock["patch"].as_array().unwrap() {
        let path = p["path"].as_str().unwrap();
        assert_eq!(p["b2"], b2sum(&lab.path(path)), "{path}");
        assert_eq!(p["trailer_stripped"], true, "{path}");
    }
    let text = std::fs::read_to_string(&cumulative).unwrap();
    assert!(
        !text.contains("\n-- \n2."),
        "a trailer reached the cumulative patch"
    );
    assert!(
        text.contains("\n-- \n \tnode21"),
        "the `- ` deletion is kept"
    );
    // The real git applies it on the baseline.
    let base = lab.tmp.path().join("base");
    let src = lab.tmp.path().join("linux");
    git(
        lab.tmp.path(),
        &[
            "clone",
            "-q",
            "--branch",
            "v7.0",
            src.to_str().unwrap(),
            base.to_str().unwrap(),
        ],
    );
    git(&base, &["apply", "--check", cumulative.to_str().unwrap()]);
    git(&base, &["apply", cumulative.to_str().unwrap()]);
    assert!(base.join("drivers/net/new.c").exists());
    assert_eq!(
        std::fs::read(base.join("firmware.bin")).unwrap(),
        [9u8, 8, 7, 0, 0, 1, 2]
    );
    let head = git(&src, &["rev-parse", "HEAD^{tree}"]);
    git(&base, &["add", "-A"]);
    assert_eq!(
        git(&base, &["write-tree"]),
        head,
        "the result is the series' tree"
    );
    // `patches check` applies the series to a worktree of the checkout
    // at the manifest's ref; the checkout itself is left as it was.
    let checked = lab.ok(&[
        "patches",
        "check",
        "fresnel",
        "--baseline",
        src.to_str().unwrap(),
    ]);
    assert_eq!(checked.matches("  ok ").count(), 4, "{checked}");
    let dts = "arch/arm64/boot/dts/pbp.dts";
    // A patch written against an older file applies at an offset, said;
    // one whose context is gone fails, naming patch, file, hunk and line.
    lab.write(
        "patches/board/pinebook-pro/zz-late/patchset.toml",
        "campaign = \"fresnel-fourier\"\n",
    );
    let ctx = |i: u32| format!(" \tnode{i} {{ status = \"okay\"; }};\n");
    lab.write(
        "patches/board/pinebook-pro/zz-late/0001-offset.patch",
        &format!(
            "--- a/{dts}\n+++ b/{dts}\n@@ -31,3 +31,3 @@\n{}-\tnode30 {{ status = \"okay\"; }};\n+\tnode30 {{ status = \"off\"; }};\n{}",
            ctx(29),
            ctx(31)
        ),
    );
    let o = lab.run(&[
        "patches",
        "check",
        "fresnel",
        "--baseline",
        src.to_str().unwrap(),
    ]);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{said}");
    assert!(
        said.contains(&format!("{dts}: hunk 1 applied at line 28 (offset -3)")),
        "{said}"
    );
    lab.write(
        "patches/board/pinebook-pro/zz-late/0002-gone.patch",
        &format!("--- a/{dts}\n+++ b/{dts}\n@@ -5,2 +5,2 @@\n not here\n-nor this\n+but this\n"),
    );
    let o = lab.run(&[
        "patches",
        "check",
        "fresnel",
        "--baseline",
        src.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["failed"]["patch"], "patches/board/pinebook-pro/zz-late/0002-gone.patch",
        "{v}"
    );
    assert_eq!(v["failed"]["file"], dts);
    assert_eq!(
        (v["failed"]["hunk"].clone(), v["failed"]["line"].clone()),
        (1.into(), 5.into())
    );
    assert_eq!(v["applied"].as_array().unwrap().len(), 5, "{v}");
    assert_eq!(
        git(&src, &["status", "--porcelain"]),
        "",
        "the checkout is untouched"
    );
    assert_eq!(
        git(&src, &["worktree", "list"]).lines().count(),
        1,
        "no worktree left"
    );
    // With --as, the failure files a patch-fail blocker on that patch,
    // which holds exactly the promotes that carry it.
    let gone = "patches/board/pinebook-pro/zz-late/0002-gone.patch";
    let o = lab.run(&[
        "patches",
        "check",
        "fresnel",
        "--baseline",
        src.to_str().unwrap(),
        "--as",
        "claude",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(said.contains(&format!("patch-fail on `{gone}`")), "{said}");
    let held = lab.run(&["patches", "promote", "fresnel"]);
    let err = String::from_utf8_lossy(&held.stderr);
    assert!(
        !held.status.success() && err.contains("held, promote refused"),
        "{err}"
    );
    let blockers = lab.json(&["blockers", "list", "--json"]);
    let id = blockers
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["kind"] == "patch-fail")
        .unwrap()["id"]
        .to_string();
    std::fs::remove_dir_all(lab.path("patches/board/pinebook-pro/zz-late")).unwrap();
    lab.ok(&[
        "blockers", "resolve", &id, "--how", "yanked", "--as", "alice",
    ]);
    // The lock file on disk, and the same bytes on a second run.
    let lock_file = std::fs::read_to_string(lab.path("kernel/fresnel/manifest.lock")).unwrap();
    assert!(lock_file.contains(lock["cumulative"]["b2"].as_str().unwrap()));
    let before = std::fs::read(&cumulative).unwrap();
    lab.ok(&["patches", "promote", "fresnel", "--write"]);
    assert_eq!(std::fs::read(&cumulative).unwrap(), before);
    assert_eq!(
        std::fs::read_to_string(lab.path("kernel/fresnel/manifest.lock")).unwrap(),
        lock_file
    );
}

#[test]
fn bad_trees_and_manifests_are_refused_by_path_and_line() {
    let lab = Lab::new_with(|lab| lab.write("fleet/fresnel.yaml", MANIFEST));
    // A patch without a scope.
    lab.write(
        "patches/board/stray.patch",
        "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n",
    );
    let o = lab.run(&["patches", "promote", "fresnel"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("patches/board/stray.patch: lacks a scope"),
        "{err}"
    );
    std::fs::remove_file(lab.path("patches/board/stray.patch")).unwrap();
    // A hunk cut short: file and line.
    lab.write(
        "patches/board/pinebook-pro/x/0001-x.patch",
        "--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n-b\n+c\n",
    );
    let o = lab.run(&["patches", "promote", "fresnel"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("patches/board/pinebook-pro/x/0001-x.patch:3: truncated"),
        "{err}"
    );
    lab.write(
        "patches/board/pinebook-pro/x/0001-x.patch",
        "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-b\n+c\n",
    );
    // An unknown key in the manifest: file:line.
    lab.write(
        "fleet/fresnel.yaml",
        &MANIFEST.replace("arch: aarch64\n", "arch: aarch64\nkernel: 7\n"),
    );
    // Adopting it is refused (the adopted one stays in force).
    let o = lab.run(&["adopt", "--yes", "--as", "alice"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("fleet/fresnel.yaml:6:"), "{err}");
    let o = lab.run(&["patches", "promote", "fresnel"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("fleet/fresnel.yaml on disk differs from its adopted version"),
        "{err}"
    );
    // An import with a bad scope, or a file that is no patch: nothing written.
    lab.write("notes.patch", "just words\n");
    let notes = lab.path("notes.patch");
    let notes = notes.to_str().unwrap();
    let o = lab.run(&["patches", "import", "c", notes, "--to", "pinebook-pro"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("scope `pinebook-pro`"), "{err}");
    let o = lab.run(&["patches", "import", "c", notes, "--to", "board/x"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no diff"),
        "{o:?}"
    );
    assert!(!lab.path("patches/board/x").exists());
    // A host without a manifest.
    let o = lab.run(&["patches", "promote", "nobody"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("fleet/nobody.yaml"));
    assert!(!lab.path("kernel").exists(), "nothing written on a refusal");
}

#[test]
fn migrate_tree_and_abandon_rewrite_the_manifests_from_the_cli() {
    let lab = Lab::new();
    let p = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n";
    lab.write("patches/board/pinebook-pro/oc/0001.patch", p);
    lab.write(
        "patches/subsystem/media/vb2/fence/0001.patch",
        &p.replace("x", "y"),
    );
    lab.write(
        "patches/subsystem/media/vb2/fence/patchset.toml",
        "campaign = \"vb2\"\n",
    );
    lab.write(
        "fleet/fresnel.yaml",
        &format!("{MANIFEST}include:\n  - subsystem/media/vb2/fence  # dma-resv\n"),
    );
    lab.adopt();
    let out = lab.ok(&[
        "patches",
        "migrate-tree",
        "--from",
        "subsystem/media/vb2",
        "--to",
        "subsystem/media/videobuf2",
    ]);
    assert!(out.contains("1 manifest(s) rewritten"), "{out}");
    let m = std::fs::read_to_string(lab.path("fleet/fresnel.yaml")).unwrap();
    assert!(
        m.contains("  - subsystem/media/videobuf2/fence  # dma-resv\n"),
        "{m}"
    );
    assert!(out.contains("in force once adopted"), "{out}");
    // Until adopted, the manifest in force names the old path.
    assert!(!lab.run(&["patches", "promote", "fresnel"]).status.success());
    lab.adopt();
    lab.ok(&["patches", "promote", "fresnel"]);
    // Abandon refuses without saying how.
    let o = lab.run(&["campaign", "abandon", "vb2"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--keep-as-archive"));
    let out = lab.ok(&["campaign", "abandon", "vb2", "--keep-as-archive"]);
    assert!(out.contains("1 patchset(s) archived"), "{out}");
    assert!(
        lab.path("archive/patches/subsystem/media/videobuf2/fence/0001.patch")
            .exists()
    );
    let m = std::fs::read_to_string(lab.path("fleet/fresnel.yaml")).unwrap();
    assert!(!m.contains("fence"), "{m}");
    lab.adopt();
    let shown = lab.ok(&["patches", "promote", "fresnel"]);
    assert!(shown.contains("1 patch(es)"), "{shown}");
}

#[test]
fn the_kernel_fleet_example_promotes_ohm_to_a_lock_b2sum_confirms() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/kernel-fleet");
    let out = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_bosun"))
            .arg("-w")
            .arg(&root)
            .args(args)
            .env("BOSUN_KEY_DIR", out.path().join("keys"))
            .env_remove("BOSUN_URL")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let dir = out.path().join("ohm");
    let lock: serde_json::Value = serde_json::from_str(&run(&[
        "patches",
        "promote",
        "ohm",
        "--write",
        "--out",
        dir.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    assert_eq!(lock["patch"].as_array().unwrap().len(), 4, "{lock}");
    assert_eq!(
        lock["cumulative"]["b2"],
        b2sum(&dir.join("cumulative.patch"))
    );
    for p in lock["patch"].as_array().unwrap() {
        assert_eq!(p["b2"], b2sum(&root.join(p["path"].as_str().unwrap())));
        assert_eq!(p["trailer_stripped"], true);
    }
    let cumulative = std::fs::read_to_string(dir.join("cumulative.patch")).unwrap();
    assert!(!cumulative.contains("2.54.0"), "{cumulative}");
    assert_eq!(cumulative.matches("diff --git").count(), 4);
    // fresnel by scope: the three board patches.
    let shown = run(&["patches", "promote", "fresnel"]);
    assert!(shown.contains("3 patch(es)"), "{shown}");
}
