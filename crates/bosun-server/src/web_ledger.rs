//! The dashboard's ledger browser, `/ledger`: the newest signed
//! checkpoints and, for `?q=<jti>` (an op's entries) or `?q=#<index>` (one
//! entry), each entry with its inclusion proof against the newest
//! checkpoint — checked by the page's script in the browser
//! (`/static/ledger.js`) against the ledger key it shows, so what the
//! operator reads does not rest on the daemon's word alone.

use axum::Router;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use crate::App;
use crate::web::{Viewer, read_page, static_file};

/// Checkpoints shown.
const CHECKPOINTS: usize = 20;

/// Proofs shown for one op.
const MAX_PROOFS: usize = 200;

/// The routes.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/ledger", get(page))
        .route("/static/ledger.js", get(script))
}

/// `?q=`: an op's jti (or prefix), or `#<index>`.
#[derive(Deserialize)]
struct LedgerQuery {
    q: Option<String>,
}

async fn page(State(app): State<App>, _v: Viewer, Query(q): Query<LedgerQuery>) -> Response {
    let query =
        q.q.map(|s| s.trim().chars().take(64).collect::<String>())
            .filter(|s| !s.is_empty());
    read_page(
        app,
        move |ctl| {
            let mut l = bosun_web::LedgerPage {
                vkey: bosun_control::ledger::verifier(&ctl.ws)
                    .ok()
                    .map(|v| v.to_string()),
                size: ctl.ledger_size()?,
                ..Default::default()
            };
            let cps = ctl.checkpoints()?;
            l.checkpoints = cps
                .iter()
                .rev()
                .take(CHECKPOINTS)
                .map(|c| bosun_web::CheckpointRow {
                    size: c.size,
                    // The note's third line is the root, in base64.
                    root: c.note.lines().nth(2).unwrap_or_default().to_string(),
                    at: c.at,
                })
                .collect();
            if let Some(q) = &query {
                let asked = match q.strip_prefix('#') {
                    Some(n) => match n.parse::<u64>() {
                        Ok(i) => bosun_control::ledger::prove(ctl, None, Some(i)),
                        Err(_) => Err(bosun_control::ControlError::Other(format!(
                            "`{q}`: an entry is #<index>, a number"
                        ))),
                    },
                    None => ctl.resolve_op(q).and_then(|jti| {
                        bosun_control::ledger::prove(ctl, Some(jti.as_str()), None)
                    }),
                };
                match asked {
                    Ok(proofs) => {
                        for p in proofs.into_iter().take(MAX_PROOFS) {
                            let v: serde_json::Value =
                                serde_json::from_str(&p.entry).unwrap_or_default();
                            l.proofs.push(bosun_web::ProofRow {
                                index: p.index,
                                kind: v["kind"].as_str().unwrap_or("").to_string(),
                                pretty: serde_json::to_string_pretty(&v).unwrap_or_default(),
                                proof: serde_json::to_string(&p).unwrap_or_default(),
                            });
                        }
                    }
                    Err(e) => l.error = Some(e.to_string()),
                }
            }
            l.query = query;
            Ok(l)
        },
        |web, ws, l| web.ledger(ws, &l, jiff::Timestamp::now()),
    )
    .await
}

async fn script() -> Response {
    static_file(bosun_web::LEDGER_JS, "text/javascript; charset=utf-8")
}
