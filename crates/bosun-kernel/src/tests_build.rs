//! Unit tests of `kernel build`'s logic: routing, the PKGBUILD (hostile
//! values stay data), job records and retention, idle release, and the
//! package index (round trip, errors by line, never a panic).

use proptest::prelude::*;

use bosun_model::{Build, BuildRole, Host, Name};

use crate::build::*;
use crate::promote::{Lock, LockedCumulative};
use crate::publish::*;

fn host(name: &str, builds: Vec<Build>) -> Host {
    let text = format!("name = \"{name}\"\n");
    let mut h: Host = toml::from_str(&text).unwrap();
    h.builds = builds;
    h
}

fn build(arch: &str, role: BuildRole, on_demand: bool) -> Build {
    let mut b = Build::plain(arch);
    b.role = role;
    b.on_demand = on_demand;
    b
}

#[test]
fn routing_is_primary_then_secondary_then_fallback_and_skips_held_hosts() {
    let hosts = vec![
        host("fermi", vec![build("aarch64", BuildRole::Fallback, false)]),
        host("ampere", vec![build("aarch64", BuildRole::Secondary, true)]),
        host(
            "kbuild-x86",
            vec![build("x86_64", BuildRole::Primary, true)],
        ),
        host(
            "boltzmann",
            vec![build("aarch64", BuildRole::Primary, false)],
        ),
        host("web-1", vec![]),
    ];
    let none = |_: &str| None;
    let (c, s) = route(&hosts, "aarch64", &none);
    let names: Vec<&str> = c.iter().map(|c| c.host.name.as_str()).collect();
    assert_eq!(names, ["boltzmann", "ampere", "fermi"]);
    assert!(s.is_empty());
    let held = |h: &str| (h == "boltzmann").then(|| "blocker 3 (build-fail)".to_string());
    let (c, s) = route(&hosts, "aarch64", &held);
    assert_eq!(c[0].host.name.as_str(), "ampere");
    assert_eq!(s[0].host, "boltzmann");
    assert!(s[0].why.contains("build-fail"));
    let (c, _) = route(&hosts, "riscv64", &none);
    assert!(c.is_empty());
}

#[test]
fn build_entries_read_as_a_name_or_a_table_and_refuse_unknown_keys() {
    let h: Host = toml::from_str(
        "name = \"a\"\nbuilds = [\"x86_64\", { arch = \"aarch64\", role = \"fallback\", on_demand = true, idle_release = \"30m\" }]\n",
    )
    .unwrap();
    assert_eq!(h.builds[0], Build::plain("x86_64"));
    assert_eq!(h.builds[1].role, BuildRole::Fallback);
    assert!(h.builds[1].on_demand);
    for bad in [
        "name = \"a\"\nbuilds = [{ arch = \"aarch64\", rol = \"primary\" }]\n",
        "name = \"a\"\nbuilds = [{ arch = \"aarch64\", role = \"tertiary\" }]\n",
        "name = \"a\"\nbuilds = [{ arch = \"aarch64\", idle_release = \"soon\" }]\n",
        "name = \"a\"\nbuilds = [7]\n",
    ] {
        assert!(toml::from_str::<Host>(bad).is_err(), "{bad}");
    }
}

fn lock(tree: &str, reference: &str) -> Lock {
    Lock {
        host: "ohm".into(),
        manifest: "fleet/ohm.yaml".into(),
        manifest_b2: "00".into(),
        baseline_tree: tree.into(),
        baseline_ref: reference.into(),
        suffix: "pinetab2-ohm".into(),
        arch: "aarch64".into(),
        cumulative: LockedCumulative {
            bytes: 1,
            b2: "ab".repeat(64),
        },
        patch: Vec::new(),
    }
}

#[test]
fn the_pkgbuild_carries_the_lock_digest_and_quotes_what_the_manifest_says() {
    let p = pkgbuild(&lock("https://example.org/linux.git", "v6.19-danctnix1")).unwrap();
    assert!(p.contains(&format!("'{}'", "ab".repeat(64))), "{p}");
    let v = version(&lock("https://example.org/linux.git", "v6.19-danctnix1"));
    assert!(
        v.starts_with("6.19.danctnix1+") && v.len() == "6.19.danctnix1+".len() + 8,
        "{v}"
    );
    assert!(p.contains(&format!("pkgver='{v}'")), "{p}");
    assert!(p.contains("pkgbase='linux-pinetab2-ohm'"), "{p}");
    // A hostile tree URL stays a string: bash parses the file and runs
    // nothing from it.
    let evil = lock(
        "https://x/'$(touch /tmp/bosun-pwned)'`id`",
        "v1'; rm -rf ~; '",
    );
    let p = pkgbuild(&evil).unwrap();
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("PKGBUILD");
    std::fs::write(&f, &p).unwrap();
    let o = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {} && printf '%s\\n' \"$url\" \"${{source[0]}}\"",
            f.display()
        ))
        .current_dir(d.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        out.starts_with("https://x/'$(touch /tmp/bosun-pwned)'`id`\n"),
        "{out}"
    );
    let mut bad = lock("t", "r");
    bad.arch = "aarch64; id".into();
    assert!(pkgbuild(&bad).is_err());
    assert_eq!(pkgver("refs/tags/v7.0"), "7.0");
    assert_eq!(pkgver("---"), "0");
}

#[test]
fn jobs_round_trip_and_are_prunable_only_once_ended_and_past_their_keep() {
    let mut j = Job::new(&lock("t", "v7.0"), 1000);
    assert_eq!(j.job, format!("ohm-1000-{}", "abababab"));
    assert!(!j.prunable(i64::MAX - 1), "a running job is never pruned");
    j.end(JobStatus::Failed, "cap".into(), 2000, 7 * 86400);
    assert!(!j.prunable(2000 + 7 * 86400 - 1));
    assert!(j.prunable(2000 + 7 * 86400));
    let back = Job::parse("job.toml", &j.to_toml().unwrap()).unwrap();
    assert_eq!(back, j);
    let mut evil = j.clone();
    evil.job = "../../etc".into();
    assert!(Job::parse("job.toml", &evil.to_toml().unwrap()).is_err());
    assert!(!valid_job_id(".hidden") && !valid_job_id("") && valid_job_id("ohm-1-ab"));
    // A job builds its lock, not another with the same cumulative patch
    // (a manifest that changed, its `probes:` say).
    let l = lock("t", "v7.0");
    assert!(j.builds(&l));
    let mut other = l.clone();
    other.manifest_b2 = "11".into();
    assert_eq!(other.cumulative, l.cumulative);
    assert!(!j.builds(&other));
}

#[test]
fn idle_on_demand_hosts_are_due_for_release_after_their_idle_time() {
    let mut b = build("aarch64", BuildRole::Secondary, true);
    b.idle_release = Some("30m".into());
    b.release = Some("poweroff-ampere".into());
    let hosts = vec![
        host("ampere", vec![b]),
        host("boltzmann", vec![Build::plain("aarch64")]),
    ];
    let mut w = Builders::default();
    w.host.insert("ampere".into(), Awake { last_used: 100 });
    assert!(w.due(&hosts, 100 + 1799).is_empty());
    let due = w.due(&hosts, 100 + 1800);
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].1, Some("poweroff-ampere"));
    // A host no longer on demand is forgotten, not released.
    w.host.insert("boltzmann".into(), Awake { last_used: 0 });
    let due = w.due(&hosts, 0);
    assert_eq!(due[0].0.name, Name::parse("boltzmann").unwrap());
    assert_eq!(due[0].1, None);
}

fn entry(name: &str) -> Entry {
    Entry {
        filename: name.into(),
        package: "linux-x".into(),
        version: "7.0-1".into(),
        host: "ohm".into(),
        job: "ohm-1-ab".into(),
        size: 3,
        b2: "cd".into(),
    }
}

#[test]
fn the_index_round_trips_and_names_the_line_of_a_bad_stanza() {
    let text = render_index(&[entry("b.pkg.tar.zst"), entry("a.pkg.tar.zst")]);
    assert!(text.find("a.pkg").unwrap() < text.find("b.pkg").unwrap());
    let back = parse_index("Packages", &text).unwrap();
    assert_eq!(back.len(), 2);
    assert_eq!(back[0], entry("a.pkg.tar.zst"));
    let e = parse_index("Packages", "Filename: a\nnot a field\n").unwrap_err();
    assert!(e.to_string().contains("Packages:2"), "{e}");
    let e = parse_index("Packages", "\n\nFilename: a\nSize: x\n").unwrap_err();
    assert!(e.to_string().contains("Packages:3"), "{e}");
}

#[test]
fn publish_signs_everything_first_so_a_signing_failure_publishes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let pkgs = [Package {
        name: "linux-x-7.0-1-aarch64.pkg.tar.zst",
        bytes: b"pkg",
    }];
    let meta = |n: &str, size: u64, b2: &str| Entry {
        size,
        b2: b2.into(),
        ..entry(n)
    };
    let refuse = |_: &[u8]| Err("the key is gone".to_string());
    let e = publish(d.path(), &pkgs, &meta, &refuse).unwrap_err();
    assert_eq!(e, PublishError::Signing("the key is gone".into()));
    assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
    let sign = |_: &[u8]| Ok([7u8; 64]);
    let bad = [Package {
        name: "../x.pkg.tar.zst",
        bytes: b"",
    }];
    assert!(publish(d.path(), &bad, &meta, &sign).is_err());
    let out = publish(d.path(), &pkgs, &meta, &sign).unwrap();
    assert_eq!(out[0].b2, crate::b2(b"pkg"));
    let sig = std::fs::read_to_string(d.path().join(format!("{}.sig", pkgs[0].name))).unwrap();
    assert_eq!(sig.trim(), "07".repeat(64));
    // The same bytes again are the same package; other bytes under its
    // name are refused and change nothing.
    assert!(publish(d.path(), &pkgs, &meta, &sign).is_ok());
    let other = [Package {
        name: pkgs[0].name,
        bytes: b"rebuilt",
    }];
    let e = publish(d.path(), &other, &meta, &sign).unwrap_err();
    assert!(
        e.to_string().contains("already published with other bytes"),
        "{e}"
    );
    assert_eq!(std::fs::read(d.path().join(pkgs[0].name)).unwrap(), b"pkg");
}

#[test]
fn builds_publishing_at_once_into_one_repository_lose_no_entry() {
    let d = tempfile::tempdir().unwrap();
    let meta = |n: &str, size: u64, b2: &str| Entry {
        size,
        b2: b2.into(),
        ..entry(n)
    };
    // A slow key widens the window between reading the index and writing
    // it back: without the lock, publishers overwrite each other.
    let sign = |_: &[u8]| {
        std::thread::sleep(std::time::Duration::from_millis(15));
        Ok([7u8; 64])
    };
    std::thread::scope(|s| {
        for i in 0..6 {
            let (dir, meta, sign) = (d.path(), &meta, &sign);
            s.spawn(move || {
                let name = format!("linux-x{i}-7.0-1-aarch64.pkg.tar.zst");
                let pkgs = [Package {
                    name: &name,
                    bytes: b"pkg",
                }];
                publish(dir, &pkgs, meta, sign).unwrap();
            });
        }
    });
    let text = std::fs::read_to_string(d.path().join(INDEX)).unwrap();
    assert_eq!(parse_index("Packages", &text).unwrap().len(), 6, "{text}");
}

proptest! {
    #[test]
    fn the_index_parser_never_panics(text in "(?s).{0,400}") {
        let _ = parse_index("Packages", &text);
    }

    #[test]
    fn pkgver_is_always_a_valid_makepkg_version(r in ".{0,40}") {
        let v = pkgver(&r);
        prop_assert!(!v.is_empty());
        prop_assert!(v.chars().all(|c| c.is_ascii_alphanumeric() || ".+_".contains(c)), "{}", v);
    }
}
