//! Nothing passed over in silence: after planning, every file under the SOURCE paths that
//! mentions an MFA condition key (`aws:MultiFactorAuthPresent`, `aws:MultiFactorAuthAge`, in any
//! case) and from which no policy was read is listed, with the line of the first mention and why
//! it was not read (`forcemfa_iac::unread::classify`). Generated output (a CDK `cdk.out`
//! folder, templates carrying `aws:cdk:path` metadata) is planned like any template but never
//! written: a change there becomes a listing that points to the program to change instead.
//!
//! The folders are walked by the same rule as the files source (`files::walk`: hidden folders,
//! `node_modules` and `target` are not entered; vendored libraries are passed by); every other
//! file is looked through, whatever its extension, as a stream (a large file is never held whole; a file with a NUL byte in its first
//! block is binary and passed by).

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use forcemfa_iac::unread::{self as classify, Kind, Scanner};
use serde::Serialize;

use crate::engine::plan::Item;
use crate::engine::target::TargetKind;
use crate::sources::files;

/// One file not read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unread {
    /// Serialised as text, a name that is not UTF-8 with U+FFFD for the bad bytes (as the files
    /// source reports it): a report is never cut short by a file name.
    #[serde(serialize_with = "lossy")]
    pub path: PathBuf,
    /// 1-based line: the first mention of an MFA condition key (or the policy, for generated
    /// output forcemfa planned).
    pub line: usize,
    pub reason: String,
    pub kind: Kind,
}

fn lossy<S: serde::Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&path.to_string_lossy())
}

/// How the engine says a file is not a policy document at all (such a file was not read as a
/// policy; a test pins the wording).
pub const NOT_A_POLICY: &str = "not an IAM policy document";

/// Block size of the streaming search.
const CHUNK: usize = 64 * 1024;

/// How much of a file with a mention is read for its classification (its imports, its CDK
/// metadata): all of it up to this size, its beginning otherwise.
const CLASSIFY_LIMIT: u64 = 4 * 1024 * 1024;

/// Settle the planning items of the files part: changes to generated output are taken out
/// (they are never written) and listed instead; then every file under `sources` that mentions
/// an MFA condition key and has no policy read from it is listed. Sorted by path.
pub fn settle(sources: &[PathBuf], items: &mut Vec<Item>) -> Vec<Unread> {
    let mut settle = Settle::default();
    let taken = std::mem::take(items);
    items.extend(taken.into_iter().filter_map(|i| settle.item(i)));
    settle.finish(sources)
}

/// [`settle`] one item at a time, for a report printed as planning goes: only the paths of the
/// files read are kept, never the items.
#[derive(Debug, Default)]
pub struct Settle {
    /// Generated output planned, and listed instead.
    generated: Vec<Unread>,
    /// Files a policy was read from (or reported as broken), canonical.
    read: HashSet<PathBuf>,
    /// The same, by lossy name: a name that is not UTF-8 is reported under its lossy name.
    read_lossy: HashSet<String>,
    /// Templates with a policy read, and those reported as broken.
    templates: Vec<PathBuf>,
    broken: HashSet<PathBuf>,
}

impl Settle {
    /// The item as the report keeps it, or `None` for a change to generated output (listed at
    /// [`Settle::finish`] instead).
    pub fn item(&mut self, item: Item) -> Option<Item> {
        if let Some(u) = generated_change(&item) {
            self.note_read(&u.path.clone());
            self.generated.push(u);
            return None;
        }
        if let Some(path) = item_path(&item) {
            if was_read(&item) {
                self.note_read(path);
            }
            if matches!(item, Item::Error { .. }) {
                self.broken.insert(path.to_path_buf());
            }
        }
        if let TargetKind::Embedded { path, .. } = &item.target().kind {
            if self.templates.last() != Some(path) {
                self.templates.push(path.clone());
            }
        }
        Some(item)
    }

    fn note_read(&mut self, path: &Path) {
        self.read.insert(canonical(path));
        self.read_lossy.insert(path.to_string_lossy().into_owned());
    }

    /// Every file under `sources` that mentions an MFA condition key and had no policy read,
    /// with the generated output taken out of the plan. Sorted by path.
    pub fn finish(self, sources: &[PathBuf]) -> Vec<Unread> {
        let Settle {
            mut generated,
            read,
            read_lossy,
            mut templates,
            broken,
        } = self;
        let candidates: Vec<PathBuf> = {
            let mut seen = HashSet::new();
            candidates(sources)
                .into_iter()
                .filter(|p| {
                    let c = canonical(p);
                    !read.contains(&c)
                        && !read_lossy.contains(p.to_string_lossy().as_ref())
                        && seen.insert(c)
                })
                .collect()
        };
        let found = crate::sources::parallel::map_in_order(
            &candidates,
            |p| look(p),
            |p| {
                Some(Unread {
                path: p.clone(),
                line: 1,
                reason: "internal error while looking for an MFA condition key (a bug in forcemfa: please report it); check it by hand".into(),
                kind: Kind::Other,
            })
            },
        );
        let mut out = std::mem::take(&mut generated);
        out.extend(found.into_iter().flatten());
        templates.sort();
        templates.dedup();
        templates.retain(|p| !broken.contains(p));
        out.extend(passed_over_in_templates(&templates));
        out.sort_by(|a, b| a.path.cmp(&b.path).then(a.line.cmp(&b.line)));
        out
    }
}

/// Templates with policies read and none broken: a mention of an MFA condition key outside
/// every policy read from the file is a policy the reader passed over.
fn passed_over_in_templates(paths: &[PathBuf]) -> Vec<Unread> {
    let found = crate::sources::parallel::map_in_order(paths, |p| outside(p), |_| None);
    found.into_iter().flatten().collect()
}

fn outside(path: &Path) -> Option<Unread> {
    let text = files::read(path).ok()?;
    let name = path.file_name()?.to_string_lossy().into_owned();
    let found = forcemfa_iac::extract(&name, &text).ok()?;
    let read: Vec<(usize, usize)> = found.iter().map(|e| (e.line, e.end_line)).collect();
    let line = classify::mention_outside(&text, &read)?;
    Some(Unread {
        path: path.to_path_buf(),
        line,
        reason: classify::OUTSIDE.into(),
        kind: Kind::Other,
    })
}

/// Whether an item shows that a policy was read from its file (or that the file was reported
/// as broken): anything but "not a policy document at all".
fn was_read(item: &Item) -> bool {
    match item {
        Item::Skipped {
            reason,
            needs_review: false,
            ..
        } => !reason.starts_with(NOT_A_POLICY),
        _ => true,
    }
}

fn item_path(item: &Item) -> Option<&Path> {
    match &item.target().kind {
        TargetKind::File { path } | TargetKind::Embedded { path, .. } => Some(path),
        _ => None,
    }
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

fn text_of(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// A change planned for generated output leaves the plan: it becomes a listing that names what
/// its policy needs and where to change it.
fn generated_change(item: &Item) -> Option<Unread> {
    let Item::Change(c) = item else { return None };
    let (path, line) = match &c.target.kind {
        TargetKind::Embedded { path, line, .. } => (path, *line),
        TargetKind::File { path } => (path, 1),
        _ => return None,
    };
    let g = classify::generated(&text_of(path), &c.before, Some(line))?;
    let pending: Vec<String> = c
        .migrations
        .iter()
        .map(|m| format!("{} {}", m.id, m.name))
        .collect();
    Some(Unread {
        path: path.clone(),
        line,
        reason: classify::generated_reason(&g, Some(&pending.join(", "))),
        kind: Kind::Generated,
    })
}

/// Every file the sources cover: files as given, folders walked by the files source's rule.
/// Links to files are followed; links to folders are not entered (the files source reports
/// them).
fn candidates(sources: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for src in sources {
        if src.is_file() {
            out.push(src.clone());
            continue;
        }
        for e in files::walk(src).flatten() {
            if vendored(e.path().strip_prefix(src).unwrap_or(e.path())) {
                continue;
            }
            let is_file = if e.path_is_symlink() {
                std::fs::metadata(e.path()).is_ok_and(|m| m.is_file())
            } else {
                e.file_type().is_file()
            };
            if is_file {
                out.push(e.into_path());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Folders of other people's code, which the operator does not deploy from: libraries vendored
/// by Go, PHP and Ruby, Python packages installed in a virtualenv that is not hidden. Policy
/// files there are still planned by the files source; they are only not searched for mentions.
/// (Hidden folders, `node_modules` and `target` are not entered at all.)
fn vendored(rel: &Path) -> bool {
    rel.components().any(|c| {
        let c = c.as_os_str().to_string_lossy();
        matches!(c.as_ref(), "vendor" | "site-packages" | "bower_components")
    })
}

/// Look through one file for an MFA condition key; classify it when found.
fn look(path: &Path) -> Option<Unread> {
    let unreadable = |e: std::io::Error| Unread {
        path: path.to_path_buf(),
        line: 1,
        reason: format!(
            "could not be read to look for an MFA condition key ({e}); check it by hand"
        ),
        kind: Kind::Other,
    };
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return Some(unreadable(e)),
    };
    let mut scanner = Scanner::default();
    let mut buf = vec![0u8; CHUNK];
    let mut first = true;
    let line = loop {
        let n = match file.read(&mut buf) {
            Ok(0) => return None,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Some(unreadable(e)),
        };
        // Binary (an image, an archive, a compiled file): no policy text to name.
        if first && buf[..n].contains(&0) {
            return None;
        }
        first = false;
        if let Some(line) = scanner.feed(&buf[..n]) {
            break line;
        }
    };
    let text = match head(path) {
        Ok(t) => t,
        Err(e) => return Some(unreadable(e)),
    };
    let verdict = classify::classify(&text_of(path), &text);
    Some(Unread {
        path: path.to_path_buf(),
        line: verdict.line.unwrap_or(line),
        reason: verdict.reason,
        kind: verdict.kind,
    })
}

/// The file's text for its classification: whole up to [`CLASSIFY_LIMIT`], else its beginning;
/// bytes that are not UTF-8 are replaced (only imports and markers are looked for).
fn head(path: &Path) -> std::io::Result<String> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(CLASSIFY_LIMIT)
        .read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::migration;
    use crate::engine::plan::{plan_one, Input, SizeLimit};
    use crate::engine::target::Target;

    #[test]
    fn the_engine_still_says_not_a_policy_the_way_this_module_reads_it() {
        let chain = migration::default_chain().unwrap_or_default();
        let options = migration::Options::default();
        let item = plan_one(
            &Input::file(
                Target::file("x.json"),
                "{\"a\": 1}".into(),
                SizeLimit::Managed,
            ),
            &chain,
            &options,
        );
        match item {
            Item::Skipped { reason, .. } => assert!(reason.starts_with(NOT_A_POLICY), "{reason}"),
            other => panic!("expected skipped, got {other:?}"),
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_name_that_is_not_utf8_is_serialised_lossily() {
        use std::os::unix::ffi::OsStrExt;
        let u = Unread {
            path: PathBuf::from(std::ffi::OsStr::from_bytes(b"bad-\xff.ts")),
            line: 3,
            reason: "r".into(),
            kind: Kind::Program,
        };
        let v = serde_json::to_value(&u).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v["path"], "bad-\u{fffd}.ts");
    }

    #[test]
    fn large_files_are_searched_as_a_stream_and_binary_ones_passed_by() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let big = dir.path().join("big.js");
        let mut text = "x\n".repeat(3 * CHUNK);
        text.push_str("const k = 'aws:MultiFactorAuthPresent';\n");
        std::fs::write(&big, &text).unwrap_or_else(|e| panic!("{e}"));
        let u = look(&big).unwrap_or_else(|| panic!("not found"));
        assert_eq!(u.line, 3 * CHUNK + 1);
        assert_eq!(u.kind, Kind::Program);
        let bin = dir.path().join("blob.bin");
        std::fs::write(&bin, b"\0\x01aws:MultiFactorAuthPresent").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(look(&bin), None);
        assert!(vendored(Path::new("app/vendor/github.com/x/y.go")));
        assert!(vendored(Path::new(
            "venv/lib/python3.12/site-packages/awacs/aws.py"
        )));
        assert!(!vendored(Path::new("infra/vendors.tf")));
        let none = dir.path().join("a.ts");
        std::fs::write(&none, "const mfa = true;\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(look(&none), None);
    }
}
