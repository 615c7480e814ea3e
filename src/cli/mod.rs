//! Command-line definitions (clap). Parsing only: `commands` turns these into work.

pub mod config;
pub mod resolved;

pub use resolved::Kind;

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// The longest `--recent-days` (ten years): a larger number says "any use ever", which is what a
/// number this large already says, and a negative one would turn the gate off.
pub const MAX_RECENT_DAYS: i64 = 3650;

/// The role session name unless `--session-name` says otherwise.
pub const DEFAULT_SESSION_NAME: &str = "forcemfa";

#[derive(Debug, Parser)]
#[command(
    name = "forcemfa",
    version,
    about = "Find legacy force-MFA IAM policies and upgrade them safely to current AWS best practice",
    long_about = "Find legacy force-MFA IAM policies and upgrade them safely.\n\n\
        Every rewrite is verified before it is offered: structural limits, idempotence, an effect \
        diff that must match what the migrations declare, and an absolute rule that nothing beyond \
        enrolling an MFA device (and what --allow-before-mfa names) may become reachable without \
        MFA or with a stale MFA session, whatever a migration declares.\n\n\
        Exit codes: 0 success or nothing to change; 1 error; 2 changes pending (with --detailed-exitcode); \
        4 a change was blocked by verification, refused or held back; 130 interrupted.",
    after_help = crate::cli::SOURCES_HELP,
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: Global,
    /// Ids of the arguments given on the command line (filled by `main`), so that the config file
    /// fills in only the others.
    #[arg(skip)]
    pub explicit: Vec<String>,
    /// The configuration in force (`config::apply`).
    #[arg(skip)]
    pub config: crate::cli::resolved::Resolved,
}

/// The kinds of SOURCE, with one example each: shown by `--help` and every subcommand's help.
pub const SOURCES_HELP: &str = "SOURCE is any of:\n  \
    a policy JSON file            forcemfa plan policies/force-mfa.json\n  \
    a CloudFormation template     forcemfa plan templates/iam.yaml\n  \
    a Terraform file              forcemfa plan infra/iam.tf\n  \
    a folder of them (recursive)  forcemfa plan docs/examples\n  \
    no SOURCE: the account of the current AWS credentials\n                                \
    forcemfa plan --profile prod-admin\n  \
    many accounts                 forcemfa plan --accounts accounts.toml   (or --org)\n\n\
    Options not given on the command line come from forcemfa.toml (this folder or a parent, up to \
    the repository root or the home directory) or --config FILE; `forcemfa config` shows the \
    effective options.";

#[derive(Debug, Args)]
pub struct Global {
    /// Output format (sarif: scan only)
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Colour: auto (terminal and no NO_COLOR), always, never
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Print only errors and the summary
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Print more (effect rows of each change, unchanged policies' findings)
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Config file (default: forcemfa.toml in this folder or a parent, up to the repository root
    /// or the home directory)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
    Sarif,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Args, Clone)]
pub struct PlanArgs {
    /// Policy JSON files, CloudFormation templates, Terraform files, or folders of them; none:
    /// the account of the current AWS credentials (examples below)
    #[arg(value_name = "SOURCE")]
    pub sources: Vec<PathBuf>,
    /// Keep an action exempt before MFA: password-change, login-profile, mfa-device-cleanup, or
    /// one action name (repeatable)
    #[arg(long = "allow-before-mfa", value_name = "NAME")]
    pub allow_before_mfa: Vec<String>,
    /// Acknowledge one critical --allow-before-mfa exemption by its action name (privilege
    /// escalation, new credentials or MFA removal before MFA, such as sts:AssumeRole or
    /// iam:CreateAccessKey): refused without it, and always reported as a critical finding
    #[arg(long = "allow-risky-exemption", value_name = "ACTION")]
    pub allow_risky_exemption: Vec<String>,
    /// Do not apply this migration (id such as 0001, or name such as guard-bool-if-exists;
    /// repeatable). Recorded in saved plans; the never-less-safe check still applies
    #[arg(long = "skip-migration", value_name = "ID|NAME")]
    pub skip_migration: Vec<String>,
    /// IAM size limit to check files against
    #[arg(long, value_enum, default_value_t = Kind::Managed)]
    pub kind: Kind,
    /// The config in force (filled by `config::apply`): effective options and `[[paths]]` overrides
    #[arg(skip)]
    pub config: crate::cli::resolved::Resolved,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub batch: BatchArgs,
}

/// Many accounts at once: `--accounts FILE` or `--org`, filters, concurrency, report.
#[derive(Debug, Args, Clone, Default)]
pub struct BatchArgs {
    /// Accounts file (TOML: [defaults] role_name, external_id, session_name, duration_seconds;
    /// [[account]] id, name, role_arn or profile, tags); see docs/multi-account.md
    #[arg(long, value_name = "FILE", conflicts_with_all = ["sources", "org"])]
    pub accounts: Option<PathBuf>,
    /// Every ACTIVE account of the AWS Organization of the current credentials
    #[arg(long, conflicts_with = "sources")]
    pub org: bool,
    /// Role assumed in each account
    #[arg(long, value_name = "NAME", default_value = forcemfa_formats::accounts::DEFAULT_ROLE_NAME)]
    pub role_name: String,
    /// External id for sts:AssumeRole, when the roles' trust policies require one
    #[arg(long, value_name = "ID")]
    pub external_id: Option<String>,
    /// Lifetime of the assumed-role sessions, in seconds (900 to the role's maximum, at most
    /// 43200)
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(i32).range(900..=43200))]
    pub duration_seconds: Option<i32>,
    /// Only this account (repeatable)
    #[arg(long = "account", value_name = "ID")]
    pub account: Vec<String>,
    /// Not this account (repeatable)
    #[arg(long = "exclude-account", value_name = "ID")]
    pub exclude_account: Vec<String>,
    /// Only accounts with this tag (repeatable; all must match)
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tag: Vec<String>,
    /// How many accounts are worked on at once
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// Also write the report (in --format) to this file
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

impl PlanArgs {
    /// The top-level options of the run (command line and config file folded in).
    pub fn profile(&self) -> crate::cli::resolved::Profile {
        crate::cli::resolved::Profile {
            allow_before_mfa: self.allow_before_mfa.clone(),
            skip_migration: self.skip_migration.clone(),
            kind: self.kind,
        }
    }
}

impl BatchArgs {
    pub fn active(&self) -> bool {
        self.accounts.is_some() || self.org
    }
}

/// Where and how to reach AWS when no SOURCE is given. Credentials come from aws-config's
/// standard chain: environment, profiles, SSO, role assumption.
#[derive(Debug, Args, Clone, Default)]
pub struct AwsArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Journal file (default: $XDG_STATE_HOME/forcemfa/journal.jsonl)
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Refuse rather than delete the oldest non-default version at IAM's 5-version limit
    #[arg(long)]
    pub no_prune: bool,
    /// Also rewrite policies tagged as managed by infrastructure as code (the next deployment
    /// will revert them)
    #[arg(long)]
    pub include_iac_managed: bool,
    #[command(flatten)]
    pub impact: ImpactArgs,
}

/// The who-is-affected gate of `apply`.
#[derive(Debug, Args, Clone)]
pub struct ImpactArgs {
    /// apply --yes: publish even a change that cuts off access used in the last --recent-days
    #[arg(long)]
    pub accept_impact: bool,
    /// apply --yes: access used within this many days counts as in use (0 to 3650)
    #[arg(long, value_name = "N", default_value_t = crate::engine::impact::DEFAULT_RECENT_DAYS,
          value_parser = clap::value_parser!(i64).range(0..=MAX_RECENT_DAYS))]
    pub recent_days: i64,
    /// Evidence of the calls each affected principal made: auto (CloudTrail event history when
    /// an account is planned), none, or a trail's log files (a folder or s3://bucket/prefix)
    #[arg(long, value_name = "auto|none|PATH", default_value = "auto")]
    pub evidence: String,
    /// Days of calls the evidence covers (event history keeps 90)
    #[arg(long, value_name = "N", default_value_t = crate::sources::evidence::MAX_EVENT_HISTORY_DAYS,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub evidence_days: i64,
    /// Regions whose event history is read (default: us-east-1 and those the credential
    /// report names for the users' keys)
    #[arg(long, value_name = "REGION,...", value_delimiter = ',')]
    pub evidence_regions: Option<Vec<String>>,
}

impl Default for ImpactArgs {
    fn default() -> Self {
        ImpactArgs {
            accept_impact: false,
            recent_days: crate::engine::impact::DEFAULT_RECENT_DAYS,
            evidence: "auto".into(),
            evidence_days: crate::sources::evidence::MAX_EVENT_HISTORY_DAYS,
            evidence_regions: None,
        }
    }
}

/// How to reach an AWS account.
#[derive(Debug, Args, Clone, Default)]
pub struct ConnectArgs {
    /// AWS profile to use (default: AWS_PROFILE or the default chain)
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// AWS region (IAM is global; this only picks STS and the endpoint)
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Endpoint URL for IAM and STS (also AWS_ENDPOINT_URL), e.g. a test server
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Your MFA device ARN: forcemfa gets a session token with it, for operators under a
    /// force-MFA policy themselves
    #[arg(long, value_name = "ARN")]
    pub mfa_serial: Option<String>,
    /// The current MFA code (prompted for when --mfa-serial is given without it)
    #[arg(long, value_name = "CODE", requires = "mfa_serial")]
    pub mfa_code: Option<String>,
    /// Role session name used for every request (shows in CloudTrail)
    #[arg(long, value_name = "NAME", default_value = DEFAULT_SESSION_NAME)]
    pub session_name: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Report force-MFA policies: generation, guard, findings
    #[command(after_help = SOURCES_HELP)]
    Scan {
        #[command(flatten)]
        args: PlanArgs,
        /// Exit 2 when any policy needs upgrading
        #[arg(long)]
        detailed_exitcode: bool,
    },
    /// Show the diff and effect of every change; writes nothing
    #[command(after_help = SOURCES_HELP)]
    Plan {
        #[command(flatten)]
        args: PlanArgs,
        /// Exit 2 when changes are pending
        #[arg(long)]
        detailed_exitcode: bool,
        /// Also save the plan (JSON) to this file
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Plan, confirm each change, and write it
    #[command(after_help = SOURCES_HELP)]
    Apply {
        #[command(flatten)]
        args: PlanArgs,
        /// Apply every change without asking
        #[arg(long)]
        yes: bool,
        /// Apply exactly the changes of a saved plan (`plan --out FILE`), in the accounts it
        /// records, reached as it records; stale ones are refused
        #[arg(long, value_name = "FILE", conflicts_with = "sources")]
        plan: Option<PathBuf>,
        #[command(flatten)]
        rollout: RolloutArgs,
    },
    /// Restore what an apply changed, from its journal
    Rollback {
        /// The journal written by apply
        #[arg(long, value_name = "FILE")]
        journal: PathBuf,
        /// Only this change (default: every applied change not yet rolled back, latest first)
        #[arg(long, value_name = "ID")]
        change: Option<String>,
        /// Only this account (repeatable; default: every account in the journal, each reached
        /// as the apply reached it)
        #[arg(long = "account", value_name = "ID")]
        account: Vec<String>,
        /// Roll back without asking
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// List the migrations, or show one
    Migrations {
        #[command(subcommand)]
        action: Option<MigrationsAction>,
    },
    /// Effect table of a policy document, or the effect of going from BASE to FILE
    Explain {
        /// Policy JSON file
        file: PathBuf,
        /// Compare against this document
        #[arg(long, value_name = "BASE")]
        against: Option<PathBuf>,
    },
    /// The effective options (command line, forcemfa.toml, defaults) and where each comes from
    #[command(after_help = SOURCES_HELP)]
    Config {
        #[command(flatten)]
        args: PlanArgs,
    },
    /// Shell completions: `forcemfa completions bash > ~/.local/share/bash-completion/completions/forcemfa`
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// The manual page (roff): `forcemfa man > ~/.local/share/man/man1/forcemfa.1`
    Man,
}

#[derive(Debug, Subcommand)]
pub enum MigrationsAction {
    /// List the migrations in order
    List,
    /// Show one migration: what, why, since, sources, declared effect
    Show {
        /// Id (0005), name (remove-risky-exemptions) or file stem
        id: String,
    },
}

/// A staged rollout across accounts (`apply --waves`).
#[derive(Args, Debug, Clone, Default)]
pub struct RolloutArgs {
    /// Publish in waves of accounts, in the plan's order: counts, percentages and `rest`
    /// (`1,10%,rest`), or `tag` for each account's `wave` tag; each wave is watched before the
    /// next
    #[arg(long, value_name = "SPEC")]
    pub waves: Option<String>,
    /// How long to watch CloudTrail after each wave for refused calls the change caused
    /// (`30m`, `90s`, `1h`; `0`: no watch; default 15m). CloudTrail delivers events minutes late
    #[arg(long, value_name = "DURATION", requires = "waves")]
    pub watch: Option<String>,
    /// On a refused call the change caused: `rollback` (restore the wave, then stop) or `stop`
    #[arg(long, value_name = "ACTION", requires = "waves")]
    pub on_denial: Option<String>,
    /// Go on with the interrupted rollout of this saved plan, from its first unfinished wave
    /// (its waves, watch and --on-denial are read from the journal)
    #[arg(long, requires = "plan", conflicts_with_all = ["waves", "watch", "on_denial"])]
    pub resume: bool,
}
