//! The OpenAPI 3.1 document of `/api/v1`, generated from the routes and
//! the bosun-api types (aide over schemars): served at
//! `/api/v1/openapi.json` and committed as `docs/openapi.json` (a test
//! fails when the committed file is stale; `bosun api openapi` prints it).

use aide::openapi::{Info, OpenApi, SecurityScheme, Server};

use crate::auth::BEARER;
use crate::routes;

/// The document, as pretty JSON with a final newline.
pub fn json() -> String {
    let mut doc = OpenApi {
        openapi: "3.1.0".into(),
        info: Info {
            title: "bosun".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: Some(DESCRIPTION.into()),
            ..Info::default()
        },
        servers: vec![Server {
            url: "/api/v1".into(),
            description: Some("the daemon's API (Unix socket or loopback TCP)".into()),
            ..Server::default()
        }],
        ..OpenApi::default()
    };
    let _ = routes::api().finish_api_with(&mut doc, |t| {
        t.security_scheme(
            BEARER,
            SecurityScheme::Http {
                scheme: "bearer".into(),
                bearer_format: Some("JWS (`bosun-token+jwt`)".into()),
                description: Some(
                    "A token signed by an adopted identity, at most 24 h long. Needed for reads over TCP; over the Unix socket its permissions decide. No token authorises a change."
                        .into(),
                ),
                extensions: Default::default(),
            },
        )
    });
    let mut text = serde_json::to_string_pretty(&doc)
        .unwrap_or_else(|e| format!("{{\"error\": \"the document does not serialise: {e}\"}}"));
    text.push('\n');
    text
}

const DESCRIPTION: &str = "The HTTP API of the bosun daemon. Reads answer the views `bosun … --json` prints. Changes take a signed envelope (`{\"envelope\": \"<compact JWS>\"}`) and run it through the same checks as the CLI: the envelope is the only authority for a change, whatever listener or token it comes with. Every error is `{\"error\": {\"check\": <name or null>, \"message\": <text>}}`; `check` names the check that refused (the names the listing of refused inputs shows).";
