//! Evaluation of a principal's policy set in the contexts of one channel, before and after the
//! change, with AWS's combining logic; shared between principals whose sets cannot tell them
//! apart ([`Cache`]).

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use super::model::{Boundary, PrincipalInput};
use crate::effect::combine::{bits, combine, ALLOWED, EXPLICIT, IMPLICIT};
use crate::effect::{resource_arn, universe_for, Context, Evaluator, ResourceKind, View};

/// The cells of one evaluation: actions × resources × the given contexts.
struct Cells<'a> {
    actions: &'a [String],
    resources: Vec<String>,
    contexts: &'a [Context],
}

impl Cells<'_> {
    fn evaluate(&self, doc: &Value, username: &str, view: View) -> Vec<u8> {
        let ev = Evaluator::new(doc, username);
        let mut out =
            Vec::with_capacity(self.actions.len() * self.resources.len() * self.contexts.len());
        for a in self.actions {
            for r in &self.resources {
                for c in self.contexts {
                    out.push(bits(&ev.evaluate(a, r, *c, view).possible));
                }
            }
        }
        out
    }

    fn action_of(&self, i: usize) -> &str {
        let per = self.resources.len() * self.contexts.len();
        self.actions.get(i / per).map_or("", String::as_str)
    }
}

/// What evaluation finds for one channel.
#[derive(Clone)]
pub(super) struct ChannelEval {
    pub actions_before: BTreeSet<String>,
    pub lost: BTreeSet<String>,
    pub maybe_lost: BTreeSet<String>,
}

fn evaluate_channel(
    p: &PrincipalInput,
    before: &Value,
    after: &Value,
    contexts: &[Context],
    fallback: bool,
) -> ChannelEval {
    let mut docs: Vec<&Value> = vec![before, after];
    if !fallback {
        docs.extend(p.others.iter());
    }
    if let Boundary::Policy { document, .. } = &p.boundary {
        docs.push(document);
    }
    let universe = universe_of(p, &docs);
    let cells = Cells {
        actions: &universe.actions,
        resources: ResourceKind::ALL
            .iter()
            .map(|k| resource_arn(&universe, *k))
            .collect(),
        contexts,
    };
    let view = if fallback {
        View::BesideAllowAll
    } else {
        View::Alone
    };
    let others: Vec<Vec<u8>> = if fallback {
        Vec::new()
    } else {
        p.others
            .iter()
            .map(|d| cells.evaluate(d, &p.name, View::Alone))
            .collect()
    };
    // A boundary is evaluated alone: it allows what it allows, whatever else reaches the principal.
    let bounds = match &p.boundary {
        Boundary::Policy { document, .. } => {
            let b = cells.evaluate(document, &p.name, View::Alone);
            Some((b.clone(), b))
        }
        Boundary::Changed { .. } => Some((
            cells.evaluate(before, &p.name, View::Alone),
            cells.evaluate(after, &p.name, View::Alone),
        )),
        Boundary::None | Boundary::Unreadable { .. } => None,
    };
    let b = cells.evaluate(before, &p.name, view);
    let a = cells.evaluate(after, &p.name, view);
    compare(&cells, &others, (&b, &a), bounds.as_ref())
}

/// The universe of one evaluation: the actions of `docs`, with the principal's own name and
/// account (and other names that cannot be mistaken for it).
fn universe_of(p: &PrincipalInput, docs: &[&Value]) -> crate::effect::Universe {
    let mut universe = universe_for(docs);
    let (partition, account) = arn_parts(&p.arn);
    if let Some(part) = partition {
        universe.partition = part;
    }
    if let Some(acct) = account {
        universe.account = acct;
    }
    universe.username = p.name.clone();
    if universe.other_username == p.name {
        universe.other_username = format!("{}-other", p.name);
    }
    if universe.device_name == p.name {
        universe.device_name = format!("{}-device", p.name);
    }
    universe
}

/// What is allowed before and not after, cell by cell: the other policies combined with the
/// changed one before, then after, each within the boundary (before, after) when there is one.
fn compare(
    cells: &Cells<'_>,
    others: &[Vec<u8>],
    (b, a): (&[u8], &[u8]),
    bounds: Option<&(Vec<u8>, Vec<u8>)>,
) -> ChannelEval {
    let mut out = ChannelEval {
        actions_before: BTreeSet::new(),
        lost: BTreeSet::new(),
        maybe_lost: BTreeSet::new(),
    };
    let mut sets = Vec::with_capacity(others.len() + 1);
    for i in 0..b.len() {
        sets.clear();
        sets.extend(others.iter().map(|o| o[i]));
        sets.push(b[i]);
        let mut before_set = combine(&sets);
        if let Some(last) = sets.last_mut() {
            *last = a[i];
        }
        let mut after_set = combine(&sets);
        if let Some((bb, ba)) = bounds {
            before_set = within(before_set, bb[i]);
            after_set = within(after_set, ba[i]);
        }
        if before_set & ALLOWED == 0 {
            continue;
        }
        let action = cells.action_of(i).to_string();
        if before_set == ALLOWED {
            out.actions_before.insert(action.clone());
        }
        if after_set == ALLOWED {
            continue;
        }
        if before_set == ALLOWED && after_set & ALLOWED == 0 {
            out.lost.insert(action);
        } else if before_set != after_set {
            out.maybe_lost.insert(action);
        }
    }
    out
}

/// The decision of identity policies (`identity`) within a permissions boundary (`boundary`, the
/// boundary policy's own decision): allowed only when both allow; an explicit deny in either
/// denies.
fn within(identity: u8, boundary: u8) -> u8 {
    let mut out = 0;
    if identity & ALLOWED != 0 && boundary & ALLOWED != 0 {
        out |= ALLOWED;
    }
    if identity & EXPLICIT != 0 || boundary & EXPLICIT != 0 {
        out |= EXPLICIT;
    }
    if identity & IMPLICIT != 0 || (boundary & IMPLICIT != 0 && identity != EXPLICIT) {
        out |= IMPLICIT;
    }
    out
}

/// `(partition, account)` of an ARN.
fn arn_parts(arn: &str) -> (Option<String>, Option<String>) {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let get = |i: usize| {
        parts
            .get(i)
            .filter(|s| !s.is_empty())
            .map(|s| s.to_string())
    };
    if parts.first() != Some(&"arn") {
        return (None, None);
    }
    (get(1), get(4))
}

/// Evaluations shared between principals of one change: principals with the same policy set,
/// account and channel contexts get the same answer unless a document names one of them (then
/// `${aws:username}` and literal ARNs could tell them apart, and they are evaluated on their own).
#[derive(Default)]
pub struct Cache {
    evals: HashMap<(String, Vec<Context>, bool), ChannelEval>,
}

impl Cache {
    /// What `p` loses in `contexts`, evaluated once per distinct `key` (see [`cache_key`]); a
    /// principal without a key is evaluated on its own.
    pub(super) fn evaluate(
        &mut self,
        key: Option<&str>,
        p: &PrincipalInput,
        before: &Value,
        after: &Value,
        contexts: &[Context],
        fallback: bool,
    ) -> ChannelEval {
        let Some(k) = key else {
            return evaluate_channel(p, before, after, contexts, fallback);
        };
        let slot = (k.to_string(), contexts.to_vec(), fallback);
        if let Some(ev) = self.evals.get(&slot) {
            return ev.clone();
        }
        let ev = evaluate_channel(p, before, after, contexts, fallback);
        self.evals.insert(slot, ev.clone());
        ev
    }
}

/// The cache key of a principal's policy set, or `None` when a document names the principal.
pub(super) fn cache_key(p: &PrincipalInput, before: &Value, after: &Value) -> Option<String> {
    let mut key = format!("{:?}\u{0}", arn_parts(&p.arn));
    for d in [before, after].into_iter().chain(p.others.iter()) {
        key.push_str(&d.to_string());
        key.push('\u{0}');
    }
    match &p.boundary {
        Boundary::Policy { document, .. } => key.push_str(&format!("boundary {document}")),
        Boundary::Changed { .. } => key.push_str("boundary: the changed policy"),
        Boundary::None | Boundary::Unreadable { .. } => {}
    }
    let name = p.name.to_lowercase();
    (!name.is_empty() && !key.to_lowercase().contains(&name)).then_some(key)
}
