//! Migrations: ordered, declarative, idempotent rewrites of force-MFA policies.
//!
//! The files of the workspace's top-level `migrations/` folder are embedded at build time
//! ([`EMBEDDED`]); a test checks that the embedded list equals the folder. Each file is parsed strictly ([`spec`]), checksummed with
//! SHA-256 over its text with line endings normalised, and applied by the [`engine`].

mod edit;
pub mod engine;
mod grants;
pub mod spec;

use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

pub use engine::{migrate, Applied, Outcome};
pub use spec::Spec;

/// One migration file of the workspace's top-level `migrations/` folder, embedded at build time:
/// (file name, text).
macro_rules! migration_file {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!("../../../../migrations/", $name)),
        )
    };
}

/// The migration files, in order. Keep in sync with the top-level `migrations/` folder (a test
/// enforces it).
pub const EMBEDDED: &[(&str, &str)] = &[
    migration_file!("0001_guard_bool_if_exists.toml"),
    migration_file!("0002_guard_not_action.toml"),
    migration_file!("0003_guard_resource_all.toml"),
    migration_file!("0004_explicit_exemptions.toml"),
    migration_file!("0005_remove_risky_exemptions.toml"),
    migration_file!("0006_virtual_mfa_any_name.toml"),
    migration_file!("0007_enrolment_set.toml"),
    migration_file!("0008_remove_escalation_exemptions.toml"),
    migration_file!("0009_age_guard_if_exists.toml"),
    migration_file!("0010_current_self_service_grants.toml"),
    migration_file!("0011_targeted_bool_if_exists.toml"),
    migration_file!("0012_targeted_age_if_exists.toml"),
];

/// A loaded migration.
#[derive(Debug, Clone)]
pub struct Migration {
    pub file: String,
    pub spec: Spec,
    /// `sha256:` + hex of the file with `\r\n` normalised to `\n`.
    pub checksum: String,
    pub severity: crate::detect::Severity,
}

impl Migration {
    pub fn id(&self) -> &str {
        &self.spec.id
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("migration file name {0:?} is not NNNN_snake_case.toml")]
    BadName(String),
    #[error("migration {file}: {message}")]
    Parse { file: String, message: String },
    #[error("migration {file}: id {id:?} does not match the file name's number")]
    IdMismatch { file: String, id: String },
    #[error("duplicate migration id {0:?}")]
    Duplicate(String),
    #[error("migrations out of order: {0:?} comes after a higher id")]
    Order(String),
    #[error("migration {file}: unknown severity {severity:?} (info, low, medium, high, critical)")]
    Severity { file: String, severity: String },
}

/// SHA-256 of a migration file, line endings normalised so checkouts on Windows agree.
pub fn checksum(text: &str) -> String {
    let normalised = text.replace("\r\n", "\n");
    format!(
        "sha256:{}",
        hex::encode(Sha256::digest(normalised.as_bytes()))
    )
}

fn valid_name(file: &str) -> Option<&str> {
    let stem = file.strip_suffix(".toml")?;
    let (num, rest) = stem.split_once('_')?;
    let ok = num.len() == 4
        && num.bytes().all(|b| b.is_ascii_digit())
        && !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !rest.starts_with('_')
        && !rest.ends_with('_');
    ok.then_some(num)
}

/// Load and validate a list of migration files (name, text). Bad names, unknown fields or ops,
/// duplicate ids and disorder are errors: never skipped.
pub fn load(files: &[(&str, &str)]) -> Result<Vec<Migration>, LoadError> {
    let mut out: Vec<Migration> = Vec::new();
    let mut seen = BTreeSet::new();
    for (file, text) in files {
        let num = valid_name(file).ok_or_else(|| LoadError::BadName(file.to_string()))?;
        let spec: Spec = toml::from_str(text).map_err(|e| LoadError::Parse {
            file: file.to_string(),
            message: e.to_string().trim().to_string(),
        })?;
        if spec.id != num {
            return Err(LoadError::IdMismatch {
                file: file.to_string(),
                id: spec.id.clone(),
            });
        }
        if !seen.insert(spec.id.clone()) {
            return Err(LoadError::Duplicate(spec.id.clone()));
        }
        if out.last().is_some_and(|m| m.spec.id > spec.id) {
            return Err(LoadError::Order(spec.id.clone()));
        }
        let severity =
            crate::detect::Severity::parse(&spec.severity).ok_or_else(|| LoadError::Severity {
                file: file.to_string(),
                severity: spec.severity.clone(),
            })?;
        out.push(Migration {
            file: file.to_string(),
            checksum: checksum(text),
            spec,
            severity,
        });
    }
    Ok(out)
}

/// The embedded default chain.
pub fn default_chain() -> Result<Vec<Migration>, LoadError> {
    load(EMBEDDED)
}

/// Find a migration by id (`0005`), name (`remove-risky-exemptions`) or file stem.
pub fn find<'a>(chain: &'a [Migration], key: &str) -> Option<&'a Migration> {
    chain.iter().find(|m| {
        m.spec.id == key || m.spec.name == key || m.file.strip_suffix(".toml") == Some(key)
    })
}

/// Named `--allow-before-mfa` options and the exemptions they keep.
pub const NAMED_OPTIONS: &[(&str, &[&str], &str)] = &[
    (
        "password-change",
        &["iam:ChangePassword", "iam:GetAccountPasswordPolicy"],
        "users created with \"require password reset\" can finish their first sign-in (AWS documents it, does not recommend it)",
    ),
    (
        "login-profile",
        &[
            "iam:ChangePassword",
            "iam:CreateLoginProfile",
            "iam:DeleteLoginProfile",
            "iam:GetLoginProfile",
            "iam:UpdateLoginProfile",
        ],
        "the widely copied 2019 choice: password and login-profile management before MFA",
    ),
    (
        "mfa-device-cleanup",
        &["iam:DeleteVirtualMFADevice"],
        "WARNING: AWS advises against it: a user without MFA can delete an MFA device; an administrator should delete half-created devices instead",
    ),
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown --allow-before-mfa value {0:?}: use password-change, login-profile, mfa-device-cleanup, or one action name such as iam:GetLoginProfile (no wildcards)")]
pub struct BadOption(pub String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown --skip-migration value {0:?}: give a migration id (0001) or name (guard-bool-if-exists); `forcemfa migrations list` shows them")]
pub struct BadSkip(pub String);

/// An `--allow-before-mfa` exemption that opens privilege escalation, new credentials or MFA
/// removal before MFA ([`crate::detect::exemption_severity`] rates it critical), given without
/// its own acknowledgement.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("--allow-before-mfa {action} refused ({why}): anyone holding only a user's password could use it. If that is really meant, give --allow-risky-exemption {action} as well; it is then reported as a critical finding on every policy it keeps exempt")]
pub struct RiskyExemption {
    pub action: String,
    pub why: &'static str,
}

/// Opt-in exemptions beyond the enrolment set, and migrations skipped on purpose. Recorded in
/// plans. Neither can weaken the safety invariant: a skipped migration only leaves a policy as it
/// was, and every exemption a rewrite opens must be one of these.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Options {
    /// As given (option names or action names), sorted and deduplicated.
    pub allow_before_mfa: Vec<String>,
    /// Ids of migrations not to apply (`--skip-migration`), sorted and deduplicated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip_migration: Vec<String>,
    /// Critical exemptions the operator acknowledged by name (`--allow-risky-exemption`), sorted
    /// and deduplicated: without its acknowledgement such an exemption is refused ([`Options::check_risk`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_risky_exemption: Vec<String>,
}

impl Options {
    pub fn new(names: &[String]) -> Result<Options, BadOption> {
        let mut set = BTreeSet::new();
        for n in names {
            resolve(n)?;
            set.insert(n.trim().to_string());
        }
        Ok(Options {
            allow_before_mfa: set.into_iter().collect(),
            skip_migration: Vec::new(),
            allow_risky_exemption: Vec::new(),
        })
    }

    /// Record the acknowledged critical exemptions (`--allow-risky-exemption ACTION`), then check
    /// that every critical exemption these options open is one of them.
    pub fn acknowledging(mut self, actions: &[String]) -> Result<Options, RiskyExemption> {
        let set: BTreeSet<String> = actions.iter().map(|a| a.trim().to_string()).collect();
        self.allow_risky_exemption = set.into_iter().collect();
        self.check_risk()?;
        Ok(self)
    }

    /// The exemptions these options open that let a user without MFA escalate privilege, create
    /// credentials or remove MFA, each with what it opens.
    pub fn risky(&self) -> Vec<(String, &'static str)> {
        self.actions()
            .into_iter()
            .filter_map(|a| {
                let (severity, why) = crate::detect::exemption_severity(&a);
                (severity == crate::detect::Severity::Critical).then_some((a, why))
            })
            .collect()
    }

    /// Every critical exemption is acknowledged by name. Options read back from a saved plan
    /// are checked too, so an edited plan cannot open one quietly.
    pub fn check_risk(&self) -> Result<(), RiskyExemption> {
        match self.risky().into_iter().find(|(a, _)| {
            !self
                .allow_risky_exemption
                .iter()
                .any(|k| k.eq_ignore_ascii_case(a))
        }) {
            Some((action, why)) => Err(RiskyExemption { action, why }),
            None => Ok(()),
        }
    }

    /// Skip these migrations (ids, names or file stems of `chain`), recorded as ids.
    pub fn skipping(mut self, keys: &[String], chain: &[Migration]) -> Result<Options, BadSkip> {
        let mut set: BTreeSet<String> = self.skip_migration.into_iter().collect();
        for k in keys {
            let m = find(chain, k.trim()).ok_or_else(|| BadSkip(k.clone()))?;
            set.insert(m.spec.id.clone());
        }
        self.skip_migration = set.into_iter().collect();
        Ok(self)
    }

    /// The options as command-line words, for messages.
    pub fn describe(&self) -> Vec<String> {
        self.allow_before_mfa
            .iter()
            .map(|a| format!("--allow-before-mfa {a}"))
            .chain(
                self.skip_migration
                    .iter()
                    .map(|m| format!("--skip-migration {m}")),
            )
            .chain(
                self.allow_risky_exemption
                    .iter()
                    .map(|a| format!("--allow-risky-exemption {a}")),
            )
            .collect()
    }

    pub fn skips(&self, id: &str) -> bool {
        self.skip_migration.iter().any(|s| s == id)
    }

    /// The actions these options keep exempt, in a stable order.
    pub fn actions(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for n in &self.allow_before_mfa {
            for a in resolve(n).unwrap_or_default() {
                if !out.iter().any(|x| x.eq_ignore_ascii_case(&a)) {
                    out.push(a);
                }
            }
        }
        out
    }

    pub fn allows(&self, action: &str) -> bool {
        self.actions()
            .iter()
            .any(|a| a.eq_ignore_ascii_case(action))
    }
}

/// Resolve an option name or a single action name to actions.
pub fn resolve(name: &str) -> Result<Vec<String>, BadOption> {
    let name = name.trim();
    if let Some((_, actions, _)) = NAMED_OPTIONS.iter().find(|(n, _, _)| *n == name) {
        return Ok(actions.iter().map(|a| a.to_string()).collect());
    }
    let valid = name.split_once(':').is_some_and(|(svc, act)| {
        !svc.is_empty()
            && !act.is_empty()
            && svc
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && act.bytes().all(|b| b.is_ascii_alphanumeric())
    });
    if valid {
        Ok(vec![name.to_string()])
    } else {
        Err(BadOption(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_chain_loads() {
        let chain = default_chain().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(chain.len(), EMBEDDED.len());
        assert!(chain.iter().all(|m| m.checksum.starts_with("sha256:")));
    }

    /// The folder beside `src/`, `tests/` and `docs/` at the top of the workspace.
    fn folder() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations")
    }

    #[test]
    fn embedded_list_equals_the_folder() {
        let mut on_disk: Vec<String> = std::fs::read_dir(folder())
            .unwrap_or_else(|e| panic!("{}: {e}", folder().display()))
            .map(|e| {
                let e = e.unwrap_or_else(|e| panic!("{}: {e}", folder().display()));
                e.file_name().to_string_lossy().to_string()
            })
            .collect();
        on_disk.sort();
        let embedded: Vec<String> = EMBEDDED.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(
            embedded, on_disk,
            "EMBEDDED and the migrations/ folder differ"
        );
        for (name, text) in EMBEDDED {
            let path = folder().join(name);
            let on_disk = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(on_disk, *text, "{name} differs from its embedded text");
        }
    }

    #[test]
    fn checksum_ignores_line_endings() {
        assert_eq!(checksum("a\r\nb\n"), checksum("a\nb\n"));
        assert_ne!(checksum("a\nb\n"), checksum("a\nc\n"));
    }

    #[test]
    fn bad_files_are_refused_loudly() {
        let good = EMBEDDED[0].1;
        assert!(matches!(
            load(&[("1_x.toml", good)]),
            Err(LoadError::BadName(_))
        ));
        assert!(matches!(
            load(&[("0001_a.toml", good), ("0001_b.toml", good)]),
            Err(LoadError::Duplicate(_))
        ));
        let unknown_op = good.replace("guard_condition_operator", "delete_everything");
        assert!(matches!(
            load(&[("0001_x.toml", &unknown_op)]),
            Err(LoadError::Parse { .. })
        ));
        let unknown_field = format!("{good}\nsurprise = true\n");
        assert!(matches!(
            load(&[("0001_x.toml", &unknown_field)]),
            Err(LoadError::Parse { .. })
        ));
        let typo_in_op = good.replace("from = \"Bool\"", "form = \"Bool\"");
        assert!(matches!(
            load(&[("0001_x.toml", &typo_in_op)]),
            Err(LoadError::Parse { .. })
        ));
        assert!(matches!(
            load(&[("0002_x.toml", good)]),
            Err(LoadError::IdMismatch { .. })
        ));
    }

    #[test]
    fn critical_exemptions_need_their_own_acknowledgement() {
        let opts = |names: &[&str]| {
            Options::new(&names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap_or_else(|e| panic!("{e}"))
        };
        for action in [
            "sts:AssumeRole",
            "iam:PutUserPolicy",
            "iam:DeactivateMFADevice",
            "iam:CreateAccessKey",
            "iam:AttachUserPolicy",
            "sts:GetFederationToken",
        ] {
            let refused = opts(&[action]).acknowledging(&[]);
            assert_eq!(
                refused.as_ref().map_err(|e| e.action.as_str()),
                Err(action),
                "{action} opened without acknowledgement"
            );
            let msg = refused.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(
                msg.contains(&format!("--allow-risky-exemption {action}")),
                "{msg}"
            );
            // Acknowledging another action does not do; acknowledging it does.
            assert!(opts(&[action])
                .acknowledging(&["iam:CreateUser".into()])
                .is_err());
            let ok = opts(&[action]).acknowledging(&[action.to_lowercase()]);
            assert!(ok.is_ok(), "{action}: {ok:?}");
        }
        // The documented named options and ordinary reads need nothing more.
        for safe in [
            "password-change",
            "login-profile",
            "mfa-device-cleanup",
            "iam:GetLoginProfile",
        ] {
            assert_eq!(
                opts(&[safe]).acknowledging(&[]).map(|o| o.risky()),
                Ok(vec![])
            );
        }
        // Options from a saved plan are checked without the command line.
        let mut edited = opts(&["iam:PutUserPolicy"]);
        assert!(edited.check_risk().is_err());
        edited.allow_risky_exemption = vec!["iam:PutUserPolicy".into()];
        assert!(edited.check_risk().is_ok());
        assert!(edited
            .describe()
            .contains(&"--allow-risky-exemption iam:PutUserPolicy".to_string()));
    }

    #[test]
    fn options_resolve() {
        assert_eq!(resolve("password-change").map(|v| v.len()), Ok(2));
        assert!(resolve("iam:GetLoginProfile").is_ok());
        assert!(resolve("iam:*").is_err());
        assert!(resolve("ListUsers").is_err());
        let o = Options::new(&["login-profile".into(), "mfa-device-cleanup".into()]);
        let o = o.unwrap_or_default();
        assert_eq!(o.actions().len(), 6);
        assert!(o.allows("IAM:deletevirtualmfadevice"));
    }
}
