//! CloudFormation templates in the styles operators write (flow lists and maps, anchors, inline
//! policies given as JSON strings, several documents in one stream, conditionals, CRLF), through
//! the binary: what is upgraded is upgraded in place with every comment kept, what cannot be is
//! named with its location, and a template stays valid (`cfn-lint`) and re-plans clean.

use std::path::{Path, PathBuf};

use crate::util::{bin, fixture, read, root};

fn copy_of(folder: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture(folder)).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
    }
    dir
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn all_output(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn plan(dir: &Path) -> std::process::Output {
    bin()
        .args(["plan", "--detailed-exitcode"])
        .arg(dir)
        .output()
        .unwrap()
}

fn apply(dir: &Path) -> std::process::Output {
    bin().args(["apply", "--yes"]).arg(dir).output().unwrap()
}

/// `cfn-lint` from the project's virtualenv; required on CI.
fn cfn_lint(files: &[PathBuf]) {
    let lint = root().join(".venv/bin/cfn-lint");
    if !lint.exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "cfn-lint is missing from .venv: `tests/run_moto.sh start` installs it"
        );
        crate::util::notice("cfn-lint not installed in .venv: template lint not run");
        return;
    }
    let out = std::process::Command::new(lint)
        .args(files)
        .output()
        .unwrap();
    assert!(out.status.success(), "cfn-lint: {}", all_output(&out));
}

/// Lines of `after` that differ from `before` (a line diff), as (old, new) text.
fn changed_lines(before: &str, after: &str) -> (Vec<String>, Vec<String>) {
    let diff = similar::TextDiff::from_lines(before, after);
    let (mut old, mut new) = (Vec::new(), Vec::new());
    for c in diff.iter_all_changes() {
        match c.tag() {
            similar::ChangeTag::Delete => old.push(c.value().trim_end().to_string()),
            similar::ChangeTag::Insert => new.push(c.value().trim_end().to_string()),
            similar::ChangeTag::Equal => {}
        }
    }
    (old, new)
}

#[test]
fn every_yaml_style_is_upgraded_in_place_with_its_comments() {
    let dir = copy_of("iac/cloudformation");
    let styles = dir.path().join("styles.yaml");
    let before = read(&styles);

    let out = plan(dir.path());
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    for located in [
        "styles.yaml:13 (FlowPolicy)  [change",
        "styles.yaml:29 (Operator/Policies/force-mfa)  [change",
        "styles.yaml:54 (Admins/Policies/force-mfa-json)  [change",
        "styles.yaml:87 (Deployer/Policies/force-mfa-quoted)  [change",
        "stream.yaml:8 (FirstGuard)  [change",
        "stream.yaml:21 (document 2/SecondGuard)  [change",
        // A guard in one branch of a condition: named with its location, never written.
        "styles.yaml:94 (MaybeGuard): cannot be checked or rewritten faithfully: line 96: a conditional (`Fn::If`)",
        // Suppressions: kept off, shown with their reason.
        "0001 guard-bool-if-exists kept off this policy by an inline suppression (line 105): break-glass automation signs with its own keys",
        "0001 guard-bool-if-exists kept off this policy by an inline suppression (line 123): contractors use hardware keys only through the console",
        // An anchored statement another policy aliases: refused with why.
        "shared-anchor.yaml:8 (Developers): cannot rewrite Developers faithfully: the statement at line 10 carries a YAML anchor (line 10) that line 31 uses as an alias",
    ] {
        assert!(text.contains(located), "{located} missing from:\n{text}");
    }
    assert!(
        text.contains("styles.yaml:110 (BreakGlass): up to date")
            && text.contains("styles.yaml:127 (Contractors): up to date"),
        "{text}"
    );

    let out = apply(dir.path());
    assert!(out.status.success(), "{}", all_output(&out));
    let after = read(&styles);
    // Only the operators changed, each on its own line, comments and quoting kept.
    let (old, new) = changed_lines(&before, &after);
    assert_eq!(
        old,
        [
            "            Condition: {Bool: {aws:MultiFactorAuthPresent: \"false\"}}   # keys slip past",
            "                  Bool:",
            "                  \"Condition\": {\"Bool\": {\"aws:MultiFactorAuthPresent\": \"false\"}}",
            before.lines().nth(86).unwrap(),
            before.lines().nth(143).unwrap(),
        ],
        "{after}"
    );
    assert_eq!(
        new[0],
        "            Condition: {BoolIfExists: {aws:MultiFactorAuthPresent: \"false\"}}   # keys slip past"
    );
    assert_eq!(new[1], "                  BoolIfExists:");
    assert!(new.iter().any(|l| l.trim() == "\"BoolIfExists\": {"));
    assert_eq!(
        new.last().unwrap(),
        "            Condition: {BoolIfExists: {aws:MultiFactorAuthPresent: \"false\"}}  # forcemfa:skip=0005 the help desk finds users by name"
    );
    assert_eq!(
        &new[new.len() - 2],
        &before
            .lines()
            .nth(86)
            .unwrap()
            .replace("{\"Bool\":", "{\"BoolIfExists\":")
    );
    for kept in [
        "            Effect: Deny   # the guard",
        "            # What a user may do before MFA.",
        "            Resource: \"*\"   # every resource",
        "              - &lonely",
        "          PolicyDocument: |",
    ] {
        assert!(after.contains(kept), "{kept} lost:\n{after}");
    }
    let stream = read(&dir.path().join("stream.yaml"));
    assert_eq!(stream.matches("BoolIfExists").count(), 2, "{stream}");

    // The policy an alias copied is written out (the anchor stays where it is); once nothing
    // uses the anchor, its own policy is upgraded too; then nothing is left.
    let out = plan(dir.path());
    let text = stdout(&out);
    assert!(
        text.contains("shared-anchor.yaml:8 (Developers)  [change")
            && text.contains("Plan: 1 to change"),
        "{text}"
    );
    assert!(apply(dir.path()).status.success());
    let out = plan(dir.path());
    assert!(
        stdout(&out).contains("Plan: 0 to change"),
        "{}",
        stdout(&out)
    );
    // Only the conditional is left, for a person, named with its location.
    assert!(
        stdout(&out).contains("(MaybeGuard): cannot be checked or rewritten faithfully: line 100"),
        "{}",
        stdout(&out)
    );
    let anchored = read(&dir.path().join("shared-anchor.yaml"));
    assert!(anchored.contains("- &guard"), "{anchored}");
    cfn_lint(&[styles, dir.path().join("shared-anchor.yaml")]);
}

#[test]
fn a_crlf_template_stays_crlf_throughout() {
    let dir = tempfile::tempdir().unwrap();
    let crlf = |name: &str| {
        let text = read(&fixture(name)).replace('\n', "\r\n");
        let p = dir.path().join(Path::new(name).file_name().unwrap());
        std::fs::write(&p, text).unwrap();
        p
    };
    let files = [
        crlf("iac/cloudformation/styles.yaml"),
        crlf("iac/mixed/mfa-stack.yaml"),
    ];
    let out = apply(dir.path());
    assert!(out.status.success(), "{}", all_output(&out));
    for f in &files {
        let text = read(f);
        assert!(text.contains("BoolIfExists"), "{}", f.display());
        let lf = text.matches('\n').count();
        assert_eq!(
            text.matches("\r\n").count(),
            lf,
            "{}: mixed line endings",
            f.display()
        );
    }
    let out = plan(dir.path());
    assert!(
        stdout(&out).contains("Plan: 0 to change"),
        "{}",
        stdout(&out)
    );
    cfn_lint(&files);
}

#[test]
fn duplicate_keys_in_a_template_are_an_error_naming_file_line_and_key() {
    let dir = copy_of("iac/cloudformation-bad");
    let file = dir.path().join("duplicate-keys.yaml");
    let before = read(&file);
    let out = plan(dir.path());
    let text = all_output(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("duplicate-keys.yaml")
            && text.contains("line 13: duplicate key \"Effect\" (also at line 9)"),
        "{text}"
    );
    let out = apply(dir.path());
    assert!(!out.status.success());
    assert_eq!(read(&file), before);
}

#[test]
fn a_write_that_no_longer_yields_the_planned_policy_is_undone() {
    // CloudFormation and Terraform share the write path: both are checked after writing.
    for (folder, file) in [
        ("iac/cloudformation", "stream.yaml"),
        ("iac/mixed", "main.tf"),
    ] {
        let dir = copy_of(folder);
        let path = dir.path().join(file);
        let others: Vec<PathBuf> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p != &path)
            .collect();
        for p in others {
            std::fs::remove_file(p).unwrap();
        }
        let before = read(&path);
        // The seam appends text that breaks the file right after each write.
        let out = bin()
            .args(["apply", "--yes"])
            .arg(dir.path())
            .env("FORCEMFA_TEST_FAULT_AFTER_WRITE", "\n{ broken: [\n")
            .output()
            .unwrap();
        let text = all_output(&out);
        assert_eq!(out.status.code(), Some(1), "{file}: {text}");
        assert!(
            text.contains(file)
                && text.contains("after writing, the file no longer yields the planned policy")
                && text.contains("the original bytes were restored"),
            "{file}: {text}"
        );
        assert_eq!(read(&path), before, "{file}: not restored");
    }
}

#[test]
fn a_suppression_naming_no_migration_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let text = read(&fixture("iac/cloudformation/styles.yaml")).replace(
        "forcemfa:skip=guard-bool-if-exists",
        "forcemfa:skip=guard-bool-if-exist",
    );
    std::fs::write(dir.path().join("t.yaml"), text).unwrap();
    let out = plan(dir.path());
    let all = all_output(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains(
            "line 105: forcemfa:skip names \"guard-bool-if-exist\", which is no migration"
        ),
        "{all}"
    );
}

#[test]
fn a_saved_plan_records_and_rederives_suppressions() {
    let dir = copy_of("iac/cloudformation");
    let plan_file = dir.path().join("..").join(format!(
        "cfn-plan-{}.json",
        dir.path().file_name().unwrap().to_string_lossy()
    ));
    bin()
        .args(["plan", "--out"])
        .arg(&plan_file)
        .arg(dir.path())
        .assert()
        .success();
    let saved: serde_json::Value = serde_json::from_str(&read(&plan_file)).unwrap();
    // A change made with a migration kept off records which and why; the suppression's text is
    // in each change's `before` too and is read again when the plan is applied.
    let help_desk = saved["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["target"]["resource"] == "HelpDesk")
        .expect("HelpDesk planned");
    assert_eq!(help_desk["migrations"], serde_json::json!(["0001"]));
    assert_eq!(
        help_desk["suppressed"],
        serde_json::json!([
            "0005 remove-risky-exemptions kept off this policy by an inline suppression (line 144): the help desk finds users by name"
        ])
    );
    let out = bin()
        .args(["apply", "--yes", "--plan"])
        .arg(&plan_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let styles = read(&dir.path().join("styles.yaml"));
    let break_glass = styles.split("BreakGlass:").nth(1).unwrap();
    assert!(
        break_glass.contains("{Bool: {aws:MultiFactorAuthPresent"),
        "the suppressed policy was changed:\n{styles}"
    );
    let help_desk = styles.split("HelpDesk:").nth(1).unwrap();
    assert!(
        help_desk.contains("sts:GetSessionToken, iam:ListUsers]")
            && help_desk.contains(
                "{BoolIfExists: {aws:MultiFactorAuthPresent: \"false\"}}  # forcemfa:skip=0005"
            ),
        "{styles}"
    );
    let _ = std::fs::remove_file(&plan_file);
}

/// `../shared/corpus/iac-real`: real infrastructure files (read at test time, never copied into
/// the project). Every case gets its reviewed outcome per policy found, in a snapshot; after
/// `apply --yes` on a copy, the CloudFormation and YAML cases plan clean and stay valid.
#[test]
fn iac_real_corpus_outcomes_and_a_clean_second_plan() {
    let corpus = root().join("../shared/corpus/iac-real");
    if !corpus.is_dir() {
        crate::util::notice("../shared/corpus/iac-real is absent: IaC corpus outcomes not checked");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cases: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(&corpus).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name == "SOURCES.md" {
            continue;
        }
        std::fs::copy(&p, dir.path().join(&name)).unwrap();
        cases.push(name);
    }
    cases.sort();
    let cfn_cases: Vec<&String> = cases
        .iter()
        .filter(|c| c.contains("-cfn-") || c.contains("-sam-") || c.contains(".serverless."))
        .collect();
    // Templates cfn-lint accepts before the rewrite must be accepted after it.
    let lint = root().join(".venv/bin/cfn-lint");
    let lints = |name: &str| -> Option<bool> {
        if !lint.exists() {
            return None;
        }
        let out = std::process::Command::new(&lint)
            .arg(dir.path().join(name))
            .output()
            .ok()?;
        // Exit codes 0 and 4/8 (warnings, informational) leave the template valid.
        Some(matches!(out.status.code(), Some(c) if c & 2 == 0))
    };
    let valid_before: Vec<(&String, Option<bool>)> =
        cfn_cases.iter().map(|c| (*c, lints(c))).collect();

    let first = outcomes(dir.path(), &cases);
    let out = apply(dir.path());
    let applied = all_output(&out);
    let second = outcomes(dir.path(), &cases);
    insta::assert_snapshot!(
        "iac_real_outcomes",
        format!("first plan:\n{first}\n\nsecond plan, after apply --yes:\n{second}")
    );

    for case in &cfn_cases {
        for line in second.lines().filter(|l| l.starts_with(case.as_str())) {
            assert!(
                !line.contains(": upgraded"),
                "{case}: a second plan still changes it: {line}\n{applied}"
            );
        }
    }
    for (case, before) in valid_before {
        if before == Some(true) {
            assert_eq!(lints(case), Some(true), "{case}: valid before, not after");
        }
    }
    if !lint.exists() {
        crate::util::notice("cfn-lint not installed in .venv: corpus templates not linted");
    }
}

/// One line per policy found (and one per case with none): upgraded (which migrations), up to
/// date, left alone (why), needs review (what and where), not read (why), or an error.
fn outcomes(dir: &Path, cases: &[String]) -> String {
    let out = bin()
        .args(["plan", "--format", "json"])
        .arg(dir)
        .output()
        .unwrap();
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", all_output(&out)));
    let mut lines: Vec<String> = Vec::new();
    let short = |s: &str| {
        let s = s.replace(&format!("{}/", dir.display()), "");
        match s.char_indices().nth(160) {
            Some((i, _)) => format!("{}…", &s[..i]),
            None => s,
        }
    };
    let mut seen = std::collections::BTreeSet::new();
    for key in ["changes", "unchanged", "skipped", "errors", "unread"] {
        for item in v[key].as_array().into_iter().flatten() {
            let t = if item["target"].is_object() {
                &item["target"]
            } else {
                item
            };
            let path = t["path"].as_str().unwrap_or("?");
            let file = Path::new(path)
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            seen.insert(file.clone());
            let at = match (t["line"].as_u64(), t["resource"].as_str()) {
                (Some(l), Some(r)) => format!("{file}:{l} {r}"),
                _ => file,
            };
            let outcome = match key {
                "changes" => {
                    let ids: Vec<&str> = item["migrations"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|m| m["id"].as_str())
                        .collect();
                    let blocked = item["blocked"].as_array().map_or(0, Vec::len);
                    if blocked > 0 {
                        format!(
                            "BLOCKED {}: {}",
                            ids.join(","),
                            short(item["blocked"][0].as_str().unwrap_or(""))
                        )
                    } else {
                        format!("upgraded {}", ids.join(","))
                    }
                }
                "unchanged" => "up to date".to_string(),
                "skipped" if item["needs_review"] == true => {
                    format!(
                        "needs review: {}",
                        short(item["reason"].as_str().unwrap_or(""))
                    )
                }
                "skipped" => format!(
                    "left alone: {}",
                    short(item["reason"].as_str().unwrap_or(""))
                ),
                "errors" => format!("error: {}", short(item["error"].as_str().unwrap_or(""))),
                _ => format!("not read: {}", short(item["reason"].as_str().unwrap_or(""))),
            };
            lines.push(format!("{at}: {outcome}"));
        }
    }
    for case in cases {
        if !seen.contains(case) {
            lines.push(format!("{case}: nothing reported"));
        }
    }
    lines.sort();
    lines.join("\n")
}

#[test]
fn paths_tables_of_forcemfa_toml_apply_to_templates() {
    let dir = tempfile::tempdir().unwrap();
    let template = read(&fixture("iac/cloudformation/stream.yaml"));
    let first = template.split("---").next().unwrap().to_string();
    for sub in ["legacy", "new"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
        std::fs::write(dir.path().join(sub).join("t.yaml"), &first).unwrap();
    }
    std::fs::write(
        dir.path().join("forcemfa.toml"),
        "[[paths]]\nglob = \"legacy/**\"\nskip-migration = [\"guard-bool-if-exists\"]\n",
    )
    .unwrap();
    let out = bin()
        .current_dir(dir.path())
        .args(["plan", "--format", "json", "--config", "forcemfa.toml"])
        .args(["legacy", "new"])
        .output()
        .unwrap();
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", all_output(&out)));
    let changed: Vec<&str> = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["target"]["path"].as_str())
        .collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert!(changed[0].contains("new"), "{changed:?}");
    let unchanged = serde_json::to_string(&v["unchanged"]).unwrap();
    assert!(unchanged.contains("legacy"), "{unchanged}");
}
