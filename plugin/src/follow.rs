//! `--wait`: follows one object's status until a verdict, with a live progress line on stderr (rewritten in place
//! on a terminal, one line per change otherwise, so logs of CI jobs stay readable).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use k8s_openapi::NamespaceResourceScope;
use kube::Resource;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::context::{api_error, fail, Ctx, Failure, EXIT_TIMEOUT};
use crate::view;

/// What one look at the object decided.
pub enum Verdict {
    Done,
    Failed(String),
    Continue,
}

/// Until the object is Ready for its generation; Failed for its generation ends with the condition's message.
pub fn until_ready(kind: &str, name: &str) -> impl Fn(Option<&Value>) -> Verdict {
    let (kind, name) = (kind.to_owned(), name.to_owned());
    move |obj| match obj {
        None => Verdict::Failed(format!("{kind} {name} was deleted while being followed")),
        Some(o) => {
            let c = view::common(o);
            if c.is_ready() {
                Verdict::Done
            } else if c.is_failed() {
                Verdict::Failed(format!(
                    "{kind} {name} failed ({}): {}",
                    c.reason(),
                    c.detail()
                ))
            } else {
                Verdict::Continue
            }
        }
    }
}

/// Until the object is gone (its finalizer released).
pub fn until_gone(obj: Option<&Value>) -> Verdict {
    match obj {
        None => Verdict::Done,
        Some(_) => Verdict::Continue,
    }
}

/// Polls `name` until `verdict` decides; returns the last object seen (`None` once gone).
pub async fn follow<K>(
    ctx: &Ctx,
    name: &str,
    verdict: impl Fn(Option<&Value>) -> Verdict,
) -> anyhow::Result<Option<Value>>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug,
{
    let kind = K::kind(&());
    let api = ctx.api::<K>();
    let deadline = tokio::time::Instant::now() + ctx.global.timeout;
    let mut line = Line::new();
    loop {
        let obj = api
            .get_opt(name)
            .await
            .map_err(|e| api_error(&format!("reading {kind} {name}"), e))?
            .map(|o| serde_json::to_value(o).expect("objects serialize"));
        match verdict(obj.as_ref()) {
            Verdict::Done => {
                line.finish();
                return Ok(obj);
            }
            Verdict::Failed(message) => {
                line.finish();
                return Err(fail(message));
            }
            Verdict::Continue => {}
        }
        let text = match &obj {
            Some(o) => view::progress_line(&kind, o),
            None => format!("{kind}/{name}: gone"),
        };
        line.show(&text);
        if tokio::time::Instant::now() >= deadline {
            line.finish();
            return Err(Failure {
                code: EXIT_TIMEOUT,
                message: format!(
                    "timed out after {}s following {kind} {name}; last seen: {text}. The object stays; look \
                     again with `kubectl pveontap storage show`/`status`, or run with a longer --timeout",
                    ctx.global.timeout.as_secs()
                ),
            }
            .into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The progress line on stderr.
struct Line {
    tty: bool,
    last: String,
    shown: bool,
}

impl Line {
    fn new() -> Self {
        Line {
            tty: std::io::stderr().is_terminal(),
            last: String::new(),
            shown: false,
        }
    }

    fn show(&mut self, text: &str) {
        if text == self.last {
            return;
        }
        let mut err = std::io::stderr();
        if self.tty {
            // Rewritten in place: carriage return, erase the line, at most one terminal line of text.
            let cut: String = text.chars().take(150).collect();
            let _ = write!(err, "\r\x1b[2K{cut}");
        } else {
            let _ = writeln!(err, "{text}");
        }
        let _ = err.flush();
        self.last = text.to_owned();
        self.shown = true;
    }

    fn finish(&mut self) {
        if self.tty && self.shown {
            let _ = writeln!(std::io::stderr());
        }
        self.shown = false;
    }
}
