//! `bosun kernel build <host> --as <who>`: the promoted lock built on the
//! build host its arch routes to, then signed and published, as an op.
//!
//! The verb submits an op of the workspace's `kernel-build` runbook with
//! the host and the digest of the lock an approved promote wrote
//! (`Control::build_op`; under `BOSUN_URL` the daemon plans it and this
//! CLI signs it). The keeper policy decides (examples/kernel-fleet: it
//! runs alone, for the lock was approved when it was promoted); blockers
//! on the `build` verb hold it; the controller runs its one step, on the
//! control host under its exactly-once record: `"$BOSUN" kernel build
//! <host> --step --expect <lock>`, which is [`step`] below.
//!
//! The step, in order: it must be the step of a running `kernel-build`
//! op of that host and lock (`BOSUN_OP`, set by the controller); the lock
//! and cumulative patch promote wrote are read and checked (digest, that
//! promoting again now gives the same lock, that it is the op's); a halt
//! refuses; the lock must be the one a succeeded `kernel-promote` op
//! names (never build what no one approved); blockers that halt builds
//! are read (a global one, `signing-fail`, refuses; one on a build host
//! skips it) and some build host must be routable; jobs whose builder is
//! gone are ended as abandoned; the job is made (PKGBUILD,
//! cumulative.patch, manifest.lock) and handed to a builder
//! (kernel_builder.rs: this binary with `--run-job`, in its own process
//! group, its output in the job's `runner.log`), and the step ends: the
//! controller runs other ops while a build takes its hours, and the op
//! succeeds once its build has started (the job, `kernel jobs` and the
//! blockers it files say how the build ends).
//!
//! The builder runs [`Run::job`]: the build hosts are tried in routing
//! order (bosun-kernel::build::route). For each: an on-demand host is
//! woken (its `wake` command, bounded by `kernel.wake_timeout`), then a
//! pre-flight (`uname -m` is the arch, the build command is there, the
//! build directory is writable) retried until the wake deadline; a failed
//! pre-flight files `host-changed` on it and moves on. The first to pass
//! gets the job staged (PKGBUILD, cumulative.patch), its inventory entry's
//! `command` run in its `dir` under the absolute `kernel.build_cap`, the
//! packages (plain names of this build's package only) fetched, signed by
//! the package key and published. A failed build files `build-fail` on its
//! build host and is kept `kernel.keep_failed` for inspection; a signing
//! failure files the global `signing-fail`; whatever ends the build ends
//! its job. Blockers are filed by the controller, naming the op. A
//! published build is `installable` (the reminder ladder asks the
//! operators to run `kernel install`).

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bosun_control::Result;
use bosun_kernel::{Job, JobStatus};
use bosun_model::{Host, Jti};

use super::kernel::now;
use super::patches::holds;
use super::{Ctx, other};
use bosun_control::kernel::KernelDirs;
use bosun_control::kernel::read_lock;
use bosun_control::kernel_acts::save_job;

/// Largest package fetched from a build host.
const MAX_PACKAGE_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// How long one file transfer may take.
const TRANSFER: Duration = Duration::from_secs(600);

/// Plans and submits `host`'s build op signed by `who`; prints what
/// intake made of it.
pub(crate) fn submit(ctx: &Ctx, host: &str, who: &str, json: bool) -> Result<ExitCode> {
    let op: bosun_api::views::KernelOpView = match &ctx.remote {
        Some(r) => match super::answered(r.get(&format!("/kernel/build/{host}")), json)? {
            Ok(v) => v,
            Err(code) => return Ok(code),
        },
        None => ctx.control()?.build_op(host)?,
    };
    if !json {
        let lock = op.params.get("lock").map_or("", String::as_str);
        outln!(
            "{host}: build of the promoted lock (manifest.lock b2sum {}…)",
            short(lock)
        );
    }
    super::kernel_install::send(ctx, &op.runbook, host, op.params, who, json)
}

/// The build op's step: starts the build of `host`'s lock, which must be
/// `expect`, as the step of the running op `BOSUN_OP` names (see the
/// module docs).
pub(crate) fn step(ctx: &Ctx, host: &str, expect: &str, json: bool) -> Result<ExitCode> {
    let ws = bosun_workspace::Workspace::open(&ctx.workspace)?;
    let cfg = ws.config.kernel.clone();
    let times = cfg.times().map_err(|(_, m)| other(m))?;
    let ctl = ctx.control()?;
    let op = std::env::var("BOSUN_OP").unwrap_or_default();
    let jti = ctl.build_step_op(&op, host, expect)?;
    let (lock, cumulative, lock_text) = read_lock(&ctl, host)?;
    let lock_b2 = bosun_kernel::b2(lock_text.as_bytes());
    if lock_b2 != expect {
        return Err(other(format!(
            "kernel/{host}/manifest.lock (b2sum {}…) is not the lock this op builds ({}…): promote moved on; build again",
            short(&lock_b2),
            short(expect)
        )));
    }
    // A halt stops builds as it stops ops: nothing is woken or built.
    if let Some(h) = ctl.halt_state()? {
        return Err(other(format!(
            "halted by {}: {} (`bosun resume --as <operator>` lifts it)",
            h.by, h.why
        )));
    }
    // Never build what no one approved: the lock must be the one a promote
    // op named and wrote (an agent's patches compile on a build host).
    let Some(promoted) = ctl.approved_promote(host, &lock_b2)? else {
        return Err(other(format!(
            "{host}: no promote op approved this lock (b2sum {}…)",
            short(&lock_b2)
        )));
    };

    // Blockers: a global one, or one on the host built for, refuses; one
    // on a build host skips it (a build runs on its build host, so both
    // `build-host` and `host` scopes name it there).
    let held = holds(ctx, "build")?;
    if let Some((b, _)) = held
        .iter()
        .find(|(b, scope)| scope == "global" || (scope == "host" && names(b, host)))
    {
        return Err(other(format!(
            "{host}: every build is held by blocker {} ({}): {}",
            b.id, b.kind, b.reason
        )));
    }
    let held_on = held_on(ctx)?;
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
    for (j, why) in dirs.end_abandoned(times.keep_failed, now())? {
        errln!("job {j}: {why}");
    }
    let mut job = Job::new(&lock, now());
    // Two builds of one cumulative patch in one second: the next free id.
    let base = job.job.clone();
    let mut n = 1;
    while dirs.jobs.join(&job.job).exists() {
        n += 1;
        job.job = format!("{base}-{n}");
    }
    job.op = jti.to_string();
    let jobdir = dirs.jobs.join(&job.job);
    bosun_kernel::no_symlinks(&ws.state_dir(), &format!("kernel/jobs/{}", job.job))
        .map_err(|e| other(e.to_string()))?;
    std::fs::create_dir_all(&jobdir).map_err(|e| other(format!("{}: {e}", jobdir.display())))?;
    let pkgbuild = bosun_kernel::pkgbuild(&lock).map_err(|e| other(e.to_string()))?;
    for (f, b) in [
        ("PKGBUILD", pkgbuild.as_bytes()),
        ("cumulative.patch", cumulative.as_slice()),
        ("manifest.lock", lock_text.as_bytes()),
    ] {
        write(&jobdir.join(f), b)?;
    }
    save_job(&jobdir, &job)?;
    errln!(
        "job {} ({} {} for {host}, the lock promote op {promoted} wrote)",
        job.job,
        job.pkgbase,
        job.pkgver
    );
    // The build runs beside the controller: the builder (this binary,
    // `--run-job`, in its own process group, its output in runner.log)
    // takes the job; the step ends now, and the controller goes on with
    // other ops.
    match super::kernel_builder::start(&ws.root, host, &job.job, &jobdir) {
        Ok(pid) => {
            if json {
                print_job(&job)?;
            } else {
                outln!(
                    "{host}: job {} handed to the builder (pid {pid}); it routes, builds, signs and publishes beside the controller: `bosun kernel jobs {host}` follows it, {} says how it goes",
                    job.job,
                    jobdir.join("runner.log").display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let why = format!("the builder did not start: {e}");
            job.end(JobStatus::Failed, why.clone(), now(), times.keep_failed);
            save_job(&jobdir, &job)?;
            Err(other(why))
        }
    }
}

/// Prints `job`'s record as JSON (`--json`).
pub(super) fn print_job(job: &Job) -> Result<()> {
    let v = serde_json::to_string_pretty(job).map_err(|e| other(e.to_string()))?;
    outln!("{v}");
    Ok(())
}

/// Why a build host is held, if one is: a blocker that halts builds on it
/// (`build-host` or `host` scope names it).
pub(super) fn held_on(ctx: &Ctx) -> Result<impl Fn(&str) -> Option<String>> {
    let held = holds(ctx, "build")?;
    Ok(move |h: &str| {
        held.iter()
            .find(|(b, scope)| (scope == "build-host" || scope == "host") && names(b, h))
            .map(|(b, _)| format!("blocker {} ({}): {}", b.id, b.kind, b.reason))
    })
}

/// Whether blocker `b`'s subject names `h`.
fn names(b: &bosun_api::views::BlockerView, h: &str) -> bool {
    b.subject
        .split(|c: char| c == ',' || c.is_whitespace())
        .any(|s| s == h)
}

/// One build job in progress: what every step of it needs.
pub(super) struct Run<'a> {
    pub(super) ctl: &'a bosun_control::Control,
    pub(super) op: &'a Jti,
    pub(super) root: &'a Path,
    pub(super) dirs: &'a KernelDirs,
    pub(super) jobdir: &'a Path,
    pub(super) patterns: Vec<regex::Regex>,
    pub(super) times: bosun_workspace::kernel::KernelTimes,
    pub(super) cap: String,
}

impl Run<'_> {
    /// Routes, builds, signs and publishes `job`: the published entries,
    /// or `None` when it failed in a way already recorded (the job ended,
    /// its blocker filed).
    pub(super) fn job(
        &self,
        job: &mut Job,
        arch: &str,
        candidates: &[bosun_kernel::Candidate<'_>],
    ) -> Result<Option<Vec<bosun_kernel::publish::Entry>>> {
        // The caller ends the job with this error.
        let Some(c) = self.route(arch, candidates)? else {
            return Err(other(format!(
                "{}: no build host passed pre-flight (see above)",
                job.host
            )));
        };
        let bh = c.host;
        job.build_host = bh.name.to_string();
        save_job(self.jobdir, job)?;
        // The idle clock of an on-demand host restarts with the build.
        touch_builder(self.dirs, bh, c.build.on_demand)?;
        let remote_dir = format!("{}/{}", c.build.dir().trim_end_matches('/'), job.job);
        for f in ["PKGBUILD", "cumulative.patch"] {
            let bytes = std::fs::read(self.jobdir.join(f)).map_err(|e| other(e.to_string()))?;
            bosun_transport::put_file(
                self.root,
                bh,
                &format!("{remote_dir}/{f}"),
                &bytes,
                TRANSFER,
            )
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
            c.build.command()
        );
        errln!("  {}: building (cap {})", bh.name, self.cap);
        let made = self.build(bh, &cmd, &remote_dir, &job.pkgbase)?;
        touch_builder(self.dirs, bh, c.build.on_demand)?;
        let names = match made {
            Ok(n) => n,
            Err(why) => {
                self.fail(job, "build-fail", bh.name.as_str(), why)?;
                return Ok(None);
            }
        };
        let mut packages = Vec::new();
        let mut total = 0u64;
        for n in &names {
            let bytes = bosun_transport::get_file(
                self.root,
                bh,
                &format!("{remote_dir}/{n}"),
                MAX_PACKAGE_BYTES.saturating_sub(total),
                TRANSFER,
            )
            .map_err(other)?;
            total += bytes.len() as u64;
            write(&self.jobdir.join(n), &bytes)?;
            packages.push((n.clone(), bytes));
        }
        let repo = self.dirs.repo.join(arch);
        let published = match super::kernel::sign_and_publish(self.dirs, &repo, job, &packages) {
            Ok(p) => p,
            Err(bosun_kernel::publish::PublishError::Signing(why)) => {
                self.fail(job, "signing-fail", "package-key", why)?;
                return Ok(None);
            }
            Err(e) => return Err(other(e.to_string())),
        };
        job.packages = published.iter().map(|e| e.filename.clone()).collect();
        job.end(
            JobStatus::Published,
            String::new(),
            now(),
            self.times.keep_succeeded,
        );
        save_job(self.jobdir, job)?;
        Ok(Some(published))
    }

    /// The first candidate that wakes and passes its pre-flight; a failed
    /// pre-flight files `host-changed` on it.
    fn route<'c>(
        &self,
        arch: &str,
        candidates: &[bosun_kernel::Candidate<'c>],
    ) -> Result<Option<bosun_kernel::Candidate<'c>>> {
        for c in candidates {
            let h = c.host;
            let name = h.name.to_string();
            let deadline = if c.build.on_demand {
                if let Err(e) = wake(
                    self.root,
                    h,
                    self.dirs,
                    &self.patterns,
                    self.times.wake_timeout,
                ) {
                    errln!("  {name}: {e}");
                    continue;
                }
                Instant::now() + secs(self.times.wake_timeout)
            } else {
                Instant::now()
            };
            match preflight(self.root, h, arch, c.build, &self.patterns, deadline) {
                Ok(()) => {
                    errln!("  {name}: pre-flight passed ({})", c.build.role.as_str());
                    return Ok(Some(*c));
                }
                Err(why) => {
                    errln!("  {name}: pre-flight failed: {why}");
                    file(
                        self.ctl,
                        self.op,
                        "host-changed",
                        &name,
                        format!("pre-flight: {why}"),
                    )?;
                }
            }
        }
        Ok(None)
    }

    /// Runs the build command under the cap, keeps its log, and lists the
    /// packages it made (plain names of `pkgbase`'s packages only: the
    /// build host compiles agent-written patches, so its listing is not
    /// trusted with paths); or says why it failed.
    fn build(
        &self,
        bh: &Host,
        cmd: &str,
        remote_dir: &str,
        pkgbase: &str,
    ) -> Result<std::result::Result<Vec<String>, String>> {
        let out = bosun_control::exec::run_step_scrubbed(
            self.root,
            bh,
            cmd,
            secs(self.times.build_cap),
            &self.patterns,
        );
        write(&self.jobdir.join("build.log"), out.output.as_bytes())?;
        if !out.ok() {
            return Ok(Err(match out.exit_code {
                _ if out.timed_out => format!("killed at the wall-clock cap ({})", self.cap),
                Some(rc) => format!("the build command exited {rc}"),
                None => "the build command did not run to an end".to_string(),
            }));
        }
        let listing = bosun_control::exec::run_step_scrubbed(
            self.root,
            bh,
            &format!("cd {} && ls -1", bosun_transport::sh_quote(remote_dir)),
            Duration::from_secs(60),
            &self.patterns,
        );
        let names: Vec<String> = listing
            .output
            .lines()
            .map(str::trim)
            .filter(|n| is_package(n, pkgbase))
            .take(MAX_PACKAGES + 1)
            .map(str::to_string)
            .collect();
        if names.len() > MAX_PACKAGES {
            return Ok(Err(format!(
                "the build made more than {MAX_PACKAGES} packages"
            )));
        }
        if !listing.ok() || names.is_empty() {
            return Ok(Err(format!(
                "the build made no package ({pkgbase}-*.pkg.tar.* or {pkgbase}_*.deb)"
            )));
        }
        Ok(Ok(names))
    }

    /// Ends `job` failed (kept for inspection) and files `kind` on `subject`.
    fn fail(&self, job: &mut Job, kind: &str, subject: &str, why: String) -> Result<()> {
        errln!(
            "job {} failed: {why}; kept in {} for inspection",
            job.job,
            self.jobdir.display()
        );
        // The blocker first: whoever sees the job ended sees it filed.
        let filed = file(
            self.ctl,
            self.op,
            kind,
            subject,
            format!("job {}: {why}", job.job),
        );
        job.end(JobStatus::Failed, why, now(), self.times.keep_failed);
        save_job(self.jobdir, job)?;
        filed
    }
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
    build: &bosun_model::Build,
    patterns: &[regex::Regex],
    deadline: Instant,
) -> std::result::Result<(), String> {
    let prog = build
        .command()
        .split_whitespace()
        .next()
        .unwrap_or("makepkg");
    let dir = bosun_transport::sh_quote(build.dir());
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
    let t = now();
    dirs.with_builders(|b| {
        b.host.insert(
            host.name.to_string(),
            bosun_kernel::build::Awake { last_used: t },
        );
    })
}

/// Files a blocker as the controller for the op (said on stderr: stdout
/// is the build's own answer, `--json`).
fn file(
    ctl: &bosun_control::Control,
    op: &Jti,
    kind: &str,
    subject: &str,
    reason: String,
) -> Result<()> {
    match ctl.file_step_blocker(op, kind, subject, reason) {
        Ok(id) => errln!("  filed blocker #{id} ({kind}) on {subject}"),
        Err(e) => errln!("  the `{kind}` blocker on {subject} was not filed: {e}"),
    }
    Ok(())
}

/// Most packages one build may publish.
const MAX_PACKAGES: usize = 16;

/// A package of `pkgbase` as a plain file name: `<pkgbase>-….pkg.tar.{zst,xz,gz}`
/// or `<pkgbase>_….deb`, nothing that could be a path.
fn is_package(n: &str, pkgbase: &str) -> bool {
    bosun_kernel::publish::valid_file_name(n)
        && ((n.starts_with(&format!("{pkgbase}-"))
            && [".pkg.tar.zst", ".pkg.tar.xz", ".pkg.tar.gz"]
                .iter()
                .any(|e| n.ends_with(e)))
            || (n.starts_with(&format!("{pkgbase}_")) && n.ends_with(".deb")))
}

/// The first 16 characters of a digest, for a message (whatever it holds).
pub(super) fn short(s: &str) -> &str {
    s.char_indices().nth(16).map_or(s, |(i, _)| &s[..i])
}

fn secs(s: i64) -> Duration {
    Duration::from_secs(u64::try_from(s).unwrap_or(0))
}

pub(super) fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    bosun_kernel::publish::write_atomic(path, bytes)
        .map_err(|e| other(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::is_package;

    #[test]
    fn only_plain_package_names_of_the_build_are_taken_from_a_listing() {
        let base = "linux-pinetab2-ohm";
        assert!(is_package(
            "linux-pinetab2-ohm-7.0+1a2b3c4d-1-aarch64.pkg.tar.zst",
            base
        ));
        assert!(is_package("linux-pinetab2-ohm_7.0-1_arm64.deb", base));
        for bad in [
            "../../../../runbooks/pwn.pkg.tar.toml",
            "../linux-pinetab2-ohm-7.0-1-aarch64.pkg.tar.zst",
            "linux-pinetab2-ohm-7.0-1-aarch64.pkg.tar.zst.sig",
            "linux-other-7.0-1-aarch64.pkg.tar.zst",
            ".linux-pinetab2-ohm-7.0-1-aarch64.pkg.tar.zst",
            "linux-pinetab2-ohm-7.0-1-aarch64.pkg.tar.toml",
            "linux-pinetab2-ohm 7.0.pkg.tar.zst",
            "",
        ] {
            assert!(!is_package(bad, base), "{bad}");
        }
    }
}
