//! Every report forcemfa prints, in every format: text (terminal), JSON (machines), Markdown
//! (change tickets) and SARIF 2.1.0 (code scanning of policy files in CI). Renderers are pure
//! (they return strings); [`run::emit`] prints the one report of a run through the terminal and
//! writes `--report FILE`.
//!
//! A new output format is a renderer file here and one arm in `run::render`.

pub mod impact;
pub mod json;
pub mod markdown;
pub mod overview;
pub mod parts;
pub mod rollout;
pub mod run;
pub mod sarif;
pub mod stream;
pub mod summary;
pub mod text;
pub mod unread;

pub use json::{json, json_report, pretty, JsonReport};
pub use markdown::{markdown, md_code, md_fence, md_text};
pub use sarif::{sarif, sarif_at};
pub use summary::{summary_line, Mode};
pub use text::{change_text, colorize, normalized_diff, text, TextOptions};
