//! Where reminders go: the [`NotifySink`] trait and its implementations,
//! one per kind of `[[notify.sink]]` in `bosun.toml` — [`Log`] (the caller
//! prints it), [`Webhook`] (a JSON POST) and [`Ntfy`] (an ntfy message).

use bosun_model::Name;
use bosun_workspace::Sink;

use super::{Reminder, SINK_TIMEOUT};

/// Why a sink did not take a reminder.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The HTTP request failed or was answered with an error status.
    #[error(transparent)]
    Http(#[from] Box<ureq::Error>),
}

impl From<ureq::Error> for SinkError {
    fn from(e: ureq::Error) -> SinkError {
        SinkError::Http(Box::new(e))
    }
}

/// A channel that reminders are offered to.
pub trait NotifySink {
    /// Its name in reports (`log`, `webhook`, `ntfy`).
    fn name(&self) -> &'static str;

    /// Offers reminder `r` of workspace `ws`, with what ends the wait in
    /// words (`next`); at most [`SINK_TIMEOUT`].
    fn send(&self, ws: &Name, r: &Reminder, next: &str) -> Result<(), SinkError>;
}

/// The sinks `bosun.toml` configures, in order, sharing one HTTP agent
/// whose requests end after [`SINK_TIMEOUT`].
pub fn sinks_of(config: &[Sink]) -> Vec<Box<dyn NotifySink>> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(SINK_TIMEOUT))
        .build()
        .into();
    config
        .iter()
        .map(|s| -> Box<dyn NotifySink> {
            match s {
                Sink::Log => Box::new(Log),
                Sink::Webhook { url } => Box::new(Webhook {
                    agent: agent.clone(),
                    url: url.clone(),
                }),
                Sink::Ntfy { url, token_env } => Box::new(Ntfy {
                    agent: agent.clone(),
                    url: url.clone(),
                    token_env: token_env.clone(),
                }),
            }
        })
        .collect()
}

/// The log: the caller prints the reminders it gets back.
#[derive(Debug, Clone, Copy)]
pub struct Log;

impl NotifySink for Log {
    fn name(&self) -> &'static str {
        "log"
    }

    fn send(&self, _ws: &Name, _r: &Reminder, _next: &str) -> Result<(), SinkError> {
        Ok(())
    }
}

/// A webhook: the reminder as a JSON POST.
#[derive(Debug, Clone)]
pub struct Webhook {
    agent: ureq::Agent,
    url: String,
}

impl NotifySink for Webhook {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn send(&self, ws: &Name, r: &Reminder, next: &str) -> Result<(), SinkError> {
        let body = serde_json::json!({
            "workspace": ws,
            "subject": r.subject,
            "reminder": r.n,
            "title": r.title,
            "next": next,
            "actions": r.next,
            "to": r.to,
            "since": bosun_api::time::at(r.since),
            "jti": r.jti,
        });
        self.agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .send(body.to_string())?;
        Ok(())
    }
}

/// An ntfy topic: the reminder as a message, urgent from the third rung.
#[derive(Debug, Clone)]
pub struct Ntfy {
    agent: ureq::Agent,
    url: String,
    /// The environment variable holding the bearer token, if any.
    token_env: Option<String>,
}

impl NotifySink for Ntfy {
    fn name(&self) -> &'static str {
        "ntfy"
    }

    fn send(&self, ws: &Name, r: &Reminder, next: &str) -> Result<(), SinkError> {
        let mut req = self
            .agent
            .post(&self.url)
            .header("Title", format!("bosun {ws}: waiting on {}", r.to))
            .header("Tags", "hourglass")
            .header("Priority", if r.n >= 3 { "high" } else { "default" });
        if let Some(var) = &self.token_env
            && let Ok(tok) = std::env::var(var)
        {
            req = req.header("Authorization", format!("Bearer {tok}"));
        }
        req.send(format!("{}\nnext: {next}", r.title))?;
        Ok(())
    }
}
