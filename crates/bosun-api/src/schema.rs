//! The JSON schema of every view, by name: the one place the documented
//! JSON shapes come from.

use schemars::{JsonSchema, Schema, schema_for};

use crate::views::{
    BlockerView, CheckpointView, HostView, LedgerStatusView, OpBrief, OpView, PlanView,
    RolloutView, StatusView,
};
use crate::{NextAction, Rejection};

fn one<T: JsonSchema>() -> (&'static str, Schema) {
    let s = schema_for!(T);
    (
        std::any::type_name::<T>()
            .rsplit("::")
            .next()
            .unwrap_or("?"),
        s,
    )
}

/// Every view's schema, keyed by type name, in a stable order.
pub fn all() -> Vec<(&'static str, Schema)> {
    vec![
        one::<StatusView>(),
        one::<OpBrief>(),
        one::<OpView>(),
        one::<PlanView>(),
        one::<RolloutView>(),
        one::<BlockerView>(),
        one::<HostView>(),
        one::<LedgerStatusView>(),
        one::<CheckpointView>(),
        one::<Rejection>(),
        one::<NextAction>(),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_view_has_an_object_schema() {
        for (name, s) in super::all() {
            let v = serde_json::to_value(&s).unwrap();
            assert!(
                v.get("title").is_some() || v.get("oneOf").is_some(),
                "{name}: {v}"
            );
        }
    }
}
