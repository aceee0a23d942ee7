//! Running a `tests/browser/*.mjs` script in Debian's Chromium through
//! playwright-core (installed by `scripts/test-deps.sh`): the script gets
//! its arguments and the screenshot directory (`target/browser/`), and may
//! write a signal file there when it wants the test to act (approve from
//! the CLI, promote a rollout…); it prints one JSON object of what it saw.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether Chromium and playwright-core are here. In CI they must be
/// (the test fails); elsewhere the test says it is skipped.
pub fn available() -> bool {
    let ok = root()
        .join("tests/browser/node_modules/playwright-core")
        .exists()
        && Path::new("/usr/bin/chromium").exists();
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have Chromium and tests/browser/node_modules (scripts/test-deps.sh)"
        );
        eprintln!(
            "skipped: no Chromium or playwright-core here (scripts/test-deps.sh installs them)"
        );
    }
    ok
}

/// Where screenshots land.
pub fn shots() -> PathBuf {
    let d = root().join("target/browser");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `script` with `args` then the screenshot directory; once it
/// writes `<shots>/<signal>`, calls `on_signal` with what it wrote (within
/// 60 s). Returns what the script saw; fails the test if it failed.
pub fn run(
    script: &str,
    args: &[&str],
    signal: &str,
    on_signal: impl FnOnce(&str),
) -> serde_json::Value {
    let shots = shots();
    let flag = shots.join(signal);
    let _ = std::fs::remove_file(&flag);
    let child = std::process::Command::new("node")
        .arg(root().join("tests/browser").join(script))
        .args(args)
        .arg(&shots)
        .env("CHROMIUM", "/usr/bin/chromium")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(60);
    while !flag.exists() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    if flag.exists() {
        on_signal(&std::fs::read_to_string(&flag).unwrap_or_default());
    }
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Each of `pngs` was saved, and is more than a blank page.
pub fn saved(pngs: &[&str]) {
    for png in pngs {
        let len = std::fs::metadata(shots().join(png)).unwrap().len();
        assert!(len > 10_000, "{png}: {len} bytes");
    }
}
