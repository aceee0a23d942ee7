//! What is in force: the adopted policy, key registry, runbooks, inventory,
//! rollouts and kernel manifests, and how the files on disk differ from them (drift). The controller and intake
//! only ever use what is adopted; a runbook that was never adopted may be
//! planned and run, but never without a human (see [`crate::intake`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use bosun_model::Digest;
use bosun_policy::Policy;
use bosun_runbook::{Runbook, parse_runbook};
use bosun_workspace::governed::{
    INVENTORY_SUBJECT, KEYS_SUBJECT, POLICY_SUBJECT, manifest_subject, rollout_subject,
};
use bosun_workspace::{Inventory, KeyRegistry, PolicyFiles};

use crate::{Control, ControlError, Result};

/// A runbook as the pipeline sees it.
#[derive(Debug, Clone)]
pub struct GovRunbook {
    /// The definition in use.
    pub runbook: Runbook,
    /// Whether it is the adopted version (only adopted runbooks may run alone).
    pub adopted: bool,
}

/// The adopted part of what is in force, parsed once per adoption (see
/// [`Control::governed`]).
pub(crate) struct Snapshot {
    /// Each adopted subject with its digest: what the snapshot was made of.
    key: Vec<(String, Digest)>,
    policy: Arc<Policy>,
    policy_digest: Digest,
    blocker_kinds: bosun_fleet::blockers::Kinds,
    keys: KeyRegistry,
    runbooks: BTreeMap<String, GovRunbook>,
    /// The adopted inventory, parsed (when one is adopted and parses).
    inventory: Option<Arc<Inventory>>,
    /// [`bosun_store::adopted_basis`] of what it was made of.
    basis: Digest,
}

/// Everything in force, loaded once and reused for many ops.
pub struct Governed {
    /// The adopted policy (shared by every snapshot of the same adoption).
    pub policy: Arc<Policy>,
    /// The blocker kinds adopted with it (`policy/blockers.toml`, or the
    /// built-in table).
    pub blocker_kinds: bosun_fleet::blockers::Kinds,
    /// The adopted key registry.
    pub keys: KeyRegistry,
    /// Runbooks by id.
    pub runbooks: BTreeMap<String, GovRunbook>,
    /// The inventory in force (adopted; shared by every snapshot of the
    /// same adoption).
    pub inventory: Arc<Inventory>,
    /// Whether the inventory in force is an adopted one (a workspace made
    /// before inventories were governed runs on the file until its first
    /// `bosun adopt`, and nothing runs alone meanwhile).
    pub inventory_adopted: bool,
    /// Files on disk that differ from what is in force, in words.
    pub drift: Vec<String>,
    /// What is adopted, as one digest ([`bosun_store::adopted_basis`]):
    /// ops decided on this snapshot are stored only while it holds.
    pub basis: Digest,
}

/// Runbook subject name for adoption.
pub fn runbook_subject(id: &str) -> String {
    format!("runbook:{id}")
}

/// The store's name for the last inventory that parsed (a workspace whose
/// inventory was never adopted).
const INVENTORY: &str = "inventory";

/// How the adopted inventory carries each ssh_config file a host names:
/// after `fleet/hosts.toml`'s text, a pin line with the file's path and
/// digest, then its content, each line behind [`SSH_CONFIG_LINE`] (TOML
/// comments all, so the adopted content still parses as the inventory).
const SSH_CONFIG_PIN: &str = "# bosun: ssh_config ";
/// The prefix of a line of a pinned ssh_config's content.
const SSH_CONFIG_LINE: &str = "#| ";

/// The ssh_config files an inventory's adopted content carries: path →
/// content (each checked against its pinned digest; one that does not
/// match is left out).
fn pinned_ssh_configs(content: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut cur: Option<(String, String, String)> = None;
    let mut flush = |cur: Option<(String, String, String)>| {
        if let Some((path, digest, text)) = cur
            && Digest::of(text.as_bytes()).as_str() == digest
        {
            out.insert(path, text);
        }
    };
    for line in content.lines() {
        if let Some(rest) = line.strip_prefix(SSH_CONFIG_PIN) {
            flush(cur.take());
            if let Some((path, digest)) = rest.rsplit_once(' ') {
                cur = Some((path.to_string(), digest.to_string(), String::new()));
            }
        } else if let (Some(l), Some((_, _, text))) =
            (line.strip_prefix(SSH_CONFIG_LINE), cur.as_mut())
        {
            text.push_str(l);
            text.push('\n');
        } else if line == SSH_CONFIG_LINE.trim_end()
            && let Some((_, _, text)) = cur.as_mut()
        {
            text.push('\n');
        }
    }
    flush(cur);
    out
}

/// The inventory in force, whether it is adopted, and what to warn about.
struct InventoryState {
    inventory: Arc<Inventory>,
    warning: Option<String>,
    adopted: bool,
}

impl Control {
    /// The inventory in force: the adopted `fleet/hosts.toml`, with a
    /// warning when the file on disk differs from it (it changes nothing
    /// until adopted). A workspace whose inventory was never adopted (made
    /// before inventories were governed) runs on the file on disk, the last
    /// one that parsed kept in the store, and every op needs a human
    /// ([`Governed::inventory_adopted`]) until `bosun adopt`.
    pub fn inventory_in_force(&self) -> Result<(Arc<Inventory>, Option<String>)> {
        self.inventory_state().map(|s| (s.inventory, s.warning))
    }

    /// The inventory as it would be proposed for adoption: the text of
    /// `fleet/hosts.toml`, then a pin (a TOML comment) with the digest of
    /// each ssh_config file a host names, so that editing such a file is a
    /// change to adopt like any other. Refused when the file does not parse
    /// or a named ssh_config cannot be read.
    pub fn inventory_candidate(&self) -> Result<String> {
        let mut text = self.ws.disk_inventory_text()?;
        let inv = Inventory::parse("fleet/hosts.toml", &text).map_err(|e| crate::located(&e))?;
        let files: std::collections::BTreeSet<&str> = inv
            .hosts
            .iter()
            .filter_map(|h| h.ssh_config.as_deref())
            .collect();
        if !files.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        for f in files {
            let content = self.ws.read_named_file(f).map_err(|e| {
                ControlError::Other(format!("fleet/hosts.toml names ssh_config `{f}`: {e}"))
            })?;
            // Normalised to end in a newline: what is pinned is what runs.
            let mut content = content;
            if !content.ends_with('\n') {
                content.push('\n');
            }
            text.push_str(&format!(
                "{SSH_CONFIG_PIN}{f} {}\n",
                Digest::of(content.as_bytes())
            ));
            for l in content.lines() {
                text.push_str(SSH_CONFIG_LINE);
                text.push_str(l);
                text.push('\n');
            }
        }
        Ok(text)
    }

    /// Points every host of `inventory` that names an ssh_config at a
    /// private copy (see [`crate::exec::private_file`]) of the content
    /// adopted with the inventory, so ssh never reads the workspace's file,
    /// which anyone who can write the workspace could change between two
    /// steps. A workspace whose inventory was never adopted keeps the file
    /// on disk. Refuses (in words) a host whose ssh_config the adopted
    /// inventory does not carry.
    pub fn adopted_ssh_configs(
        &self,
        inventory: &mut Inventory,
    ) -> Result<std::result::Result<(), String>> {
        if inventory.hosts.iter().all(|h| h.ssh_config.is_none()) {
            return Ok(Ok(()));
        }
        let Some(a) = self.store.adopted(INVENTORY_SUBJECT)? else {
            return Ok(Ok(()));
        };
        let pins = pinned_ssh_configs(&a.content);
        for h in &mut inventory.hosts {
            let Some(f) = h.ssh_config.clone() else {
                continue;
            };
            let Some(content) = pins.get(&f) else {
                return Ok(Err(format!(
                    "host `{}`'s ssh_config `{f}` was not adopted with the inventory: an adoption brings it in",
                    h.name
                )));
            };
            let digest = Digest::of(content.as_bytes());
            let short: String = digest.as_str().chars().rev().take(16).collect();
            match crate::exec::private_file(&format!("config-{short}"), content) {
                Ok(p) => h.ssh_config = Some(p.to_string_lossy().into_owned()),
                Err(e) => return Ok(Err(format!("the adopted ssh_config `{f}`: {e}"))),
            }
        }
        Ok(Ok(()))
    }

    fn inventory_state(&self) -> Result<InventoryState> {
        let all = self.store.adopted_all()?;
        let snap = self.snapshot(&all).ok();
        self.inventory_state_with(&all, snap.as_deref())
    }

    /// [`Control::inventory_state`] from what is adopted, `all`, and its
    /// snapshot when there is one (whose parsed inventory is reused).
    fn inventory_state_with(
        &self,
        all: &[bosun_store::Adopted],
        snap: Option<&Snapshot>,
    ) -> Result<InventoryState> {
        if let Some(a) = all.iter().find(|a| a.subject == INVENTORY_SUBJECT) {
            let inventory = match snap.and_then(|s| s.inventory.clone()) {
                Some(i) => i,
                None => Arc::new(
                    Inventory::parse("adopted fleet/hosts.toml", &a.content)
                        .map_err(bosun_workspace::WsError::Invalid)?,
                ),
            };
            let warning = match self.inventory_candidate() {
                Ok(text) if Digest::of(text.as_bytes()) == a.digest => None,
                Ok(_) => Some("fleet/hosts.toml (or an ssh_config file it names) differs from the adopted inventory: the adopted one is in force; an adoption proposes the change".to_string()),
                Err(e) => Some(format!("{e}; the adopted inventory is in force")),
            };
            return Ok(InventoryState {
                inventory,
                warning,
                adopted: true,
            });
        }
        let unadopted = "fleet/hosts.toml is not adopted: every op needs a human until an adoption brings it into force";
        match self.ws.inventory_with_text() {
            Ok((inventory, text)) => {
                match self.store.remember(INVENTORY, &text, crate::now()) {
                    // A command that only reads keeps no copy; the next
                    // one that writes does.
                    Ok(()) | Err(bosun_store::StoreError::ReadOnly) => {}
                    Err(e) => return Err(e.into()),
                }
                Ok(InventoryState {
                    inventory: inventory.into(),
                    warning: Some(unadopted.into()),
                    adopted: false,
                })
            }
            Err(e) => match self.store.remembered(INVENTORY)? {
                Some(text) => {
                    let inventory = Inventory::parse("fleet/hosts.toml (last good)", &text)
                        .map_err(bosun_workspace::WsError::Invalid)?;
                    Ok(InventoryState {
                        inventory: inventory.into(),
                        warning: Some(format!(
                            "{e}; the last fleet/hosts.toml that parsed stays in force until it is fixed; {unadopted}"
                        )),
                        adopted: false,
                    })
                }
                None => Err(e.into()),
            },
        }
    }

    /// The adopted policy, blocker kinds, key registry and runbooks, parsed
    /// once per adoption: the snapshot is reused while the digests of what
    /// is adopted stay the same (an adoption replaces it on the next call).
    fn snapshot(&self, adopted: &[bosun_store::Adopted]) -> Result<Arc<Snapshot>> {
        let key: Vec<(String, Digest)> = adopted
            .iter()
            .map(|a| (a.subject.clone(), a.digest.clone()))
            .collect();
        let mut cached = self
            .snapshot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(s) = cached.as_ref().filter(|s| s.key == key) {
            return Ok(Arc::clone(s));
        }
        let Some(pol) = adopted.iter().find(|a| a.subject == POLICY_SUBJECT) else {
            return Err(crate::hinted(
                "nothing is adopted yet: register an operator key, then adopt the workspace's policy, keys, runbooks and inventory",
                bosun_api::NextAction::Adopt,
            ));
        };
        let files = PolicyFiles::from_content(&pol.content)?;
        let policy = files
            .load()
            .map_err(|e| ControlError::Other(format!("the adopted policy no longer loads: {e}")))?;
        let blocker_kinds = files.blocker_kinds().map_err(|e| {
            ControlError::Other(format!(
                "the adopted blocker kinds no longer load: {}",
                e.first().map(ToString::to_string).unwrap_or_default()
            ))
        })?;
        let keys = match adopted.iter().find(|a| a.subject == KEYS_SUBJECT) {
            Some(k) => KeyRegistry::from_content(&k.content)?,
            None => KeyRegistry::default(),
        };
        let mut runbooks = BTreeMap::new();
        for a in adopted {
            if let Some(id) = a.subject.strip_prefix("runbook:") {
                let path = format!("adopted runbook `{id}`");
                let rb = parse_runbook(&path, &a.content).map_err(|e| {
                    ControlError::Other(format!("adopted runbook `{id}` no longer parses: {e}"))
                })?;
                runbooks.insert(
                    id.to_string(),
                    GovRunbook {
                        runbook: rb,
                        adopted: true,
                    },
                );
            }
        }
        // A stored inventory that no longer parses is reported where it is
        // used (`inventory_state`), not here: the rest still loads.
        let inventory = adopted
            .iter()
            .find(|a| a.subject == INVENTORY_SUBJECT)
            .and_then(|a| Inventory::parse("adopted fleet/hosts.toml", &a.content).ok())
            .map(Arc::new);
        let basis =
            bosun_store::adopted_basis(adopted.iter().map(|a| (a.subject.as_str(), &a.digest)));
        let snap = Arc::new(Snapshot {
            basis,
            key,
            policy: Arc::new(policy),
            policy_digest: pol.digest.clone(),
            blocker_kinds,
            keys,
            runbooks,
            inventory,
        });
        *cached = Some(Arc::clone(&snap));
        Ok(snap)
    }

    /// The adopted blocker kinds, from the snapshot: no disk read (what
    /// the read views and reminders need, where [`Control::governed`]
    /// would also read every governed file for drift).
    pub fn blocker_kinds(&self) -> Result<bosun_fleet::blockers::Kinds> {
        let all = self.store.adopted_all()?;
        Ok(self.snapshot(&all)?.blocker_kinds.clone())
    }

    /// The adopted key registry, from the snapshot: no disk read (what
    /// verifies a read token on every API request).
    pub fn adopted_keys(&self) -> Result<KeyRegistry> {
        let all = self.store.adopted_all()?;
        Ok(self.snapshot(&all)?.keys.clone())
    }

    /// The adopted identities, by name, as a client sees them.
    pub fn key_views(&self) -> Result<Vec<bosun_api::views::KeyView>> {
        let reg = self.adopted_keys()?;
        Ok(reg
            .keys
            .iter()
            .filter_map(|(name, e)| {
                let public = e.public.as_ref()?;
                Some(bosun_api::views::KeyView {
                    name: name.to_string(),
                    role: e.role,
                    scope: e.scope.clone(),
                    x: e.jwk.x.clone(),
                    thumbprint: public.thumbprint(),
                })
            })
            .collect())
    }

    /// Loads what is in force, and how the files on disk differ from it.
    /// Fails when nothing was adopted yet. The adopted part is a snapshot
    /// parsed once per adoption; the disk is read on every call (drift,
    /// and runbooks never adopted).
    pub fn governed(&self) -> Result<Governed> {
        let all = self.store.adopted_all()?;
        let snap = self.snapshot(&all)?;
        let mut runbooks = snap.runbooks.clone();
        let (mut drift, unadopted) = self.on_disk(&all, &snap);
        runbooks.extend(unadopted);
        let inv = self.inventory_state_with(&all, Some(&snap))?;
        drift.extend(inv.warning);
        Ok(Governed {
            policy: Arc::clone(&snap.policy),
            blocker_kinds: snap.blocker_kinds.clone(),
            keys: snap.keys.clone(),
            runbooks,
            inventory: inv.inventory,
            inventory_adopted: inv.adopted,
            drift,
            basis: snap.basis.clone(),
        })
    }

    /// How the files on disk differ from what is in force ([`Governed`]'s
    /// `drift`), without building the rest of it: what the overview shows.
    pub fn drift(&self) -> Result<Vec<String>> {
        let all = self.store.adopted_all()?;
        let snap = self.snapshot(&all)?;
        let (mut drift, _) = self.on_disk(&all, &snap);
        drift.extend(self.inventory_state_with(&all, Some(&snap))?.warning);
        Ok(drift)
    }

    /// The governed files on disk against what is adopted: the drift, in
    /// words, and the runbooks on disk never adopted (parsed).
    fn on_disk(
        &self,
        all: &[bosun_store::Adopted],
        snap: &Snapshot,
    ) -> (Vec<String>, Vec<(String, GovRunbook)>) {
        let adopted_digest = |subject: &str| {
            all.iter()
                .find(|a| a.subject == subject)
                .map(|a| a.digest.clone())
        };
        let mut unadopted = Vec::new();
        let mut drift = Vec::new();
        match self.ws.disk_policy() {
            Ok(p) if Digest::of(p.content().as_bytes()) != snap.policy_digest => drift.push(
                "policy/ differs from the adopted policy: the adopted one is in force; an adoption proposes the change".into(),
            ),
            Ok(_) => {}
            Err(e) => drift.push(format!("policy/ cannot be read ({e}); the adopted policy is in force")),
        }
        match self.ws.disk_keys() {
            Ok(k) if k.digest() != snap.keys.digest() => drift.push(
                "keys/ differs from the adopted key registry: the adopted one is in force; an adoption proposes the change".into(),
            ),
            Ok(_) => {}
            Err(e) => drift.push(format!("keys/ cannot be read ({e}); the adopted registry is in force")),
        }
        // A file that cannot be read (too large, not text, not a regular
        // file) is drift: what is adopted stays in force, nothing stops.
        let disk_runbooks = self.ws.disk_runbooks().unwrap_or_else(|e| {
            drift.push(format!("runbooks/: {e}; the adopted runbooks are in force"));
            Vec::new()
        });
        for (id, path, text) in disk_runbooks {
            match adopted_digest(&runbook_subject(&id)) {
                Some(d) if d != Digest::of(text.as_bytes()) => drift.push(format!(
                    "{path} differs from its adopted version: the adopted one is in force; an adoption proposes the change"
                )),
                Some(_) => {}
                None => match parse_runbook(&path, &text) {
                    Ok(rb) if rb.id.as_str() == id => {
                        unadopted.push((id, GovRunbook { runbook: rb, adopted: false }));
                    }
                    Ok(rb) => drift.push(format!("{path}: its id is `{}`, not the file name `{id}`; ignored", rb.id)),
                    Err(e) => drift.push(format!("{e} (ignored)")),
                },
            }
        }
        // Per-file subjects whose unadopted files simply do not count yet.
        let files = [
            (
                "rollouts/",
                "rollouts",
                self.ws.disk_rollouts(),
                rollout_subject as fn(&str) -> String,
                "it cannot be started",
            ),
            (
                "fleet/",
                "kernel manifests",
                self.ws.disk_manifests(),
                manifest_subject,
                "nothing is promoted from it",
            ),
        ];
        for (dir, what, on_disk, subject, until) in files {
            let on_disk = on_disk.unwrap_or_else(|e| {
                drift.push(format!("{dir}: {e}; the adopted {what} are in force"));
                Vec::new()
            });
            for (id, path, text) in on_disk {
                match adopted_digest(&subject(&id)) {
                    Some(d) if d == Digest::of(text.as_bytes()) => {}
                    Some(_) => drift.push(format!(
                        "{path} differs from its adopted version: the adopted one is in force; an adoption proposes the change"
                    )),
                    None => drift.push(format!(
                        "{path} is not adopted: {until} until an adoption brings it into force"
                    )),
                }
            }
        }
        (drift, unadopted)
    }
}
