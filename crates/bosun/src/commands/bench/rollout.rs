//! `bosun bench rollout`: a canary-first rollout over many simulated hosts
//! in waves with bars, driven through the real pipeline (rollout engine,
//! intake, approvals, controller, SQLite store, ledger), beside the same
//! commands run by a plain thread pool. Reports bosun's overhead per
//! host-step (wall clock against the plain run, and the controller's own
//! CPU time) and the process's peak memory.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bosun_control::controller::Controller;
use bosun_control::{Control, ControlError, Result, client, now};
use bosun_model::{Jti, KeyId, Name, Role, Verdict};
use bosun_workspace::{KeyRegistry, Workspace};
use serde_json::json;

fn other(s: impl Into<String>) -> ControlError {
    ControlError::Other(s.into())
}

fn id(s: &str) -> Result<KeyId> {
    KeyId::parse(s).map_err(|e| other(e.to_string()))
}

/// Peak resident memory of this process (VmHWM), in bytes.
pub fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// CPU time (user + system) this process has used itself, not its
/// children: /proc/self/stat fields 14 and 15, in USER_HZ (100/s).
fn self_cpu() -> Duration {
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // The command name (field 2) may hold spaces: count from its `)`.
    let Some(rest) = s.rfind(')').map(|i| &s[i + 1..]) else {
        return Duration::ZERO;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // After `)`: field 3 is index 0, so utime (14) is 11 and stime (15) 12.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

const RUNBOOK: &str = r#"id = "bench-install"
verb = "install"
[params.version]
type = "string"
required = true
[[steps]]
id = "install"
cmd = "echo {{ params.version }} > version"
"#;

/// The commands one host runs (the runbook's step and the two bars).
const HOST_CMDS: [&str; 3] = ["echo 2.0 > version", "true", "cat version"];

fn approve(ctl: &Control, keys: &Path, who: &KeyId, jti: &Jti) -> Result<()> {
    ctl.approve_as(&bosun_sign::KeyDir::new(keys), who, jti, now())?
        .map_err(|e| other(e.to_string()))?;
    Ok(())
}

/// Runs the benchmark.
pub fn run(hosts: usize, waves: usize, parallel: u32, json_out: bool) -> Result<()> {
    let waves = waves.clamp(1, hosts.max(1));
    let tmp = tempfile::tempdir().map_err(|e| other(format!("temp dir: {e}")))?;
    let root = tmp.path().join("ws");
    let keys = tmp.path().join("keys");
    bosun_workspace::scaffold::init(
        &root,
        &Name::parse("bench").map_err(|e| other(e.to_string()))?,
    )?;
    // The canary is 1% of the hosts (at least one); the rest split evenly.
    let canary = (hosts / 100).max(1);
    let wave_of = |i: usize| {
        if i < canary || waves == 1 {
            0
        } else {
            1 + (i - canary) * (waves - 1) / (hosts - canary).max(1)
        }
    };
    let mut inv = String::new();
    for i in 0..hosts {
        inv.push_str(&format!(
            "[[host]]\nname = \"h{i:05}\"\ntransport = \"local\"\ntags = [\"w{}\"]\nroot = \".bosun/sim/h{i:05}\"\n",
            wave_of(i)
        ));
    }
    let write = |rel: &str, text: &str| {
        std::fs::write(root.join(rel), text).map_err(|e| other(format!("{rel}: {e}")))
    };
    write("fleet/hosts.toml", &inv)?;
    write("runbooks/bench-install.toml", RUNBOOK)?;
    let mut rollout = String::from(
        "id = \"bench\"\nrunbook = \"bench-install\"\nparams = { version = \"2.0\" }\n",
    );
    for w in 0..waves {
        rollout.push_str(&format!(
            "\n[[waves]]\nname = \"w{w}\"\nhosts = \"tag:w{w}\"\nmax_parallel = {parallel}\nbars = [{{ kind = \"heartbeat\" }}, {{ kind = \"version\", cmd = \"cat version\", expect = \"{{{{ params.version }}}}\" }}]\n"
        ));
    }
    write("rollouts/bench.toml", &rollout)?;
    for (name, role) in [("alice", Role::Operator), ("bob", Role::Operator)] {
        let k = bosun_sign::SecretKey::generate()?;
        bosun_sign::write_private_key(&keys, name, &k)?;
        KeyRegistry::register(&root, &id(name)?, role, &["*".to_string()], &k.public())?;
    }
    let ctl = Control::open(Workspace::open(&root)?)?;
    let (alice, bob) = (id("alice")?, id("bob")?);
    let (p, _) = ctl
        .propose(&alice, now())?
        .ok_or_else(|| other("nothing to adopt"))?;
    let (_, env) = ctl.sign_approval(
        &client::load_secret(&bosun_sign::KeyDir::new(&keys), &alice)?,
        &alice,
        &p.id,
        &p.digest,
        Verdict::Approve,
        None,
        now(),
    )?;
    ctl.approve_adoption(&env, now())?
        .map_err(|r| other(r.to_string()))?;
    let mut c = Controller::new(ctl.clone());
    c.parallel = usize::try_from(parallel).unwrap_or(16);
    c.acquire()?
        .map_err(|l| other(format!("lease held by {}", l.holder)))?;
    let key = client::load_secret(&bosun_sign::KeyDir::new(&keys), &alice)?;

    let cpu0 = self_cpu();
    let t0 = Instant::now();
    let mut steps = 0usize;
    let mut step_ms = 0u64;
    let mut per_wave = Vec::new();
    let mut count = |p: bosun_control::controller::Progress| {
        if let bosun_control::controller::Progress::StepFinished { result, .. } = p {
            steps += 1;
            step_ms += result.duration_ms;
        }
    };
    for w in 0..waves {
        let tw = Instant::now();
        let a = if w == 0 {
            ctl.rollout_start("bench", &key, &alice)?
        } else {
            ctl.rollout_promote("bench", false, &key, &alice)?
                .ok_or_else(|| other("nothing to promote"))?
        };
        approve(&ctl, &keys, &bob, &a.jti)?;
        c.work_until_idle(&mut count)?;
        let st = ctl.rollout_status("bench")?;
        match st.runs.last() {
            Some((_, bosun_control::rollout::RunStatus::Passed { .. })) => {}
            other_state => {
                return Err(other(format!(
                    "wave {w} did not pass: {other_state:?}: {}",
                    st.summary
                )));
            }
        }
        per_wave.push(tw.elapsed());
        if !json_out {
            errln!(
                "wave {w}: {} hosts in {:.2} s",
                st.runs.last().map_or(0, |(r, _)| r.hosts.len()),
                tw.elapsed().as_secs_f64()
            );
        }
    }
    let total = t0.elapsed();
    let cpu = self_cpu().saturating_sub(cpu0);
    let peak = peak_rss();
    c.release()?;

    // The same commands without bosun: each host's three commands in
    // order, `parallel` hosts at once, in the same host directories.
    let sim = root.join(".bosun/sim");
    let next = AtomicUsize::new(0);
    let tb = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..parallel.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= hosts {
                        break;
                    }
                    let dir = sim.join(format!("h{i:05}"));
                    for cmd in HOST_CMDS {
                        let _ = Command::new("/bin/sh")
                            .arg("-c")
                            .arg(cmd)
                            .current_dir(&dir)
                            .stdout(std::process::Stdio::piped())
                            .output();
                    }
                }
            });
        }
    });
    let baseline = tb.elapsed();

    let host_steps = steps.max(1) as f64;
    let wall_over = (total.as_secs_f64() - baseline.as_secs_f64()).max(0.0) * 1e3 / host_steps;
    let cpu_per = cpu.as_secs_f64() * 1e3 / host_steps;
    let r = json!({
        "hosts": hosts,
        "waves": waves,
        "parallel": parallel,
        "host_steps": steps,
        "total_s": total.as_secs_f64(),
        "baseline_s": baseline.as_secs_f64(),
        "sum_of_step_durations_s": step_ms as f64 / 1e3,
        "overhead_wall_ms_per_host_step": wall_over,
        "controller_cpu_ms_per_host_step": cpu_per,
        "peak_rss_mib": peak as f64 / (1024.0 * 1024.0),
        "wave_s": per_wave.iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
    });
    if json_out {
        outln!("{r}");
    } else {
        outln!(
            "rollout of {hosts} hosts in {waves} waves ({steps} host-steps: the runbook's step and 2 bars per host), {parallel} at once"
        );
        outln!(
            "  bosun, start to last wave passed  {:>8.2} s",
            total.as_secs_f64()
        );
        outln!(
            "  same commands, plain thread pool  {:>8.2} s",
            baseline.as_secs_f64()
        );
        outln!("  overhead per host-step (wall)     {wall_over:>8.2} ms   (target <= 2 ms)");
        outln!("  controller CPU per host-step      {cpu_per:>8.2} ms");
        outln!(
            "  peak memory (VmHWM)               {:>8.1} MiB (target <= 150 MB)",
            peak as f64 / (1024.0 * 1024.0)
        );
    }
    Ok(())
}
