//! Unit tests: the scanner on the cases that break naive tools, manifests,
//! resolution and promote's determinism. The real `git format-patch`,
//! `git apply` and `b2sum` runs are in the CLI's tests (`tests/kernel.rs`).

use proptest::prelude::*;

use crate::*;

const TRAILER_PATCH: &str = "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001
From: A <a@example.org>
Subject: [PATCH] drop a dash line

---
 f.txt | 1 -
 1 file changed, 1 deletion(-)

diff --git a/f.txt b/f.txt
index 1111111..2222222 100644
--- a/f.txt
+++ b/f.txt
@@ -1,3 +1,2 @@
 one
-- 
 three
-- 
2.47.3

";

#[test]
fn the_trailer_is_found_by_hunk_counts_not_by_the_first_dash_dash_line() {
    let s = scan("p", TRAILER_PATCH.as_bytes()).unwrap();
    assert!(s.trailer);
    let body = std::str::from_utf8(s.body(TRAILER_PATCH.as_bytes())).unwrap();
    assert!(body.ends_with(" three\n"), "{body:?}");
    assert!(
        body.contains("\n-- \n three"),
        "the deleted `- ` line stays: {body:?}"
    );
    assert_eq!(s.files, vec!["f.txt"]);
    assert_eq!(s.hunks[0].old, (1, 3));
    assert_eq!(s.hunks[0].changes, vec!["-- "]);
}

#[test]
fn a_hunk_cut_short_is_an_error_naming_its_line() {
    let cut = TRAILER_PATCH.replace(" three\n", "");
    let e = scan("p.patch", cut.as_bytes()).unwrap_err();
    assert_eq!(e.file, "p.patch");
    assert!(e.line >= 14, "{e}");
    let truncated = &TRAILER_PATCH[..TRAILER_PATCH.find(" three").unwrap()];
    let e = scan("p.patch", truncated.as_bytes()).unwrap_err();
    assert!(e.message.contains("truncated"), "{e}");
    assert_eq!(e.line, 13, "the hunk's header: {e}");
}

#[test]
fn a_patch_without_trailer_keeps_every_byte() {
    let p = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n";
    let s = scan("p", p.as_bytes()).unwrap();
    assert!(!s.trailer);
    assert_eq!(s.body_end, p.len());
}

#[test]
fn binary_and_rename_diffs_are_read() {
    let p = "diff --git a/old.bin b/new.bin\nsimilarity index 90%\nrename from old.bin\nrename to new.bin\nindex 1..2 100644\nGIT binary patch\nliteral 4\nLcmZ?d00001\n\nliteral 3\nKcmZ?d000010\n\n-- \n2.47.3\n";
    let s = scan("p", p.as_bytes()).unwrap();
    assert!(s.trailer);
    assert_eq!(
        s.files,
        vec!["new.bin", "old.bin"],
        "both names of a rename"
    );
}

#[test]
fn paths_that_leave_the_tree_and_bytes_that_are_not_utf8_are_refused() {
    for bad in [
        "--- a/../etc/passwd\n+++ b/../etc/passwd\n@@ -1 +1 @@\n-a\n+b\n",
        "--- /etc/passwd\n+++ /etc/passwd\n@@ -1 +1 @@\n-a\n+b\n",
    ] {
        let e = scan("p", bad.as_bytes()).unwrap_err();
        assert!(e.message.contains("leaves the source tree"), "{e}");
        assert_eq!(e.line, 1);
    }
    let mut b = b"--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n".to_vec();
    b.extend_from_slice(b"+\xff\n");
    let e = scan("p", &b).unwrap_err();
    assert_eq!((e.line, e.message.as_str()), (5, "not UTF-8"));
    assert!(
        scan("p", b"just words\n")
            .unwrap_err()
            .message
            .contains("no diff")
    );
}

#[test]
fn a_diff_after_the_signature_is_refused() {
    let two = format!("{TRAILER_PATCH}diff --git a/g b/g\n--- a/g\n+++ b/g\n@@ -1 +1 @@\n-a\n+b\n");
    let e = scan("p", two.as_bytes()).unwrap_err();
    assert!(e.message.contains("one patch per file"), "{e}");
}

#[test]
fn b2_is_blake2b_512_as_b2sum_prints_it() {
    assert_eq!(
        b2(b""),
        "786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419d25e1031afee585313896444934eb04b903a685b1448b755d56f701afe9be2ce"
    );
}

const MANIFEST: &str = "baseline:\n  tree: https://git.kernel.org/torvalds/linux.git\n  ref: v7.0\nsuffix: fresnel-fourier\narch: aarch64\nscopes:\n  - board/pinebook-pro\ninclude:\n  - subsystem/media/vb2/fence\ninstall: alongside\npatch_authoring_context: mmind/linux-rockchip v7.0\n";

#[test]
fn manifests_parse_and_unknown_keys_name_their_line() {
    let m = Manifest::parse("fleet/fresnel.yaml", MANIFEST).unwrap();
    assert_eq!(m.suffix, "fresnel-fourier");
    assert_eq!(m.baseline.reference, "v7.0");
    let bad = MANIFEST.replace("arch: aarch64\n", "arch: aarch64\nextra: 1\n");
    let e = Manifest::parse("fleet/fresnel.yaml", &bad)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("fleet/fresnel.yaml:6:"), "{e}");
    assert!(e.contains("extra"), "{e}");
    let bad = MANIFEST.replace("suffix: fresnel-fourier", "suffix: ../boot");
    assert!(
        Manifest::parse("m", &bad)
            .unwrap_err()
            .to_string()
            .contains("suffix")
    );
    let bad = MANIFEST.replace("board/pinebook-pro", "pinebook-pro");
    assert!(
        Manifest::parse("m", &bad)
            .unwrap_err()
            .to_string()
            .contains("not a scope")
    );
}

fn write(root: &std::path::Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn patch(file: &str, old: &str, new: &str) -> String {
    format!("--- a/{file}\n+++ b/{file}\n@@ -1 +1 @@\n-{old}\n+{new}\n-- \n2.47.3\n\n")
}

#[test]
fn promote_resolves_in_scope_order_and_is_byte_reproducible() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    write(
        r,
        "patches/board/pinebook-pro/oc/0002-b.patch",
        &patch("b", "1", "2"),
    );
    write(
        r,
        "patches/board/pinebook-pro/oc/0001-a.patch",
        &patch("a", "1", "2"),
    );
    write(
        r,
        "patches/subsystem/media/vb2/fence/0001-f.patch",
        &patch("f", "1", "2"),
    );
    write(
        r,
        "patches/arch/arm64/scs/0001-s.patch",
        &patch("s", "1", "2"),
    );
    write(
        r,
        "patches/driver/other/x/0001-x.patch",
        &patch("x", "1", "2"),
    );
    let m = MANIFEST.replace("install: alongside", "install: alongside\nexclude: []");
    let m = m.replace(
        "  - board/pinebook-pro\n",
        "  - board/pinebook-pro\n  - arch/arm64\n",
    );
    let tree = Tree::read(r).unwrap();
    let a = promote(&tree, "fresnel", "fleet/fresnel.yaml", &m).unwrap();
    let order: Vec<&str> = a.lock.patch.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        order,
        [
            "patches/arch/arm64/scs/0001-s.patch",
            "patches/board/pinebook-pro/oc/0001-a.patch",
            "patches/board/pinebook-pro/oc/0002-b.patch",
            "patches/subsystem/media/vb2/fence/0001-f.patch",
        ]
    );
    assert!(a.lock.patch.iter().all(|p| p.trailer_stripped));
    let text = String::from_utf8(a.cumulative.clone()).unwrap();
    assert!(!text.contains("2.47.3"), "{text}");
    assert_eq!(a.lock.cumulative.b2, b2(&a.cumulative));
    // Same inputs, same bytes; the lock is stable text.
    let b = promote(&Tree::read(r).unwrap(), "fresnel", "fleet/fresnel.yaml", &m).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.lock.to_toml().unwrap(), b.lock.to_toml().unwrap());
    // Excluding a scope takes it out.
    let ex = m.replace("exclude: []", "exclude: [arch/arm64]");
    let c = promote(&tree, "fresnel", "fleet/fresnel.yaml", &ex).unwrap();
    assert_eq!(c.lock.patch.len(), 3);
    assert_ne!(c.lock.manifest_b2, a.lock.manifest_b2);
}

#[test]
fn patches_without_a_scope_and_empty_selections_are_refused_by_path() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    write(r, "patches/board/loose.patch", &patch("a", "1", "2"));
    write(r, "patches/misc/x/y/0001.patch", &patch("a", "1", "2"));
    let e = Tree::read(r).unwrap_err().to_string();
    assert!(
        e.contains("patches/board/loose.patch: lacks a scope"),
        "{e}"
    );
    assert!(
        e.contains("patches/misc/x/y/0001.patch: lacks a scope"),
        "{e}"
    );
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "patches/board/pinebook-pro/oc/0001-a.patch",
        &patch("a", "1", "2"),
    );
    let tree = Tree::read(d.path()).unwrap();
    let e = promote(&tree, "fresnel", "fleet/fresnel.yaml", MANIFEST)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("include `subsystem/media/vb2/fence` is no patchset"),
        "{e}"
    );
}

proptest! {
    #[test]
    fn scan_never_panics(s in "\\PC{0,400}") {
        let _ = scan("p", s.as_bytes());
    }

    #[test]
    fn any_cut_of_a_patch_is_read_or_refused(cut in 0usize..TRAILER_PATCH.len()) {
        if let Ok(s) = scan("p", &TRAILER_PATCH.as_bytes()[..cut]) {
            prop_assert!(s.body_end <= cut);
        }
    }

    #[test]
    fn manifest_parse_never_panics(s in "\\PC{0,300}") {
        let _ = Manifest::parse("m", &s);
    }
}

fn hunk_patch(file: &str, at: u64, old: &str, new: &str) -> String {
    format!("--- a/{file}\n+++ b/{file}\n@@ -{at},1 +{at},1 @@\n-{old}\n+{new}\n")
}

#[test]
fn campaigns_touching_the_same_lines_conflict_and_separate_hunks_do_not() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    write(
        r,
        "patches/board/pinebook-pro/a/patchset.toml",
        "campaign = \"fresnel-fourier\"\n",
    );
    write(
        r,
        "patches/board/pinebook-pro/a/0001.patch",
        &hunk_patch("dts", 10, "x", "y"),
    );
    write(
        r,
        "patches/board/pinebook-pro/b/patchset.toml",
        "campaign = \"rockhard\"\n",
    );
    write(
        r,
        "patches/board/pinebook-pro/b/0001.patch",
        &hunk_patch("dts", 50, "p", "q"),
    );
    let m = MANIFEST.replace("include:\n  - subsystem/media/vb2/fence\n", "");
    let tree = Tree::read(r).unwrap();
    let ok = promote(&tree, "fresnel", "fleet/fresnel.yaml", &m).unwrap();
    assert_eq!(
        ok.lock.patch.len(),
        2,
        "separate hunks of one file are no conflict"
    );
    write(
        r,
        "patches/board/pinebook-pro/b/0002.patch",
        &hunk_patch("dts", 10, "x", "z"),
    );
    let tree = Tree::read(r).unwrap();
    let e = promote(&tree, "fresnel", "fleet/fresnel.yaml", &m)
        .unwrap_err()
        .to_string();
    assert!(e.contains("campaign conflict: dts lines 10-10 (board/pinebook-pro/a) and lines 10-10 (board/pinebook-pro/b) overlap"), "{e}");
}

#[test]
fn the_same_change_at_another_offset_is_a_duplicate() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    write(
        r,
        "patches/board/pinebook-pro/a/patchset.toml",
        "campaign = \"c\"\n",
    );
    write(
        r,
        "patches/board/pinebook-pro/a/0001.patch",
        &hunk_patch(
            "hdmi.dts",
            861,
            "status = \"disabled\";",
            "status = \"okay\";",
        ),
    );
    write(
        r,
        "patches/board/pinebook-pro/b/patchset.toml",
        "campaign = \"c\"\n",
    );
    write(
        r,
        "patches/board/pinebook-pro/b/0001.patch",
        &hunk_patch(
            "hdmi.dts",
            863,
            "status =  \"disabled\";",
            "status = \"okay\";",
        ),
    );
    let m = MANIFEST.replace("include:\n  - subsystem/media/vb2/fence\n", "");
    let p = promote(&Tree::read(r).unwrap(), "fresnel", "fleet/fresnel.yaml", &m).unwrap();
    assert_eq!(p.duplicates.len(), 1, "{:?}", p.duplicates);
    assert_eq!(
        p.duplicates[0].again,
        "patches/board/pinebook-pro/b/0001.patch"
    );
}

#[test]
fn migrate_tree_moves_the_tree_and_rewrites_every_manifest_or_nothing() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    write(
        r,
        "patches/board/pinebook-pro/oc/0001-a.patch",
        &patch("a", "1", "2"),
    );
    write(
        r,
        "patches/subsystem/media/vb2/fence/0001-f.patch",
        &patch("f", "1", "2"),
    );
    let flow = MANIFEST.replace(
        "include:\n  - subsystem/media/vb2/fence\n",
        "include: [subsystem/media/vb2/fence]  # the fence\n",
    );
    write(r, "fleet/fresnel.yaml", MANIFEST);
    write(r, "fleet/ohm.yaml", &flow);
    let changed = migrate_tree(r, "subsystem/media/vb2", "subsystem/media/videobuf2").unwrap();
    assert_eq!(changed, ["fleet/fresnel.yaml", "fleet/ohm.yaml"]);
    assert!(
        r.join("patches/subsystem/media/videobuf2/fence/0001-f.patch")
            .exists()
    );
    assert!(!r.join("patches/subsystem/media/vb2").exists());
    let f = std::fs::read_to_string(r.join("fleet/fresnel.yaml")).unwrap();
    assert!(f.contains("  - subsystem/media/videobuf2/fence\n"), "{f}");
    let o = std::fs::read_to_string(r.join("fleet/ohm.yaml")).unwrap();
    assert!(
        o.contains("include: [subsystem/media/videobuf2/fence]  # the fence\n"),
        "{o}"
    );
    let tree = Tree::read(r).unwrap();
    promote(&tree, "ohm", "fleet/ohm.yaml", &o).unwrap();
    // Onto a path that exists: refused, nothing changed.
    let e = migrate_tree(r, "board/pinebook-pro", "subsystem/media").unwrap_err();
    assert!(e.to_string().contains("already there"), "{e}");
    assert!(r.join("patches/board/pinebook-pro/oc").exists());
}

#[test]
fn abandoning_a_campaign_takes_it_out_of_every_manifest() {
    for how in [Abandon::KeepAsArchive, Abandon::PurgeFromFleet] {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        write(
            r,
            "patches/board/pinebook-pro/oc/0001-a.patch",
            &patch("a", "1", "2"),
        );
        write(
            r,
            "patches/subsystem/media/vb2/fence/0001-f.patch",
            &patch("f", "1", "2"),
        );
        write(
            r,
            "patches/subsystem/media/vb2/fence/patchset.toml",
            "campaign = \"vb2\"\n",
        );
        write(r, "fleet/fresnel.yaml", MANIFEST);
        // What the one who decided did not see is not taken: refused, and
        // nothing moves.
        let seen = ["subsystem/media/vb2/other".to_string()];
        let e = abandon(r, "vb2", how, Some(&seen)).unwrap_err().to_string();
        assert!(e.contains("changed since they were looked at"), "{e}");
        assert!(
            r.join("patches/subsystem/media/vb2/fence/0001-f.patch")
                .exists()
        );
        let seen = patchsets_of(r, "vb2").unwrap();
        assert_eq!(seen, ["subsystem/media/vb2/fence"]);
        let (ids, files) = abandon(r, "vb2", how, Some(&seen)).unwrap();
        assert_eq!(ids, ["subsystem/media/vb2/fence"]);
        assert_eq!(files, ["fleet/fresnel.yaml"]);
        let f = std::fs::read_to_string(r.join("fleet/fresnel.yaml")).unwrap();
        assert!(!f.contains("fence"), "{f}");
        assert!(!r.join("patches/subsystem/media/vb2/fence").exists());
        let archived = r
            .join("archive/patches/subsystem/media/vb2/fence/0001-f.patch")
            .exists();
        assert_eq!(archived, how == Abandon::KeepAsArchive);
        promote(&Tree::read(r).unwrap(), "fresnel", "fleet/fresnel.yaml", &f).unwrap();
        assert!(
            abandon(r, "vb2", how, None).is_err(),
            "nothing left to abandon"
        );
    }
}

#[test]
fn a_mail_message_is_not_read_as_diff_and_dev_null_may_carry_a_date() {
    let mail = "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\nFrom: A <a@example.org>\nSubject: [PATCH] x\n\nThe old code had\n@@ -1 +1 @@\ndiff --git a/q b/q\n-- \nsee above.\n---\n x | 1 +\n\ndiff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n-- \n2.54.0\n";
    let s = scan("p", mail.as_bytes()).unwrap();
    assert!(s.trailer);
    assert_eq!(s.files, vec!["x"]);
    assert!(s.diff_start > 0 && mail[s.diff_start..].starts_with(" x | 1 +"));
    let new = "--- /dev/null\t2026-05-09 10:00:00.000000000 +0200\n+++ b/new.txt\t2026-05-09\n@@ -0,0 +1 @@\n+hello\n";
    assert_eq!(scan("p", new.as_bytes()).unwrap().files, vec!["new.txt"]);
}

#[test]
fn hunks_whose_context_overlaps_but_changes_do_not_are_no_conflict() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    let ctx_patch = |at: u64, line: u64| {
        let mut p = format!("--- a/dts\n+++ b/dts\n@@ -{at},7 +{at},7 @@\n");
        for i in at..at + 7 {
            if i == line {
                p.push_str(&format!("-l{i}\n+L{i}\n"));
            } else {
                p.push_str(&format!(" l{i}\n"));
            }
        }
        p
    };
    write(
        r,
        "patches/board/pinebook-pro/a/patchset.toml",
        "campaign = \"one\"\n",
    );
    write(
        r,
        "patches/board/pinebook-pro/a/0001.patch",
        &ctx_patch(7, 10),
    );
    write(
        r,
        "patches/board/pinebook-pro/b/patchset.toml",
        "campaign = \"two\"\n",
    );
    write(
        r,
        "patches/board/pinebook-pro/b/0001.patch",
        &ctx_patch(11, 14),
    );
    let m = MANIFEST.replace("include:\n  - subsystem/media/vb2/fence\n", "");
    promote(&Tree::read(r).unwrap(), "fresnel", "fleet/fresnel.yaml", &m).unwrap();
    write(
        r,
        "patches/board/pinebook-pro/b/0001.patch",
        &ctx_patch(7, 10),
    );
    let e = promote(&Tree::read(r).unwrap(), "fresnel", "fleet/fresnel.yaml", &m).unwrap_err();
    assert!(e.to_string().contains("dts lines 10-10"), "{e}");
}

#[test]
fn rewrites_touch_only_the_paths_and_writes_never_follow_symlinks() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    write(
        r,
        "patches/board/pinebook-pro/oc/0001-a.patch",
        &patch("a", "1", "2"),
    );
    let m = MANIFEST.replace("include:\n  - subsystem/media/vb2/fence\n", "")
        + "post_install: [\"cp /boot/Image{,.bak}\", mkinitcpio -p x]\n";
    write(r, "fleet/fresnel.yaml", &m);
    let changed = migrate_tree(r, "board/pinebook-pro", "board/pbp").unwrap();
    assert_eq!(changed, ["fleet/fresnel.yaml"]);
    let after = std::fs::read_to_string(r.join("fleet/fresnel.yaml")).unwrap();
    assert_eq!(
        after,
        m.replace("  - board/pinebook-pro\n", "  - board/pbp\n")
    );
    // A move that would leave a patchset without a scope is refused.
    let e = migrate_tree(r, "board/pbp/oc", "board/oc").unwrap_err();
    assert!(e.to_string().contains("lacks a scope"), "{e}");
    // A symlinked directory in the way of a write is refused.
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), r.join("patches/driver")).unwrap();
    let e = import(
        r,
        "c",
        "driver/bes2600",
        &[("x.patch".into(), patch("x", "1", "2").into_bytes())],
    )
    .unwrap_err();
    assert!(e.to_string().contains("a symlink"), "{e}");
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
}
