//! `policy/keeper.toml`: the knobs around the Cedar rules (mode, how long an
//! approval stays valid, named approval requirements, adoption, ceilings,
//! budgets, time windows).
//!
//! Parsed in two phases: a raw wire struct (`deny_unknown_fields`, with the
//! source span of every value kept) and then a validated [`Keeper`]. The
//! second phase reports every bad value at once, each at its `line:column`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use bosun_model::{Name, Requirement, Role};
use jiff::Timestamp;
use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::error::{ErrorKind, PolicyError};

/// How the policy's `auto` outcome is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A permit without an `@outcome` annotation runs alone.
    Auto,
    /// Nothing runs without a human: every `auto` outcome becomes the
    /// default approval requirement.
    Manual,
    /// Only permits annotated `@outcome("auto")` run alone; a permit without
    /// an `@outcome` annotation needs the default approvals.
    Hybrid,
}

impl Mode {
    /// `auto`, `manual` or `hybrid`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Manual => "manual",
            Mode::Hybrid => "hybrid",
        }
    }

    /// Parses `auto`, `manual` or `hybrid`.
    pub fn parse(s: &str) -> Option<Mode> {
        [Mode::Auto, Mode::Manual, Mode::Hybrid]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A blast-radius budget: once an issuer of `role` has changed `max_hosts`
/// hosts within the last `per_secs` seconds, whatever it submits needs a human.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Budget {
    /// The issuer role the budget applies to.
    pub role: Role,
    /// Hosts an issuer of that role may change within the window.
    pub max_hosts: u64,
    /// The sliding window, in seconds.
    pub per_secs: i64,
}

/// A named recurring time window in a time zone, e.g. business hours.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// The window's name, as Cedar rules see it in `context.windows`.
    pub name: String,
    /// The IANA time zone name as written.
    pub tz_name: String,
    tz: TimeZone,
    /// Active days, indexed Monday = 0 … Sunday = 6.
    days: [bool; 7],
    /// Start, minutes after local midnight (inclusive).
    start_min: u32,
    /// End, minutes after local midnight (exclusive); 1440 means midnight.
    /// When `end_min <= start_min` the window runs past midnight into the
    /// next day.
    end_min: u32,
}

impl Window {
    /// Whether the window is open at `now`.
    pub fn is_active(&self, now: Timestamp) -> bool {
        let local = now.to_zoned(self.tz.clone());
        let minute =
            u32::from(local.hour().unsigned_abs()) * 60 + u32::from(local.minute().unsigned_abs());
        let day = usize::from(local.weekday().to_monday_zero_offset().unsigned_abs());
        let prev = (day + 6) % 7;
        if self.start_min < self.end_min {
            self.days[day] && self.start_min <= minute && minute < self.end_min
        } else {
            (self.days[day] && minute >= self.start_min)
                || (self.days[prev] && minute < self.end_min)
        }
    }
}

/// The validated content of `keeper.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Keeper {
    /// auto, manual or hybrid.
    pub mode: Mode,
    /// How long an approval stays valid, in seconds.
    pub approval_validity_secs: i64,
    /// Whether rollouts may promote waves without a human (reserved).
    pub allow_auto_promotion: bool,
    /// The requirement used when a rule asks for approvals without naming one.
    pub default_approvals: Requirement,
    /// Requirements Cedar rules name with `@requirement("…")`.
    pub named: BTreeMap<String, Requirement>,
    /// What adopting a changed policy, key registry or auto-runnable runbook needs.
    pub adoption: Requirement,
    /// What adopting a change to one kind of subject needs, where
    /// `[adoption.subjects]` says (`inventory = { m = 1, roles = ["operator"] }`);
    /// other kinds need [`Keeper::adoption`].
    pub adoption_subjects: BTreeMap<String, Requirement>,
    /// An agent op touching more than this many hosts never runs alone.
    pub agent_max_hosts: Option<u64>,
    /// Blast-radius budgets per issuer role.
    pub budgets: Vec<Budget>,
    /// Named time windows.
    pub windows: Vec<Window>,
    /// Longest an op may live (`exp - iat`), in seconds, per issuer role
    /// (`max_op_lifetime = { agent = "1h", operator = "24h" }`); roles not
    /// named get [`default_op_lifetime_secs`].
    pub max_op_lifetime: BTreeMap<Role, i64>,
    /// Who may make each kind of signed statement (`[statements]`, verb →
    /// roles); verbs not named get [`default_statement_roles`].
    pub statements: BTreeMap<String, Vec<Role>>,
}

/// Who may make a signed statement of `verb` when keeper.toml does not
/// say: any identity may stop or hold work (`halt`, `blocker_file`,
/// `kernel_keep`, `prune_pause`), operators and agents may author
/// (`patches_import`), only operators may let work continue (`resume`,
/// `blocker_resolve`, …) or reshape the tree (`campaign_abandon`, …).
pub fn default_statement_roles(verb: &str) -> Vec<Role> {
    if bosun_model::claims::STOPPING_VERBS.contains(&verb) {
        vec![Role::Operator, Role::Agent, Role::Controller, Role::Keeper]
    } else if bosun_model::claims::AUTHORING_VERBS.contains(&verb) {
        vec![Role::Operator, Role::Agent]
    } else {
        vec![Role::Operator]
    }
}

/// The kinds of adoption subject `[adoption.subjects]` may name.
pub const ADOPTION_SUBJECT_KINDS: [&str; 6] = [
    "policy",
    "keys",
    "inventory",
    "runbook",
    "rollout",
    "manifest",
];

/// An op's longest lifetime when keeper.toml does not set one for its
/// issuer's role: 1 h for agents, 24 h for everyone else.
pub fn default_op_lifetime_secs(role: Role) -> i64 {
    match role {
        Role::Agent => 3600,
        _ => 86_400,
    }
}

impl Keeper {
    /// What adopting a change to a subject of `kind` needs.
    pub fn adoption_for(&self, kind: &str) -> &Requirement {
        self.adoption_subjects.get(kind).unwrap_or(&self.adoption)
    }

    /// Whether an identity of `role` may make a signed statement of
    /// `verb`.
    pub fn may(&self, role: Role, verb: &str) -> bool {
        match self.statements.get(verb) {
            Some(roles) => roles.contains(&role),
            None => default_statement_roles(verb).contains(&role),
        }
    }

    /// Longest an op of an identity of `role` may live, in seconds.
    pub fn max_op_lifetime_secs(&self, role: Role) -> i64 {
        self.max_op_lifetime
            .get(&role)
            .copied()
            .unwrap_or_else(|| default_op_lifetime_secs(role))
    }
}

// ---- phase 1: the wire format -------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeeper {
    mode: Spanned<String>,
    approval_validity: Spanned<String>,
    #[serde(default)]
    allow_auto_promotion: bool,
    approvals: RawApprovals,
    adoption: Spanned<RawRequirement>,
    #[serde(default)]
    ceilings: Option<RawCeilings>,
    #[serde(default)]
    budgets: Vec<Spanned<RawBudget>>,
    #[serde(default)]
    windows: Vec<Spanned<RawWindow>>,
    #[serde(default)]
    max_op_lifetime: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    statements: BTreeMap<String, Spanned<Vec<Spanned<String>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApprovals {
    default: Spanned<RawRequirement>,
    #[serde(default)]
    named: BTreeMap<String, Spanned<RawRequirement>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequirement {
    m: Spanned<i64>,
    roles: Spanned<Vec<Spanned<String>>>,
    /// Only in `[adoption]`: a quorum per subject kind.
    #[serde(default)]
    subjects: BTreeMap<String, Spanned<RawRequirement>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCeilings {
    #[serde(default)]
    agent_max_hosts: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBudget {
    role: Spanned<String>,
    max_hosts: Spanned<i64>,
    per: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    name: Spanned<String>,
    tz: Spanned<String>,
    days: Spanned<Vec<Spanned<String>>>,
    start: Spanned<String>,
    end: Spanned<String>,
}

// ---- phase 2: validation -------------------------------------------------

/// Collects errors against one file.
struct Errs<'a> {
    path: &'a str,
    text: &'a str,
    out: Vec<PolicyError>,
}

impl Errs<'_> {
    fn push<T>(&mut self, at: &Spanned<T>, message: String, help: &str) {
        self.out.push(PolicyError::at(
            self.path,
            self.text,
            at.span().start,
            ErrorKind::Keeper,
            message,
            help,
        ));
    }
}

/// Parses and validates `keeper.toml`, reporting every error found.
pub fn parse_keeper(path: &str, text: &str) -> Result<Keeper, Vec<PolicyError>> {
    let raw: RawKeeper = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let offset = e.span().map_or(0, |s| s.start);
            let msg = e.message().trim().to_string();
            let help = toml_help(&msg);
            return Err(vec![PolicyError::at(
                path,
                text,
                offset,
                ErrorKind::Toml,
                msg,
                help,
            )]);
        }
    };
    let mut errs = Errs {
        path,
        text,
        out: Vec::new(),
    };

    let mode = Mode::parse(raw.mode.get_ref());
    if mode.is_none() {
        errs.push(
            &raw.mode,
            format!("unknown mode `{}`", raw.mode.get_ref()),
            "use \"auto\", \"manual\" or \"hybrid\"",
        );
    }

    let validity = duration(&mut errs, &raw.approval_validity, "approval_validity");

    let default_approvals = requirement(&mut errs, &raw.approvals.default, "approvals.default");
    let mut named = BTreeMap::new();
    for (name, req) in &raw.approvals.named {
        if Name::parse(name).is_err() {
            errs.push(
                req,
                format!("requirement name `{name}` is not a valid name"),
                "use letters, digits, `-`, `_` and `.`, starting with a letter or digit",
            );
        }
        if let Some(r) = requirement(&mut errs, req, &format!("approvals.named.{name}")) {
            named.insert(name.clone(), r);
        }
    }
    let adoption = requirement(&mut errs, &raw.adoption, "adoption");
    let mut adoption_subjects = BTreeMap::new();
    for (kind, req) in &raw.adoption.get_ref().subjects {
        if !ADOPTION_SUBJECT_KINDS.contains(&kind.as_str()) {
            errs.push(
                req,
                format!("adoption.subjects.{kind}: `{kind}` is not a kind of adoption subject"),
                "use policy, keys, inventory, runbook or rollout",
            );
            continue;
        }
        if let Some(r) = requirement(&mut errs, req, &format!("adoption.subjects.{kind}")) {
            adoption_subjects.insert(kind.clone(), r);
        }
    }

    let agent_max_hosts = match raw
        .ceilings
        .as_ref()
        .and_then(|c| c.agent_max_hosts.as_ref())
    {
        None => None,
        Some(n) => count(&mut errs, n, "ceilings.agent_max_hosts"),
    };

    let mut budgets = Vec::new();
    for b in &raw.budgets {
        let b = b.get_ref();
        let role = Role::parse(b.role.get_ref());
        if role.is_none() {
            errs.push(
                &b.role,
                format!("unknown role `{}`", b.role.get_ref()),
                "use one of operator, agent, controller, keeper",
            );
        }
        let max_hosts = count(&mut errs, &b.max_hosts, "budgets.max_hosts");
        let per = duration(&mut errs, &b.per, "budgets.per");
        if let (Some(role), Some(max_hosts), Some(per_secs)) = (role, max_hosts, per) {
            budgets.push(Budget {
                role,
                max_hosts,
                per_secs,
            });
        }
    }

    let mut windows = Vec::new();
    let mut window_names = BTreeSet::new();
    for w in &raw.windows {
        if let Some(w) = window(&mut errs, w.get_ref(), &mut window_names) {
            windows.push(w);
        }
    }

    let mut max_op_lifetime = BTreeMap::new();
    for (role, d) in &raw.max_op_lifetime {
        let Some(r) = Role::parse(role) else {
            errs.push(
                d,
                format!("max_op_lifetime: unknown role `{role}`"),
                "use one of operator, agent, controller, keeper",
            );
            continue;
        };
        if let Some(secs) = duration(&mut errs, d, &format!("max_op_lifetime.{role}")) {
            max_op_lifetime.insert(r, secs);
        }
    }

    let mut statements = BTreeMap::new();
    for (verb, roles) in &raw.statements {
        if !bosun_model::claims::STATEMENT_VERBS.contains(&verb.as_str()) {
            errs.push(
                roles,
                format!("statements: `{verb}` is not a verb of a signed statement"),
                "use halt, resume, blocker_file, blocker_resolve, blocker_snooze, snooze, rollout_abort, rollout_done, patches_import, patches_migrate, campaign_close, campaign_abandon, kernel_keep, prune_pause or prune",
            );
            continue;
        }
        let stopping = bosun_model::claims::STOPPING_VERBS.contains(&verb.as_str())
            || bosun_model::claims::AUTHORING_VERBS.contains(&verb.as_str());
        let mut list = Vec::new();
        for r in roles.get_ref() {
            match Role::parse(r.get_ref()) {
                None => errs.push(
                    r,
                    format!("statements.{verb}: unknown role `{}`", r.get_ref()),
                    "use one of operator, agent, controller, keeper",
                ),
                Some(role) if !stopping && !role.is_human() => errs.push(
                    r,
                    format!("statements.{verb}: a `{role}` may never {verb}: it lets work continue or widens what may run"),
                    "only human roles (operator) may; stopping verbs (halt, blocker_file, kernel_keep, prune_pause) and patches_import may name any role",
                ),
                Some(role) => list.push(role),
            }
        }
        statements.insert(verb.clone(), list);
    }

    match (mode, validity, default_approvals, adoption) {
        (Some(mode), Some(approval_validity_secs), Some(default_approvals), Some(adoption))
            if errs.out.is_empty() =>
        {
            Ok(Keeper {
                mode,
                approval_validity_secs,
                allow_auto_promotion: raw.allow_auto_promotion,
                default_approvals,
                named,
                adoption,
                adoption_subjects,
                agent_max_hosts,
                budgets,
                windows,
                max_op_lifetime,
                statements,
            })
        }
        _ => {
            let mut out = errs.out;
            out.sort_by_key(|e| (e.line, e.column));
            Err(out)
        }
    }
}

fn toml_help(msg: &str) -> &'static str {
    if msg.contains("unknown field") {
        "remove it or fix its spelling; the keys keeper.toml knows are listed in the message"
    } else if msg.contains("missing field") {
        "add it; a newly initialised workspace has a complete example"
    } else if msg.contains("invalid type") {
        "give the value the type shown"
    } else {
        "fix the TOML syntax at this spot"
    }
}

fn count(errs: &mut Errs<'_>, n: &Spanned<i64>, what: &str) -> Option<u64> {
    match u64::try_from(*n.get_ref()) {
        Ok(v) => Some(v),
        Err(_) => {
            errs.push(
                n,
                format!("{what} is {}, which is negative", n.get_ref()),
                "use 0 or more",
            );
            None
        }
    }
}

fn duration(errs: &mut Errs<'_>, s: &Spanned<String>, what: &str) -> Option<i64> {
    match parse_duration(s.get_ref()) {
        Ok(v) => Some(v),
        Err(why) => {
            errs.push(
                s,
                format!("{what} `{}` is not a duration: {why}", s.get_ref()),
                "write a positive number followed by s, m, h or d, e.g. \"24h\" or \"1h30m\"",
            );
            None
        }
    }
}

fn requirement(
    errs: &mut Errs<'_>,
    raw: &Spanned<RawRequirement>,
    what: &str,
) -> Option<Requirement> {
    let r = raw.get_ref();
    let before = errs.out.len();
    if !r.subjects.is_empty() && what != "adoption" {
        errs.push(
            raw,
            format!("{what} has `subjects`; only [adoption] sets a quorum per subject"),
            "remove `subjects` here",
        );
    }
    let m = *r.m.get_ref();
    let m = match u32::try_from(m) {
        Ok(m) if (1..=100).contains(&m) => Some(m),
        _ => {
            errs.push(
                &r.m,
                format!("{what}.m is {m}; it must be between 1 and 100"),
                "use the number of distinct approvers needed, at least 1",
            );
            None
        }
    };
    let mut roles = Vec::new();
    for role in r.roles.get_ref() {
        match Role::parse(role.get_ref()) {
            None => errs.push(
                role,
                format!("unknown role `{}` in {what}.roles", role.get_ref()),
                "use operator (the only role that may approve)",
            ),
            Some(ro) if !ro.is_human() => errs.push(
                role,
                format!("role `{ro}` in {what}.roles can never approve"),
                "only human roles (operator) approve; remove it",
            ),
            Some(ro) => {
                if !roles.contains(&ro) {
                    roles.push(ro);
                }
            }
        }
    }
    if r.roles.get_ref().is_empty() {
        errs.push(
            &r.roles,
            format!("{what}.roles is empty, so nobody could approve"),
            "list the roles that may approve, e.g. [\"operator\"]",
        );
    }
    roles.sort();
    match m {
        Some(m) if errs.out.len() == before => Some(Requirement { m, roles }),
        _ => None,
    }
}

fn window(errs: &mut Errs<'_>, w: &RawWindow, names: &mut BTreeSet<String>) -> Option<Window> {
    let before = errs.out.len();
    let name = w.name.get_ref();
    if Name::parse(name).is_err() {
        errs.push(
            &w.name,
            format!("window name `{name}` is not a valid name"),
            "use letters, digits, `-`, `_` and `.`, starting with a letter or digit",
        );
    } else if !names.insert(name.clone()) {
        errs.push(
            &w.name,
            format!("window `{name}` is defined twice"),
            "give each window its own name",
        );
    }
    let tz = match TimeZone::get(w.tz.get_ref()) {
        Ok(tz) => Some(tz),
        Err(_) => {
            errs.push(
                &w.tz,
                format!("unknown time zone `{}`", w.tz.get_ref()),
                "use an IANA time zone name such as \"Europe/Berlin\" or \"UTC\"",
            );
            None
        }
    };
    let mut days = [false; 7];
    for d in w.days.get_ref() {
        match parse_day(d.get_ref()) {
            Some(i) => days[i] = true,
            None => errs.push(
                d,
                format!("unknown day `{}`", d.get_ref()),
                "use mon, tue, wed, thu, fri, sat or sun",
            ),
        }
    }
    if w.days.get_ref().is_empty() {
        errs.push(
            &w.days,
            format!("window `{name}` has no days"),
            "list at least one day, e.g. [\"mon\", \"tue\"]",
        );
    }
    let start = time_of_day(errs, &w.start, false);
    let end = time_of_day(errs, &w.end, true);
    if let (Some(s), Some(e)) = (start, end)
        && s == e
    {
        errs.push(
            &w.end,
            format!("window `{name}` starts and ends at the same time"),
            "for a whole day use start = \"00:00\" and end = \"24:00\"",
        );
    }
    match (tz, start, end) {
        (Some(tz), Some(start_min), Some(end_min)) if errs.out.len() == before => Some(Window {
            name: name.clone(),
            tz_name: w.tz.get_ref().clone(),
            tz,
            days,
            start_min,
            end_min,
        }),
        _ => None,
    }
}

fn parse_day(s: &str) -> Option<usize> {
    let all = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
        Weekday::Sunday,
    ];
    all.iter().position(|d| day_name(*d) == s)
}

/// The three-letter lowercase name of a weekday (`mon` … `sun`).
pub fn day_name(d: Weekday) -> &'static str {
    match d {
        Weekday::Monday => "mon",
        Weekday::Tuesday => "tue",
        Weekday::Wednesday => "wed",
        Weekday::Thursday => "thu",
        Weekday::Friday => "fri",
        Weekday::Saturday => "sat",
        Weekday::Sunday => "sun",
    }
}

/// `HH:MM` → minutes after midnight; `24:00` only when `is_end`.
fn time_of_day(errs: &mut Errs<'_>, s: &Spanned<String>, is_end: bool) -> Option<u32> {
    let parsed = (|| {
        let (h, m) = s.get_ref().split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let h: u32 = h.parse().ok()?;
        let m: u32 = m.parse().ok()?;
        match (h, m) {
            (24, 0) if is_end => Some(1440),
            (0..=23, 0..=59) => Some(h * 60 + m),
            _ => None,
        }
    })();
    if parsed.is_none() {
        errs.push(
            s,
            format!("`{}` is not a time of day", s.get_ref()),
            if is_end {
                "write HH:MM between 00:00 and 24:00"
            } else {
                "write HH:MM between 00:00 and 23:59"
            },
        );
    }
    parsed
}

/// Parses a duration (`90s`, `15m`, `1h30m`): the one every bosun file uses.
pub use bosun_model::source::parse_duration;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h"), Ok(86_400));
        assert_eq!(parse_duration("1h30m"), Ok(5_400));
        assert_eq!(parse_duration("1h 30m"), Ok(5_400));
        assert_eq!(parse_duration("7d"), Ok(604_800));
        assert_eq!(parse_duration("45s"), Ok(45));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("24").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("-1h").is_err());
        assert!(parse_duration("3 weeks").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
        assert!(parse_duration("9999999999999999d").is_err());
    }
}
