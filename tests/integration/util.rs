//! Shared test helpers.

use std::path::{Path, PathBuf};

use forcemfa::engine::migration::{self, Options};
use forcemfa::engine::plan::{self, Change, Input, Item, SizeLimit};
use forcemfa::engine::target::Target;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(rel: &str) -> PathBuf {
    root().join("tests/fixtures").join(rel)
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Plan a document held in memory, labelled with a stable name.
pub fn plan_text(name: &str, text: &str, options: &[&str]) -> Item {
    let chain = migration::default_chain().unwrap();
    let opts = Options::new(&options.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    plan::plan_one(
        &Input::file(Target::file(name), text.to_string(), SizeLimit::Managed),
        &chain,
        &opts,
    )
}

pub fn expect_change(item: Item) -> Box<Change> {
    match item {
        Item::Change(c) => c,
        other => panic!("expected a change, got {other:?}"),
    }
}

/// The guard's exemptions of a document, as written.
pub fn exemptions(text: &str) -> Vec<String> {
    let doc = forcemfa::engine::policy::parse(text).unwrap().value;
    let d = forcemfa::engine::detect::detect(&doc);
    d.guard().map(|g| g.actions.clone()).unwrap_or_default()
}

/// A temporary copy of a folder of fixtures.
pub fn temp_copy(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

pub fn bin() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("forcemfa").unwrap();
    c.env("NO_COLOR", "1").env_remove("AWS_PROFILE");
    c
}

/// Says, in the test run's output, what a test could not check on this machine. The test
/// harness captures `println!` of passing tests, so that would never be seen: this writes to
/// standard error directly, which the harness leaves alone.
pub fn notice(text: &str) {
    use std::io::Write;
    // One write, so that the line is not torn by the harness's own output.
    let _ = std::io::stderr().write_all(format!("note: {text}\n").as_bytes());
}
