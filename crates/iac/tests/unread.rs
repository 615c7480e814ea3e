//! The search for MFA condition keys and the classification of files not read, as properties:
//! the streaming search finds what the whole-text search finds, however the bytes are split;
//! classification never panics and always says something.

use forcemfa_iac::unread::{classify, first_mention, mention_outside, Kind, Scanner};
use proptest::prelude::*;

fn text_with_key() -> impl Strategy<Value = String> {
    (
        "[a-z \n\"{}:]{0,200}",
        prop::sample::select(vec![
            "aws:MultiFactorAuthPresent",
            "AWS:MULTIFACTORAUTHAGE",
            "aws%3AMultiFactorAuthPresent",
            "aws:multifactorauthage",
        ]),
        "[a-z \n]{0,50}",
    )
        .prop_map(|(a, k, b)| format!("{a}{k}{b}"))
}

proptest! {
    #[test]
    fn streaming_finds_the_same_line_as_the_whole_text(
        text in prop_oneof![text_with_key(), "[a-zA-Z:% \n]{0,300}"],
        cuts in prop::collection::vec(0usize..400, 0..6),
    ) {
        let bytes = text.as_bytes();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
        cuts.push(0);
        cuts.push(bytes.len());
        cuts.sort_unstable();
        let mut s = Scanner::default();
        for w in cuts.windows(2) {
            s.feed(&bytes[w[0]..w[1]]);
        }
        let whole = first_mention(&text);
        prop_assert_eq!(s.found(), whole);
        if let Some(line) = whole {
            // The line found is the first that holds a key.
            let first = text
                .lines()
                .position(|l| first_mention(l).is_some())
                .map(|i| i + 1);
            prop_assert_eq!(Some(line), first);
        }
    }

    #[test]
    fn a_mention_outside_is_a_mention_outside_every_range(
        text in prop_oneof![text_with_key(), "[a-zA-Z:% \n]{0,300}"],
        ranges in prop::collection::vec((0usize..20, 0usize..20), 0..4),
    ) {
        if let Some(n) = mention_outside(&text, &ranges) {
            prop_assert!(ranges.iter().all(|(a, b)| !(*a..=*b).contains(&n)));
            let line = text.lines().nth(n - 1).unwrap_or("");
            prop_assert!(first_mention(line).is_some());
        }
    }

    #[test]
    fn classification_always_gives_a_reason(path in "[a-zA-Z0-9_./\\\\-]{0,40}", text in ".{0,200}") {
        let v = classify(&path, &text);
        prop_assert!(!v.reason.is_empty());
    }
}

#[test]
fn a_key_split_by_a_line_end_is_not_a_mention() {
    assert_eq!(first_mention("aws:MultiFactor\nAuthPresent"), None);
    assert_eq!(first_mention("x\r\ny aws:MultiFactorAuthAge"), Some(2));
}

#[test]
fn each_kind_of_file_is_told_apart() {
    let cases: &[(&str, &str, Kind)] = &[
        (
            "lib/stack.ts",
            "import * as cdk from 'aws-cdk-lib';",
            Kind::Program,
        ),
        (
            "stack.py",
            "from aws_cdk import aws_iam as iam",
            Kind::Program,
        ),
        (
            "Main.java",
            "import software.amazon.awscdk.services.iam.*;",
            Kind::Program,
        ),
        (
            "deploy.sh",
            "aws iam create-policy --policy-document",
            Kind::Program,
        ),
        ("Pulumi.yaml", "name: x\nruntime: yaml\n", Kind::PulumiYaml),
        ("cdk.out/S.template.json", "{}", Kind::Generated),
        (
            "synth/S.template.yaml",
            "Metadata:\n  aws:cdk:path: S/R\n",
            Kind::Generated,
        ),
        ("docs/guide.rst", "", Kind::Documentation),
        ("main.tf", "", Kind::Other),
        ("ansible/tasks.yml", "- name: x", Kind::Other),
    ];
    for (path, text, kind) in cases {
        assert_eq!(classify(path, text).kind, *kind, "{path}");
    }
}
