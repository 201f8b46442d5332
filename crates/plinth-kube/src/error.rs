//! Turning kube's errors into [`ExecError`]s that say what failed.

use plinth_executor::ExecError;

/// A Kubernetes API call that failed; the source says why.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action}: {detail}")]
pub struct KubeCallError {
    /// What was attempted: "create Job `plinth-x` in namespace `plinth-p`".
    pub action: String,
    /// Why, in one line (the API server's message, or the transport's).
    pub detail: String,
    /// The underlying error.
    #[source]
    pub source: kube::Error,
}

/// Returns the HTTP status of an API server's refusal.
pub(crate) fn api_code(error: &kube::Error) -> Option<u16> {
    match error {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// Returns what an error says, its causes appended: `a: b: c`.
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// One line describing `error`: the API server's message when it refused, else the chain.
fn detail(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) if !status.message.is_empty() => {
            format!("{} ({})", status.message, status.code)
        }
        other => chain(other),
    }
}

/// Wraps a failed call: `422 Invalid` becomes [`ExecError::InvalidSpec`] (the API server
/// refused what the spec asked for), everything else [`ExecError::Backend`].
pub(crate) fn call_failed(action: String, error: kube::Error) -> ExecError {
    if api_code(&error) == Some(422) {
        return ExecError::InvalidSpec {
            field: "spec",
            reason: format!("Kubernetes refused to {action}: {}", detail(&error)),
        };
    }
    ExecError::Backend(Box::new(KubeCallError {
        action,
        detail: detail(&error),
        source: error,
    }))
}
