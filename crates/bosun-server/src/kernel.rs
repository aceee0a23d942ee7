//! The kernel lifecycle's changes that are not ops, and its patch check
//! (issue 17): `POST /kernel/changes` takes a signed kernel statement
//! (`patches_import` with the files it names, `patches_migrate`,
//! `campaign_close`, `campaign_abandon`, `kernel_keep`, `prune_pause`,
//! `prune`) and answers what it changed; `GET /kernel/check/{host}`
//! applies a host's series to the daemon's configured baseline checkout
//! (`[kernel.baselines]`: a client never names a directory of the
//! daemon's). The statement is the authority, as on `/statements`: who
//! may make which is keeper.toml's `[statements]`. Both routes also need
//! what a read needs (a bearer token over TCP) before a body is read, and
//! take one request at a time (503 while another runs): an import's body
//! may be large, a check applies a whole series.

use aide::axum::ApiRouter;
use aide::axum::routing::{get_with, post_with};
use axum::Json;
use axum::extract::State;
use base64::Engine as _;
use bosun_api::views::{CampaignView, KernelChangeView, PatchCheckView};
use bosun_control::statement::Effect;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::App;
use crate::auth::Reader;
use crate::body::Body;
use crate::error::ApiError;
use crate::params::Id;
use crate::routes::{judged, refusals};

/// The largest body `POST /kernel/changes` takes: an import's patches
/// (`bosun_control::kernel_acts::MAX_IMPORT_BYTES`) in base64, with room
/// for the statement.
pub const MAX_CHANGE_BODY_BYTES: usize = 12 << 20;

/// A signed kernel statement and, for an import, its files.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KernelChangeBody {
    /// The signed statement (compact JWS).
    pub envelope: String,
    /// The files a `patches_import` statement names, in its order (none
    /// for the other verbs).
    #[serde(default)]
    pub files: Vec<KernelFileBody>,
}

/// One file of an import.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KernelFileBody {
    /// Its name, as the statement names it.
    pub name: String,
    /// Its bytes, in standard padded base64.
    pub base64: String,
}

/// These routes (under `/api/v1`, without the prefix).
pub fn routes() -> ApiRouter<App> {
    ApiRouter::new()
        .api_route(
            "/kernel/changes",
            post_with(change, |o| {
                refusals(o.id("kernelChange").summary(
                    "Take a signed kernel statement (patches_import with its files, patches_migrate, campaign_close, campaign_abandon, kernel_keep, prune_pause, prune): what it changed",
                ))
            }),
        )
        .api_route(
            "/kernel/campaigns/{id}",
            get_with(campaign, |o| {
                o.id("kernelCampaign").summary(
                    "A campaign (the id) as the patch tree holds it: its patchsets, what a campaign_abandon statement names, and whether it was closed",
                )
            }),
        )
        .api_route(
            "/kernel/check/{id}",
            get_with(check, |o| {
                o.id("kernelCheck").summary(
                    "Apply a host's (the id) series patch by patch to the configured checkout of its baseline ([kernel.baselines]): the first patch, file and hunk that fails, offsets",
                )
            }),
        )
}

/// The permit of the one kernel change or check running, or 503.
fn one_at_a_time(app: &App) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
    app.kernel_heavy.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            None,
            "another kernel change or check is running: one at a time; try again",
        )
    })
}

async fn change(
    State(app): State<App>,
    _r: Reader,
    Body(b): Body<KernelChangeBody, MAX_CHANGE_BODY_BYTES>,
) -> Result<Json<KernelChangeView>, ApiError> {
    let _one = one_at_a_time(&app)?;
    let mut files = Vec::with_capacity(b.files.len());
    for f in b.files {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(f.base64.as_bytes())
            .map_err(|e| ApiError::bad_request(format!("file `{}`: not base64: {e}", f.name)))?;
        files.push((f.name, bytes));
    }
    app.core(move |ctl| {
        let a = judged(ctl.apply_statement_with(&b.envelope, &files, bosun_control::now()))?;
        Ok(match a.effect {
            Effect::Kernel(v) => *v,
            _ => KernelChangeView {
                verb: String::new(),
                by: a.by.to_string(),
                summary: "done (not a kernel statement)".into(),
                ..KernelChangeView::default()
            },
        })
    })
    .await
    .map(Json)
}

async fn campaign(
    State(app): State<App>,
    _r: Reader,
    Id(campaign): Id,
) -> Result<Json<CampaignView>, ApiError> {
    app.core(move |ctl| {
        bosun_control::kernel_acts::campaign_view(&ctl.ws.root, &campaign)
            .map_err(|e| ApiError::bad_request(e.to_string()))
    })
    .await
    .map(Json)
}

async fn check(
    State(app): State<App>,
    _r: Reader,
    Id(host): Id,
) -> Result<Json<PatchCheckView>, ApiError> {
    let _one = one_at_a_time(&app)?;
    app.core(move |ctl| {
        ctl.patches_check(&host, None)
            .map_err(|e| ApiError::bad_request(e.to_string()))
    })
    .await
    .map(Json)
}
