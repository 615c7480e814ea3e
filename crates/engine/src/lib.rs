//! forcemfa-engine: the pure core of forcemfa.
//!
//! Document model ([`policy`]), IAM wildcards ([`pattern`]), guard detection and findings
//! ([`detect`]), declarative migrations ([`migration`]), the offline evaluator and the
//! never-less-safe invariant ([`effect`]), who a change affects, principal by principal ([`impact`]), the
//! evidence of recorded calls ([`evidence`]), the per-document pipeline and saved plans ([`plan`]), and
//! the unified diff ([`diff`]). Nothing here touches AWS, the disk, the clock or a terminal: every
//! function is a function of its inputs, which is what makes plans reproducible and saved plans
//! re-derivable at apply time.

pub mod detect;
pub mod diff;
pub mod effect;
pub mod escape;
pub mod evidence;
pub mod impact;
pub mod migration;
pub mod pattern;
pub mod plan;
pub mod policy;
pub mod reach;
pub mod restore;
pub mod target;
