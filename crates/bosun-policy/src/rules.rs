//! The Cedar half of the policy: parsing `policy/*.cedar`, giving each policy
//! a stable id, reading and checking the bosun annotations (`@id`,
//! `@outcome`, `@requirement`, `@reason`), strict validation against
//! [`crate::SCHEMA`], and the per-runbook index that keeps `decide` fast.
//!
//! The index: Cedar evaluates every policy of the set it is handed (about
//! 1 µs each), so a request is handed only the policies that can apply to
//! it, by three keys that leaving a policy out can never change a decision
//! for:
//!
//! - **runbook**: a policy whose resource scope names one runbook
//!   (`resource == Bosun::Runbook::"x"`, or `in`/`is … in` it, runbooks
//!   having no parents) is in that runbook's bucket only; every other
//!   policy is *generic*, in every bucket;
//! - **role**: a policy whose principal scope is `principal in
//!   Bosun::Role::"r"` (or `is Bosun::Identity in` it) applies to identities
//!   of role `r` only (an identity's one parent is its registered role);
//! - **the runbook's attributes**: a policy whose first condition starts
//!   with `resource.read_only` or `resource.destructive` (or their `!`),
//!   as `when { resource.read_only && … }` does, applies only to runbooks
//!   with that value. Cedar evaluates the scope (which cannot fail), then
//!   that first conjunct (which cannot fail either: every runbook entity
//!   has both attributes), and stops at `false`, so the policy could
//!   neither be satisfied nor raise an error there.
//!
//! The sets for each (bucket, role, read_only, destructive) are built on
//! first use and kept, each with the request context attributes its
//! policies read (`context_use`): building the Cedar `Context` was as
//! costly as evaluating a few policies, and most rules read one or two of
//! its seven attributes, so `decide` builds only those. Leaving out one no
//! policy of the set names cannot change a decision: Cedar reads a
//! context attribute only by name (`context.x`, `context["x"]`, `context
//! has x`), and a policy that uses the context any other way (`context ==
//! …`, or a name bosun does not know) gets all of it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};

use bosun_model::Role;
use cedar_policy as cedar;
use miette::Diagnostic;

use crate::SourceFile;
use crate::error::{ErrorKind, PolicyError};

/// The annotation keys bosun reads; any other key is refused, so that a typo
/// such as `@outcom("approvals")` cannot silently loosen a rule.
pub const ANNOTATIONS: [&str; 5] = ["id", "outcome", "requirement", "reason", "description"];

/// Most Cedar policies a policy set may hold, over all files.
pub const MAX_POLICIES: usize = 10_000;

/// What a rule's `@outcome` annotation asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wanted {
    /// No `@outcome`: depends on the mode.
    Unannotated,
    /// `@outcome("auto")`.
    Auto,
    /// `@outcome("approvals")`.
    Approvals,
    /// `@outcome("deny")` or a `forbid`.
    Deny,
}

/// What bosun needs to know about one policy at decision time.
#[derive(Debug, Clone)]
pub(crate) struct RuleMeta {
    pub forbid: bool,
    pub wanted: Wanted,
    /// `@requirement`, a key of `[approvals.named]`.
    pub requirement: Option<String>,
    /// `@reason`.
    pub reason: Option<String>,
}

/// The loaded, validated, indexed Cedar rules.
#[derive(Debug)]
pub(crate) struct Rules {
    pub meta: HashMap<String, RuleMeta>,
    /// Every policy, with what it can apply to.
    policies: Vec<(cedar::Policy, Applies)>,
    /// Runbook name → its bucket: a number, and its own policies (indexes
    /// into `policies`).
    scoped: HashMap<String, (usize, Vec<usize>)>,
    /// Policies of no one runbook.
    generic: Vec<usize>,
    /// Sets built so far, per [`SetKey`].
    sets: Mutex<HashMap<SetKey, Arc<Picked>>>,
    /// Every policy in one set, with the whole context: what an unindexed
    /// evaluation meets.
    pub all: Arc<Picked>,
    pub authorizer: cedar::Authorizer,
}

/// The policies a request meets, and what they read of its context.
#[derive(Debug)]
pub(crate) struct Picked {
    pub set: cedar::PolicySet,
    /// How many policies `set` holds.
    pub len: usize,
    /// The context attributes they read: bits of [`CONTEXT_ATTRS`].
    pub context: u8,
}

/// The request context's attributes, as the schema declares them; a
/// context-use mask has bit `i` for `CONTEXT_ATTRS[i]`.
pub(crate) const CONTEXT_ATTRS: [&str; 7] = [
    "targets",
    "target_count",
    "target_tags",
    "infra_targets",
    "windows",
    "weekday",
    "hour",
];

/// Every context attribute.
pub(crate) const ALL_CONTEXT: u8 = (1 << CONTEXT_ATTRS.len()) - 1;

/// The context attributes a policy (in its JSON form) reads, as a mask of
/// [`CONTEXT_ATTRS`]: the attribute of each `context.x`, `context["x"]`
/// and `context has x`, and all of them if it uses `context` any other way
/// or names an attribute bosun does not know.
pub(crate) fn context_use(policy: &serde_json::Value) -> u8 {
    use serde_json::Value;
    let is_context = |v: &Value| v.get("Var").and_then(Value::as_str) == Some("context");
    match policy {
        Value::Object(m) => {
            for op in [".", "has"] {
                if let Some(inner) = m.get(op)
                    && inner.get("left").is_some_and(is_context)
                {
                    let attr = inner.get("attr").and_then(Value::as_str);
                    return match attr.and_then(|a| CONTEXT_ATTRS.iter().position(|c| *c == a)) {
                        Some(i) => 1 << i,
                        None => ALL_CONTEXT,
                    };
                }
            }
            if is_context(policy) {
                return ALL_CONTEXT;
            }
            m.values().fold(0, |acc, v| acc | context_use(v))
        }
        Value::Array(a) => a.iter().fold(0, |acc, v| acc | context_use(v)),
        _ => 0,
    }
}

/// (runbook bucket, or `None` for a runbook without one; role; read_only;
/// destructive).
type SetKey = (Option<usize>, Role, bool, bool);

/// Most policy sets kept; the cache is emptied when it is full.
const SET_CACHE_MAX: usize = 4096;

/// What one policy can apply to, read from its scope and first condition
/// (see the module docs); `None` is "any".
#[derive(Debug, Clone, Default)]
struct Applies {
    /// The roles whose identities its principal scope admits.
    roles: Option<Vec<Role>>,
    read_only: Option<bool>,
    destructive: Option<bool>,
    /// The context attributes it reads ([`context_use`]).
    context: u8,
}

impl Applies {
    fn admits(&self, role: Role, read_only: bool, destructive: bool) -> bool {
        self.roles.as_ref().is_none_or(|r| r.contains(&role))
            && self.read_only.is_none_or(|v| v == read_only)
            && self.destructive.is_none_or(|v| v == destructive)
    }

    /// Reads a policy. Anything not recognised applies to everything.
    fn of(p: &cedar::Policy, role_type: &cedar::EntityTypeName) -> Applies {
        let role_of = |uid: &cedar::EntityUid| {
            (uid.type_name() == role_type).then(|| {
                // A role no identity can have admits nobody.
                Role::parse(uid.id().unescaped()).into_iter().collect()
            })
        };
        let roles = match p.principal_constraint() {
            cedar::PrincipalConstraint::In(uid) | cedar::PrincipalConstraint::IsIn(_, uid) => {
                role_of(&uid)
            }
            _ => None,
        };
        let json = p.to_json().ok();
        let mut a = Applies {
            roles,
            context: json.as_ref().map_or(ALL_CONTEXT, context_use),
            ..Applies::default()
        };
        if let Some((attr, value)) = json.as_ref().and_then(first_conjunct) {
            match attr {
                "read_only" => a.read_only = Some(value),
                "destructive" => a.destructive = Some(value),
                _ => {}
            }
        }
        a
    }
}

/// The runbook attribute the first condition of a policy (in its JSON
/// form) starts with, and the value it needs: `when { resource.read_only
/// && … }` → (`read_only`, true), `when { !resource.destructive }` →
/// (`destructive`, false), `unless { resource.read_only }` →
/// (`read_only`, false).
fn first_conjunct(policy: &serde_json::Value) -> Option<(&str, bool)> {
    let clause = policy.get("conditions")?.as_array()?.first()?;
    let body = clause.get("body")?;
    fn attr(e: &serde_json::Value) -> Option<&str> {
        let get = e.get(".")?;
        (get.get("left")?.get("Var")?.as_str()? == "resource")
            .then(|| get.get("attr")?.as_str())
            .flatten()
            .filter(|a| matches!(*a, "read_only" | "destructive"))
    }
    match clause.get("kind")?.as_str()? {
        "when" => {
            let mut e = body;
            while let Some(left) = e.get("&&").and_then(|a| a.get("left")) {
                e = left;
            }
            match e.get("!").and_then(|n| n.get("arg")) {
                Some(arg) => attr(arg).map(|a| (a, false)),
                None => attr(e).map(|a| (a, true)),
            }
        }
        // `unless { B }` is `!B`: only a bare attribute is a conjunct.
        "unless" => attr(body).map(|a| (a, false)),
        _ => None,
    }
}

/// The Cedar schema, parsed once per process: parsing it was 44 % of a
/// policy load (docs/BENCHMARKS.md, issue 14 fuzzing), and it never
/// changes — it is bosun's own text.
pub(crate) fn schema() -> Result<&'static cedar::Schema, String> {
    static SCHEMA: OnceLock<Result<cedar::Schema, String>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            cedar::Schema::from_cedarschema_str(crate::SCHEMA)
                .map(|(s, _warnings)| s)
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The entity type `Bosun::<basename>`.
pub(crate) fn type_name(basename: &str) -> Result<cedar::EntityTypeName, String> {
    cedar::EntityTypeName::from_str(&format!("Bosun::{basename}")).map_err(|e| e.to_string())
}

/// The file name of a path (`policy/base.cedar` → `base.cedar`).
pub(crate) fn file_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

fn file_stem(path: &str) -> &str {
    let name = file_name(path);
    name.strip_suffix(".cedar").unwrap_or(name)
}

/// One parsed policy before validation.
struct Parsed {
    policy: cedar::Policy,
    file: usize,
    /// Byte offset of the policy in its file.
    offset: usize,
    meta: RuleMeta,
}

/// Byte offset of the first label of a Cedar diagnostic, if any.
fn label_offset(d: &dyn Diagnostic) -> Option<usize> {
    d.labels()?.next().map(|l| l.offset())
}

fn help_of(d: &dyn Diagnostic) -> Option<String> {
    d.help().map(|h| h.to_string())
}

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars().enumerate().all(|(i, c)| {
            c.is_ascii_alphanumeric() || (i > 0 && matches!(c, '-' | '_' | '.' | ':'))
        })
}

/// Parses, checks and indexes the rules. `named` is the set of named
/// requirements from `keeper.toml` (None when keeper.toml failed to load;
/// then `@requirement` names are not checked).
pub(crate) fn load(
    files: &[SourceFile],
    named: Option<&BTreeSet<String>>,
    errors: &mut Vec<PolicyError>,
) -> Option<Rules> {
    let before = errors.len();
    let schema = match schema() {
        Ok(s) => s,
        Err(e) => {
            errors.push(PolicyError {
                path: "<bosun schema>".into(),
                line: 1,
                column: 1,
                policy_id: None,
                kind: ErrorKind::CedarValidation,
                message: format!("the built-in Cedar schema does not parse: {e}"),
                help: "this is a bug in bosun; please report it".into(),
            });
            return None;
        }
    };

    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by(|a, b| file_name(&files[*a].path).cmp(file_name(&files[*b].path)));

    let mut parsed: Vec<Parsed> = Vec::new();
    let mut ids: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for fi in order {
        let f = &files[fi];
        if let Some(prev) = names.insert(file_name(&f.path), fi) {
            errors.push(PolicyError::at(
                &f.path,
                &f.text,
                0,
                ErrorKind::Duplicate,
                format!("another rules file has the same name: {}", files[prev].path),
                "give each .cedar file its own name",
            ));
            continue;
        }
        if f.text.len() > crate::MAX_FILE_BYTES {
            errors.push(PolicyError::at(
                &f.path,
                &f.text,
                0,
                ErrorKind::TooLarge,
                format!(
                    "the file is {} bytes; the limit is {} bytes",
                    f.text.len(),
                    crate::MAX_FILE_BYTES
                ),
                "split the rules into several files",
            ));
            continue;
        }
        let pset = match cedar::PolicySet::from_str(&f.text) {
            Ok(p) => p,
            Err(errs) => {
                for e in errs.iter() {
                    let offset = label_offset(e).unwrap_or(0);
                    errors.push(PolicyError::at(
                        &f.path,
                        &f.text,
                        offset,
                        ErrorKind::CedarSyntax,
                        e.to_string(),
                        help_of(e).unwrap_or_else(|| "fix the Cedar syntax at this spot".into()),
                    ));
                }
                continue;
            }
        };
        // Source order: the parser names policies policy0, policy1, … in order.
        let mut stmts: Vec<(usize, bool, String)> = Vec::new();
        for p in pset.policies() {
            stmts.push((seq_of(p.id().pid_str()), false, p.to_string()));
        }
        for t in pset.templates() {
            stmts.push((seq_of(t.id().pid_str()), true, t.to_string()));
        }
        stmts.sort_by_key(|s| s.0);
        let mut cursor = 0;
        let mut offsets: HashMap<usize, usize> = HashMap::new();
        for (seq, _, text) in &stmts {
            let at = f.text[cursor..].find(text.as_str()).map(|i| cursor + i);
            if let Some(at) = at {
                offsets.insert(*seq, at);
                cursor = at + text.len();
            }
        }
        for t in pset.templates() {
            let offset = offsets.get(&seq_of(t.id().pid_str())).copied().unwrap_or(0);
            errors.push(PolicyError::at(
                &f.path,
                &f.text,
                offset,
                ErrorKind::Template,
                "this policy has `?principal` or `?resource` slots (a template)",
                "bosun rules must be static policies; name the principal or resource",
            ));
        }
        let mut policies: Vec<&cedar::Policy> = pset.policies().collect();
        policies.sort_by_key(|p| seq_of(p.id().pid_str()));
        for (index, p) in policies.into_iter().enumerate() {
            let offset = offsets.get(&seq_of(p.id().pid_str())).copied().unwrap_or(0);
            let text = p.to_string();
            let err_at = |key: &str| {
                let rel = text.find(&format!("@{key}")).unwrap_or(0);
                offset + rel
            };
            let id = match p.annotation("id") {
                Some(id) => id.to_string(),
                None => format!("{}:{index}", file_stem(&f.path)),
            };
            let mut bad = |key: &str, message: String, help: &str| {
                errors.push(
                    PolicyError::at(
                        &f.path,
                        &f.text,
                        err_at(key),
                        ErrorKind::Annotation,
                        message,
                        help,
                    )
                    .in_policy(&id),
                );
            };
            if !valid_id(&id) {
                bad(
                    "id",
                    format!("@id(\"{id}\") is not a valid policy id"),
                    "use letters, digits, `-`, `_`, `.` and `:`, starting with a letter or digit",
                );
            }
            for (key, _) in p.annotations() {
                if !ANNOTATIONS.contains(&key) {
                    bad(
                        key,
                        format!("unknown annotation @{key}"),
                        "bosun reads @id, @outcome, @requirement, @reason and @description; fix the spelling or remove it",
                    );
                }
            }
            let forbid = p.effect() == cedar::Effect::Forbid;
            let wanted = match p.annotation("outcome") {
                None if forbid => Wanted::Deny,
                None => Wanted::Unannotated,
                Some("auto") => Wanted::Auto,
                Some("approvals") => Wanted::Approvals,
                Some("deny") => Wanted::Deny,
                Some(other) => {
                    bad(
                        "outcome",
                        format!("@outcome(\"{other}\") is not an outcome"),
                        "use @outcome(\"auto\"), @outcome(\"approvals\") or @outcome(\"deny\")",
                    );
                    Wanted::Deny
                }
            };
            if forbid && wanted != Wanted::Deny {
                bad(
                    "outcome",
                    "a forbid policy always denies, but its @outcome says otherwise".into(),
                    "remove the @outcome annotation, or make the policy a permit",
                );
            }
            let requirement = p.annotation("requirement").map(str::to_string);
            if let Some(r) = &requirement {
                if wanted != Wanted::Approvals {
                    bad(
                        "requirement",
                        format!(
                            "@requirement(\"{r}\") is only meaningful with @outcome(\"approvals\")"
                        ),
                        "add @outcome(\"approvals\") or remove @requirement",
                    );
                } else if let Some(named) = named
                    && !named.contains(r)
                {
                    let known: Vec<&str> = named.iter().map(String::as_str).collect();
                    bad(
                        "requirement",
                        format!(
                            "@requirement(\"{r}\") names no requirement in keeper.toml (known: {})",
                            if known.is_empty() {
                                "none".to_string()
                            } else {
                                known.join(", ")
                            }
                        ),
                        "add [approvals.named.<name>] to keeper.toml or fix the name",
                    );
                }
            }
            let reason = p.annotation("reason").map(str::to_string);
            if let Some(&(pf, po)) = ids.get(&id) {
                let first = &files[pf];
                let (l, c) = crate::error::line_col(&first.text, po);
                errors.push(
                    PolicyError::at(
                        &f.path,
                        &f.text,
                        offset,
                        ErrorKind::Duplicate,
                        format!("policy id `{id}` is already used at {}:{l}:{c}", first.path),
                        "give each policy its own @id(\"…\")",
                    )
                    .in_policy(&id),
                );
                continue;
            }
            ids.insert(id.clone(), (fi, offset));
            parsed.push(Parsed {
                policy: p.new_id(cedar::PolicyId::new(&id)),
                file: fi,
                offset,
                meta: RuleMeta {
                    forbid,
                    wanted,
                    requirement,
                    reason,
                },
            });
        }
    }

    if parsed.len() > MAX_POLICIES {
        let last = &parsed[MAX_POLICIES];
        let f = &files[last.file];
        errors.push(PolicyError::at(
            &f.path,
            &f.text,
            last.offset,
            ErrorKind::TooLarge,
            format!(
                "{} policies in all; the limit is {MAX_POLICIES}",
                parsed.len()
            ),
            "merge rules that differ only in a value into one rule over a set",
        ));
        return None;
    }

    // Strict validation of the whole set against the schema.
    let mut all = cedar::PolicySet::new();
    let mut where_is: HashMap<String, usize> = HashMap::new();
    for p in &parsed {
        where_is.insert(p.policy.id().pid_str().to_string(), p.file);
        if let Err(e) = all.add(p.policy.clone()) {
            let f = &files[p.file];
            errors.push(
                PolicyError::at(
                    &f.path,
                    &f.text,
                    p.offset,
                    ErrorKind::Duplicate,
                    e.to_string(),
                    "give each policy its own @id(\"…\")",
                )
                .in_policy(p.policy.id().pid_str()),
            );
        }
    }
    let validator = cedar::Validator::new(schema.clone());
    let result = validator.validate(&all, cedar::ValidationMode::Strict);
    for e in result.validation_errors() {
        let id = e.policy_id().pid_str().to_string();
        let Some(fi) = where_is.get(&id).copied() else {
            continue;
        };
        let f = &files[fi];
        // The id is shown by the error itself; drop Cedar's own mention.
        let strip = |s: String| s.replace(&format!("for policy `{id}`, "), "");
        let offset = label_offset(e)
            .or_else(|| {
                parsed
                    .iter()
                    .find(|p| p.policy.id().pid_str() == id)
                    .map(|p| p.offset)
            })
            .unwrap_or(0);
        errors.push(
            PolicyError::at(
                &f.path,
                &f.text,
                offset,
                ErrorKind::CedarValidation,
                strip(e.to_string()),
                help_of(e).map(strip).unwrap_or_else(|| {
                    "make the rule match the Cedar schema bosun ships (bosun_policy::SCHEMA)".into()
                }),
            )
            .in_policy(&id),
        );
    }

    if errors.len() > before {
        // In file order, then by position.
        errors[before..].sort_by(|a, b| {
            (file_name(&a.path), a.line, a.column).cmp(&(file_name(&b.path), b.line, b.column))
        });
        return None;
    }

    // The index.
    let (Ok(runbook), Ok(role)) = (type_name("Runbook"), type_name("Role")) else {
        return None;
    };
    let mut scoped: HashMap<String, (usize, Vec<usize>)> = HashMap::new();
    let mut generic = Vec::new();
    for (i, p) in parsed.iter().enumerate() {
        let target = match p.policy.resource_constraint() {
            cedar::ResourceConstraint::Eq(uid)
            | cedar::ResourceConstraint::In(uid)
            | cedar::ResourceConstraint::IsIn(_, uid)
                if uid.type_name() == &runbook =>
            {
                Some(uid.id().unescaped().to_string())
            }
            _ => None,
        };
        match target {
            Some(rb) => {
                let next = scoped.len();
                scoped
                    .entry(rb)
                    .or_insert_with(|| (next, Vec::new()))
                    .1
                    .push(i);
            }
            None => generic.push(i),
        }
    }
    let all = cedar::PolicySet::from_policies(parsed.iter().map(|p| p.policy.clone())).ok()?;
    let n = parsed.len();
    let meta = parsed
        .iter()
        .map(|p| (p.policy.id().pid_str().to_string(), p.meta.clone()))
        .collect();
    let policies = parsed
        .into_iter()
        .map(|p| {
            let a = Applies::of(&p.policy, &role);
            (p.policy, a)
        })
        .collect();
    Some(Rules {
        meta,
        policies,
        scoped,
        generic,
        sets: Mutex::new(HashMap::new()),
        all: Arc::new(Picked {
            set: all,
            len: n,
            context: ALL_CONTEXT,
        }),
        authorizer: cedar::Authorizer::new(),
    })
}

impl Rules {
    /// The policies that can apply to an op of `role` on `runbook` with
    /// these attributes (see the module docs), and how many they are.
    pub(crate) fn pick(
        &self,
        runbook: &str,
        role: Role,
        read_only: bool,
        destructive: bool,
    ) -> Arc<Picked> {
        let bucket = self.scoped.get(runbook);
        let key = (bucket.map(|(n, _)| *n), role, read_only, destructive);
        if let Ok(sets) = self.sets.lock()
            && let Some(s) = sets.get(&key)
        {
            return Arc::clone(s);
        }
        let own = bucket.map(|(_, v)| v.as_slice()).unwrap_or_default();

        let chosen: Vec<&(cedar::Policy, Applies)> = own
            .iter()
            .chain(&self.generic)
            .filter_map(|&i| self.policies.get(i))
            .filter(|(_, a)| a.admits(role, read_only, destructive))
            .collect();
        let len = chosen.len();
        let context = chosen.iter().fold(0, |acc, (_, a)| acc | a.context);
        let Ok(set) = cedar::PolicySet::from_policies(chosen.into_iter().map(|(p, _)| p.clone()))
        else {
            // Cannot happen (the ids are unique); fall back to every policy.
            return Arc::clone(&self.all);
        };
        let set = Arc::new(Picked { set, len, context });
        if let Ok(mut sets) = self.sets.lock() {
            if sets.len() >= SET_CACHE_MAX {
                sets.clear();
            }
            sets.insert(key, Arc::clone(&set));
        }
        set
    }
}

/// The text of a Cedar policy id (`PolicyId` has two `AsRef` impls).
pub(crate) trait PidStr {
    /// The id as a string.
    fn pid_str(&self) -> &str;
}

impl PidStr for cedar::PolicyId {
    fn pid_str(&self) -> &str {
        AsRef::<str>::as_ref(self)
    }
}

/// `policy17` → 17 (the parser's own ids, in source order).
fn seq_of(id: &str) -> usize {
    id.strip_prefix("policy")
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::{ALL_CONTEXT, CONTEXT_ATTRS, context_use};
    use cedar_policy as cedar;
    use std::str::FromStr;

    fn mask(policy: &str) -> u8 {
        let p = cedar::Policy::from_str(policy).unwrap_or_else(|e| panic!("{e}"));
        context_use(&p.to_json().unwrap_or_else(|e| panic!("{e}")))
    }

    fn bits(names: &[&str]) -> u8 {
        names.iter().fold(0, |acc, n| {
            let i = CONTEXT_ATTRS.iter().position(|c| c == n);
            acc | (1 << i.unwrap_or_else(|| panic!("{n}")))
        })
    }

    #[test]
    fn a_policy_reads_the_context_attributes_it_names() {
        assert_eq!(mask("permit (principal, action, resource);"), 0);
        assert_eq!(
            mask("permit (principal, action, resource) when { resource.read_only };"),
            0
        );
        assert_eq!(
            mask("permit (principal, action, resource) when { context.hour < 3 };"),
            bits(&["hour"])
        );
        assert_eq!(
            mask(
                r#"permit (principal, action, resource) when { context["targets"].contains("a") } unless { context has weekday && context.weekday == "sun" };"#
            ),
            bits(&["targets", "weekday"])
        );
        assert_eq!(
            mask(
                "forbid (principal, action, resource) when { context.windows.isEmpty() || (if context.infra_targets then context.target_count > 1 else false) };"
            ),
            bits(&["windows", "infra_targets", "target_count"])
        );
        // The whole context, or a name bosun does not know: all of it.
        assert_eq!(
            mask(r#"permit (principal, action, resource) when { context == {"hour": 1} };"#),
            ALL_CONTEXT
        );
        assert_eq!(
            mask("permit (principal, action, resource) when { context has other };"),
            ALL_CONTEXT
        );
        assert_eq!(
            mask("permit (principal, action, resource) when { {\"c\": context}.c.hour == 1 };"),
            ALL_CONTEXT
        );
    }
}
