//! The README works end to end as written.
//!
//! Every fenced `sh` block of README.md runs, in order, in one `bash -euo
//! pipefail`, but the first (the newcomer's two cargo commands, which are
//! what this suite is) and those marked `sh no-run` (building bosun): in a
//! temporary directory holding a copy of `examples/`, with the bosun under
//! test on `PATH`, `HOME` and `XDG_CONFIG_HOME` inside that directory, and
//! the CI passphrase file for the operators' keys. It runs under a
//! pseudo-terminal (`script(1)`) that answers `y` to every question, so
//! `approve` and `adopt` ask and sign exactly as they do for a person.
//!
//! Nothing it runs may touch anything outside that directory: the simulated
//! hosts live under the workspace, and the test checks that the motd
//! example wrote there and nowhere in `/etc`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `sh` blocks the test runs, with the README line each starts on.
fn blocks(readme: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur: Option<(usize, bool, String)> = None;
    for (i, line) in readme.lines().enumerate() {
        match &mut cur {
            None => {
                if let Some(info) = line.strip_prefix("```sh") {
                    let run = !info.split_whitespace().any(|w| w == "no-run");
                    cur = Some((i + 1, run, String::new()));
                }
            }
            Some((start, run, text)) => {
                if line.trim_end() == "```" {
                    if *run {
                        out.push((*start, std::mem::take(text)));
                    }
                    cur = None;
                } else {
                    text.push_str(line);
                    text.push('\n');
                }
            }
        }
    }
    // The first block is the newcomer's `cargo run -- demo` / `cargo test`.
    out.remove(0);
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

#[test]
fn the_readme_runs_as_written() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let blocks = blocks(&readme);
    assert!(blocks.len() >= 4, "README sh blocks: {}", blocks.len());

    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let work = root.join("work");
    copy_dir(&repo().join("examples"), &work.join("examples"));
    let home = root.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let pass = root.join("passphrase");
    std::fs::write(&pass, "correct horse battery staple\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    let mut script = String::from("set -euo pipefail\nset -x\n");
    for (line, text) in &blocks {
        script.push_str(&format!("\n# README.md:{line}\n{text}"));
    }
    let file = root.join("readme.sh");
    std::fs::write(&file, &script).unwrap();

    let bin = PathBuf::from(env!("CARGO_BIN_EXE_bosun"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let inner = format!("cd {} && bash {}", work.display(), file.display());
    let out = Command::new("bash")
        .arg("-c")
        // A finite answer stream: an endless one keeps script(1) waiting on
        // its stdin after the commands end.
        .arg("yes y | head -n 500 | timeout 600 script -qefc \"$README_SH\" /dev/null")
        .env("README_SH", &inner)
        .env("PATH", path)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", root.join("config"))
        .env("BOSUN_PASSPHRASE_FILE", &pass)
        .env("NO_COLOR", "1")
        .env_remove("BOSUN_WORKSPACE")
        .env_remove("BOSUN_KEY_DIR")
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the README's commands failed ({}):\n{}\n{}",
        out.status,
        text,
        String::from_utf8_lossy(&out.stderr)
    );

    // What the commands did stayed in the workspace.
    let lab = work.join("lab");
    let staged = std::fs::read_to_string(lab.join(".bosun/sim/web-1/motd")).unwrap();
    assert!(staged.contains("patch night at 22:00"), "{staged}");
    assert!(!Path::new("/etc/motd.new").exists(), "/etc/motd.new exists");
    assert!(
        lab.join(".bosun/sim/canary-1/pkgs/qat-driver.version")
            .exists()
    );
    assert!(home.join("safe/lab.note").exists());
}

#[test]
fn blocks_are_found_with_their_lines() {
    let md = "```sh\ncargo run\n```\n\ntext\n```sh no-run\nbuild\n```\n```sh\na\nb\n```\n";
    assert_eq!(blocks(md), vec![(9, "a\nb\n".to_string())]);
}
