//! The keeper policy: `policy/keeper.toml` plus the Cedar rules in
//! `policy/*.cedar`, loaded from strings (this crate does no file I/O),
//! validated with every error reported at once, and evaluated per op into a
//! [`Decision`]: `auto`, `approvals(m of roles)` or `deny(reason)`.
//!
//! How a decision is made ([`Policy::decide`]):
//!
//! 1. Cedar evaluates the rules that can apply to the op's runbook (see
//!    [`rules`] for the index). Any satisfied `forbid` (or permit annotated
//!    `@outcome("deny")`) denies; no satisfied permit denies by default.
//! 2. Otherwise the satisfied permits' `@outcome` annotations decide: if any
//!    wants approvals, the op needs the largest `m` among them, from the
//!    union of their roles. A permit without `@outcome` runs alone in `auto`
//!    mode and needs the default approvals in `hybrid` mode.
//! 3. An `auto` outcome then still needs the default approvals when the mode
//!    is `manual`, when an agent op exceeds the host ceiling, or when the
//!    issuer's blast-radius budget is spent.
//!
//! The hard approval rules (agents never approve, nobody approves their own
//! op, approvals bind to the plan digest and expire) are in [`approvals`] and
//! hold whatever the policy says.
#![deny(missing_docs)]

pub mod approvals;
mod defaults;
pub mod error;
pub mod keeper;
pub mod rules;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use bosun_model::{Decision, Digest, KeyId, Name, Outcome, Requirement, Role};
use cedar_policy as cedar;
use jiff::tz::TimeZone;

pub use approvals::{ApprovalRecord, Tally, tally};
pub use defaults::{DEFAULT_CEDAR, DEFAULT_KEEPER_TOML, SCHEMA};
pub use error::{ErrorKind, PolicyError, PolicyErrors};
pub use keeper::{Budget, Keeper, Mode, Window};

use rules::{PidStr, Rules, Wanted};

/// Largest policy file accepted, in bytes (1 MiB).
pub const MAX_FILE_BYTES: usize = 1 << 20;

/// One policy file as the caller read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// The path, used in messages (and its file name in the digest).
    pub path: String,
    /// The file's content.
    pub text: String,
}

impl SourceFile {
    /// A file named `path` with content `text`.
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> SourceFile {
        SourceFile {
            path: path.into(),
            text: text.into(),
        }
    }
}

/// What the keeper knows about an op when it decides.
pub struct Request<'a> {
    /// The identity that signed the op.
    pub issuer: &'a KeyId,
    /// The issuer's registered role.
    pub role: Role,
    /// The runbook the op runs.
    pub runbook: &'a Name,
    /// The runbook only reads.
    pub read_only: bool,
    /// The runbook has a destructive step.
    pub destructive: bool,
    /// The target hosts.
    pub targets: &'a [Name],
    /// Every tag of every target host.
    pub target_tags: &'a BTreeSet<String>,
    /// Whether any target is an infra host.
    pub infra_targets: bool,
    /// The time of the decision.
    pub now: jiff::Timestamp,
    /// Hosts this issuer changed within the last N seconds (N = a budget's
    /// window); called only when a budget for the issuer's role applies.
    pub hosts_changed: &'a dyn Fn(i64) -> u64,
}

/// A loaded, validated keeper policy, ready to decide.
#[derive(Debug)]
pub struct Policy {
    keeper: Keeper,
    rules: Rules,
    digest: Digest,
    t_role: cedar::EntityTypeName,
    t_identity: cedar::EntityTypeName,
    t_runbook: cedar::EntityTypeName,
    action: cedar::EntityUid,
    entity_cache: Mutex<HashMap<EntityKey, Arc<cedar::Entities>>>,
    /// Whether `decide` uses the index (always, but for [`Policy::unindexed`]).
    indexed: bool,
}

/// What the per-request entities depend on.
type EntityKey = (KeyId, Role, Name, bool, bool);

/// Most entity sets kept; the cache is emptied when it is full.
const ENTITY_CACHE_MAX: usize = 4096;

/// The digest of a policy's files: `keeper.toml` and then every `.cedar`
/// file sorted by file name, each framed as `<name>\n<byte length>\n<bytes>`
/// after the header `bosun-policy-v1\n`. Only file names (not directories)
/// enter the digest, so it does not depend on where the workspace lives.
pub fn policy_digest(keeper: &SourceFile, cedar: &[SourceFile]) -> Digest {
    let mut files: Vec<(&str, &str)> = cedar
        .iter()
        .map(|f| (rules::file_name(&f.path), f.text.as_str()))
        .collect();
    files.sort();
    let mut buf = Vec::with_capacity(
        keeper.text.len() + files.iter().map(|f| f.1.len() + 64).sum::<usize>() + 64,
    );
    buf.extend_from_slice(b"bosun-policy-v1\n");
    for (name, text) in std::iter::once(("keeper.toml", keeper.text.as_str())).chain(files) {
        buf.extend_from_slice(name.as_bytes());
        buf.push(b'\n');
        buf.extend_from_slice(text.len().to_string().as_bytes());
        buf.push(b'\n');
        buf.extend_from_slice(text.as_bytes());
    }
    Digest::of(&buf)
}

impl Policy {
    /// Loads `keeper.toml` and the `.cedar` files, reporting every error
    /// found in all of them at once.
    pub fn load(keeper: &SourceFile, cedar: &[SourceFile]) -> Result<Policy, PolicyErrors> {
        let mut errors = Vec::new();
        let parsed_keeper = if keeper.text.len() > MAX_FILE_BYTES {
            errors.push(PolicyError::at(
                &keeper.path,
                &keeper.text,
                0,
                ErrorKind::TooLarge,
                format!(
                    "the file is {} bytes; the limit is {MAX_FILE_BYTES} bytes",
                    keeper.text.len()
                ),
                "keeper.toml holds a few settings; remove what does not belong",
            ));
            None
        } else {
            match keeper::parse_keeper(&keeper.path, &keeper.text) {
                Ok(k) => Some(k),
                Err(e) => {
                    errors.extend(e);
                    None
                }
            }
        };
        let named: Option<BTreeSet<String>> = parsed_keeper
            .as_ref()
            .map(|k| k.named.keys().cloned().collect());
        let rules = rules::load(cedar, named.as_ref(), &mut errors);
        let types = (
            rules::type_name("Role"),
            rules::type_name("Identity"),
            rules::type_name("Runbook"),
            rules::type_name("Action"),
        );
        match (parsed_keeper, rules, types) {
            (
                Some(keeper_cfg),
                Some(rules),
                (Ok(t_role), Ok(t_identity), Ok(t_runbook), Ok(t_action)),
            ) if errors.is_empty() => Ok(Policy {
                keeper: keeper_cfg,
                rules,
                digest: policy_digest(keeper, cedar),
                t_role,
                t_identity,
                t_runbook,
                action: cedar::EntityUid::from_type_name_and_id(
                    t_action,
                    cedar::EntityId::new("run"),
                ),
                entity_cache: Mutex::new(HashMap::new()),
                indexed: true,
            }),
            _ => Err(PolicyErrors(errors)),
        }
    }

    /// The digest of the files this policy was loaded from (see [`policy_digest`]).
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.keeper.mode
    }

    /// Whether an identity of `role` may make a signed statement of `verb`
    /// (`halt`, `resume`, …): keeper.toml `[statements]`, else the safe
    /// defaults (anyone stops work, only operators let it continue).
    pub fn may(&self, role: Role, verb: &str) -> bool {
        self.keeper.may(role, verb)
    }

    /// Longest an op of an identity of `role` may live (`exp - iat`), in
    /// seconds (keeper.toml `max_op_lifetime`).
    pub fn max_op_lifetime_secs(&self, role: Role) -> i64 {
        self.keeper.max_op_lifetime_secs(role)
    }

    /// How long an approval stays valid, in seconds.
    pub fn approval_validity_secs(&self) -> i64 {
        self.keeper.approval_validity_secs
    }

    /// What adopting a changed policy, key registry or auto-runnable runbook needs.
    pub fn adoption_requirement(&self) -> Requirement {
        self.keeper.adoption.clone()
    }

    /// What adopting a change to a subject of `kind` (`inventory`,
    /// `runbook`, …) needs: keeper.toml's `[adoption.subjects]` entry for
    /// it, else `[adoption]`.
    pub fn adoption_requirement_for(&self, kind: &str) -> Requirement {
        self.keeper.adoption_for(kind).clone()
    }

    /// The requirement used when a rule asks for approvals without naming one.
    pub fn default_requirement(&self) -> Requirement {
        self.keeper.default_approvals.clone()
    }

    /// Whether rollouts may promote waves without a human (reserved).
    pub fn allow_auto_promotion(&self) -> bool {
        self.keeper.allow_auto_promotion
    }

    /// The blast-radius budgets, so the caller knows which usage windows to compute.
    pub fn budgets(&self) -> &[Budget] {
        &self.keeper.budgets
    }

    /// The whole validated `keeper.toml`.
    pub fn keeper(&self) -> &Keeper {
        &self.keeper
    }

    /// Every policy id, sorted.
    pub fn policy_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.rules.meta.keys().map(String::as_str).collect();
        ids.sort_unstable();
        ids
    }

    /// How many Cedar policies `decide` evaluates for an op of `role` on
    /// `runbook` with these attributes: those the index says can apply (see
    /// [`rules`]).
    pub fn policies_considered(
        &self,
        runbook: &Name,
        role: Role,
        read_only: bool,
        destructive: bool,
    ) -> usize {
        self.pick(runbook, role, read_only, destructive).len
    }

    /// The same policy deciding with every Cedar policy, as if there were
    /// no index: for tests and benchmarks, which check that the index never
    /// changes a decision and measure what it saves.
    pub fn unindexed(mut self) -> Policy {
        self.indexed = false;
        self
    }

    /// The names of the windows open at `now`, sorted.
    pub fn windows_at(&self, now: jiff::Timestamp) -> Vec<String> {
        let mut open: Vec<String> = self
            .keeper
            .windows
            .iter()
            .filter(|w| w.is_active(now))
            .map(|w| w.name.clone())
            .collect();
        open.sort();
        open
    }

    fn pick(
        &self,
        runbook: &Name,
        role: Role,
        read_only: bool,
        destructive: bool,
    ) -> Arc<rules::Picked> {
        if self.indexed {
            self.rules
                .pick(runbook.as_str(), role, read_only, destructive)
        } else {
            Arc::clone(&self.rules.all)
        }
    }

    /// The entities for `req`: the issuer's identity (a child of its role;
    /// the role entity itself need not exist for `in` to hold) and the
    /// runbook. Building them costs more than evaluating a few policies
    /// (Cedar computes the hierarchy's transitive closure), so they are
    /// cached per (issuer, role, runbook, read_only, destructive).
    fn entities(
        &self,
        req: &Request<'_>,
        schema: Option<&cedar::Schema>,
    ) -> Result<Arc<cedar::Entities>, String> {
        use cedar::RestrictedExpression as X;
        let key = (
            req.issuer.clone(),
            req.role,
            req.runbook.clone(),
            req.read_only,
            req.destructive,
        );
        if schema.is_none()
            && let Ok(cache) = self.entity_cache.lock()
            && let Some(e) = cache.get(&key)
        {
            return Ok(Arc::clone(e));
        }
        let identity = cedar::Entity::new(
            self.uid(&self.t_identity, req.issuer.as_str()),
            HashMap::from([(
                "name".to_string(),
                X::new_string(req.issuer.as_str().to_string()),
            )]),
            HashSet::from([self.uid(&self.t_role, req.role.as_str())]),
        )
        .map_err(|e| e.to_string())?;
        let runbook = cedar::Entity::new(
            self.uid(&self.t_runbook, req.runbook.as_str()),
            HashMap::from([
                ("read_only".to_string(), X::new_bool(req.read_only)),
                ("destructive".to_string(), X::new_bool(req.destructive)),
            ]),
            HashSet::new(),
        )
        .map_err(|e| e.to_string())?;
        let entities = Arc::new(
            cedar::Entities::from_entities([identity, runbook], schema)
                .map_err(|e| e.to_string())?,
        );
        if schema.is_none()
            && let Ok(mut cache) = self.entity_cache.lock()
        {
            if cache.len() >= ENTITY_CACHE_MAX {
                cache.clear();
            }
            cache.insert(key, Arc::clone(&entities));
        }
        Ok(entities)
    }

    fn uid(&self, t: &cedar::EntityTypeName, id: &str) -> cedar::EntityUid {
        cedar::EntityUid::from_type_name_and_id(t.clone(), cedar::EntityId::new(id))
    }

    /// The Cedar request and entities for `req`, with the context
    /// attributes in `needs` (a mask of [`rules::CONTEXT_ATTRS`]).
    /// With `schema`, Cedar also checks them against it, and the context is
    /// whole (tests do; `decide` does not, for speed: what is built here is
    /// fixed by this code).
    fn cedar_request(
        &self,
        req: &Request<'_>,
        schema: Option<&cedar::Schema>,
        needs: u8,
    ) -> Result<(cedar::Request, Arc<cedar::Entities>), String> {
        use cedar::RestrictedExpression as X;
        let entities = self.entities(req, schema)?;
        let principal = self.uid(&self.t_identity, req.issuer.as_str());
        let resource = self.uid(&self.t_runbook, req.runbook.as_str());
        let needs = if schema.is_some() {
            rules::ALL_CONTEXT
        } else {
            needs
        };
        let strings = |it: &mut dyn Iterator<Item = String>| X::new_set(it.map(X::new_string));
        let mut pairs = Vec::with_capacity(rules::CONTEXT_ATTRS.len());
        for (i, name) in rules::CONTEXT_ATTRS.iter().enumerate() {
            if needs & (1 << i) == 0 {
                continue;
            }
            let value = match *name {
                "targets" => strings(&mut req.targets.iter().map(|t| t.as_str().to_string())),
                "target_count" => X::new_long(i64::try_from(req.targets.len()).unwrap_or(i64::MAX)),
                "target_tags" => strings(&mut req.target_tags.iter().cloned()),
                "infra_targets" => X::new_bool(req.infra_targets),
                "windows" => strings(&mut self.windows_at(req.now).into_iter()),
                "weekday" => X::new_string(
                    keeper::day_name(req.now.to_zoned(TimeZone::UTC).weekday()).to_string(),
                ),
                "hour" => X::new_long(i64::from(req.now.to_zoned(TimeZone::UTC).hour())),
                other => return Err(format!("no context attribute `{other}`")),
            };
            pairs.push((name.to_string(), value));
        }
        let context = cedar::Context::from_pairs(pairs).map_err(|e| e.to_string())?;
        let request =
            cedar::Request::new(principal, self.action.clone(), resource, context, schema)
                .map_err(|e| e.to_string())?;
        Ok((request, entities))
    }

    /// The keeper's decision on an op. Never panics; anything unexpected
    /// denies, with the reason in words.
    pub fn decide(&self, req: &Request<'_>) -> Decision {
        let mut d = Decision {
            outcome: Outcome::Auto,
            policy_digest: self.digest.clone(),
            policy_ids: Vec::new(),
            reasons: Vec::new(),
        };
        let set = self.pick(req.runbook, req.role, req.read_only, req.destructive);
        let (request, entities) = match self.cedar_request(req, None, set.context) {
            Ok(r) => r,
            Err(why) => {
                let reason = format!("the op could not be put to the rules: {why}");
                d.reasons.push(reason.clone());
                d.outcome = Outcome::Deny { reason };
                return d;
            }
        };
        let resp = self
            .rules
            .authorizer
            .is_authorized(&request, &set.set, &entities);
        let diag = resp.diagnostics();

        // A forbid that failed to evaluate fails closed.
        for e in diag.errors() {
            let cedar::AuthorizationError::PolicyEvaluationError(pe) = e;
            let id = pe.policy_id().pid_str();
            if self
                .rules
                .meta
                .get(id)
                .is_some_and(|m| m.wanted == Wanted::Deny)
            {
                let reason = format!(
                    "rule `{id}` could not be evaluated ({}), so it denies",
                    pe.inner()
                );
                d.policy_ids.push(id.to_string());
                d.reasons.push(reason.clone());
                d.outcome = Outcome::Deny { reason };
            }
        }
        if matches!(d.outcome, Outcome::Deny { .. }) {
            d.policy_ids.sort();
            return d;
        }

        let mut determining: Vec<(&str, &rules::RuleMeta)> = diag
            .reason()
            .filter_map(|id| {
                let id = id.pid_str();
                self.rules
                    .meta
                    .get_key_value(id)
                    .map(|(k, m)| (k.as_str(), m))
            })
            .collect();
        determining.sort_by_key(|(id, _)| *id);

        // Denials: forbids, and permits annotated @outcome("deny").
        let denying: Vec<(&str, &rules::RuleMeta)> = determining
            .iter()
            .filter(|(_, m)| m.wanted == Wanted::Deny)
            .copied()
            .collect();
        if !denying.is_empty() {
            for (id, m) in &denying {
                d.policy_ids.push(id.to_string());
                let verb = if m.forbid {
                    "forbids this op"
                } else {
                    "denies this op"
                };
                d.reasons.push(match &m.reason {
                    Some(r) => format!("rule `{id}` {verb}: {r}"),
                    None => format!("rule `{id}` {verb}"),
                });
            }
            let (id, m) = denying[0];
            d.outcome = Outcome::Deny {
                reason: m
                    .reason
                    .clone()
                    .unwrap_or_else(|| format!("forbidden by policy {id}")),
            };
            return d;
        }
        if resp.decision() != cedar::Decision::Allow || determining.is_empty() {
            let reason = "no policy permits this op".to_string();
            d.reasons.push(reason.clone());
            d.outcome = Outcome::Deny { reason };
            return d;
        }

        // Permits: the strictest wins.
        let mut need: Option<Requirement> = None;
        fn add(r: &Requirement, need: &mut Option<Requirement>) {
            let n = need.get_or_insert_with(|| Requirement {
                m: 0,
                roles: Vec::new(),
            });
            n.m = n.m.max(r.m);
            for role in &r.roles {
                if !n.roles.contains(role) {
                    n.roles.push(*role);
                }
            }
        }
        for (id, m) in &determining {
            d.policy_ids.push(id.to_string());
            let because = m
                .reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            match m.wanted {
                Wanted::Auto => {
                    d.reasons
                        .push(format!("rule `{id}` lets this op run alone{because}"));
                }
                Wanted::Unannotated if self.keeper.mode != Mode::Hybrid => {
                    d.reasons.push(format!(
                        "rule `{id}` permits this op and has no @outcome, so it runs alone in {} mode{because}",
                        self.keeper.mode
                    ));
                }
                Wanted::Unannotated => {
                    let r = &self.keeper.default_approvals;
                    add(r, &mut need);
                    d.reasons.push(format!(
                        "rule `{id}` permits this op but has no @outcome(\"auto\"); in hybrid mode that needs the default approvals ({}){because}",
                        describe(r)
                    ));
                }
                Wanted::Approvals => {
                    let (r, which) = match &m.requirement {
                        Some(name) => match self.keeper.named.get(name) {
                            Some(r) => (r, format!("requirement `{name}`")),
                            // Checked at load; should it ever happen, fall
                            // back to the adoption requirement (M-of-N).
                            None => (&self.keeper.adoption, "the adoption requirement".into()),
                        },
                        None => (
                            &self.keeper.default_approvals,
                            "the default requirement".into(),
                        ),
                    };
                    add(r, &mut need);
                    d.reasons.push(format!(
                        "rule `{id}` needs approvals: {which}, {}{because}",
                        describe(r)
                    ));
                }
                Wanted::Deny => {}
            }
        }
        if let Some(mut r) = need {
            r.roles.sort();
            d.outcome = Outcome::Approvals(r);
            return d;
        }

        // Auto, unless the mode, a ceiling or a budget wants a human.
        let default = &self.keeper.default_approvals;
        let mut human = false;
        if self.keeper.mode == Mode::Manual {
            human = true;
            d.reasons.push(format!(
                "mode is manual: nothing runs without a human, so it needs the default approvals ({})",
                describe(default)
            ));
        }
        if req.role == Role::Agent
            && let Some(max) = self.keeper.agent_max_hosts
            && u64::try_from(req.targets.len()).unwrap_or(u64::MAX) > max
        {
            human = true;
            d.reasons.push(format!(
                "the op touches {} hosts, above the ceiling of {max} for an agent op to run alone (ceilings.agent_max_hosts), so it needs the default approvals ({})",
                req.targets.len(),
                describe(default)
            ));
        }
        for b in self.keeper.budgets.iter().filter(|b| b.role == req.role) {
            let used = (req.hosts_changed)(b.per_secs);
            let adding = if req.read_only {
                0
            } else {
                u64::try_from(req.targets.len()).unwrap_or(u64::MAX)
            };
            if used >= b.max_hosts {
                human = true;
                d.reasons.push(format!(
                    "{} has changed {used} hosts in the last {}, which spends its {} budget of {} hosts, so everything it submits needs the default approvals ({})",
                    req.issuer,
                    secs_words(b.per_secs),
                    b.role,
                    b.max_hosts,
                    describe(default)
                ));
            } else if used.saturating_add(adding) > b.max_hosts {
                human = true;
                d.reasons.push(format!(
                    "{} has changed {used} hosts in the last {}; {adding} more would exceed its {} budget of {} hosts, so it needs the default approvals ({})",
                    req.issuer,
                    secs_words(b.per_secs),
                    b.role,
                    b.max_hosts,
                    describe(default)
                ));
            }
        }
        if human {
            d.outcome = Outcome::Approvals(default.clone());
        }
        d
    }
}

/// `1 of operator`, `2 of operator`.
fn describe(r: &Requirement) -> String {
    let roles: Vec<&str> = r.roles.iter().map(|r| r.as_str()).collect();
    format!("{} of {}", r.m, roles.join("|"))
}

/// 3600 → `1h`, 5400 → `90m`, 45 → `45s`.
fn secs_words(s: i64) -> String {
    if s % 86_400 == 0 {
        format!("{}d", s / 86_400)
    } else if s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_conform_to_the_schema() {
        let p = Policy::load(
            &SourceFile::new("keeper.toml", DEFAULT_KEEPER_TOML),
            &[SourceFile::new("default.cedar", DEFAULT_CEDAR)],
        )
        .unwrap();
        let schema = rules::schema().unwrap();
        let issuer = KeyId::parse("claude").unwrap();
        let runbook = Name::parse("upgrade").unwrap();
        let targets = [Name::parse("a").unwrap(), Name::parse("b").unwrap()];
        let tags = BTreeSet::from(["x".to_string()]);
        for role in Role::ALL {
            let req = Request {
                issuer: &issuer,
                role,
                runbook: &runbook,
                read_only: false,
                destructive: true,
                targets: &targets,
                target_tags: &tags,
                infra_targets: true,
                now: jiff::Timestamp::UNIX_EPOCH,
                hosts_changed: &|_| 0,
            };
            if let Err(e) = p.cedar_request(&req, Some(schema), 0) {
                panic!("{role}: {e}");
            }
        }
    }

    #[test]
    fn secs_in_words() {
        assert_eq!(secs_words(3600), "1h");
        assert_eq!(secs_words(86_400), "1d");
        assert_eq!(secs_words(5400), "90m");
        assert_eq!(secs_words(45), "45s");
    }
}
