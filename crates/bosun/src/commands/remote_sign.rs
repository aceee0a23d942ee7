//! Signing for a daemon (`BOSUN_URL`): the `--as` key from this CLI's key
//! directory, the workspace and envelope lifetime the daemon names at
//! `/api/v1/info`. What is signed here is posted; the key never leaves.

use std::process::ExitCode;

use bosun_api::views::{ServerInfo, StatusView};
use bosun_client::Remote;
use bosun_control::client::{Signing, load_secret};
use bosun_control::{Result, now};
use bosun_model::{Act, KeyId, Name};
use bosun_sign::Signer;
use serde_json::json;

use super::{Ctx, key_id};

/// Who signs for the daemon at hand, with what, for which workspace.
pub(crate) struct RemoteSigner {
    /// The identity.
    pub(crate) who: KeyId,
    key: Signer,
    ws: Name,
    ttl_secs: i64,
}

impl RemoteSigner {
    /// `as_`'s key from this CLI's key directory, for `r`'s workspace.
    pub(crate) fn new(ctx: &Ctx, r: &Remote, as_: &str) -> Result<RemoteSigner> {
        let who = key_id(as_)?;
        let info: ServerInfo = r.info()?;
        let ws = Name::parse(&info.workspace)
            .map_err(|e| r.failed(format!("its workspace name: {e}")))?;
        let key = load_secret(&ctx.keys, &who)?;
        Ok(RemoteSigner {
            who,
            key,
            ws,
            ttl_secs: info.op_ttl_secs.clamp(1, bosun_client::MAX_PLANNED_TTL),
        })
    }

    /// A signing context as of now.
    pub(crate) fn signing(&self) -> Signing<'_> {
        Signing {
            key: &self.key,
            iss: &self.who,
            ws: &self.ws,
            ttl_secs: self.ttl_secs,
            now: now(),
        }
    }
}

/// Signs `act` as `as_` and posts it to `r`: the overview after it, or the
/// exit status of the daemon's refusal (printed as embedded prints it).
pub(crate) fn statement(
    ctx: &Ctx,
    r: &Remote,
    as_: &str,
    act: Act,
    json_out: bool,
) -> Result<std::result::Result<(KeyId, StatusView), ExitCode>> {
    let s = RemoteSigner::new(ctx, r, as_)?;
    let env = s.signing().statement(act)?;
    Ok(
        match r.post::<_, StatusView>("/statements", &json!({ "envelope": env }))? {
            Ok(v) => Ok((s.who, v)),
            Err(e) => Err(super::refused_remote(&e, json_out)),
        },
    )
}
