//! The files source: policy JSON files and folders (for policies kept in infrastructure as
//! code). Folders are walked recursively for `*.json`; writes are atomic (temp file + rename).

use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not UTF-8 text; left untouched")]
    NotUtf8 { path: PathBuf },
    #[error(
        "{path}: changed since it was planned; re-run `forcemfa plan` and review the new diff"
    )]
    Stale { path: PathBuf },
    #[error("{path}: no such file or folder")]
    Missing { path: PathBuf },
    /// A file name that is not UTF-8: `path` shows the bad bytes as U+FFFD, since reports,
    /// JSON and plans carry paths as text.
    #[error("{path}: the file name is not valid UTF-8 (shown with U+FFFD for the bad bytes); rename it to have it planned")]
    NotUtf8Name { path: PathBuf },
    /// Found but deliberately not read (reported as skipped, not as an error).
    #[error("{path}: {reason}")]
    Skipped { path: PathBuf, reason: String },
}

impl FileError {
    /// The path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            FileError::Io { path, .. }
            | FileError::NotUtf8 { path }
            | FileError::Stale { path }
            | FileError::Missing { path }
            | FileError::NotUtf8Name { path }
            | FileError::Skipped { path, .. } => path,
        }
    }
}

// --- paths as the tool sees them: text, de-duplicated by the file they name, links followed.

/// A path as text. Non-UTF-8 names are refused (an error naming the lossy path), never dropped.
fn utf8_path(path: PathBuf) -> Result<PathBuf, FileError> {
    match path.to_str() {
        Some(_) => Ok(path),
        None => Err(FileError::NotUtf8Name {
            path: PathBuf::from(path.to_string_lossy().into_owned()),
        }),
    }
}

/// A symbolic link met while walking a folder: a link to a file is followed (the real file is
/// read and, on apply, written); a link to a folder is not entered; a broken link is an error.
fn walked_link(path: PathBuf) -> Result<Option<PathBuf>, FileError> {
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => Ok(is_json(&path).then_some(path)),
        Ok(m) if m.is_dir() => Err(FileError::Skipped {
            path,
            reason: "a symbolic link to a folder is not entered (it may loop or leave the tree); name its target to plan it".into(),
        }),
        Ok(_) => Ok(None),
        Err(source) if is_json(&path) => Err(FileError::Io { path, source }),
        Err(_) => Ok(None),
    }
}

fn is_json(path: &Path) -> bool {
    path.extension()
        .is_some_and(|x| x.eq_ignore_ascii_case("json"))
}

/// Keep the first of several paths naming the same file (`a.json ./a.json`, a link and its
/// target), by canonical path; paths that cannot be resolved are kept as they are.
pub fn dedup_by_file(files: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut seen = std::collections::HashSet::new();
    files
        .into_iter()
        .filter(|p| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())))
        .collect()
}

/// Every entry below the folder `src`, sorted by name, without entering hidden folders,
/// `node_modules` or `target` (the one rule for what a folder source covers).
pub fn walk(src: &Path) -> impl Iterator<Item = walkdir::Result<walkdir::DirEntry>> {
    walkdir::WalkDir::new(src)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            e.depth() == 0
                || !(e.file_type().is_dir() && {
                    let n = e.file_name().to_string_lossy();
                    n.starts_with('.') || n == "node_modules" || n == "target"
                })
        })
}

/// The policy files named by the sources: files as given, folders walked for `*.json`
/// (hidden folders, `node_modules` and `target` are not entered). Sorted, and de-duplicated by
/// the file they name. Links to files are followed; every path found is either returned or
/// reported (non-UTF-8 names, links to folders, broken links), never dropped.
pub fn discover(sources: &[PathBuf]) -> Vec<Result<PathBuf, FileError>> {
    let mut out: Vec<Result<PathBuf, FileError>> = Vec::new();
    let mut files = Vec::new();
    let mut keep = |found: Result<Option<PathBuf>, FileError>, out: &mut Vec<_>| match found
        .and_then(|p| p.map(utf8_path).transpose())
    {
        Ok(Some(p)) => files.push(p),
        Ok(None) => {}
        Err(e) => out.push(Err(e)),
    };
    for src in sources {
        if src.is_file() {
            keep(Ok(Some(src.clone())), &mut out);
        } else if src.is_dir() {
            for entry in walk(src) {
                match entry {
                    Ok(e) if e.path_is_symlink() && e.depth() > 0 => {
                        keep(walked_link(e.into_path()), &mut out)
                    }
                    Ok(e) => {
                        if e.file_type().is_file() && is_json(e.path()) {
                            keep(Ok(Some(e.into_path())), &mut out);
                        }
                    }
                    Err(err) => out.push(Err(FileError::Io {
                        path: err
                            .path()
                            .map(Path::to_path_buf)
                            .unwrap_or_else(|| src.clone()),
                        source: err
                            .into_io_error()
                            .unwrap_or_else(|| std::io::Error::other("folder loop")),
                    })),
                }
            }
        } else {
            out.push(Err(FileError::Missing { path: src.clone() }));
        }
    }
    files.sort();
    files.dedup();
    let files = dedup_by_file(files);
    for e in &mut out {
        if let Err(err) = e {
            if err.path().to_str().is_none() {
                *e = Err(FileError::NotUtf8Name {
                    path: PathBuf::from(err.path().to_string_lossy().into_owned()),
                });
            }
        }
    }
    out.extend(files.into_iter().map(Ok));
    out
}

/// Read a policy file as text.
pub fn read(path: &Path) -> Result<String, FileError> {
    let bytes = std::fs::read(path).map_err(|source| FileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|_| FileError::NotUtf8 {
        path: path.to_path_buf(),
    })
}

/// Replace a file's contents atomically, only if it still holds `expected`: write a temp file
/// beside it, fsync, keep the permissions, rename over. A crash leaves the old or the new file,
/// never half of one.
///
/// A symbolic link is followed: the file it points to is replaced and the link stays a link.
pub fn write_atomic(path: &Path, expected: &str, contents: &str) -> Result<(), FileError> {
    let io = |source| FileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let real = std::fs::canonicalize(path).map_err(io)?;
    let path = real.as_path();
    let current = read(path)?;
    if current != expected {
        return Err(FileError::Stale {
            path: path.to_path_buf(),
        });
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".forcemfa-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io)?;
    tmp.write_all(contents.as_bytes()).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    let perms = std::fs::metadata(path).map_err(io)?.permissions();
    std::fs::set_permissions(tmp.path(), perms).map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// File errors start with the path, which the report prints already.
pub fn strip_path(message: &str) -> String {
    message
        .split_once(": ")
        .map(|(_, rest)| rest.to_string())
        .unwrap_or_else(|| message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_refuses_a_changed_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("p.json");
        std::fs::write(&p, "old").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            write_atomic(&p, "other", "new"),
            Err(FileError::Stale { .. })
        ));
        write_atomic(&p, "old", "new").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(std::fs::read_to_string(&p).unwrap_or_default(), "new");
        let leftovers = std::fs::read_dir(dir.path())
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(leftovers, 1);
    }

    #[test]
    fn folders_are_walked_for_json_only() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let sub = dir.path().join("a");
        let hidden = dir.path().join(".git");
        for d in [&sub, &hidden] {
            std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("{e}"));
        }
        for f in [sub.join("x.json"), sub.join("y.txt"), hidden.join("z.json")] {
            std::fs::write(f, "{}").unwrap_or_else(|e| panic!("{e}"));
        }
        let found: Vec<PathBuf> = discover(&[dir.path().to_path_buf()])
            .into_iter()
            .filter_map(Result::ok)
            .collect();
        assert_eq!(found, vec![sub.join("x.json")]);
        assert!(discover(&[dir.path().join("nope")])[0].is_err());
    }
}
