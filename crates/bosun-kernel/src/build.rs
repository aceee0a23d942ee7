//! `kernel build`'s logic: which build host takes a host's build
//! ([`route`]), the PKGBUILD rendered from its lock ([`pkgbuild`]), and
//! the job record a build leaves behind ([`Job`]) with its retention.
//!
//! Routing follows the inventory's `builds` entries for the manifest's
//! arch: primaries first, then secondaries, then fallbacks, each in
//! inventory order. A build host held by an active blocker that halts
//! builds there (`build-fail`, `host-changed`, `bootstrap-missing`) is
//! skipped, with the blocker named; the caller tries the candidates in
//! order (a failed pre-flight moves on to the next).
//!
//! The PKGBUILD is bash that `makepkg` sources on the build host, so every
//! value taken from the manifest or the lock is single-quoted there; the
//! cumulative patch's `b2sums` entry is the lock's digest, so `makepkg`
//! itself refuses a patch that is not the one promoted.

use bosun_model::{Build, Host};
use serde::{Deserialize, Serialize};

use crate::KernelError;
use crate::promote::Lock;

/// A build host that may take the build, in the order to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// The build host.
    pub host: &'a Host,
    /// Its `builds` entry for the arch.
    pub build: &'a Build,
}

/// A build host left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The build host.
    pub host: String,
    /// Why (the blocker that holds it).
    pub why: String,
}

/// The build hosts for `arch`, in routing order, and those held.
/// `held(host)` names what holds builds on a build host, if anything.
pub fn route<'a>(
    hosts: &'a [Host],
    arch: &str,
    held: &dyn Fn(&str) -> Option<String>,
) -> (Vec<Candidate<'a>>, Vec<Skipped>) {
    let mut all: Vec<Candidate<'a>> = hosts
        .iter()
        .flat_map(|h| {
            h.builds
                .iter()
                .filter(|b| b.arch == arch)
                .map(move |b| Candidate { host: h, build: b })
        })
        .collect();
    // Stable: inventory order within a role.
    all.sort_by_key(|c| c.build.role);
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for c in all {
        if out
            .iter()
            .any(|o: &Candidate<'_>| o.host.name == c.host.name)
        {
            continue;
        }
        match held(c.host.name.as_str()) {
            Some(why) => skipped.push(Skipped {
                host: c.host.name.to_string(),
                why,
            }),
            None => out.push(c),
        }
    }
    (out, skipped)
}

/// `s` single-quoted for bash.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The package version `makepkg` accepts, from a baseline ref (`v6.19-rc2`
/// → `6.19.rc2`): no `-`, `:`, `/` or whitespace.
pub fn pkgver(reference: &str) -> String {
    let r = reference.rsplit('/').next().unwrap_or(reference);
    let r = r.strip_prefix('v').unwrap_or(r);
    let v: String = r
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '+' {
                c
            } else {
                '.'
            }
        })
        .collect();
    let v = v.trim_matches('.').to_string();
    if v.is_empty() { "0".into() } else { v }
}

/// The package version of a lock's build: the baseline's version, then
/// `+` and the first 8 hex of the lock's BLAKE2b-512 (`7.0+48609aea`), so
/// every lock builds a version of its own and a host's installed version
/// says which lock it runs.
pub fn version(lock: &Lock) -> String {
    let digest = lock
        .to_toml()
        .map(|t| crate::promote::b2(t.as_bytes()))
        .unwrap_or_else(|_| lock.cumulative.b2.clone());
    let short: String = digest.chars().take(8).collect();
    format!("{}+{short}", pkgver(&lock.baseline_ref))
}

/// The package a build makes: `linux-<suffix>`.
pub fn pkgbase(lock: &Lock) -> String {
    format!("linux-{}", lock.suffix)
}

fn valid_arch(a: &str) -> bool {
    (1..=32).contains(&a.len())
        && a.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The PKGBUILD for `lock` (its `cumulative.patch` beside it).
pub fn pkgbuild(lock: &Lock) -> Result<String, KernelError> {
    if !valid_arch(&lock.arch) {
        return Err(KernelError::Invalid(vec![format!(
            "{}: arch `{}` is not an architecture name",
            lock.manifest, lock.arch
        )]));
    }
    let image = if lock.arch == "x86_64" {
        "arch/x86/boot/bzImage"
    } else {
        "arch/arm64/boot/Image"
    };
    let boot = if lock.arch == "x86_64" {
        "vmlinuz"
    } else {
        "Image"
    };
    let base = pkgbase(lock);
    let s = lock.suffix.as_str();
    Ok(format!(
        r#"# Rendered by bosun from kernel/{host}/manifest.lock; do not edit.
# manifest {manifest} b2 {mb2}
pkgbase={base_q}
pkgname=({base_q})
pkgver={ver_q}
pkgrel=1
arch=({arch_q})
url={tree_q}
license=('GPL-2.0-only')
makedepends=('bc' 'cpio' 'gettext' 'git' 'libelf' 'pahole' 'perl' 'python' 'tar' 'xz')
options=('!debug' '!strip')
source=({src_q} 'cumulative.patch')
b2sums=('SKIP'
        '{cb2}')

prepare() {{
  cd linux
  patch -Np1 < ../cumulative.patch
  echo {local_q} > localversion.10-bosun
  make olddefconfig
}}

build() {{
  cd linux
  make -j"$(nproc)" all
}}

package() {{
  cd linux
  install -Dm644 {image} "$pkgdir/boot/{boot}-"{suffix_q}
  make INSTALL_MOD_PATH="$pkgdir/usr" INSTALL_MOD_STRIP=1 modules_install
  make INSTALL_DTBS_PATH="$pkgdir/boot/dtbs-"{suffix_q} dtbs_install 2>/dev/null || true
}}
"#,
        host = lock.host,
        manifest = lock.manifest,
        mb2 = lock.manifest_b2,
        base_q = quote(&base),
        ver_q = quote(&version(lock)),
        arch_q = quote(&lock.arch),
        tree_q = quote(&lock.baseline_tree),
        src_q = quote(&format!(
            "linux::git+{}#tag={}",
            lock.baseline_tree, lock.baseline_ref
        )),
        cb2 = lock.cumulative.b2,
        local_q = quote(&format!("-{s}")),
        suffix_q = quote(s),
    ))
}

/// Where a build job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Started, not ended (or its process died: see `ended`).
    Running,
    /// The build or its pre-flight failed, or it hit its cap.
    Failed,
    /// Built, signed and published.
    Published,
}

impl JobStatus {
    /// `running`, `failed` or `published`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Running => "running",
            JobStatus::Failed => "failed",
            JobStatus::Published => "published",
        }
    }
}

/// `job.toml`: one build, as `kernel build` leaves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// `<host>-<unix seconds>-<first 8 of the cumulative digest>`.
    pub job: String,
    /// The host whose kernel it builds.
    pub host: String,
    /// The arch.
    pub arch: String,
    /// The build host it ran on (empty until routed).
    pub build_host: String,
    /// The lock's cumulative digest.
    pub cumulative_b2: String,
    /// `linux-<suffix>`.
    pub pkgbase: String,
    /// The package version ([`version`]).
    pub pkgver: String,
    /// Where it stands.
    pub status: JobStatus,
    /// Unix seconds.
    pub started: i64,
    /// Unix seconds, once ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<i64>,
    /// Kept until then (unix seconds); pruned after, unless pruning is paused.
    pub keep_until: i64,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// The packages published (file names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
    /// The `kernel-build` op whose step ran it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub op: String,
}

/// Largest `job.toml` read.
pub const MAX_JOB_BYTES: usize = 64 * 1024;

impl Job {
    /// A job for `lock` started at `now`.
    pub fn new(lock: &Lock, now: i64) -> Job {
        let short: String = lock.cumulative.b2.chars().take(8).collect();
        Job {
            job: format!("{}-{now}-{short}", lock.host),
            host: lock.host.clone(),
            arch: lock.arch.clone(),
            build_host: String::new(),
            cumulative_b2: lock.cumulative.b2.clone(),
            pkgbase: pkgbase(lock),
            pkgver: version(lock),
            status: JobStatus::Running,
            started: now,
            ended: None,
            keep_until: i64::MAX,
            reason: String::new(),
            packages: Vec::new(),
            op: String::new(),
        }
    }

    /// Whether this job builds `lock`: its cumulative patch and its
    /// version (which carries the whole lock's digest: two locks with one
    /// cumulative patch, say a manifest's `probes:` changed, are two
    /// versions).
    pub fn builds(&self, lock: &Lock) -> bool {
        self.cumulative_b2 == lock.cumulative.b2 && self.pkgver == version(lock)
    }

    /// Reads `job.toml` (`path` names it in errors).
    pub fn parse(path: &str, text: &str) -> Result<Job, KernelError> {
        let j: Job = bosun_model::source::from_toml(path, text, MAX_JOB_BYTES)
            .map_err(|e| KernelError::Invalid(vec![e.to_string()]))?;
        if !valid_job_id(&j.job) {
            return Err(KernelError::Invalid(vec![format!(
                "{path}: job `{}` is not a job id",
                j.job
            )]));
        }
        Ok(j)
    }

    /// As `job.toml` holds it.
    pub fn to_toml(&self) -> Result<String, KernelError> {
        toml::to_string(self).map_err(|e| KernelError::Io(e.to_string()))
    }

    /// Ends it at `now`, kept for `keep` seconds.
    pub fn end(&mut self, status: JobStatus, reason: String, now: i64, keep: i64) {
        self.status = status;
        self.reason = reason;
        self.ended = Some(now);
        self.keep_until = now.saturating_add(keep);
    }

    /// Whether `prune` may delete it at `now`: ended and past its keep.
    pub fn prunable(&self, now: i64) -> bool {
        self.status != JobStatus::Running && self.keep_until <= now
    }
}

/// Whether `s` can be a job id (a directory name under the jobs directory).
pub fn valid_job_id(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// `builders.toml`: when each on-demand build host last ended a build, and
/// whether bosun woke it (only those it woke does it release).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Builders {
    /// By build host.
    #[serde(default)]
    pub host: std::collections::BTreeMap<String, Awake>,
}

/// One on-demand build host bosun woke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Awake {
    /// Unix seconds its last build ended (or it was woken).
    pub last_used: i64,
}

impl Builders {
    /// As `builders.toml` holds it.
    pub fn to_toml(&self) -> Result<String, KernelError> {
        toml::to_string(self).map_err(|e| KernelError::Io(e.to_string()))
    }

    /// The woken hosts whose idle time is over at `now`, with their
    /// `release` command (`None`: none is configured, it is only forgotten).
    pub fn due<'a>(&self, hosts: &'a [Host], now: i64) -> Vec<(&'a Host, Option<&'a str>)> {
        let mut out = Vec::new();
        for h in hosts {
            let Some(a) = self.host.get(h.name.as_str()) else {
                continue;
            };
            let Some(b) = h.builds.iter().find(|b| b.on_demand) else {
                // No longer on demand: nothing to release, forget it.
                out.push((h, None));
                continue;
            };
            let idle = b
                .idle_release
                .as_deref()
                .and_then(|d| bosun_model::source::parse_duration(d).ok())
                .unwrap_or(30 * 60);
            if a.last_used.saturating_add(idle) <= now {
                out.push((h, b.release.as_deref()));
            }
        }
        out
    }
}
