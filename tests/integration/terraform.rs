//! Terraform end to end through the binary: the shapes users write (locals, variable defaults,
//! quoted JSON strings, `.tf.json`, templates named by `templatefile`/`template_file`) are
//! planned, applied to a temporary copy and re-planned clean; line endings and indentation stay
//! the file's; Terraform 0.11 files and conditionals are named for review, never written; and
//! the real-world corpus reaches a fixed point after one `apply`.

use std::path::{Path, PathBuf};

use crate::util::{bin, fixture, read, root};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let p = entry.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
            // Corpus files are read-only; the copy must be writable.
            let mut perm = std::fs::metadata(&dest).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perm.set_readonly(false);
            std::fs::set_permissions(&dest, perm).unwrap();
        }
    }
}

fn copy_of(folder: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture(folder), dir.path());
    dir
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn run(args: &[&str], path: &Path) -> (Option<i32>, String) {
    let out = bin().args(args).arg(path).output().unwrap();
    let text = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walk(dir);
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Every Terraform file still parses (HCL with hcl-edit through the reader, `.tf.json` as JSON)
/// and every JSON template that was JSON still is.
fn assert_valid(before: &Path, after: &Path) {
    for p in files(after) {
        let text = read(&p);
        let n = name(&p);
        if n.ends_with(".tf") {
            match forcemfa_iac::extract(&n, &text) {
                Ok(_) | Err(forcemfa_iac::IacError::NeedsReview { .. }) => {}
                Err(e) => panic!("{}: {e}\n{text}", p.display()),
            }
        }
        if n.ends_with(".json") || n.ends_with(".json.tpl") {
            let original = before.join(p.strip_prefix(after).unwrap());
            let was_json = std::fs::read_to_string(&original)
                .ok()
                .is_some_and(|t| serde_json::from_str::<serde_json::Value>(&t).is_ok());
            if was_json {
                serde_json::from_str::<serde_json::Value>(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}\n{text}", p.display()));
            }
        }
    }
}

#[test]
fn every_terraform_shape_is_upgraded_in_place_and_replanned_clean() {
    let dir = tempfile::tempdir().unwrap();
    for folder in ["read", "style", "templates"] {
        copy_dir(
            &fixture(&format!("iac/terraform/{folder}")),
            &dir.path().join(folder),
        );
    }
    let (code, plan) = run(&["plan", "--detailed-exitcode"], dir.path());
    assert_eq!(code, Some(2), "{plan}");
    for located in [
        "read/locals.tf:10 (var.console_policy)",
        "read/locals.tf:43 (local.force_mfa)",
        "read/locals.tf:88 (module.guard.policy)",
        "read/escaped.tf:3 (aws_iam_policy.one_line)",
        "read/guard.tf.json:11 (aws_iam_policy.force_mfa)",
        "read/guard.tf.json:16 (local.guard_only)",
        "style/colon.tf:5 (aws_iam_policy.colon)",
        "style/tabs.tf:4 (aws_iam_user_policy.tabs)",
        "templates/main.tf:23 (data.template_file.inline)",
        "templates/plain.json:1 (template)",
        "templates/partitioned.json:1 (template)",
    ] {
        assert!(plan.contains(located), "{located} missing from:\n{plan}");
    }
    // A `.tf.json` is Terraform, not a policy file that is "not an IAM policy document".
    assert!(!plan.contains("not an IAM policy"), "{plan}");
    // The conditional is named with its line and never written.
    assert!(
        plan.contains("style/conditional.tf:7 (aws_iam_policy.chosen)")
            && plan.contains("a Terraform conditional (`var.strict ? … : …`)"),
        "{plan}"
    );
    // Placeholders never leak into what the operator reads (diff hunk headers aside).
    assert!(
        !plan.contains("@@var.") && !plan.contains("@@aws_partition") && !plan.contains("{{="),
        "{plan}"
    );
    let conditional = read(&dir.path().join("style/conditional.tf"));

    let (code, applied) = run(&["apply", "--yes"], dir.path());
    assert_eq!(code, Some(0), "{applied}");
    assert!(applied.contains("Applied 11,"), "{applied}");
    let (code, replan) = run(&["plan", "--detailed-exitcode"], dir.path());
    // Only the conditional is left: for a person, so pending.
    assert_eq!(code, Some(2), "{replan}");
    assert!(
        replan.contains("Plan: 0 to change, 11 up to date, 1 skipped, 1 need review, 0 errors."),
        "{replan}"
    );
    assert_eq!(read(&dir.path().join("style/conditional.tf")), conditional);
    let original = tempfile::tempdir().unwrap();
    for folder in ["read", "style", "templates"] {
        copy_dir(
            &fixture(&format!("iac/terraform/{folder}")),
            &original.path().join(folder),
        );
    }
    assert_valid(original.path(), dir.path());

    insta::assert_snapshot!(
        "terraform_colon_style",
        read(&dir.path().join("style/colon.tf"))
    );
    insta::assert_snapshot!(
        "terraform_json_syntax",
        read(&dir.path().join("read/guard.tf.json"))
    );
    let partitioned = read(&dir.path().join("templates/partitioned.json"));
    assert!(partitioned.contains("\"arn:${aws_partition}:iam::*:mfa/*\""));
    let plain = read(&dir.path().join("templates/plain.json"));
    assert!(
        plain.contains("user/$${aws:username}") && !plain.contains("user/${aws:username}"),
        "a template rendered by templatefile got a bare `${{`:\n{plain}"
    );
}

#[test]
fn crlf_and_tab_indented_files_keep_their_bytes_style() {
    let dir = tempfile::tempdir().unwrap();
    for (src, dest) in [
        ("iac/terraform/style/colon.tf", "colon.tf"),
        ("iac/terraform/read/locals.tf", "locals.tf"),
        (
            "iac/terraform/templates/partitioned.json",
            "partitioned.json",
        ),
    ] {
        let text = read(&fixture(src)).replace('\n', "\r\n");
        std::fs::write(dir.path().join(dest), text).unwrap();
    }
    std::fs::copy(
        fixture("iac/terraform/style/tabs.tf"),
        dir.path().join("tabs.tf"),
    )
    .unwrap();
    let before: Vec<(PathBuf, String)> = files(dir.path())
        .into_iter()
        .map(|p| (p.clone(), read(&p)))
        .collect();
    let (code, applied) = run(&["apply", "--yes"], dir.path());
    assert_eq!(code, Some(0), "{applied}");
    for (p, old) in before {
        let new = read(&p);
        assert_ne!(new, old, "{} was not upgraded", p.display());
        if name(&p) == "tabs.tf" {
            assert!(
                new.lines().all(|l| !l.starts_with(' ')),
                "spaces in a tab-indented file:\n{new}"
            );
            continue;
        }
        for (i, line) in new.split_inclusive('\n').enumerate() {
            assert!(
                line.ends_with("\r\n"),
                "{}: line {} lost its CRLF: {line:?}",
                p.display(),
                i + 1
            );
        }
    }
    let (code, replan) = run(&["plan", "--detailed-exitcode"], dir.path());
    assert_eq!(code, Some(0), "{replan}");
}

#[test]
fn terraform_0_11_files_are_named_for_review_and_the_rest_goes_on() {
    let dir = copy_of("iac/terraform/tf011");
    let old_quoted = read(&dir.path().join("quoted.tf"));
    let old_attribute = read(&dir.path().join("attribute.tf"));
    let (code, plan) = run(&["plan", "--detailed-exitcode"], dir.path());
    // Pending (a change, and two files for a person), not an error.
    assert_eq!(code, Some(2), "{plan}");
    for (file, line) in [("quoted.tf", 8), ("attribute.tf", 3)] {
        let named = plan
            .lines()
            .find(|l| l.contains(file))
            .unwrap_or_else(|| panic!("{file} not named:\n{plan}"));
        assert!(named.contains("Terraform 0.11 syntax"), "{named}");
        assert!(named.contains(&format!("line {line}:")), "{named}");
        assert!(named.contains("`terraform 0.12upgrade`"), "{named}");
    }
    assert!(
        !plan.contains("error:") && plan.contains(" 0 errors."),
        "{plan}"
    );
    assert!(
        plan.contains("current.tf:4 (aws_iam_policy.current)"),
        "{plan}"
    );
    let (code, applied) = run(&["apply", "--yes"], dir.path());
    assert_eq!(code, Some(0), "{applied}");
    assert_eq!(read(&dir.path().join("quoted.tf")), old_quoted);
    assert_eq!(read(&dir.path().join("attribute.tf")), old_attribute);
    assert!(!read(&dir.path().join("current.tf")).contains("iam:ListUsers"));
}

/// `../shared/corpus/iac-real`: real infrastructure files from public repositories, read at
/// test time. After one `apply --yes` on a copy, nothing is left to change: the second plan
/// only names what needs a person or is not read, and every file is still valid.
#[test]
fn the_real_iac_corpus_reaches_a_fixed_point_after_one_apply() {
    let corpus = root().join("../shared/corpus/iac-real");
    if !corpus.is_dir() {
        crate::util::notice(&format!(
            "{} absent: real IaC corpus fixed point not checked",
            corpus.display()
        ));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("iac-real");
    copy_dir(&corpus, &copy);
    let (code, applied) = run(&["apply", "--yes"], &copy);
    assert!(!applied.contains("BLOCKED"), "{applied}");
    assert_eq!(code, Some(0), "{applied}");
    // Not vacuous: the Terraform cases were upgraded by this apply.
    let upgraded = applied
        .lines()
        .filter(|l| l.starts_with("applied") && (l.contains(".tf") || l.contains("14a-")))
        .count();
    assert!(upgraded >= 5, "{applied}");
    let (code, replan) = run(&["plan", "--detailed-exitcode"], &copy);
    assert!(!replan.contains("BLOCKED"), "{replan}");
    assert!(matches!(code, Some(0) | Some(2)), "{replan}");
    // The Terraform cases: nothing left to change, no error; only items for a person remain.
    let terraform = |l: &str| {
        l.contains(".tf")
            || l.contains(".tpl")
            || l.contains("template_file")
            || l.contains("file-fn")
    };
    for line in replan.lines().filter(|l| terraform(l)) {
        assert!(
            !line.contains("[change ") && !line.starts_with("error"),
            "left to change after apply: {line}\n{replan}"
        );
    }
    let named = replan.lines().filter(|l| terraform(l)).count();
    assert!(named >= 10, "Terraform cases missing from:\n{replan}");
    // The template whose ARNs use `${aws_partition}` got its grants once.
    let tpl = copy.join("14a-cloudgov-template_file-policy.json");
    if tpl.exists() {
        let text = read(&tpl);
        assert!(!text.contains("AllowManageOwnUserMFA2"), "{text}");
        assert!(text.contains("arn:${aws_partition}:iam::"), "{text}");
        assert!(!text.contains("/${aws:username}"), "{text}");
    }
    // Terraform 0.11 files are named for review, never an error.
    for l in replan.lines().filter(|l| l.contains("tf011")) {
        assert!(l.contains("Terraform 0.11 syntax"), "{l}");
    }
    assert_valid(&corpus, &copy);
}
