//! The inventory parser (`bosun_workspace::Inventory::parse`, what reads
//! `fleet/hosts.toml` and the adopted inventory), then host selection on
//! what it parsed.
//!
//! Properties: nothing panics; every host is selected by its own name,
//! alone, infra or not; a key scoped to a host's name may target it.

#![no_main]

use bosun_workspace::{Inventory, scope_allows};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(inv) = Inventory::parse("fleet/hosts.toml", text) else {
        return;
    };
    for h in inv.hosts.iter().take(64) {
        let name = h.name.as_str().to_string();
        let picked = inv.select(std::slice::from_ref(&name));
        assert_eq!(picked, Ok(vec![h.clone()]), "host `{name}` by name");
        assert!(scope_allows(std::slice::from_ref(&name), h));
        let _ = h.binding();
        let mut selectors = vec![format!("!{name}"), format!("arch:{}", h.arch)];
        selectors.extend(h.tags.iter().take(4).map(|t| format!("tag:{t}")));
        selectors.push(format!("{}*", &name[..name.len().min(2)]));
        for s in &selectors {
            let _ = inv.select(std::slice::from_ref(s));
        }
        let _ = inv.select(&selectors);
    }
});
