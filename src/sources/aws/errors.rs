//! AWS errors, read once: every SDK error of every service (IAM, STS, Organizations) becomes an
//! [`AwsError`] as it comes back, and an IAM error then becomes a [`StoreError`] that names the
//! account, the target and the operation, and says what to do.

use std::fmt;

use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::http::Response;

use crate::sources::journal;

/// IAM keeps at most this many versions of a managed policy.
pub const MAX_POLICY_VERSIONS: usize = 5;

/// Where an error happened: account, target and the IAM action that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At {
    pub account: String,
    pub target: String,
    pub operation: &'static str,
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "account {}: {}: {}",
            self.account, self.target, self.operation
        )
    }
}

/// Everything that can go wrong talking to IAM. Each message names the account, the target and
/// the operation, and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no usable AWS credentials: {detail}")]
    Credentials { detail: String },
    #[error("{at}: access denied ({message}); grant {} to the credentials in use: attach the least-privilege policy docs/permissions/plan-policy.json (plan, scan) or docs/permissions/apply-policy.json (apply, rollback), explained in docs/permissions.md", at.operation)]
    AccessDenied { at: At, message: String },
    #[error("{at}: IAM limit exceeded ({message}); delete an unused non-default policy version or check the account's IAM quotas, then rerun")]
    LimitExceeded { at: At, message: String },
    #[error("{at}: IAM rejected the document as malformed ({message}); nothing was changed; please report this with the plan")]
    MalformedPolicyDocument { at: At, message: String },
    #[error(
        "{at}: not found ({message}); it was deleted or renamed since it was read: run plan again"
    )]
    NoSuchEntity { at: At, message: String },
    #[error("{at}: throttled by IAM even after retries ({message}); lower --concurrency or retry in a few minutes")]
    Throttling { at: At, message: String },
    #[error("{at}: no answer from IAM ({message}); check the network and endpoint, then rerun (a write is re-read before it is repeated)")]
    Transport { at: At, message: String },
    #[error("{at}: IAM error {code}: {message}")]
    Service {
        at: At,
        code: String,
        message: String,
    },
    #[error("{at}: the live document changed since the plan was made ({detail}); nothing was written: run plan again")]
    Stale { at: At, detail: String },
    #[error("{at}: the new document has {size} non-whitespace characters, over IAM's {what} limit of {limit}; nothing was written: shorten the policy or split it")]
    TooLarge {
        at: At,
        size: usize,
        limit: usize,
        what: String,
    },
    #[error("{at}: the new document contains characters IAM does not accept ({chars:?}); nothing was written: IAM allows tab, newline and U+0020 to U+00FF")]
    DisallowedCharacters { at: At, chars: Vec<char> },
    #[error("{at}: the policy already has {MAX_POLICY_VERSIONS} versions and pruning is disabled; delete an unused non-default version yourself or apply without --no-prune")]
    VersionLimit { at: At },
    #[error("{at}: the write was sent but reading it back shows another document ({detail}); check the policy in IAM: the journal holds the before and after documents")]
    ReadBack { at: At, detail: String },
    #[error("{at}: {detail}")]
    Invalid { at: At, detail: String },
    #[error("{at}: {source}")]
    Journal {
        at: At,
        #[source]
        source: journal::JournalError,
    },
}

impl StoreError {
    /// The write may have reached IAM even though no success came back: re-read before
    /// repeating it.
    pub fn may_have_landed(&self) -> bool {
        matches!(
            self,
            StoreError::Transport { .. }
                | StoreError::Service { .. }
                | StoreError::Throttling { .. }
        )
    }
}

/// How far a request got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reached {
    /// The request could not be built or signed (credential resolution fails here).
    NotSent,
    /// No answer, or one that could not be read: timeouts, connection errors.
    NoAnswer,
    /// The service answered with an error.
    Service,
}

/// An SDK error of any AWS service, read once: its code, message and cause chain, and, when the
/// SDK could not parse the body, what the raw response said (HTTP status, `<Code>`, `<Message>`).
#[derive(Debug, Clone)]
pub struct AwsError {
    reached: Reached,
    /// The code the SDK parsed.
    code: Option<String>,
    /// The message the SDK parsed.
    message: Option<String>,
    /// The error and its sources, each displayed once.
    chain: String,
    /// (code, "HTTP status: message") from the raw response, when the SDK parsed no code.
    raw: Option<(String, String)>,
    status: Option<u16>,
}

impl AwsError {
    /// Reads an SDK error.
    pub fn new<E>(err: SdkError<E, Response>) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let reached = match &err {
            SdkError::ServiceError(_) => Reached::Service,
            SdkError::ConstructionFailure(_) => Reached::NotSent,
            _ => Reached::NoAnswer,
        };
        let code = err.code().map(str::to_string);
        AwsError {
            reached,
            raw: if code.is_none() {
                raw_error(&err)
            } else {
                None
            },
            message: err.message().map(str::to_string),
            status: err.raw_response().map(|r| r.status().as_u16()),
            chain: display_chain(&err),
            code,
        }
    }

    /// The error code the service sent, as the SDK parsed it.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The error and its causes, each once.
    pub fn chain(&self) -> &str {
        &self.chain
    }

    /// "CODE: message", or the cause chain when the service sent no code.
    pub fn text(&self) -> String {
        match (&self.code, &self.message) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.clone(),
            _ => self.chain.clone(),
        }
    }

    /// The [`StoreError`] of an IAM request made at `at`, by its error code.
    pub fn at(self, at: At) -> StoreError {
        let mut message = self.message.unwrap_or_default();
        match self.reached {
            Reached::Service => {}
            Reached::NotSent => {
                return StoreError::Credentials {
                    detail: format!("{at}: the request could not be signed ({}); sign in again or check --profile and AWS_* variables", self.chain),
                };
            }
            Reached::NoAnswer => {
                return StoreError::Transport {
                    at,
                    message: self.chain,
                }
            }
        }
        let code = match (self.code, self.raw) {
            (Some(code), _) => code,
            (None, Some((code, detail))) => {
                message = detail;
                code
            }
            (None, None) => "Unknown".to_string(),
        };
        // A 403 whose body the SDK could not read is still a denial.
        let code = match self.status {
            Some(403) if code.starts_with("HTTP") => "AccessDenied".to_string(),
            _ => code,
        };
        match code.as_str() {
            "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" => {
                StoreError::AccessDenied { at, message }
            }
            "LimitExceeded" => StoreError::LimitExceeded { at, message },
            "MalformedPolicyDocument" => StoreError::MalformedPolicyDocument { at, message },
            "NoSuchEntity" => StoreError::NoSuchEntity { at, message },
            "Throttling" | "ThrottlingException" | "RequestLimitExceeded" | "TooManyRequestsException" => {
                StoreError::Throttling { at, message }
            }
            "ExpiredToken" | "ExpiredTokenException" | "InvalidClientTokenId" | "SignatureDoesNotMatch"
            | "UnrecognizedClientException" | "InvalidAccessKeyId" => StoreError::Credentials {
                detail: format!("{at}: {code}: {message}; the credentials are expired or invalid: sign in again (`aws sso login`, a fresh MFA session) and rerun"),
            },
            _ => StoreError::Service { at, code, message },
        }
    }
}

/// An error and its sources, each displayed once: readable, unlike the SDK's context helper,
/// which appends the whole `Debug` form.
pub fn display_chain(err: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![err.to_string()];
    let mut next = err.source();
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// For an error without a parsed code: (`code`, `message`) from the raw response, with the
/// HTTP status in the message, so that nothing the service said is lost.
fn raw_error<E>(err: &SdkError<E, Response>) -> Option<(String, String)> {
    let raw = err.raw_response()?;
    let status = raw.status().as_u16();
    let body = raw
        .body()
        .bytes()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    let code = xml_element(&body, "Code")
        .map(str::to_string)
        .unwrap_or_else(|| format!("HTTP{status}"));
    let detail = xml_element(&body, "Message")
        .map(str::to_string)
        .unwrap_or_else(|| body.chars().take(300).collect::<String>());
    Some((code, format!("HTTP {status}: {}", detail.trim())))
}

/// The text of an XML element (`<Code>…</Code>`) in a raw error body.
fn xml_element<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = body.find(&open)? + open.len();
    let len = body[start..].find(&format!("</{name}>"))?;
    Some(body[start..start + len].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_elements_are_read_from_raw_bodies() {
        let body = "<ErrorResponse><Error><Code>Denied</Code><Message> no </Message></Error>";
        assert_eq!(xml_element(body, "Code"), Some("Denied"));
        assert_eq!(xml_element(body, "Message"), Some("no"));
        assert_eq!(xml_element(body, "Type"), None);
    }
}
