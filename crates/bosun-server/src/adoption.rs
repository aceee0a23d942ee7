//! Adoption over `/api/v1`: what the governed files in the daemon's
//! workspace would change, a proposal with its changes (contents whole,
//! so a client recomputes every digest before it signs), and the two
//! signed changes — propose-and-approve in one envelope, and a further
//! approval. Only an envelope signed by an operator in force (at
//! bootstrap: in the proposed registry) proposes or approves anything.

use aide::axum::ApiRouter;
use aide::axum::routing::{get_with, post_with};
use axum::Json;
use axum::extract::State;
use bosun_api::views::{AdoptionOutcome, PendingView, ProposalView};

use crate::App;
use crate::auth::Reader;
use crate::body::{Body, EnvelopeBody};
use crate::error::ApiError;
use crate::params::Id;
use crate::routes::{judged, refusals};

/// These routes (under `/api/v1`, without the prefix).
pub fn routes() -> ApiRouter<App> {
    ApiRouter::new()
        .api_route(
            "/adoption",
            get_with(pending, |o| {
                o.id("pendingAdoption").summary(
                    "What the governed files on disk change against what is in force, contents whole, and the digest a proposal of them has",
                )
            }),
        )
        .api_route(
            "/adoption/proposals",
            post_with(propose, |o| {
                refusals(o.id("propose").summary(
                    "Propose the pending changes and approve them, by one signed approval whose `op` is the new proposal's id and whose digest is the pending one",
                ))
            }),
        )
        .api_route(
            "/adoption/proposals/{id}",
            get_with(proposal, |o| {
                o.id("getProposal")
                    .summary("A proposal (its id or a unique prefix) with its changes, contents whole")
            }),
        )
        .api_route(
            "/adoption/approvals",
            post_with(approve, |o| {
                refusals(
                    o.id("approveProposal")
                        .summary("Take a signed approval of a proposal (operators only)"),
                )
            }),
        )
}

async fn pending(State(app): State<App>, _r: Reader) -> Result<Json<PendingView>, ApiError> {
    app.core(|ctl| Ok(ctl.pending_view()?)).await.map(Json)
}

async fn proposal(
    State(app): State<App>,
    _r: Reader,
    Id(id): Id,
) -> Result<Json<ProposalView>, ApiError> {
    app.core(move |ctl| {
        ctl.proposal_view(&id)?
            .ok_or_else(|| ApiError::not_found(format!("no proposal `{id}`")))
    })
    .await
    .map(Json)
}

/// What an accepted adoption approval did, as the API answers it.
fn outcome(
    ctl: &bosun_control::Control,
    o: &bosun_control::adopt::AdoptOutcome,
) -> Result<AdoptionOutcome, ApiError> {
    let p = ctl.proposal(&o.proposal)?.ok_or_else(|| {
        ApiError::internal(format!(
            "proposal `{}` was approved but cannot be read",
            o.proposal
        ))
    })?;
    Ok(AdoptionOutcome {
        proposal: o.proposal.to_string(),
        digest: p.digest.to_string(),
        approvals: o.approvals,
        needed: o.needed,
        adopted: o.adopted,
    })
}

async fn propose(
    State(app): State<App>,
    Body(b): Body<EnvelopeBody>,
) -> Result<Json<AdoptionOutcome>, ApiError> {
    app.core(move |ctl| {
        let o = judged(ctl.propose_signed(&b.envelope, bosun_control::now()))?;
        outcome(ctl, &o)
    })
    .await
    .map(Json)
}

async fn approve(
    State(app): State<App>,
    Body(b): Body<EnvelopeBody>,
) -> Result<Json<AdoptionOutcome>, ApiError> {
    app.core(move |ctl| {
        let o = judged(ctl.approve_adoption(&b.envelope, bosun_control::now()))?;
        outcome(ctl, &o)
    })
    .await
    .map(Json)
}
