//! What is in force: the adopted policy, key registry and runbooks, and how
//! the files on disk differ from them (drift). The controller and intake
//! only ever use what is adopted; a runbook that was never adopted may be
//! planned and run, but never without a human (see [`crate::intake`]).

use std::collections::BTreeMap;

use bosun_model::Digest;
use bosun_policy::Policy;
use bosun_runbook::{Runbook, parse_runbook};
use bosun_workspace::governed::{KEYS_SUBJECT, POLICY_SUBJECT};
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

/// Everything in force, loaded once and reused for many ops.
pub struct Governed {
    /// The adopted policy.
    pub policy: Policy,
    /// The blocker kinds adopted with it (`policy/blockers.toml`, or seed
    /// 001's table).
    pub blocker_kinds: bosun_fleet::blockers::Kinds,
    /// The adopted key registry.
    pub keys: KeyRegistry,
    /// Runbooks by id.
    pub runbooks: BTreeMap<String, GovRunbook>,
    /// The inventory (from disk; not governed).
    pub inventory: Inventory,
    /// Files on disk that differ from what is in force, in words.
    pub drift: Vec<String>,
}

/// Runbook subject name for adoption.
pub fn runbook_subject(id: &str) -> String {
    format!("runbook:{id}")
}

/// The store's name for the last inventory that parsed.
const INVENTORY: &str = "inventory";

impl Control {
    /// The inventory in force: `fleet/hosts.toml` when it parses (kept in
    /// the store as the last good one); otherwise the last good one, with
    /// the parse error (file:line) as a warning. A first inventory that
    /// does not parse is an error.
    pub fn inventory_in_force(&self) -> Result<(Inventory, Option<String>)> {
        match self.ws.inventory_with_text() {
            Ok((inv, text)) => {
                self.store.remember(INVENTORY, &text, crate::now())?;
                Ok((inv, None))
            }
            Err(e) => match self.store.remembered(INVENTORY)? {
                Some(text) => {
                    let inv = Inventory::parse("fleet/hosts.toml (last good)", &text)
                        .map_err(bosun_workspace::WsError::Invalid)?;
                    Ok((
                        inv,
                        Some(format!(
                            "{e}; the last fleet/hosts.toml that parsed stays in force until it is fixed"
                        )),
                    ))
                }
                None => Err(e.into()),
            },
        }
    }

    /// Loads what is in force. Fails when nothing was adopted yet.
    pub fn governed(&self) -> Result<Governed> {
        let store = &self.store;
        let Some(pol) = store.adopted(POLICY_SUBJECT)? else {
            return Err(ControlError::Other(
                "nothing is adopted yet: register an operator key (`bosun key new <name> --role operator`), then run `bosun adopt --as <name>`"
                    .into(),
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
        let keys = match store.adopted(KEYS_SUBJECT)? {
            Some(k) => KeyRegistry::from_content(&k.content)?,
            None => KeyRegistry::default(),
        };
        let mut drift = Vec::new();
        match self.ws.disk_policy() {
            Ok(p) if Digest::of(p.content().as_bytes()) != pol.digest => drift.push(
                "policy/ differs from the adopted policy: the adopted one is in force; `bosun adopt` proposes the change".into(),
            ),
            Ok(_) => {}
            Err(e) => drift.push(format!("policy/ cannot be read ({e}); the adopted policy is in force")),
        }
        match self.ws.disk_keys() {
            Ok(k) if k.digest() != keys.digest() => drift.push(
                "keys/ differs from the adopted key registry: the adopted one is in force; `bosun adopt` proposes the change".into(),
            ),
            Ok(_) => {}
            Err(e) => drift.push(format!("keys/ cannot be read ({e}); the adopted registry is in force")),
        }
        let mut runbooks = BTreeMap::new();
        for a in store.adopted_all()? {
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
        for (id, path, text) in self.ws.disk_runbooks()? {
            let adopted = store.adopted(&runbook_subject(&id))?;
            match adopted {
                Some(a) if a.digest != Digest::of(text.as_bytes()) => drift.push(format!(
                    "{path} differs from its adopted version: the adopted one is in force; `bosun adopt` proposes the change"
                )),
                Some(_) => {}
                None => match parse_runbook(&path, &text) {
                    Ok(rb) if rb.id.as_str() == id => {
                        runbooks.insert(id, GovRunbook { runbook: rb, adopted: false });
                    }
                    Ok(rb) => drift.push(format!("{path}: its id is `{}`, not the file name `{id}`; ignored", rb.id)),
                    Err(e) => drift.push(format!("{e} (ignored)")),
                },
            }
        }
        let (inventory, warning) = self.inventory_in_force()?;
        drift.extend(warning);
        Ok(Governed {
            policy,
            blocker_kinds,
            keys,
            runbooks,
            inventory,
            drift,
        })
    }
}
