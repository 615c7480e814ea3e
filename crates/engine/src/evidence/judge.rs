//! What the change does to one recorded call: evaluated with the principal's whole policy set
//! before and after the change ([`CallVerdict`]). A call recorded as refused is "already
//! refused" unless the policies as they are now allow it and the change refuses it
//! ([`PolicySet::cause`]): then it was refused by something no longer in force.

use super::refusal::Cause;
use super::{contexts, CallVerdict, PolicySet, Request};
use crate::effect::combine::{ALLOWED, EXPLICIT};

impl PolicySet {
    /// What the change does to a recorded call (a call the record shows as not refused).
    pub fn judge(&self, req: &Request) -> (CallVerdict, Option<String>) {
        if req.refused {
            // Refused at the time, but allowed by the policies as they are now and refused by
            // the change: the refusal came from something no longer in force (a change since
            // rolled back, such as a rollout's canary wave), so the change would refuse it
            // again. Counted as a loss, never as "already refused".
            if self.cause(req).0 == Cause::Caused {
                return (CallVerdict::NewlyDenied, None);
            }
            return (CallVerdict::AlreadyRefused, None);
        }
        if req.no_policy {
            return (CallVerdict::StillAllowed, None);
        }
        let action = match &req.action {
            Ok(a) => a,
            Err(why) => return (CallVerdict::Unknown, Some(why.clone())),
        };
        let ctxs = match contexts(req.mfa, &self.thresholds) {
            Ok(c) => c,
            Err(why) => return (CallVerdict::Unknown, Some(format!("{action}: {why}"))),
        };
        let mut verdict = CallVerdict::StillAllowed;
        let mut why = None;
        for resource in &req.resources {
            for ctx in &ctxs {
                let (before, after, reasons) = self.cell(action, resource, *ctx);
                let cell = if before == after && before.count_ones() == 1 {
                    // Nothing differs for this call: it went through before, it goes through
                    // after (whatever granted it).
                    CallVerdict::StillAllowed
                } else if after == ALLOWED {
                    CallVerdict::StillAllowed
                } else if after & ALLOWED == 0
                    && (before == ALLOWED || (after == EXPLICIT && before & EXPLICIT == 0))
                {
                    // Refused after; allowed by these policies before, or (an explicit deny
                    // now) granted before by something else, such as a resource policy.
                    CallVerdict::NewlyDenied
                } else {
                    let mut r: Vec<String> = reasons;
                    r.sort();
                    r.dedup();
                    if r.is_empty() {
                        r.push(
                            "recorded as allowed, but the policies as read did not allow it before the change"
                                .into(),
                        );
                    }
                    why.get_or_insert_with(|| format!("{action} on {resource}: {}", r.join("; ")));
                    CallVerdict::Unknown
                };
                verdict = verdict.min(cell);
            }
        }
        (
            verdict,
            if verdict == CallVerdict::Unknown {
                why
            } else {
                None
            },
        )
    }
}
