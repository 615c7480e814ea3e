//! Which journalled documents `rollback` may publish again.
//!
//! The journal is a file: whoever can write it can also recompute a record's digest, so a
//! record's documents are trusted only as far as they can be checked against what is live. A
//! journalled original is published again only when forcemfa derives the live document from
//! it, by the same planning a saved plan's changes are re-derived with: then it is the document
//! the change started from (or one that forcemfa would have changed in exactly the same way).
//! Anything else, such as an `Allow *` on `*` put in a record's `before`, is refused with why.
//! (A managed policy can also go back to a version IAM still holds, which needs no trust in the
//! journal's text: the source checks that version against the record.)

use serde_json::Value;

use crate::detect;
use crate::effect::invariant::is_enrolment;
use crate::migration::{Migration, Options};
use crate::plan::{plan_one, Input, Item, SizeLimit};
use crate::policy;
use crate::target::{Target, TargetKind};

/// `Ok` when planning `original` for `target` gives a change whose new document is `live`.
/// Tried with no options, then with the options the live document's own exemptions (beyond the
/// enrolment set) stand for, since the journal does not record the options a change was made
/// with. `Err` says why the original cannot be trusted.
pub fn derives(
    target: &Target,
    original: &str,
    live: &str,
    chain: &[Migration],
) -> Result<(), String> {
    let live_doc = policy::parse(live)
        .map_err(|e| format!("the live document cannot be read ({e})"))?
        .value;
    let limit = match &target.kind {
        TargetKind::Inline { entity, .. } => SizeLimit::Inline {
            entity: *entity,
            others: 0,
        },
        _ => SizeLimit::Managed,
    };
    let input = Input::file(target.clone(), original.to_string(), limit);
    let mut last = String::new();
    for options in [Options::default(), options_of(&live_doc)] {
        match plan_one(&input, chain, &options) {
            Item::Change(c) => match policy::parse(&c.after) {
                Ok(after) if after.value == live_doc => return Ok(()),
                _ => {
                    last = "forcemfa's migrations turn the journalled original into another document than the live one".into()
                }
            },
            Item::Unchanged { .. } => {
                last = "forcemfa's migrations leave the journalled original as it is, so no change of forcemfa started from it".into()
            }
            Item::Skipped { reason, .. } => {
                last = format!("forcemfa would not change the journalled original ({reason})")
            }
            Item::Error { error, .. } => {
                last = format!("the journalled original cannot be planned ({error})")
            }
        }
    }
    Err(format!(
        "{last}: the record does not describe a change forcemfa made (edited, or resealed: the digest only catches accidents), so it is not published; restore the policy by hand if you trust the record"
    ))
}

/// The `--allow-before-mfa` options a live document's guard exemptions stand for: every
/// exemption beyond the enrolment set that is one action name, each acknowledged (it is already
/// live: restoring the original does not open it).
fn options_of(live: &Value) -> Options {
    let Some(guard) = detect::guard(live) else {
        return Options::default();
    };
    let names: Vec<String> = guard
        .actions
        .iter()
        .filter(|a| !is_enrolment(a))
        .filter(|a| crate::migration::resolve(a).is_ok())
        .cloned()
        .collect();
    let Ok(options) = Options::new(&names) else {
        return Options::default();
    };
    let risky: Vec<String> = options.risky().into_iter().map(|(a, _)| a).collect();
    options.acknowledging(&risky).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration::default_chain;

    const LEGACY: &str = r#"{"Version": "2012-10-17", "Statement": [{"Sid": "DenyAllExceptListedIfNoMFA",
        "Effect": "Deny", "NotAction": ["iam:CreateVirtualMFADevice", "iam:EnableMFADevice",
        "iam:GetUser", "iam:ListMFADevices", "iam:ListVirtualMFADevices", "iam:ResyncMFADevice",
        "sts:GetSessionToken", "iam:ListUsers"], "Resource": "*",
        "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}]}"#;

    fn target() -> Target {
        Target {
            account: Some("123456789012".into()),
            kind: TargetKind::Managed {
                arn: "arn:aws:iam::123456789012:policy/ForceMFA".into(),
                name: "ForceMFA".into(),
            },
        }
    }

    fn migrated(text: &str, options: &Options) -> String {
        let chain = default_chain().unwrap_or_else(|e| panic!("{e}"));
        let input = Input::file(target(), text.to_string(), SizeLimit::Managed);
        match plan_one(&input, &chain, options) {
            Item::Change(c) => c.after,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_genuine_original_derives_the_live_document() {
        let chain = default_chain().unwrap_or_else(|e| panic!("{e}"));
        let live = migrated(LEGACY, &Options::default());
        assert_eq!(derives(&target(), LEGACY, &live, &chain), Ok(()));
        // Made with an option: the live document's exemptions stand for it.
        let with = Options::new(&["password-change".into()]).unwrap_or_else(|e| panic!("{e}"));
        let live = migrated(LEGACY, &with);
        assert_eq!(derives(&target(), LEGACY, &live, &chain), Ok(()));
    }

    #[test]
    fn an_original_that_does_not_derive_the_live_document_is_refused() {
        let chain = default_chain().unwrap_or_else(|e| panic!("{e}"));
        let live = migrated(LEGACY, &Options::default());
        let allow_all = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}"#;
        let why = derives(&target(), allow_all, &live, &chain)
            .err()
            .unwrap_or_default();
        assert!(
            why.contains("would not change the journalled original"),
            "{why}"
        );
        assert!(why.contains("not published"), "{why}");
        // A guard with an extra grant beside it: migrated, but not into the live document.
        let widened = LEGACY.replace(
            r#""Statement": ["#,
            r#""Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"},"#,
        );
        let why = derives(&target(), &widened, &live, &chain)
            .err()
            .unwrap_or_default();
        assert!(why.contains("another document than the live one"), "{why}");
        // The live document itself is not an original forcemfa started from.
        assert!(derives(&target(), &live, &live, &chain).is_err());
    }
}
