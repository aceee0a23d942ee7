//! The JSON schema of every view, by name: the one place the documented
//! JSON shapes come from.

use schemars::generate::SchemaGenerator;
use schemars::{JsonSchema, Schema, schema_for};

use crate::views::{
    AdoptionOutcome, BlockerKindsView, BlockerView, CheckpointView, ConsentView, EnvelopeView,
    HostView, InventoryView, LedgerStatusView, OpBrief, OpView, PendingView, PlanView, PlannedOp,
    ProposalView, RejectionView, RolloutView, ServerInfo, StatusView, SubmittedView,
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
        one::<SubmittedView>(),
        one::<PlannedOp>(),
        one::<ServerInfo>(),
        one::<PlanView>(),
        one::<RolloutView>(),
        one::<BlockerView>(),
        one::<HostView>(),
        one::<LedgerStatusView>(),
        one::<CheckpointView>(),
        one::<Rejection>(),
        one::<NextAction>(),
        one::<ConsentView>(),
        one::<InventoryView>(),
        one::<BlockerKindsView>(),
        one::<RejectionView>(),
        one::<EnvelopeView>(),
        one::<PendingView>(),
        one::<ProposalView>(),
        one::<AdoptionOutcome>(),
    ]
}

/// Every type the views use, by name, with shared definitions: what
/// `docs/JSON.md` is generated from.
pub fn definitions() -> serde_json::Map<String, serde_json::Value> {
    let mut g = SchemaGenerator::default();
    let _ = g.subschema_for::<StatusView>();
    let _ = g.subschema_for::<OpBrief>();
    let _ = g.subschema_for::<OpView>();
    let _ = g.subschema_for::<SubmittedView>();
    let _ = g.subschema_for::<PlannedOp>();
    let _ = g.subschema_for::<ServerInfo>();
    let _ = g.subschema_for::<PlanView>();
    let _ = g.subschema_for::<RolloutView>();
    let _ = g.subschema_for::<BlockerView>();
    let _ = g.subschema_for::<HostView>();
    let _ = g.subschema_for::<LedgerStatusView>();
    let _ = g.subschema_for::<CheckpointView>();
    let _ = g.subschema_for::<Rejection>();
    let _ = g.subschema_for::<NextAction>();
    let _ = g.subschema_for::<ConsentView>();
    let _ = g.subschema_for::<InventoryView>();
    let _ = g.subschema_for::<BlockerKindsView>();
    let _ = g.subschema_for::<RejectionView>();
    let _ = g.subschema_for::<EnvelopeView>();
    let _ = g.subschema_for::<PendingView>();
    let _ = g.subschema_for::<ProposalView>();
    let _ = g.subschema_for::<AdoptionOutcome>();
    g.take_definitions(true)
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
