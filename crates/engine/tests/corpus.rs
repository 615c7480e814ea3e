//! Real-world policies (`../shared/corpus/`, read at test time, never copied into the project):
//! every file gets a reviewed expected outcome (one snapshot line each), and the safety
//! properties are asserted in code, independently of what the snapshot says.

use std::path::{Path, PathBuf};

use forcemfa_engine::detect::{self, Status};
use forcemfa_engine::effect::invariant::is_enrolment;
use forcemfa_engine::migration::{self, Options};
use forcemfa_engine::plan::{self, Input, Item, SizeLimit};
use forcemfa_engine::policy;
use forcemfa_engine::target::Target;

fn corpus_dir(name: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus")
        .join(name);
    dir.is_dir().then_some(dir)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn plan_file(path: &Path, options: &Options) -> Item {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let chain = migration::default_chain().unwrap_or_default();
    let input = Input::file(Target::file(path), text, SizeLimit::Managed);
    plan::plan_one(&input, &chain, options)
}

/// Exemptions of the guard (NotAction form) of a document, lowercase.
fn exemptions(doc: &serde_json::Value) -> Vec<String> {
    match detect::detect(doc).status {
        Status::Guarded { guard } if guard.form == detect::GuardForm::NotAction => guard
            .actions
            .iter()
            .map(|a| a.to_ascii_lowercase())
            .collect(),
        _ => Vec::new(),
    }
}

fn outcome_line(name: &str, item: &Item) -> String {
    let findings = |f: &[detect::Finding]| -> String {
        let mut v: Vec<String> = f
            .iter()
            .filter(|f| f.severity >= detect::Severity::Low)
            .map(|f| format!("{}:{}", f.severity.as_str(), f.rule))
            .collect();
        v.dedup();
        if v.is_empty() {
            String::new()
        } else {
            format!(" [{}]", v.join(", "))
        }
    };
    match item {
        Item::Change(c) => {
            let ids: Vec<&str> = c.migrations.iter().map(|m| m.id.as_str()).collect();
            let state = if c.is_blocked() { "BLOCKED" } else { "changed" };
            let why = if c.is_blocked() {
                let reasons: Vec<String> = c
                    .blocked
                    .iter()
                    .map(|b| b.split(':').next().unwrap_or("").to_string())
                    .collect();
                format!(" ({})", reasons.join("; "))
            } else {
                String::new()
            };
            format!(
                "{name}: {state} {}{why}{}",
                ids.join(","),
                findings(&c.findings)
            )
        }
        Item::Unchanged { findings: f, .. } => format!("{name}: up to date{}", findings(f)),
        Item::Skipped {
            reason,
            findings: f,
            ..
        } => {
            let short: String = reason.chars().take(90).collect();
            format!("{name}: left alone: {short}{}", findings(f))
        }
        Item::Error { error, .. } => format!("{name}: ERROR {error}"),
    }
}

/// The one line that says the corpus is absent. Written to standard error directly: the test
/// harness captures `println!` of a passing test, so that line would never be seen.
fn absent(text: &str) {
    use std::io::Write;
    // One write, so that the line is not torn by the harness's own output.
    let _ = std::io::stderr().write_all(format!("note: {text}\n").as_bytes());
}

#[test]
fn every_corpus_policy_has_its_reviewed_outcome_and_nothing_opens_before_mfa() {
    let mut lines = Vec::new();
    let mut seen = 0;
    for set in ["real", "community"] {
        let Some(dir) = corpus_dir(set) else {
            absent(&format!(
                "../shared/corpus/{set} is absent: corpus outcomes not checked"
            ));
            continue;
        };
        for path in files(&dir) {
            seen += 1;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let item = plan_file(&path, &Options::default());
            lines.push(format!("{set}/{}", outcome_line(&name, &item)));
            let negative = name.starts_with("neg-");
            let positive = set == "real" && !negative;
            match &item {
                Item::Change(c) => {
                    assert!(!negative, "{name}: a near-miss was rewritten");
                    if !c.is_blocked() {
                        // Independently of the evaluator: the rewritten guard exempts nothing the
                        // original did not, beyond the enrolment set.
                        let before = policy::parse(&c.before).map(|p| p.value);
                        let after = policy::parse(&c.after).map(|p| p.value);
                        let (Ok(before), Ok(after)) = (before, after) else {
                            panic!("{name}: before/after do not parse");
                        };
                        let old = exemptions(&before);
                        for a in exemptions(&after) {
                            assert!(
                                is_enrolment(&a) || old.contains(&a),
                                "{name}: the rewrite newly exempts {a} before MFA"
                            );
                        }
                        // What the rewrite leaves that escalates privilege is never silent.
                        for a in exemptions(&after) {
                            if !is_enrolment(&a)
                                && detect::exemption_severity(&a).0 >= detect::Severity::High
                            {
                                assert!(
                                    c.findings.iter().any(|f| f.message.contains(&a)
                                        || f.message.to_ascii_lowercase().contains(&a)),
                                    "{name}: {a} stays exempt with no finding naming it"
                                );
                            }
                        }
                    }
                }
                Item::Skipped { reason, .. } if positive => {
                    assert!(
                        !reason.starts_with("no MFA guard"),
                        "{name}: a force-MFA policy was not recognised: {reason}"
                    );
                }
                Item::Error { error, .. } => panic!("{name}: {error}"),
                _ => {}
            }
        }
    }
    if seen > 0 {
        insta::assert_snapshot!("corpus_outcomes", lines.join("\n"));
    }
}

#[test]
fn targeted_requirements_in_the_corpus_are_never_rewritten() {
    let Some(dir) = corpus_dir("real") else {
        absent("../shared/corpus/real is absent: targeted-requirement check not run");
        return;
    };
    for path in files(&dir) {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let Ok(parsed) = policy::parse(&text) else {
            continue;
        };
        let d = detect::detect(&parsed.value);
        let targeted: Vec<usize> = d
            .findings
            .iter()
            .filter(|f| f.rule == detect::TARGETED_RULE)
            .filter_map(|f| f.statement)
            .collect();
        if targeted.is_empty() {
            continue;
        }
        if let Item::Change(c) = plan_file(&path, &Options::default()) {
            let after = policy::parse(&c.after).map(|p| p.value).unwrap_or_default();
            let before_st = policy::statements(&parsed.value);
            let after_st = policy::statements(&after);
            for i in targeted {
                // Only the MFA test may be narrowed (`Bool` → `BoolIfExists`, an age limit →
                // its IfExists form); actions, resources and values stay as written.
                let b = narrowed(before_st[i]);
                assert!(
                    after_st.iter().any(|s| **s == b),
                    "{}: targeted statement {} was changed beyond its MFA test",
                    path.display(),
                    i + 1
                );
            }
        }
    }
}

/// A statement with its MFA condition operators in their IfExists forms.
fn narrowed(st: &serde_json::Value) -> serde_json::Value {
    let mut st = st.clone();
    if let Some(serde_json::Value::Object(cond)) = st.get_mut("Condition") {
        let renamed: serde_json::Map<String, serde_json::Value> = cond
            .iter()
            .map(|(op, block)| {
                let op = match op.to_ascii_lowercase().as_str() {
                    "bool" | "stringequals" | "numericgreaterthan" | "numericgreaterthanequals"
                        if block.to_string().contains("MultiFactorAuth") =>
                    {
                        format!("{op}IfExists")
                    }
                    _ => op.clone(),
                };
                (op, block.clone())
            })
            .collect();
        *cond = renamed;
    }
    st
}
