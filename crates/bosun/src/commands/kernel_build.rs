//! `bosun kernel build <host>`: the promoted lock built on the build host
//! its arch routes to, then signed and published.
//!
//! In order: the lock and cumulative patch promote wrote are read and
//! checked (digest, and that promoting again now gives the same lock);
//! blockers that halt builds are read (a global one, `signing-fail`,
//! refuses; one on a build host skips it); the build hosts are tried in
//! routing order (bosun-kernel::build::route). For each: an on-demand
//! host is woken (its `wake` command, bounded by `kernel.wake_timeout`),
//! then a pre-flight (`uname -m` is the arch, the build command is there,
//! the build directory is writable) retried until the wake deadline; a
//! failed pre-flight files `host-changed` on it and moves on. The first to
//! pass gets the job staged (PKGBUILD, cumulative.patch), the build run
//! under the absolute `kernel.build_cap`, the packages fetched, signed by
//! the package key and published. A failed build files `build-fail` on
//! its build host and is kept `kernel.keep_failed` for inspection; a
//! signing failure files the global `signing-fail`.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bosun_control::Result;
use bosun_kernel::{Job, JobStatus, Lock};
use bosun_model::Host;

use super::kernel::{now, save_builders, save_job};
use super::patches::{holds, manifest_of};
use super::{Ctx, other};
use bosun_control::kernel::KernelDirs;

/// Largest package fetched from a build host.
const MAX_PACKAGE_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// How long one file transfer may take.
const TRANSFER: Duration = Duration::from_secs(600);

/// What one build host did with the job.
struct Attempt {
    host: String,
    outcome: String,
}

pub(crate) fn build(ctx: &Ctx, host: &str, as_: Option<String>, json: bool) -> Result<ExitCode> {
    if ctx.remote.is_some() {
        return Err(other(
            "`kernel build` runs on the control host, not yet through the daemon: unset BOSUN_URL",
        ));
    }
    let ws = bosun_workspace::Workspace::open(&ctx.workspace)?;
    let root = ws.root.clone();
    let cfg = ws.config.kernel.clone();
    let times = cfg.times().map_err(|(_, m)| other(m))?;
    let patterns = ws.config.scrub_patterns();
    let (lock, cumulative) = read_lock(&root, host)?;
    // Never build what no one approved: the lock must be one a promote op
    // wrote (an agent's patches compile on a build host).
    let Some(promoted) =
        super::kernel_promote::approved(&ctx.reader()?, host, &lock.cumulative.b2)?
    else {
        return Err(other(format!(
            "{host}: no promote op approved this lock (b2sum {}…): `bosun patches promote {host} --submit --as <you>`, approved, then run",
            &lock.cumulative.b2[..16]
        )));
    };

    // Blockers: a global one, or one on the host built for, refuses; one
    // on a build host skips it (a build runs on its build host, so both
    // `build-host` and `host` scopes name it there).
    let held = holds(ctx, "build")?;
    let names = |b: &bosun_api::views::BlockerView, h: &str| {
        b.subject
            .split(|c: char| c == ',' || c.is_whitespace())
            .any(|s| s == h)
    };
    if let Some((b, _)) = held
        .iter()
        .find(|(b, scope)| scope == "global" || (scope == "host" && names(b, host)))
    {
        return Err(other(format!(
            "{host}: every build is held by blocker {} ({}): {}",
            b.id, b.kind, b.reason
        )));
    }
    let held_on = |h: &str| {
        held.iter()
            .find(|(b, scope)| (scope == "build-host" || scope == "host") && names(b, h))
            .map(|(b, _)| format!("blocker {} ({}): {}", b.id, b.kind, b.reason))
    };
    let ctl = ctx.control()?;
    let (inventory, _) = ctl.inventory_in_force()?;
    let (candidates, skipped) = bosun_kernel::route(&inventory.hosts, &lock.arch, &held_on);
    for s in &skipped {
        errln!("skipping build host {}: {}", s.host, s.why);
    }
    if candidates.is_empty() {
        return Err(other(format!(
            "{host}: no build host for {} is free (fleet/hosts.toml `builds = [{{ arch = \"{}\" }}]`{})",
            lock.arch,
            lock.arch,
            if skipped.is_empty() {
                ""
            } else {
                "; the others are held"
            }
        )));
    }

    let dirs = KernelDirs::of(&ws);
    let mut job = Job::new(&lock, now());
    let jobdir = dirs.jobs.join(&job.job);
    std::fs::create_dir_all(&jobdir).map_err(|e| other(format!("{}: {e}", jobdir.display())))?;
    let pkgbuild = bosun_kernel::pkgbuild(&lock).map_err(|e| other(e.to_string()))?;
    let lock_text = lock.to_toml().map_err(|e| other(e.to_string()))?;
    for (f, b) in [
        ("PKGBUILD", pkgbuild.as_bytes()),
        ("cumulative.patch", cumulative.as_slice()),
        ("manifest.lock", lock_text.as_bytes()),
    ] {
        write(&jobdir.join(f), b)?;
    }
    save_job(&jobdir, &job)?;
    errln!(
        "job {} ({} for {host}, the lock promote op {promoted} wrote)",
        job.job,
        job.pkgbase
    );

    let mut attempts = Vec::new();
    let mut chosen = None;
    for c in &candidates {
        let h = c.host;
        let name = h.name.to_string();
        let deadline = if c.build.on_demand {
            if let Err(e) = wake(&root, h, &dirs, &patterns, times.wake_timeout) {
                errln!("  {name}: {e}");
                attempts.push(Attempt {
                    host: name,
                    outcome: e,
                });
                continue;
            }
            Instant::now() + secs(times.wake_timeout)
        } else {
            Instant::now()
        };
        match preflight(&root, h, &lock.arch, &cfg, &patterns, deadline) {
            Ok(()) => {
                errln!("  {name}: pre-flight passed ({})", c.build.role.as_str());
                chosen = Some(*c);
                break;
            }
            Err(why) => {
                errln!("  {name}: pre-flight failed: {why}");
                file(
                    ctx,
                    &as_,
                    "host-changed",
                    &name,
                    format!("pre-flight: {why}"),
                )?;
                attempts.push(Attempt {
                    host: name,
                    outcome: format!("pre-flight failed: {why}"),
                });
            }
        }
    }
    let Some(c) = chosen else {
        let why = format!(
            "no build host passed pre-flight: {}",
            attempts
                .iter()
                .map(|a| format!("{}: {}", a.host, a.outcome))
                .collect::<Vec<_>>()
                .join("; ")
        );
        job.end(JobStatus::Failed, why.clone(), now(), times.keep_failed);
        save_job(&jobdir, &job)?;
        return Err(other(format!("{host}: {why}")));
    };
    let bh = c.host;
    job.build_host = bh.name.to_string();
    save_job(&jobdir, &job)?;
    let remote_dir = format!("{}/{}", cfg.build_dir.trim_end_matches('/'), job.job);
    for f in ["PKGBUILD", "cumulative.patch"] {
        let bytes = std::fs::read(jobdir.join(f)).map_err(|e| other(e.to_string()))?;
        bosun_transport::put_file(&root, bh, &format!("{remote_dir}/{f}"), &bytes, TRANSFER)
            .map_err(other)?;
    }
    let ccache = c
        .build
        .ccache
        .as_deref()
        .map(|d| format!("CCACHE_DIR={} ", bosun_transport::sh_quote(d)))
        .unwrap_or_default();
    let cmd = format!(
        "cd {} && {ccache}{}",
        bosun_transport::sh_quote(&remote_dir),
        cfg.build_command
    );
    errln!("  {}: building (cap {})", bh.name, cfg.build_cap);
    let made = run_build(
        &root,
        bh,
        &cmd,
        &remote_dir,
        &cfg.build_cap,
        &jobdir,
        &patterns,
        times.build_cap,
    )?;
    touch_builder(&dirs, bh, c.build.on_demand)?;
    let names = match made {
        Ok(n) => n,
        Err(why) => {
            let name = bh.name.to_string();
            return fail(
                ctx,
                &as_,
                &mut job,
                &jobdir,
                "build-fail",
                &name,
                why,
                times.keep_failed,
            );
        }
    };
    let mut packages = Vec::new();
    for n in &names {
        let bytes = bosun_transport::get_file(
            &root,
            bh,
            &format!("{remote_dir}/{n}"),
            MAX_PACKAGE_BYTES,
            TRANSFER,
        )
        .map_err(other)?;
        write(&jobdir.join(n), &bytes)?;
        packages.push((n.clone(), bytes));
    }
    let repo = dirs.repo.join(&lock.arch);
    let published = match super::kernel::sign_and_publish(&dirs, &repo, &job, &packages) {
        Ok(p) => p,
        Err(bosun_kernel::publish::PublishError::Signing(why)) => {
            return fail(
                ctx,
                &as_,
                &mut job,
                &jobdir,
                "signing-fail",
                "package-key",
                why,
                times.keep_failed,
            );
        }
        Err(e) => return Err(other(e.to_string())),
    };
    job.packages = published.iter().map(|e| e.filename.clone()).collect();
    job.end(
        JobStatus::Published,
        String::new(),
        now(),
        times.keep_succeeded,
    );
    save_job(&jobdir, &job)?;
    // Never auto-install: the build proposes the install as its signer,
    // and the keeper policy sends an agent's to a human.
    let proposed = match &as_ {
        Some(who) => propose_install(ctx, host, who),
        None => None,
    };
    if json {
        let mut v = serde_json::to_value(&job).map_err(|e| other(e.to_string()))?;
        v["install_op"] = serde_json::json!(proposed);
        outln!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(|e| other(e.to_string()))?
        );
    } else {
        outln!(
            "{host}: built on {} as job {}; published to {}:",
            bh.name,
            job.job,
            repo.display()
        );
        for e in &published {
            outln!(
                "  {} ({} B, b2 {}…), signed",
                e.filename,
                e.size,
                &e.b2[..16]
            );
        }
        match &proposed {
            Some(jti) => outln!(
                "install proposed as op {jti}: `bosun approve {jti} --as <operator>`, or `bosun kernel install {host} --as <operator>`"
            ),
            None => outln!(
                "install with `bosun kernel install {host} --as <operator>` (a human's verb)"
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Proposes `host`'s install as `who` once a build published; says on
/// stderr what became of it, returns the op's jti when one was taken.
fn propose_install(ctx: &Ctx, host: &str, who: &str) -> Option<String> {
    match super::kernel_install::propose(ctx, host, who) {
        Ok((_, Ok(v))) => {
            errln!("  install proposed: op {} ({})", v.jti, v.state);
            Some(v.jti)
        }
        Ok((_, Err(rej))) => {
            errln!("  install not proposed: {} ({:?})", rej.message, rej.check);
            None
        }
        Err(e) => {
            errln!("  install not proposed: {e}");
            None
        }
    }
}

/// The lock and cumulative patch `patches promote --write` left in
/// `kernel/<host>/`, checked against each other and against what promote
/// makes now.
pub(crate) fn read_lock(root: &Path, host: &str) -> Result<(Lock, Vec<u8>)> {
    let name = bosun_model::Name::parse(host).map_err(|e| other(format!("host `{host}`: {e}")))?;
    let rel = format!("kernel/{name}");
    for f in ["manifest.lock", "cumulative.patch"] {
        bosun_kernel::no_symlinks(root, &format!("{rel}/{f}")).map_err(|e| other(e.to_string()))?;
    }
    let text = std::fs::read_to_string(root.join(&rel).join("manifest.lock")).map_err(|e| {
        other(format!(
            "{rel}/manifest.lock: {e} (promote first: `bosun patches promote {host} --submit --as <you>`)"
        ))
    })?;
    let lock =
        Lock::parse(&format!("{rel}/manifest.lock"), &text).map_err(|e| other(e.to_string()))?;
    let cumulative = std::fs::read(root.join(&rel).join("cumulative.patch"))
        .map_err(|e| other(format!("{rel}/cumulative.patch: {e}")))?;
    if bosun_kernel::b2(&cumulative) != lock.cumulative.b2 {
        return Err(other(format!(
            "{rel}/cumulative.patch is not the one its lock names (b2sum differs): promote again"
        )));
    }
    let (mrel, mtext, _, tree) = manifest_of(root, host)?;
    let now = bosun_kernel::promote(&tree, name.as_str(), &mrel, &mtext)
        .map_err(|e| other(e.to_string()))?;
    if now.lock != lock {
        return Err(other(format!(
            "{rel}/manifest.lock is not what promote makes now (the tree or {mrel} changed): promote again (`bosun patches promote {host} --submit --as <you>`)"
        )));
    }
    Ok((lock, cumulative))
}

/// Runs the build command under the cap, keeps its log, and lists the
/// packages it made; or says why it failed.
#[allow(clippy::too_many_arguments)]
fn run_build(
    root: &Path,
    bh: &Host,
    cmd: &str,
    remote_dir: &str,
    cap_text: &str,
    jobdir: &Path,
    patterns: &[regex::Regex],
    cap: i64,
) -> Result<std::result::Result<Vec<String>, String>> {
    let out = bosun_control::exec::run_step_scrubbed(root, bh, cmd, secs(cap), patterns);
    write(&jobdir.join("build.log"), out.output.as_bytes())?;
    if !out.ok() {
        return Ok(Err(match out.exit_code {
            _ if out.timed_out => format!("killed at the wall-clock cap ({cap_text})"),
            Some(rc) => format!("the build command exited {rc}"),
            None => "the build command did not run to an end".to_string(),
        }));
    }
    let listing = bosun_control::exec::run_step_scrubbed(
        root,
        bh,
        &format!("cd {} && ls -1", bosun_transport::sh_quote(remote_dir)),
        Duration::from_secs(60),
        patterns,
    );
    let names: Vec<String> = listing
        .output
        .lines()
        .map(str::trim)
        .filter(|n| is_package(n))
        .map(str::to_string)
        .collect();
    if !listing.ok() || names.is_empty() {
        return Ok(Err(
            "the build made no package (*.pkg.tar.* or *.deb)".to_string()
        ));
    }
    Ok(Ok(names))
}

/// Runs `host`'s wake command on the control host, bounded.
fn wake(
    root: &Path,
    host: &Host,
    dirs: &KernelDirs,
    patterns: &[regex::Regex],
    timeout: i64,
) -> std::result::Result<(), String> {
    let Some(cmd) = host.wake.as_deref() else {
        return Err("on demand, but the inventory gives it no `wake` command".into());
    };
    errln!("  {}: waking (`{cmd}`, at most {timeout}s)", host.name);
    let me = bosun_transport::controller_host(&host.name);
    let out = bosun_control::exec::run_step_scrubbed(root, &me, cmd, secs(timeout), patterns);
    if !out.ok() {
        return Err(if out.timed_out {
            format!("`{cmd}` did not return in {timeout}s")
        } else {
            format!("`{cmd}` failed: {}", out.output.trim())
        });
    }
    touch_builder(dirs, host, true).map_err(|e| e.to_string())
}

/// The minimal pre-flight: the arch, the build command, a writable build
/// directory; retried every 2 s until `deadline`.
fn preflight(
    root: &Path,
    host: &Host,
    arch: &str,
    cfg: &bosun_workspace::kernel::KernelConfig,
    patterns: &[regex::Regex],
    deadline: Instant,
) -> std::result::Result<(), String> {
    let prog = cfg
        .build_command
        .split_whitespace()
        .next()
        .unwrap_or("makepkg");
    let dir = bosun_transport::sh_quote(&cfg.build_dir);
    let cmd = format!(
        "uname -m; command -v {} >/dev/null || {{ echo 'no build command'; exit 3; }}; mkdir -p {dir} && test -w {dir} || {{ echo 'build directory not writable'; exit 4; }}",
        bosun_transport::sh_quote(prog)
    );
    loop {
        let out = bosun_control::exec::run_step_scrubbed(
            root,
            host,
            &cmd,
            Duration::from_secs(30),
            patterns,
        );
        let first = out.output.lines().next().unwrap_or("").trim().to_string();
        let why = if !out.ok() {
            let rest = out.output.lines().last().unwrap_or("").trim().to_string();
            match out.exit_code {
                Some(3) | Some(4) => rest,
                _ => format!(
                    "unreachable ({})",
                    if rest.is_empty() {
                        "no answer".into()
                    } else {
                        rest
                    }
                ),
            }
        } else if first != arch {
            format!("`uname -m` says {first}, the build needs {arch}")
        } else {
            return Ok(());
        };
        if Instant::now() >= deadline {
            return Err(why);
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// Notes that `host` was just used (an on-demand host's idle time starts).
fn touch_builder(dirs: &KernelDirs, host: &Host, on_demand: bool) -> Result<()> {
    if !on_demand {
        return Ok(());
    }
    let mut b = dirs.builders()?;
    b.host.insert(
        host.name.to_string(),
        bosun_kernel::build::Awake { last_used: now() },
    );
    save_builders(dirs, &b)
}

#[allow(clippy::too_many_arguments)]
fn fail(
    ctx: &Ctx,
    as_: &Option<String>,
    job: &mut Job,
    jobdir: &Path,
    kind: &str,
    subject: &str,
    why: String,
    keep: i64,
) -> Result<ExitCode> {
    job.end(JobStatus::Failed, why.clone(), now(), keep);
    save_job(jobdir, job)?;
    errln!(
        "job {} failed: {why}; kept in {} for inspection",
        job.job,
        jobdir.display()
    );
    file(ctx, as_, kind, subject, format!("job {}: {why}", job.job))?;
    Ok(ExitCode::FAILURE)
}

/// Files a blocker as `as_`, or says it would.
fn file(ctx: &Ctx, as_: &Option<String>, kind: &str, subject: &str, reason: String) -> Result<()> {
    let Some(who) = as_ else {
        errln!("  not filed (no --as): a `{kind}` blocker on {subject}: {reason}");
        return Ok(());
    };
    // Said on stderr: stdout is the build's own answer (`--json`).
    let ctl = ctx.control()?;
    let act = super::blockers::file_act(kind, subject, reason, None);
    match super::statement(&ctx.keys, &ctl, who, act, false)? {
        Ok(a) => {
            if let bosun_control::statement::Effect::BlockerFiled { id } = a.effect {
                errln!("  filed blocker #{id} ({kind}) on {subject}");
            }
        }
        Err(_) => errln!("  the `{kind}` blocker on {subject} was refused (above)"),
    }
    Ok(())
}

fn is_package(n: &str) -> bool {
    !n.ends_with(".sig") && (n.contains(".pkg.tar") || n.ends_with(".deb"))
}

fn secs(s: i64) -> Duration {
    Duration::from_secs(u64::try_from(s).unwrap_or(0))
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    bosun_kernel::publish::write_atomic(path, bytes)
        .map_err(|e| other(format!("{}: {e}", path.display())))
}
