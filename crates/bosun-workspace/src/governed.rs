//! Governed files: the key registry and the policy (and the names of the
//! other adoption subjects: inventory, runbooks, rollouts, kernel
//! manifests). Each has a *content*
//! form (canonical JSON of everything that matters) whose digest adoption
//! binds to, so the controller can run from the adopted content alone and
//! ignore whatever is on disk.

use std::collections::BTreeMap;
use std::path::Path;

use bosun_model::source::{SourceError, find_offset, from_toml};
use bosun_model::{Digest, KeyId, Role, canonical_json};
use bosun_policy::SourceFile;
use bosun_sign::{Jwk, PublicKey};
use serde::{Deserialize, Serialize};

use crate::{Result, WsError, io, read};

/// Subject name of the policy in adoptions.
pub const POLICY_SUBJECT: &str = "policy";
/// Subject name of the key registry in adoptions.
pub const KEYS_SUBJECT: &str = "keys";
/// Subject name of the inventory (`fleet/hosts.toml`) in adoptions.
pub const INVENTORY_SUBJECT: &str = "inventory";

/// Subject name of a rollout definition (`rollouts/<id>.toml`).
pub fn rollout_subject(id: &str) -> String {
    format!("rollout:{id}")
}

/// Subject name of a host's kernel manifest (`fleet/<host>.yaml`).
pub fn manifest_subject(host: &str) -> String {
    format!("manifest:{host}")
}

/// The kind of an adoption subject, as `[adoption.subjects]` in
/// keeper.toml names it: `policy`, `keys`, `inventory`, `runbook`,
/// `rollout` or `manifest`.
pub fn subject_kind(subject: &str) -> &str {
    subject.split_once(':').map_or(subject, |(kind, _)| kind)
}

/// One registered identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEntry {
    /// Its role.
    pub role: Role,
    /// Host selectors it may target (`*`, globs, `tag:x`).
    pub scope: Vec<String>,
    /// Its public key as a JWK.
    pub jwk: Jwk,
    /// Its passkeys by label (`keys/<name>.passkeys.json`): WebAuthn
    /// credentials it may approve with from the dashboard. Operators only.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub passkeys: BTreeMap<String, bosun_passkey::Credential>,
    /// The key, decoded.
    #[serde(skip)]
    pub public: Option<PublicKey>,
}

/// The key registry: `keys/keys.toml` plus `keys/<name>.jwk`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct KeyRegistry {
    /// Identities by name.
    pub keys: BTreeMap<KeyId, KeyEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysWire {
    #[serde(default)]
    key: Vec<KeyWire>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct KeyWire {
    name: KeyId,
    role: Role,
    #[serde(default = "all")]
    scope: Vec<String>,
}

fn all() -> Vec<String> {
    vec!["*".to_string()]
}

impl KeyRegistry {
    /// Reads `keys/keys.toml` and the JWK of every key it lists.
    pub fn read(root: &Path) -> Result<KeyRegistry> {
        let p = root.join("keys/keys.toml");
        let text = if p.exists() { read(&p)? } else { String::new() };
        let wire: KeysWire = from_toml("keys/keys.toml", &text, crate::MAX_CONFIG_BYTES)
            .map_err(|e| WsError::Invalid(vec![e]))?;
        let mut keys = BTreeMap::new();
        let mut errors = Vec::new();
        for k in wire.key {
            let at = find_offset(&text, &format!("\"{}\"", k.name));
            let jwk_rel = format!("keys/{}.jwk", k.name);
            let jwk_text = match read(&root.join(&jwk_rel)) {
                Ok(t) => t,
                Err(e) => {
                    errors.push(SourceError::at(
                        "keys/keys.toml",
                        &text,
                        at,
                        format!("key `{}`: {e}", k.name),
                    ));
                    continue;
                }
            };
            let parsed = bosun_sign::parse_jwk(&jwk_text)
                .and_then(|j| PublicKey::from_jwk(&j).map(|p| (j, p)));
            match parsed {
                Ok((jwk, public)) => {
                    let passkeys = match read_passkeys(root, &k.name, k.role) {
                        Ok(p) => p,
                        Err(e) => {
                            errors.push(e);
                            continue;
                        }
                    };
                    if keys.contains_key(&k.name) {
                        errors.push(SourceError::at(
                            "keys/keys.toml",
                            &text,
                            at,
                            format!("key `{}` is listed twice", k.name),
                        ));
                    }
                    keys.insert(
                        k.name,
                        KeyEntry {
                            role: k.role,
                            scope: k.scope,
                            jwk,
                            passkeys,
                            public: Some(public),
                        },
                    );
                }
                Err(e) => errors.push(SourceError::whole(&jwk_rel, e.to_string())),
            }
        }
        if errors.is_empty() {
            Ok(KeyRegistry { keys })
        } else {
            Err(WsError::Invalid(errors))
        }
    }

    /// Adds an identity to `keys/keys.toml` and writes its public JWK.
    pub fn register(
        root: &Path,
        name: &KeyId,
        role: Role,
        scope: &[String],
        public: &PublicKey,
    ) -> Result<()> {
        let dir = root.join("keys");
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let existing = KeyRegistry::read(root)?;
        if existing.keys.contains_key(name) {
            return Err(WsError::Other(format!(
                "key `{name}` is already registered in keys/keys.toml"
            )));
        }
        let jwk = public.to_jwk(name.as_str());
        let jwk_path = dir.join(format!("{name}.jwk"));
        let jwk_text =
            serde_json::to_string_pretty(&jwk).map_err(|e| WsError::Other(e.to_string()))?;
        std::fs::write(&jwk_path, jwk_text + "\n").map_err(|e| io(&jwk_path, e))?;
        let p = dir.join("keys.toml");
        let mut text = if p.exists() { read(&p)? } else { String::new() };
        let entry = toml::to_string(&KeyWire {
            name: name.clone(),
            role,
            scope: scope.to_vec(),
        })
        .map_err(|e| WsError::Other(e.to_string()))?;
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str("\n[[key]]\n");
        text.push_str(&entry);
        std::fs::write(&p, text).map_err(|e| io(&p, e))
    }

    /// Adds (or replaces) passkey `label` of identity `name` in
    /// `keys/<name>.passkeys.json`. Only an operator may hold passkeys.
    pub fn add_passkey(
        root: &Path,
        name: &KeyId,
        label: &str,
        credential: &bosun_passkey::Credential,
    ) -> Result<()> {
        let existing = KeyRegistry::read(root)?;
        let Some(entry) = existing.get(name) else {
            return Err(WsError::Other(format!(
                "key `{name}` is not in keys/keys.toml: a passkey belongs to a registered identity"
            )));
        };
        if !entry.role.is_human() {
            return Err(WsError::Other(format!(
                "`{name}` is an {}: only operators hold passkeys (agents never approve)",
                entry.role
            )));
        }
        if !valid_passkey_label(label) {
            return Err(WsError::Other(format!(
                "passkey label `{label}`: use 1 to 32 of a-z, 0-9, `-` and `_`"
            )));
        }
        let mut all = entry.passkeys.clone();
        all.insert(label.to_string(), credential.clone());
        let p = root.join(passkeys_path(name));
        if std::fs::symlink_metadata(&p).is_ok_and(|m| !m.is_file()) {
            return Err(WsError::Other(format!(
                "{} is not a plain file (a symlink?): refusing to write through it",
                passkeys_path(name)
            )));
        }
        let text = serde_json::to_string_pretty(&all).map_err(|e| WsError::Other(e.to_string()))?;
        // Whole or not at all: a temporary file beside it, renamed over it.
        let tmp = p.with_extension(format!("json.{}.tmp", std::process::id()));
        std::fs::write(&tmp, text + "\n").map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, &p).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io(&p, e)
        })
    }

    /// The canonical content adoption binds to.
    pub fn content(&self) -> String {
        let v = serde_json::to_value(self).unwrap_or_default();
        String::from_utf8(canonical_json(&v).unwrap_or_default()).unwrap_or_default()
    }

    /// Digest of [`Self::content`].
    pub fn digest(&self) -> Digest {
        Digest::of(self.content().as_bytes())
    }

    /// Rebuilds a registry from adopted content.
    pub fn from_content(content: &str) -> Result<KeyRegistry> {
        let mut reg: KeyRegistry = serde_json::from_str(content)
            .map_err(|e| WsError::Other(format!("adopted key registry is unreadable: {e}")))?;
        for (name, e) in reg.keys.iter_mut() {
            if !e.role.is_human() && !e.passkeys.is_empty() {
                return Err(WsError::Other(format!(
                    "adopted key `{name}` is an {} holding passkeys: only operators may",
                    e.role
                )));
            }
            e.public = Some(
                PublicKey::from_jwk(&e.jwk)
                    .map_err(|err| WsError::Other(format!("adopted key `{name}`: {err}")))?,
            );
        }
        Ok(reg)
    }

    /// An identity by name.
    pub fn get(&self, name: &KeyId) -> Option<&KeyEntry> {
        self.keys.get(name)
    }

    /// Names of the human (approving) identities.
    pub fn operators(&self) -> impl Iterator<Item = &KeyId> {
        self.keys
            .iter()
            .filter(|(_, e)| e.role.is_human())
            .map(|(k, _)| k)
    }
}

/// Where identity `name`'s passkeys live.
pub fn passkeys_path(name: &KeyId) -> String {
    format!("keys/{name}.passkeys.json")
}

/// Whether `label` may name a passkey: 1 to 32 of a-z, 0-9, `-`, `_`.
pub fn valid_passkey_label(label: &str) -> bool {
    (1..=32).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Reads `keys/<name>.passkeys.json` when there is one: labels to
/// credentials, each checked; only an operator may hold any.
fn read_passkeys(
    root: &Path,
    name: &KeyId,
    role: Role,
) -> std::result::Result<BTreeMap<String, bosun_passkey::Credential>, SourceError> {
    let rel = passkeys_path(name);
    let p = root.join(&rel);
    if !p.exists() {
        return Ok(BTreeMap::new());
    }
    let text = read(&p).map_err(|e| SourceError::whole(&rel, e.to_string()))?;
    if text.len() > crate::MAX_CONFIG_BYTES {
        return Err(SourceError::whole(
            &rel,
            format!(
                "{} bytes; the limit is {}",
                text.len(),
                crate::MAX_CONFIG_BYTES
            ),
        ));
    }
    let raw: BTreeMap<String, serde_json::Value> = serde_json::from_str(&text)
        .map_err(|e| SourceError::whole(&rel, format!("line {}: {e}", e.line())))?;
    if !role.is_human() && !raw.is_empty() {
        return Err(SourceError::whole(
            &rel,
            format!("`{name}` is an {role}: only operators hold passkeys (agents never approve)"),
        ));
    }
    let mut out = BTreeMap::new();
    for (label, v) in raw {
        if !valid_passkey_label(&label) {
            return Err(SourceError::whole(
                &rel,
                format!("passkey label `{label}`: use 1 to 32 of a-z, 0-9, `-` and `_`"),
            ));
        }
        let c = bosun_passkey::Credential::from_json(&v.to_string())
            .map_err(|e| SourceError::whole(&rel, format!("passkey `{label}`: {e}")))?;
        out.insert(label, c);
    }
    Ok(out)
}

/// The policy files: `policy/keeper.toml` and every `policy/*.cedar`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyFiles {
    /// `policy/keeper.toml`'s text.
    pub keeper: String,
    /// Cedar files by relative path, sorted.
    pub cedar: BTreeMap<String, String>,
    /// `policy/blockers.toml`'s text, when there is one: the blocker kinds
    /// and what each halts. It is adopted with the policy, so that nobody
    /// can loosen a blocker by editing a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blockers: Option<String>,
}

/// Where the blocker kinds live in a workspace.
pub const BLOCKERS_PATH: &str = "policy/blockers.toml";

impl PolicyFiles {
    /// Reads the policy directory.
    pub fn read(root: &Path) -> Result<PolicyFiles> {
        let keeper = read(&root.join("policy/keeper.toml"))?;
        let dir = root.join("policy");
        let mut cedar = BTreeMap::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| io(&dir, e))? {
            let p = entry.map_err(|e| io(&dir, e))?.path();
            if p.extension().and_then(|e| e.to_str()) == Some("cedar") {
                cedar.insert(crate::rel(root, &p), read(&p)?);
            }
        }
        let bp = root.join(BLOCKERS_PATH);
        let blockers = if bp.exists() { Some(read(&bp)?) } else { None };
        Ok(PolicyFiles {
            keeper,
            cedar,
            blockers,
        })
    }

    /// The blocker kinds in force with this policy: `policy/blockers.toml`,
    /// or seed 001's table without one.
    pub fn blocker_kinds(
        &self,
    ) -> std::result::Result<bosun_fleet::blockers::Kinds, Vec<bosun_model::SourceError>> {
        match &self.blockers {
            Some(text) => bosun_fleet::blockers::Kinds::parse(BLOCKERS_PATH, text),
            None => Ok(bosun_fleet::blockers::Kinds::builtin()),
        }
    }

    /// The sources as the policy crate takes them.
    pub fn sources(&self) -> (SourceFile, Vec<SourceFile>) {
        (
            SourceFile {
                path: "policy/keeper.toml".into(),
                text: self.keeper.clone(),
            },
            self.cedar
                .iter()
                .map(|(p, t)| SourceFile {
                    path: p.clone(),
                    text: t.clone(),
                })
                .collect(),
        )
    }

    /// Loads and validates the policy.
    pub fn load(&self) -> std::result::Result<bosun_policy::Policy, bosun_policy::PolicyErrors> {
        let (k, c) = self.sources();
        let policy = bosun_policy::Policy::load(&k, &c);
        // A malformed blockers.toml makes the whole policy unadoptable, so
        // the kinds in force stay the previously adopted ones.
        let blockers = self.blocker_kinds().err().unwrap_or_default();
        match (policy, blockers.is_empty()) {
            (Ok(p), true) => Ok(p),
            (r, _) => {
                let mut errs = r.err().map(|e| e.0).unwrap_or_default();
                errs.extend(blockers.into_iter().map(|e| bosun_policy::PolicyError {
                    path: e.path,
                    line: e.line,
                    column: e.col,
                    policy_id: None,
                    kind: bosun_policy::ErrorKind::Toml,
                    message: e.message,
                    help: String::new(),
                }));
                Err(bosun_policy::PolicyErrors(errs))
            }
        }
    }

    /// The canonical content adoption binds to.
    pub fn content(&self) -> String {
        String::from_utf8(canonical_json(self).unwrap_or_default()).unwrap_or_default()
    }

    /// Rebuilds from adopted content.
    pub fn from_content(content: &str) -> Result<PolicyFiles> {
        serde_json::from_str(content)
            .map_err(|e| WsError::Other(format!("adopted policy is unreadable: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_listed_key_without_its_jwk_is_located() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("keys")).unwrap();
        std::fs::write(
            d.path().join("keys/keys.toml"),
            "# keys\n[[key]]\nname = \"ghost\"\nrole = \"agent\"\n",
        )
        .unwrap();
        let e = KeyRegistry::read(d.path()).unwrap_err().to_string();
        assert!(e.starts_with("keys/keys.toml:3:"), "{e}");
        std::fs::write(
            d.path().join("keys/keys.toml"),
            "[[key]]\nname = \"x\"\nrole = \"root\"\n",
        )
        .unwrap();
        let e = KeyRegistry::read(d.path()).unwrap_err().to_string();
        assert!(e.starts_with("keys/keys.toml:3:"), "{e}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn arbitrary_keys_toml_never_panics(s in "\\PC{0,300}") {
            let d = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(d.path().join("keys")).unwrap();
            std::fs::write(d.path().join("keys/keys.toml"), &s).unwrap();
            let _ = KeyRegistry::read(d.path());
        }

        #[test]
        fn content_round_trips(n in 0usize..4) {
            let d = tempfile::tempdir().unwrap();
            for i in 0..n {
                let k = bosun_sign::SecretKey::from_seed([u8::try_from(i).unwrap() + 1; 32]);
                let role = if i % 2 == 0 { Role::Operator } else { Role::Agent };
                KeyRegistry::register(d.path(), &KeyId::parse(&format!("k{i}")).unwrap(), role, &["*".into()], &k.public()).unwrap();
            }
            let reg = KeyRegistry::read(d.path()).unwrap();
            let back = KeyRegistry::from_content(&reg.content()).unwrap();
            prop_assert_eq!(back.digest(), reg.digest());
            prop_assert_eq!(back.keys.len(), n);
        }
    }
}
