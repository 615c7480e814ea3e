//! The operator's tools: `forcemfa.toml`, `config`, completions, the man page, help that
//! names every kind of source, SARIF that code scanning accepts (validated against the SARIF 2.1.0
//! schema), the plain-language plan, the pre-commit manifest, and every command line the README and
//! the user guide quote.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use predicates::prelude::*;
use serde_json::Value;

use crate::util::{bin, exemptions, fixture, read, root};

/// A repository (a folder with `.git`, so that config discovery stops here) holding `files`.
fn repo(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

const LISTUSERS: &str = "policies/2018-docs-listusers.json";

// ---------------------------------------------------------------------------------------------
// forcemfa.toml

const CONFIG: &str = "# kept on purpose in this repository\n\
    allow-before-mfa = [\"password-change\"]\n\
    skip-migration = [\"guard-bool-if-exists\"]\n";

/// The issue's "done when": a repository with forcemfa.toml plans without options as if they were
/// given, and the JSON plan shows the effective options and their origin.
#[test]
fn config_file_plans_as_if_the_options_were_given() {
    // A Bool guard (so that skipping 0001 shows) that does not exempt iam:ChangePassword.
    let policy = read(&root().join("docs/examples/2019-knowledge-center-bool.json"));
    assert!(!exemptions(&policy)
        .iter()
        .any(|a| a == "iam:ChangePassword"));
    let with_file = repo(&[("forcemfa.toml", CONFIG), ("iam/p.json", &policy)]);
    let without = repo(&[("iam/p.json", &policy)]);

    let from_file = json_of(
        &bin()
            .current_dir(with_file.path())
            .args(["plan", "--format", "json", "iam"])
            .output()
            .unwrap(),
    );
    let from_cli = json_of(
        &bin()
            .current_dir(without.path())
            .args(["plan", "--format", "json", "iam"])
            .args(["--allow-before-mfa", "password-change"])
            .args(["--skip-migration", "guard-bool-if-exists"])
            .output()
            .unwrap(),
    );
    let plain = json_of(
        &bin()
            .current_dir(without.path())
            .args(["plan", "--format", "json", "iam"])
            .output()
            .unwrap(),
    );
    let change = |v: &Value| v["changes"][0].clone();
    assert_eq!(change(&from_file)["after"], change(&from_cli)["after"]);
    assert_eq!(change(&from_file)["options"], change(&from_cli)["options"]);
    assert_ne!(
        change(&from_file)["after"],
        change(&plain)["after"],
        "the options must make a difference for this test to mean anything"
    );
    let ids: Vec<String> = change(&from_file)["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect();
    assert!(!ids.iter().any(|i| i == "guard-bool-if-exists"), "{ids:?}");
    assert!(change(&plain)["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["name"] == "guard-bool-if-exists"));
    let after = change(&from_file)["after"].as_str().unwrap().to_string();
    assert!(exemptions(&after).iter().any(|a| a == "iam:ChangePassword"));
    assert!(after.contains("\"Bool\""), "Bool kept: {after}");

    let eff = &from_file["effective_options"];
    assert_eq!(eff["file"], "forcemfa.toml");
    assert_eq!(
        eff["options"]["allow-before-mfa"],
        serde_json::json!({"value": ["password-change"], "origin": "forcemfa.toml:2"})
    );
    assert_eq!(
        eff["options"]["skip-migration"]["origin"],
        "forcemfa.toml:3"
    );
    assert_eq!(eff["options"]["kind"]["origin"], "default");
    assert_eq!(
        from_cli["effective_options"]["options"]["allow-before-mfa"]["origin"],
        "command line"
    );
}

#[test]
fn config_is_found_in_parents_and_the_command_line_wins() {
    let policy = read(&fixture(LISTUSERS));
    let dir = repo(&[("forcemfa.toml", CONFIG), ("a/b/p.json", &policy)]);
    let out = bin()
        .current_dir(dir.path().join("a/b"))
        .args(["plan", "--format", "json", "p.json"])
        .args(["--allow-before-mfa", "login-profile"])
        .output()
        .unwrap();
    let v = json_of(&out);
    let opts = &v["effective_options"]["options"];
    assert_eq!(
        opts["allow-before-mfa"]["value"],
        serde_json::json!(["login-profile"])
    );
    assert_eq!(opts["allow-before-mfa"]["origin"], "command line");
    // Found in a parent: named by its full path, with the line.
    let origin = opts["skip-migration"]["origin"].as_str().unwrap();
    assert!(origin.ends_with("forcemfa.toml:3"), "{origin}");
    assert_eq!(
        v["changes"][0]["options"]["allow_before_mfa"],
        serde_json::json!(["login-profile"])
    );
}

#[test]
fn config_discovery_stops_at_the_repository_root() {
    let outer = tempfile::tempdir().unwrap();
    std::fs::write(outer.path().join("forcemfa.toml"), "kind = \"user\"\n").unwrap();
    let inner = outer.path().join("repo");
    std::fs::create_dir_all(inner.join(".git")).unwrap();
    let out = bin()
        .current_dir(&inner)
        .args(["config", "--format", "json"])
        .output()
        .unwrap();
    let v = json_of(&out);
    assert_eq!(v["file"], Value::Null);
    assert_eq!(v["options"]["kind"]["origin"], "default");
}

#[test]
fn unknown_keys_and_bad_values_name_file_line_and_key() {
    let dir = repo(&[(
        "forcemfa.toml",
        "kind = \"managed\"\n\n[accounts]\nrole-name = \"Audit\"\nconcurency = 4\n",
    )]);
    bin()
        .current_dir(dir.path())
        .args(["plan", "docs"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("forcemfa.toml:5"))
        .stderr(predicate::str::contains("unknown key `concurency`"));
    let dir = repo(&[("forcemfa.toml", "allow-before-mfa = [\"iam:*\"]\n")]);
    bin()
        .current_dir(dir.path())
        .args(["config"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("iam:*"));
    let dir = repo(&[("forcemfa.toml", "\nkind = \"huge\"\n")]);
    bin()
        .current_dir(dir.path())
        .args(["config"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("forcemfa.toml:2"))
        .stderr(predicate::str::contains("huge"));
    let dir = repo(&[(
        "forcemfa.toml",
        "skip-migration = [\"no-such-migration\"]\n",
    )]);
    bin()
        .current_dir(dir.path())
        .args(["config"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no-such-migration"));
}

#[test]
fn paths_tables_override_per_glob_and_config_flag_picks_a_file() {
    let policy = read(&fixture(LISTUSERS));
    let conf =
        "kind = \"managed\"\n\n[[paths]]\nglob = \"legacy/**\"\nskip-migration = [\"0005\"]\n";
    let dir = repo(&[
        ("elsewhere/other.toml", conf),
        ("legacy/x/p.json", &policy),
        ("new/p.json", &policy),
    ]);
    let out = bin()
        .current_dir(dir.path())
        .args([
            "plan",
            "--format",
            "json",
            "--config",
            "elsewhere/other.toml",
        ])
        .args(["legacy", "new"])
        .output()
        .unwrap();
    let v = json_of(&out);
    // Globs are relative to the config file's folder: elsewhere/legacy/** matches nothing.
    let names = |i: usize| -> Vec<String> {
        v["changes"][i]["migrations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(names(0).contains(&"0005".to_string()), "{:?}", names(0));

    let dir = repo(&[
        ("forcemfa.toml", conf),
        ("legacy/x/p.json", &policy),
        ("new/p.json", &policy),
    ]);
    let out = bin()
        .current_dir(dir.path())
        .args(["plan", "--format", "json", "legacy", "new"])
        .output()
        .unwrap();
    let v = json_of(&out);
    let target = |i: usize| {
        v["changes"][i]["target"]["path"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let ids = |i: usize| -> Vec<String> {
        v["changes"][i]["migrations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(target(0).starts_with("legacy"), "{}", target(0));
    assert!(!ids(0).contains(&"0005".to_string()), "{:?}", ids(0));
    assert!(ids(1).contains(&"0005".to_string()), "{:?}", ids(1));
    // `config SOURCE` says which table applies.
    bin()
        .current_dir(dir.path())
        .args(["config", "legacy/x/p.json", "new/p.json"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "legacy/x/p.json: [[paths]] \"legacy/**\" at forcemfa.toml:4",
        ))
        .stdout(predicate::str::contains(
            "new/p.json: the top-level options",
        ));
}

#[test]
fn saved_plans_record_the_effective_options() {
    let policy = read(&fixture(LISTUSERS));
    let dir = repo(&[("forcemfa.toml", CONFIG), ("p.json", &policy)]);
    bin()
        .current_dir(dir.path())
        .args(["plan", "p.json", "--out", "plan.json"])
        .assert()
        .success();
    let saved: Value = serde_json::from_str(&read(&dir.path().join("plan.json"))).unwrap();
    assert_eq!(
        saved["effective_options"]["options"]["skip-migration"]["origin"],
        "forcemfa.toml:3"
    );
    // The saved plan still loads and applies.
    bin()
        .current_dir(dir.path())
        .args(["apply", "--yes", "--plan", "plan.json"])
        .assert()
        .success();
    assert!(read(&dir.path().join("p.json")).contains("iam:ChangePassword"));
}

// ---------------------------------------------------------------------------------------------
// completions, man page, help

#[test]
fn bash_completions_name_every_subcommand() {
    let out = bin().args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for sub in [
        "scan",
        "plan",
        "apply",
        "rollback",
        "migrations",
        "explain",
        "config",
        "completions",
        "man",
    ] {
        assert!(text.contains(sub), "bash completions lack {sub}");
    }
    assert!(text.contains("--allow-before-mfa"));
    assert!(text.contains("complete -F"), "not a bash completion script");
    for (shell, marker) in [
        ("zsh", "#compdef forcemfa"),
        ("fish", "complete -c forcemfa"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = bin().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains(marker), "{shell} completions lack {marker:?}");
    }
    bin().args(["completions", "tcsh"]).assert().code(1);
}

#[test]
fn man_page_is_valid_roff() {
    let out = bin().arg("man").output().unwrap();
    assert!(out.status.success());
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(
        page.starts_with(".ie") || page.starts_with(".TH"),
        "{}",
        &page[..80]
    );
    assert!(page.contains(".TH forcemfa 1"), "no title line");
    for section in [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH DESCRIPTION",
        ".SH OPTIONS",
        ".SH SUBCOMMANDS",
    ] {
        assert!(page.contains(section), "man page lacks {section}");
    }
    assert!(
        page.contains(".SH \"FORCEMFA PLAN\""),
        "no section per subcommand"
    );
    assert!(
        page.contains("allow\\-before\\-mfa"),
        "subcommand options missing"
    );
    // Every request is a known roff/man macro (a typo would print as text or vanish).
    for line in page.lines().filter(|l| l.starts_with('.')) {
        let req = line.split_whitespace().next().unwrap();
        assert!(
            [
                ".TH", ".SH", ".SS", ".PP", ".TP", ".IP", ".RS", ".RE", ".B", ".I", ".BR", ".ie",
                ".el", ".br", ".nf", ".fi", ".sp", ".\\\"", ".in", ".ne"
            ]
            .contains(&req),
            "unexpected roff request {line:?}"
        );
    }
    // Rendered by man(1) where it exists.
    if Path::new("/usr/bin/man").exists() {
        let mut child = std::process::Command::new("man")
            .args(["-l", "-"])
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .env("MANWIDTH", "100")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(page.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "man -l - failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("forcemfa"), "{text}");
        assert!(
            text.contains("SYNOPSIS") && text.contains("FORCEMFA PLAN"),
            "{text}"
        );
        let warnings = String::from_utf8_lossy(&out.stderr);
        assert!(!warnings.contains("warning"), "{warnings}");
    } else {
        crate::util::notice("man(1) not installed: the roff page was checked for structure only");
    }
}

#[test]
fn help_names_every_kind_of_source_with_an_example() {
    let wants = [
        "policy JSON file",
        "CloudFormation template",
        "Terraform file",
        "a folder of them",
        "no SOURCE: the account of the current AWS credentials",
        "forcemfa plan --profile prod-admin",
        "forcemfa plan docs/examples",
        "--accounts accounts.toml",
        "forcemfa.toml",
    ];
    for args in [
        vec!["--help"],
        vec!["scan", "--help"],
        vec!["plan", "--help"],
        vec!["apply", "--help"],
        vec!["config", "--help"],
    ] {
        let out = bin().args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        for want in wants {
            assert!(
                text.contains(want),
                "`forcemfa {}` lacks {want:?}",
                args.join(" ")
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SARIF

/// The SARIF 2.1.0 schema (vendored from a package, see tests/schemas/README.md), compiled once.
fn sarif_validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        let schema: Value =
            serde_json::from_str(&read(&root().join("tests/schemas/sarif-schema-2.1.0.json")))
                .unwrap();
        // The schema's `language` pattern has a bare `]`, a literal in ECMA-262 regexes (what
        // JSON Schema specifies) that this crate's regex engine refuses: escape it, same meaning.
        fn escape(v: &mut Value, fixed: &mut usize) {
            match v {
                Value::Object(m) => {
                    for (k, x) in m.iter_mut() {
                        if k == "pattern" && x == "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$" {
                            *x = Value::from("^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}\\]?$");
                            *fixed += 1;
                        } else {
                            escape(x, fixed);
                        }
                    }
                }
                Value::Array(a) => a.iter_mut().for_each(|x| escape(x, fixed)),
                _ => {}
            }
        }
        let mut schema = schema;
        let mut fixed = 0;
        escape(&mut schema, &mut fixed);
        assert!(
            fixed > 0,
            "the schema's language pattern changed: review this workaround"
        );
        jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap()
    })
}

/// Fails with every schema violation of `log`. Used by every test that produces SARIF.
pub fn assert_valid_sarif(log: &Value) {
    let errors: Vec<String> = sarif_validator()
        .iter_errors(log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "SARIF is not valid 2.1.0:\n{}",
        errors.join("\n")
    );
}

#[test]
fn the_validator_rejects_what_code_scanning_rejects() {
    // A space in a URI reference: the schema's `uri-reference` format says no.
    let bad = serde_json::json!({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}},
        "results": [{"message": {"text": "m"}, "locations": [{"physicalLocation":
        {"artifactLocation": {"uri": "my policy#1 100%.json"}}}]}]}]});
    assert!(sarif_validator().iter_errors(&bad).next().is_some());
    let missing_version = serde_json::json!({"runs": []});
    assert!(sarif_validator()
        .iter_errors(&missing_version)
        .next()
        .is_some());
}

#[test]
fn sarif_uri_of_an_awkward_file_name_is_percent_encoded_and_valid() {
    let legacy = read(&fixture(LISTUSERS));
    let dir = repo(&[("pol/my policy#1 100%.json", &legacy), ("broken.json", "{")]);
    let out = bin()
        .current_dir(dir.path())
        .args(["scan", "--format", "sarif", "pol", "broken.json"])
        .output()
        .unwrap();
    let v = json_of(&out);
    assert_valid_sarif(&v);
    let locations: Vec<&Value> = v["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["locations"][0]["physicalLocation"]["artifactLocation"])
        .collect();
    assert!(locations.iter().any(|l| **l
        == serde_json::json!({"uri": "pol/my%20policy%231%20100%25.json", "uriBaseId": "%SRCROOT%"})));
    assert!(locations
        .iter()
        .any(|l| **l == serde_json::json!({"uri": "broken.json", "uriBaseId": "%SRCROOT%"})));

    // Outside the working directory: an absolute file:// URI.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = bin()
        .current_dir(elsewhere.path())
        .args(["scan", "--format", "sarif"])
        .arg(dir.path().join("pol"))
        .output()
        .unwrap();
    let v = json_of(&out);
    assert_valid_sarif(&v);
    let uri = v["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
        ["uri"]
        .as_str()
        .unwrap();
    assert!(uri.starts_with("file:///"), "{uri}");
    assert!(uri.ends_with("/pol/my%20policy%231%20100%25.json"), "{uri}");
}

// ---------------------------------------------------------------------------------------------
// The plan an operator reads in ten seconds

fn examples_plan(verbose: bool) -> String {
    let mut cmd = bin();
    cmd.current_dir(root()).args(["plan", "docs/examples"]);
    if verbose {
        cmd.arg("-v");
    }
    let out = cmd.output().unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// One block per change (from its header to the blank line).
fn blocks(text: &str) -> Vec<&str> {
    text.split("\n\n")
        .filter(|b| b.lines().next().is_some_and(|l| l.contains("  [change ")))
        .collect()
}

#[test]
fn plan_text_starts_with_the_plain_summary_and_fits_a_page() {
    let text = examples_plan(false);
    let changes = blocks(&text);
    assert_eq!(changes.len(), 5, "{text}");
    for b in &changes {
        let lines: Vec<&str> = b.lines().collect();
        assert!(lines[1].starts_with("  Before MFA, a user "), "{b}");
        assert!(
            lines[2].starts_with("  Long-term access keys without MFA "),
            "{b}"
        );
        assert!(lines[3].starts_with("  With MFA: "), "{b}");
        assert!(lines.len() <= 55, "{} lines: {b}", lines.len());
        assert!(
            !b.contains("rows differ"),
            "effect rows shown without -v: {b}"
        );
    }
    assert!(text.contains("Overview of 7 targets:"));
    assert!(text.contains("findings by severity: "));
    // -v brings back the rows and the diff context.
    let verbose = examples_plan(true);
    assert!(verbose.contains("rows differ"));
    assert!(verbose.len() > text.len());
    insta::assert_snapshot!("plan_docs_examples_text", text);
}

#[test]
fn json_keeps_every_field_and_adds_the_plain_summary() {
    let plan_json = |verbose: bool| {
        let mut cmd = bin();
        cmd.current_dir(root())
            .args(["plan", "--format", "json"])
            .arg("docs/examples/2015-force-mfa-aws-cn.json");
        if verbose {
            cmd.arg("-v");
        }
        json_of(&cmd.output().unwrap())
    };
    // The effect rows (the bulk of a change) are only in the verbose report; every other field
    // is in both, and the count of changed actions stands in for them.
    let v = plan_json(false);
    let effect = &v["changes"][0]["effect"];
    assert!(effect.get("rows").is_none(), "rows only with -v");
    assert_eq!(effect["changed_actions"], 179);
    let verbose = plan_json(true);
    let rows = verbose["changes"][0]["effect"]["rows"].as_array().unwrap();
    assert!(!rows.is_empty());
    let distinct: std::collections::BTreeSet<&str> =
        rows.iter().filter_map(|r| r["action"].as_str()).collect();
    assert_eq!(
        distinct.len(),
        179,
        "the count is the rows' distinct actions"
    );
    for key in [
        "summary",
        "changed_actions",
        "unexplained",
        "unknown",
        "universe_actions",
        "source",
        "plain",
    ] {
        assert!(effect.get(key).is_some(), "effect lacks {key}");
    }
    let plain = &effect["plain"];
    assert_eq!(plain["long_term_keys"]["after"]["allowed"], 7);
    assert!(plain["before_mfa"]["before"]["phrases"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p == "list every user name"));
}

// ---------------------------------------------------------------------------------------------
// pre-commit

fn pre_commit() -> Option<PathBuf> {
    let local = root().join(".venv/bin/pre-commit");
    if local.exists() {
        return Some(local);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("pre-commit"))
            .find(|p| p.exists())
    })
}

#[test]
fn pre_commit_manifest_and_documented_config_validate() {
    let Some(pc) = pre_commit() else {
        assert!(
            std::env::var("CI").is_err(),
            "pre-commit is missing under CI: tests/run_moto.sh installs it into .venv"
        );
        crate::util::notice(
            "pre-commit not installed (tests/run_moto.sh start installs it): not validated",
        );
        return;
    };
    let out = std::process::Command::new(&pc)
        .current_dir(root())
        .args(["validate-manifest", ".pre-commit-hooks.yaml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The example in the user guide is a valid .pre-commit-config.yaml using this hook.
    let guide = read(&root().join("docs/user-guide.md"));
    let example = guide
        .split("```yaml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .find(|b| b.contains("# .pre-commit-config.yaml"))
        .expect("docs/user-guide.md has a .pre-commit-config.yaml example");
    assert!(example.contains("id: forcemfa"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".pre-commit-config.yaml");
    std::fs::write(&path, example).unwrap();
    let out = std::process::Command::new(&pc)
        .args(["validate-config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The hook's entry is a command this build accepts.
    let manifest = read(&root().join(".pre-commit-hooks.yaml"));
    let entry = manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("entry: "))
        .unwrap();
    let args: Vec<&str> = entry.split_whitespace().skip(1).collect();
    let policy = read(&fixture(LISTUSERS));
    let repo = repo(&[
        ("iam/p.json", &policy),
        ("package.json", "{\"name\": \"x\"}"),
    ]);
    bin()
        .current_dir(repo.path())
        .args(&args)
        .args(["iam/p.json", "package.json"])
        .assert()
        .code(2);
}

// ---------------------------------------------------------------------------------------------
// Every command line the docs quote

/// Command lines that need an AWS account (or a file the reader makes), with why they are not run.
const NEEDS_AWS: &[(&str, &str)] = &[
    ("--profile", "needs AWS credentials for a real account"),
    ("--org", "needs an AWS Organization"),
    ("--accounts", "needs the accounts of an accounts file"),
    ("rollback", "needs a journal of an apply against an account"),
    (
        "--plan plan.json",
        "needs a plan file saved against an account",
    ),
    ("--waves", "a staged rollout needs AWS accounts"),
];

/// Placeholders a reader replaces: lines with them are syntax, not commands.
fn is_template(line: &str) -> bool {
    line.contains('[')
        || line.contains('<')
        || line.contains("...")
        || line
            .split_whitespace()
            .any(|w| w.len() > 1 && w.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
}

/// `forcemfa …` command lines in fenced code blocks (`$ ` prompts removed, comments dropped).
fn quoted_commands(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if !in_block {
            continue;
        }
        let l = line.trim().trim_start_matches("$ ");
        // CI steps quote commands too (`run: forcemfa …`).
        let l = l.trim_start_matches("- ").trim_start_matches("run: ");
        let l = l.split("  #").next().unwrap_or(l).trim();
        if l.starts_with("forcemfa ") || l.starts_with("cargo run --release -- ") {
            out.push(l.to_string());
        }
    }
    out
}

#[test]
fn every_command_quoted_in_the_docs_runs() {
    let mut ran = 0;
    let mut skipped = Vec::new();
    for doc in ["README.md", "docs/user-guide.md"] {
        let text = read(&root().join(doc));
        for line in quoted_commands(&text) {
            if is_template(&line) {
                continue;
            }
            if let Some((_, why)) = NEEDS_AWS.iter().find(|(k, _)| line.contains(k)) {
                skipped.push(format!("{doc}: {line}: {why}"));
                continue;
            }
            let line = line.trim_start_matches("cargo run --release -- ");
            let line = line.trim_start_matches("forcemfa ");
            // Shell redirections and pipes are the reader's; the command is what is checked.
            let (cmd, stdin_null) = match line.split_once(" < /dev/null") {
                Some((c, _)) => (c, true),
                None => (line, false),
            };
            let cmd = [" >> ", " > ", " | "]
                .iter()
                .fold(cmd, |c, sep| c.split(sep).next().unwrap_or(c));
            let args: Vec<String> = cmd
                .split_whitespace()
                .map(|a| a.trim_matches('\'').to_string())
                .collect();
            // Against a copy of the repository's examples, so that `apply` writes nothing here.
            let work = tempfile::tempdir().unwrap();
            std::fs::create_dir(work.path().join(".git")).unwrap();
            for sub in ["docs/examples", "iam"] {
                std::fs::create_dir_all(work.path().join(sub)).unwrap();
            }
            for e in std::fs::read_dir(root().join("docs/examples")).unwrap() {
                let e = e.unwrap();
                std::fs::copy(
                    e.path(),
                    work.path().join("docs/examples").join(e.file_name()),
                )
                .unwrap();
                std::fs::copy(e.path(), work.path().join("iam").join(e.file_name())).unwrap();
            }
            let mut c = bin();
            c.current_dir(work.path()).args(&args);
            if stdin_null {
                c.write_stdin(Vec::<u8>::new());
            }
            let out = c.output().unwrap();
            let code = out.status.code().unwrap_or(-1);
            let stderr = String::from_utf8_lossy(&out.stderr);
            // What the docs promise for the line: an error line quoted after it, a blocked change
            // (4), pending (2) with --detailed-exitcode; otherwise success.
            assert!(
                !stderr.contains("unexpected argument")
                    && !stderr.contains("unrecognized subcommand")
                    && !stderr.contains("invalid value"),
                "{doc}: `{line}` is not a valid command line: {stderr}"
            );
            let expected_error = text.contains(&format!("$ forcemfa {line}\nerror:"));
            match code {
                0 => assert!(!expected_error, "{doc}: `{line}` should fail as documented"),
                1 => assert!(expected_error, "{doc}: `{line}` failed: {stderr}"),
                2 => assert!(
                    line.contains("--detailed-exitcode"),
                    "{doc}: `{line}` exited 2"
                ),
                4 => assert!(
                    text.contains(&format!("$ forcemfa {line}")) && text.contains("\n4\n"),
                    "{doc}: `{line}` was blocked (4) but the doc does not say so"
                ),
                _ => panic!("{doc}: `{line}` exited {code}: {stderr}"),
            }
            ran += 1;
        }
    }
    assert!(
        ran >= 8,
        "only {ran} commands found in the docs: is the extraction broken?"
    );
    crate::util::notice(&format!(
        "ran {ran} documented commands; not run (they need AWS):\n  {}",
        skipped.join("\n  ")
    ));
    assert!(!skipped.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Stale means "changed under you": a new default version with the same document is stale too

#[tokio::test]
async fn aws_stale_when_the_default_version_changed_even_with_the_same_document() {
    use crate::moto::{
        self, add_version, create_managed, fixture, json, migrated, unique, ACCOUNT,
    };
    use forcemfa::engine::target::{Target, TargetKind};
    use forcemfa::sources::aws::{AwsStore, Published, StoreError};
    use forcemfa::sources::journal::Journal;

    let iam = moto::client();
    let legacy = fixture("2018-docs-listusers.json");
    let new = migrated(&legacy);
    let arn = create_managed(&iam, &unique("stale-version"), &legacy, &[]).await;
    let target = Target {
        account: Some(ACCOUNT.into()),
        kind: TargetKind::Managed {
            arn: arn.clone(),
            name: arn.rsplit('/').next().unwrap().into(),
        },
    };
    let store = AwsStore::from_client(moto::client(), ACCOUNT)
        .with_read_back(3, std::time::Duration::from_millis(50));
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::open(dir.path().join("journal.jsonl")).unwrap();

    // Planned against v1; someone publishes v2 with the very same document.
    let v2 = add_version(&iam, &arn, &legacy, true).await;
    assert_eq!(v2, "v2");
    let err = store
        .publish_planned(&target, Some("v1"), &legacy, &new, &mut j, "run1", false)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Stale { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("v1") && msg.contains("v2"), "{msg}");
    assert!(msg.contains("same document"), "{msg}");
    assert_eq!(
        json(&store.current(&target).await.unwrap().text),
        json(&legacy)
    );

    // A plan made against v2 applies; applying it again changes nothing.
    let done = store
        .publish_planned(&target, Some("v2"), &legacy, &new, &mut j, "run2", false)
        .await
        .unwrap();
    assert!(matches!(done, Published::Applied { .. }), "{done:?}");
    let again = store
        .publish_planned(&target, Some("v2"), &legacy, &new, &mut j, "run3", false)
        .await
        .unwrap();
    assert!(
        matches!(again, Published::AlreadyApplied { .. }),
        "{again:?}"
    );
}
