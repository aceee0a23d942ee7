//! The kernel tests' fixture: a lab with the kernel fleet example's
//! tree, manifests, runbooks and policy, the example's stand-ins on PATH,
//! the promote as an op, and small helpers.

use std::path::{Path, PathBuf};
use std::process::Output;

use super::Lab;

pub fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/kernel-fleet")
}

pub fn copy_dir(from: &Path, to: &Path) {
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

/// A lab with the example's tree, manifests, install runbook and policy;
/// `hosts` as its inventory, `kernel` as bosun.toml's `[kernel]`. The
/// stand-ins are the example's `sim/bin`.
pub fn kernel_lab(hosts: &str, kernel: &str) -> (Lab, PathBuf) {
    let lab = Lab::new_with(|lab| {
        copy_dir(&example().join("patches"), &lab.path("patches"));
        for f in [
            "fleet/ohm.yaml",
            "fleet/fresnel.yaml",
            "runbooks/kernel-install.toml",
            "runbooks/kernel-promote.toml",
            "runbooks/kernel-build.toml",
            "policy/rules.cedar",
        ] {
            std::fs::copy(example().join(f), lab.path(f)).unwrap();
        }
        lab.write("fleet/hosts.toml", hosts);
        // What the simulated boards report once booted (bars 3 and 4).
        copy_dir(&example().join("sim/boards"), &lab.path(".bosun/sim"));
        let cfg = std::fs::read_to_string(lab.path("bosun.toml")).unwrap();
        lab.write("bosun.toml", &format!("{cfg}\n[kernel]\n{kernel}"));
    });
    (lab, example().join("sim/bin"))
}

/// The promote as an op: the agent submits, an operator approves, the
/// controller writes the lock.
pub fn promote_op(lab: &Lab, bin: &Path, host: &str) -> String {
    let v = lab.json(&[
        "patches", "promote", host, "--submit", "--as", "claude", "--json",
    ]);
    assert_eq!(v["decision"], "pending_approval", "never auto-promote: {v}");
    let jti = v["jti"].as_str().unwrap().to_string();
    lab.ok(&["approve", "--yes", &jti, "--as", "alice"]);
    let o = k(lab, bin, &["work", "--until-idle"]);
    assert_eq!(super::show(lab, &jti)["state"], "succeeded", "{}", text(&o));
    jti
}

/// A build op and what became of it.
pub struct Built {
    /// What `kernel build --json` answered (intake's view of the op).
    pub submitted: serde_json::Value,
    /// The op's id.
    pub jti: String,
    /// `ops show --json` once `work --until-idle` ended.
    pub op: serde_json::Value,
    /// The build step's output (the routing, pre-flight and build lines)
    /// and what `work` printed.
    pub out: String,
    /// The job the op's step made (`kernel jobs --json`), or null.
    pub job: serde_json::Value,
}

impl Built {
    /// Whether the build was published: its op succeeded (the step
    /// started the builder) and the job it made is published.
    pub fn ok(&self) -> bool {
        self.state() == "succeeded"
    }

    /// How the build ended: the op's state when its step never started a
    /// builder (`approved` while held, `failed` when it refused), else the
    /// job's (`succeeded` once published, `failed`).
    pub fn state(&self) -> String {
        let op = self.op["state"].as_str().unwrap_or("").to_string();
        if op != "succeeded" {
            return op;
        }
        match self.job["status"].as_str() {
            Some("published") => "succeeded".into(),
            Some(s) => s.to_string(),
            None => "no job".into(),
        }
    }
}

/// `kernel build <host> --as <who>` (the op), then `work --until-idle`
/// (the controller runs its step here).
pub fn build(lab: &Lab, bin: &Path, host: &str, who: &str) -> Built {
    let o = k(lab, bin, &["kernel", "build", host, "--as", who, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let submitted: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let jti = submitted["jti"].as_str().unwrap().to_string();
    let work = k(lab, bin, &["work", "--until-idle"]);
    let op = super::show(lab, &jti);
    let steps: Vec<String> = op["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["output"].as_str().unwrap_or("").to_string())
        .collect();
    // The build runs beside the controller: wait for its job to end.
    let end = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let job = loop {
        let jobs = lab.json(&["kernel", "jobs", "--json"]);
        let job = jobs["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["op"] == jti.as_str())
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        if job["status"] != "running" {
            break job;
        }
        assert!(
            std::time::Instant::now() < end,
            "the build never ended: {job}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let runner = job["job"]
        .as_str()
        .map(|id| {
            builder_gone(lab, id);
            std::fs::read_to_string(lab.path(&format!(".bosun/kernel/jobs/{id}/runner.log")))
                .unwrap_or_default()
        })
        .unwrap_or_default();
    let out = format!("{}\n{}\n{runner}", steps.join("\n"), text(&work));
    Built {
        submitted,
        jti,
        op,
        out,
        job,
    }
}

/// Waits until job `id`'s builder has exited (its `runner.lock` is free):
/// what it prints and files after it ends the job is all there then.
pub fn builder_gone(lab: &Lab, id: &str) {
    let lock = lab.path(&format!(".bosun/kernel/jobs/{id}/runner.lock"));
    if lock.exists() {
        let held =
            bosun_kernel::publish::lock_file(&lock, std::time::Duration::from_secs(60)).unwrap();
        assert!(held.is_some(), "the builder of {id} did not exit");
    }
}

pub fn k(lab: &Lab, bin: &Path, args: &[&str]) -> Output {
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    lab.cmd(args).env("PATH", path).output().unwrap()
}

pub fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn sim(lab: &Lab, host: &str, file: &str, content: Option<&str>) {
    let p = lab.path(&format!(".bosun/sim/{host}/{file}"));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    match content {
        Some(c) => std::fs::write(p, c).unwrap(),
        None => {
            let _ = std::fs::remove_file(p);
        }
    }
}

pub fn b2sum(p: &Path) -> String {
    let o = std::process::Command::new("b2sum").arg(p).output().unwrap();
    String::from_utf8(o.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

pub const THREE: &str = r#"
[[host]]
name = "ohm"
transport = "local"
root = ".bosun/sim/ohm"

[[host]]
name = "boltzmann"
transport = "local"
root = ".bosun/sim/boltzmann"
builds = [{ arch = "aarch64", role = "primary", ccache = "/var/cache/ccache" }]

[[host]]
name = "ampere"
transport = "local"
root = ".bosun/sim/ampere"
wake = "mkdir -p .bosun/sim/ampere && touch .bosun/sim/ampere/awake"
builds = [{ arch = "aarch64", role = "secondary", on_demand = true, idle_release = "1s", release = "rm .bosun/sim/ampere/awake" }]

[[host]]
name = "fermi"
transport = "local"
root = ".bosun/sim/fermi"
builds = [{ arch = "aarch64", role = "fallback" }]

[[host]]
name = "kbuild-x86"
transport = "local"
root = ".bosun/sim/kbuild-x86"
builds = ["x86_64"]
"#;

/// `kernel status --json` whole, and `host`'s row of it.
pub fn status_of(lab: &Lab, host: &str) -> (serde_json::Value, serde_json::Value) {
    let st = lab.json(&["kernel", "status", "--json"]);
    let row = st
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["host"] == host)
        .unwrap()
        .clone();
    (st, row)
}
