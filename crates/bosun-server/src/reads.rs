//! The reads of `/api/v1` beyond the overview, ops and the ledger: what
//! the remote CLI shows as the embedded one does — the inventory in
//! force, blocker kinds and one blocker, every rollout, the rejected
//! inputs, an op's envelope as submitted, what an approver reads of it,
//! and the kernel lifecycle's reads (each host's kernel; the build jobs;
//! what promoting, building or installing a host would be: the op's
//! params, to sign and submit).

use aide::axum::ApiRouter;
use aide::axum::routing::get_with;
use axum::Json;
use axum::extract::State;
use bosun_api::views::{
    BlockerKindsView, BlockerView, ConsentView, EnvelopeView, InventoryView, KernelJobsView,
    KernelOpView, KernelStatusView, PromotePreviewView, RejectionView, RolloutView,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::App;
use crate::auth::Reader;
use crate::error::ApiError;
use crate::params::{Id, Params};
use crate::routes::MAX_LIST;

/// `?limit=…` of the rejections listing.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitQuery {
    /// At most this many, newest first (default 20).
    #[schemars(range(min = 1, max = MAX_LIST))]
    pub limit: Option<usize>,
}

/// These routes (under `/api/v1`, without the prefix).
pub fn routes() -> ApiRouter<App> {
    ApiRouter::new()
        .api_route(
            "/inventory",
            get_with(inventory, |o| {
                o.id("getInventory").summary(
                    "The inventory in force (the adopted fleet/hosts.toml): every host's entry",
                )
            }),
        )
        .api_route(
            "/blockers/kinds",
            get_with(blocker_kinds, |o| {
                o.id("listBlockerKinds")
                    .summary("The blocker kinds in force: what each halts, on what, who owns it")
            }),
        )
        .api_route(
            "/blockers/{id}",
            get_with(blocker, |o| {
                o.id("getBlocker").summary("One blocker by its number")
            }),
        )
        .api_route(
            "/rollouts",
            get_with(rollouts, |o| {
                o.id("listRollouts")
                    .summary("Every rollout started, with where it stands")
            }),
        )
        .api_route(
            "/rejections",
            get_with(rejections, |o| {
                o.id("listRejections")
                    .summary("Inputs intake refused, newest first: when, which check, why")
            }),
        )
        .api_route(
            "/ops/{id}/consent",
            get_with(consent, |o| {
                o.id("getOpConsent").summary(
                    "What an approver reads of an op: runbook standing, approvals that count and not, holds, budgets (render it beside /ops/{id}/plan, whose digest a client recomputes)",
                )
            }),
        )
        .api_route(
            "/kernel/status",
            get_with(kernel_status, |o| {
                o.id("getKernelStatus").summary(
                    "Each host with a kernel manifest: its digest, the lock (current, stale), the newest build, what is installed, drift, a pending install, blockers",
                )
            }),
        )
        .api_route(
            "/kernel/promote/{id}",
            get_with(kernel_promote, |o| {
                o.id("getKernelPromote").summary(
                    "What promoting a host (the id) would produce — patches, the cumulative patch's BLAKE2b-512 — and the kernel-promote op's params to submit",
                )
            }),
        )
        .api_route(
            "/kernel/build/{id}",
            get_with(kernel_build, |o| {
                o.id("getKernelBuild").summary(
                    "The build op of a host (the id): the digest of the lock an approved promote wrote, as kernel-build params to submit",
                )
            }),
        )
        .api_route(
            "/kernel/jobs",
            get_with(kernel_jobs, |o| {
                o.id("getKernelJobs").summary(
                    "The kernel build jobs kept in the control plane's state, newest first: host, build host, status, version, the op that ran each, why a failed one failed",
                )
            }),
        )
        .api_route(
            "/kernel/install/{id}",
            get_with(kernel_install, |o| {
                o.id("getKernelInstall").summary(
                    "The install op of a host (the id): the newest published, signed build of its current lock, as kernel-install params to submit",
                )
            }),
        )
        .api_route(
            "/ops/{id}/envelope",
            get_with(envelope, |o| {
                o.id("getOpEnvelope")
                    .summary("An op's signed envelope, as it was submitted")
            }),
        )
}

async fn inventory(State(app): State<App>, _r: Reader) -> Result<Json<InventoryView>, ApiError> {
    app.core(|ctl| Ok(ctl.inventory_view()?)).await.map(Json)
}

async fn blocker_kinds(
    State(app): State<App>,
    _r: Reader,
) -> Result<Json<BlockerKindsView>, ApiError> {
    app.core(|ctl| Ok(ctl.blocker_kinds_view()?))
        .await
        .map(Json)
}

async fn blocker(
    State(app): State<App>,
    _r: Reader,
    Id(id): Id,
) -> Result<Json<BlockerView>, ApiError> {
    let n: u64 = id
        .parse()
        .map_err(|_| ApiError::bad_request(format!("`{id}` is not a blocker's number")))?;
    app.core(move |ctl| {
        ctl.blocker_view(n)?
            .ok_or_else(|| ApiError::not_found(format!("no blocker {n}")))
    })
    .await
    .map(Json)
}

async fn rollouts(State(app): State<App>, _r: Reader) -> Result<Json<Vec<RolloutView>>, ApiError> {
    app.core(|ctl| {
        let mut out = Vec::new();
        for rec in ctl.rollouts()? {
            out.push(ctl.rollout_view(&rec.id)?);
        }
        Ok(out)
    })
    .await
    .map(Json)
}

async fn rejections(
    State(app): State<App>,
    _r: Reader,
    Params(q): Params<LimitQuery>,
) -> Result<Json<Vec<RejectionView>>, ApiError> {
    let limit = q.limit.unwrap_or(20);
    if !(1..=MAX_LIST).contains(&limit) {
        return Err(ApiError::bad_request(format!("`limit` is 1 to {MAX_LIST}")));
    }
    app.core(move |ctl| Ok(ctl.rejection_views(limit)?))
        .await
        .map(Json)
}

async fn consent(
    State(app): State<App>,
    _r: Reader,
    Id(id): Id,
) -> Result<Json<ConsentView>, ApiError> {
    app.core(move |ctl| {
        let jti = ctl.resolve_op(&id)?;
        Ok(ctl.consent(&jti, bosun_control::now())?.view())
    })
    .await
    .map(Json)
}

async fn envelope(
    State(app): State<App>,
    _r: Reader,
    Id(id): Id,
) -> Result<Json<EnvelopeView>, ApiError> {
    app.core(move |ctl| {
        let jti = ctl.resolve_op(&id)?;
        let rec = ctl
            .op_record(&jti)?
            .ok_or_else(|| ApiError::not_found(format!("no op with id `{id}`")))?;
        Ok(EnvelopeView {
            jti: jti.to_string(),
            envelope: rec.envelope,
        })
    })
    .await
    .map(Json)
}

async fn kernel_status(
    State(app): State<App>,
    _r: Reader,
) -> Result<Json<KernelStatusView>, ApiError> {
    app.core(|ctl| Ok(ctl.kernel_status_view()?))
        .await
        .map(Json)
}

async fn kernel_promote(
    State(app): State<App>,
    _r: Reader,
    Id(host): Id,
) -> Result<Json<PromotePreviewView>, ApiError> {
    // A host without a manifest, or a tree or manifest that does not
    // parse, is the request's problem, said with its file and line.
    app.core(move |ctl| {
        ctl.promote_preview(&host)
            .map_err(|e| ApiError::bad_request(e.to_string()))
    })
    .await
    .map(Json)
}

async fn kernel_build(
    State(app): State<App>,
    _r: Reader,
    Id(host): Id,
) -> Result<Json<KernelOpView>, ApiError> {
    app.core(move |ctl| {
        ctl.build_op(&host)
            .map_err(|e| ApiError::bad_request(e.to_string()))
    })
    .await
    .map(Json)
}

async fn kernel_jobs(State(app): State<App>, _r: Reader) -> Result<Json<KernelJobsView>, ApiError> {
    app.core(|ctl| Ok(ctl.kernel_jobs_view()?)).await.map(Json)
}

async fn kernel_install(
    State(app): State<App>,
    _r: Reader,
    Id(host): Id,
) -> Result<Json<KernelOpView>, ApiError> {
    app.core(move |ctl| {
        ctl.install_op(&host)
            .map_err(|e| ApiError::bad_request(e.to_string()))
    })
    .await
    .map(Json)
}
