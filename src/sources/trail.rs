//! CloudTrail log files of a trail, in a local folder or under an S3 prefix, laid out as
//! CloudTrail writes them ("Finding your CloudTrail log files"):
//! `PREFIX/AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/*.json.gz`.
//!
//! Only the days of the window and the accounts being planned are read; files are read
//! concurrently, each decompressed as a stream and reduced at once to the records of the
//! principals asked for, so memory holds those records, not the trail. Unlike event history,
//! files carry role sessions and the data events a trail records (`s3:GetObject`). A file that
//! cannot be read makes the read partial, named; it is never skipped silently.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::engine::evidence::record::civil_from_days;
use crate::engine::evidence::{Record, Window};

/// Files read at once.
const CONCURRENCY: usize = 8;

/// Where the trail is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Folder(PathBuf),
    S3 { bucket: String, prefix: String },
}

impl Location {
    /// `s3://bucket/prefix` or a folder.
    pub fn parse(text: &str) -> Location {
        match text.strip_prefix("s3://") {
            Some(rest) => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                Location::S3 {
                    bucket: bucket.to_string(),
                    prefix: prefix.trim_end_matches('/').to_string(),
                }
            }
            None => Location::Folder(PathBuf::from(text)),
        }
    }

    pub fn show(&self) -> String {
        match self {
            Location::Folder(p) => p.display().to_string(),
            Location::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
        }
    }
}

/// Whose records to keep: IAM users by name, roles by ARN.
#[derive(Debug, Clone, Default)]
pub struct Wanted {
    pub users: BTreeSet<String>,
    pub roles: BTreeSet<String>,
}

impl Wanted {
    /// The principal a record belongs to (`user:NAME` or the role ARN), if wanted.
    pub fn owner(&self, r: &Record) -> Option<String> {
        match r.identity_type() {
            "IAMUser" => r
                .user_name()
                .filter(|n| self.users.contains(*n))
                .map(|n| format!("user:{n}")),
            "AssumedRole" => r
                .role_arn()
                .filter(|a| self.roles.contains(*a))
                .map(str::to_string),
            _ => None,
        }
    }
}

/// What the files gave for one account.
#[derive(Debug, Default)]
pub struct Read {
    /// Principal (`user:NAME` or role ARN) → its records in the files of the window.
    pub records: BTreeMap<String, Vec<Record>>,
    pub files: usize,
    pub bytes: u64,
    /// Files that could not be read, and why.
    pub partial: Vec<String>,
    /// Set when the trail holds nothing for the account (the reason).
    pub error: Option<String>,
}

/// `YYYY/MM/DD` of every day the window touches.
pub fn days(window: Window) -> Vec<String> {
    let (first, last) = (
        window.start.div_euclid(86_400),
        window.end.div_euclid(86_400),
    );
    (first..=last)
        .map(|d| {
            let (y, m, dd) = civil_from_days(d);
            format!("{y:04}/{m:02}/{dd:02}")
        })
        .collect()
}

/// Records of one log file's text (gzip or plain JSON), reduced to the wanted principals.
fn reduce(bytes: &[u8], account: &str, wanted: &Wanted) -> Result<Vec<(String, Record)>, String> {
    let text = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut s = String::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_string(&mut s)
            .map_err(|e| format!("not a gzip file of UTF-8 text: {e}"))?;
        s
    } else {
        String::from_utf8(bytes.to_vec()).map_err(|e| format!("not UTF-8: {e}"))?
    };
    let (records, _bad) = Record::from_log_file(&text)?;
    Ok(records
        .into_iter()
        .filter(|r| {
            r.recipient_account_id
                .as_deref()
                .is_none_or(|a| a == account)
        })
        .filter_map(|r| wanted.owner(&r).map(|o| (o, r)))
        .collect())
}

/// The files of `account` in a local trail folder, for the days of the window.
fn local_files(root: &Path, account: &str, window: Window) -> Vec<PathBuf> {
    let base = if root.join("AWSLogs").is_dir() {
        root.join("AWSLogs")
    } else {
        root.to_path_buf()
    };
    let mut account_dirs = vec![base.join(account)];
    if let Ok(entries) = std::fs::read_dir(&base) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("o-") {
                account_dirs.push(e.path().join(account));
            }
        }
    }
    let days = days(window);
    let mut out = Vec::new();
    for dir in account_dirs {
        let trail = dir.join("CloudTrail");
        let Ok(regions) = std::fs::read_dir(&trail) else {
            continue;
        };
        for region in regions.flatten() {
            for day in &days {
                let Ok(files) = std::fs::read_dir(region.path().join(day)) else {
                    continue;
                };
                for f in files.flatten() {
                    let name = f.file_name().to_string_lossy().into_owned();
                    if name.ends_with(".json.gz") || name.ends_with(".json") {
                        out.push(f.path());
                    }
                }
            }
        }
    }
    out.sort();
    out
}

/// Reads the trail's files of `account` for the window.
pub async fn read(
    loc: &Location,
    sdk: Option<&aws_types::SdkConfig>,
    account: &str,
    wanted: &Wanted,
    window: Window,
) -> Read {
    match loc {
        Location::Folder(root) => read_local(root, account, wanted, window).await,
        Location::S3 { bucket, prefix } => match sdk {
            Some(sdk) => read_s3(sdk, bucket, prefix, account, wanted, window).await,
            None => Read {
                error: Some(format!("{} needs AWS credentials to be read", loc.show())),
                ..Read::default()
            },
        },
    }
}

fn merge(out: &mut Read, name: String, size: u64, got: Result<Vec<(String, Record)>, String>) {
    out.files += 1;
    out.bytes += size;
    match got {
        Ok(recs) => {
            for (owner, r) in recs {
                out.records.entry(owner).or_default().push(r);
            }
        }
        Err(e) => out.partial.push(format!("{name}: {e}")),
    }
}

async fn read_local(root: &Path, account: &str, wanted: &Wanted, window: Window) -> Read {
    let mut out = Read::default();
    if !root.is_dir() {
        out.error = Some(format!(
            "{} is not a folder of CloudTrail log files",
            root.display()
        ));
        return out;
    }
    let files = local_files(root, account, window);
    if files.is_empty() {
        out.error = Some(format!(
            "no CloudTrail log files of account {account} for the last {} days under {} (expected AWSLogs/[o-…/]{account}/CloudTrail/REGION/YYYY/MM/DD/*.json.gz)",
            window.days,
            root.display()
        ));
        return out;
    }
    let gate = Arc::new(Semaphore::new(CONCURRENCY));
    let mut set = tokio::task::JoinSet::new();
    for path in files {
        let (gate, account, wanted) = (gate.clone(), account.to_string(), wanted.clone());
        set.spawn(async move {
            let _permit = gate.acquire_owned().await;
            let name = path.display().to_string();
            tokio::task::spawn_blocking(move || {
                let bytes = std::fs::read(&path);
                let size = bytes.as_ref().map_or(0, |b| b.len() as u64);
                let got = bytes
                    .map_err(|e| format!("cannot be read: {e}"))
                    .and_then(|b| reduce(&b, &account, &wanted));
                (name, size, got)
            })
            .await
        });
    }
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Ok((name, size, got))) => merge(&mut out, name, size, got),
            Ok(Err(e)) | Err(e) => out.partial.push(format!("a file read failed: {e}")),
        }
    }
    out
}

/// Keys and sub-prefixes under `prefix` (one level, `/` delimited), every page.
async fn list(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    delimited: bool,
) -> Result<(Vec<String>, Vec<(String, u64)>), String> {
    let mut dirs = Vec::new();
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut req = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token.clone());
        if delimited {
            req = req.delimiter("/");
        }
        let page = req.send().await.map_err(|e| {
            format!(
                "s3:ListBucket on s3://{bucket}/{prefix} failed ({})",
                crate::sources::aws::display_chain(&e)
            )
        })?;
        dirs.extend(
            page.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix().map(str::to_string)),
        );
        keys.extend(page.contents().iter().filter_map(|o| {
            o.key()
                .map(|k| (k.to_string(), o.size().unwrap_or(0).max(0) as u64))
        }));
        match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) && Some(t) != token.as_deref() => {
                token = Some(t.to_string())
            }
            _ => break,
        }
    }
    Ok((dirs, keys))
}

async fn read_s3(
    sdk: &aws_types::SdkConfig,
    bucket: &str,
    prefix: &str,
    account: &str,
    wanted: &Wanted,
    window: Window,
) -> Read {
    let mut out = Read::default();
    // A custom endpoint (a test server, a VPC endpoint) is addressed path-style.
    let conf = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(conf);
    let root = if prefix.is_empty() {
        "AWSLogs/".to_string()
    } else {
        format!("{prefix}/AWSLogs/")
    };
    let top = match list(&s3, bucket, &root, true).await {
        Ok((dirs, _)) => dirs,
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    };
    let mut account_prefixes = vec![format!("{root}{account}/CloudTrail/")];
    for d in &top {
        let name = d.trim_start_matches(&root).trim_end_matches('/');
        if name.starts_with("o-") {
            account_prefixes.push(format!("{d}{account}/CloudTrail/"));
        }
    }
    let days = days(window);
    let mut keys: Vec<(String, u64)> = Vec::new();
    for ap in &account_prefixes {
        let regions = match list(&s3, bucket, ap, true).await {
            Ok((dirs, _)) => dirs,
            Err(e) => {
                out.partial.push(e);
                continue;
            }
        };
        for region in regions {
            for day in &days {
                match list(&s3, bucket, &format!("{region}{day}/"), false).await {
                    Ok((_, k)) => keys.extend(
                        k.into_iter()
                            .filter(|(k, _)| k.ends_with(".json.gz") || k.ends_with(".json")),
                    ),
                    Err(e) => out.partial.push(e),
                }
            }
        }
    }
    if keys.is_empty() && out.partial.is_empty() {
        out.error = Some(format!(
            "no CloudTrail log files of account {account} for the last {} days under s3://{bucket}/{root}",
            window.days
        ));
        return out;
    }
    let gate = Arc::new(Semaphore::new(CONCURRENCY));
    let mut set = tokio::task::JoinSet::new();
    for (key, size) in keys {
        let (gate, s3, bucket) = (gate.clone(), s3.clone(), bucket.to_string());
        let (account, wanted) = (account.to_string(), wanted.clone());
        set.spawn(async move {
            let _permit = gate.acquire_owned().await;
            let name = format!("s3://{bucket}/{key}");
            let got = match s3.get_object().bucket(&bucket).key(&key).send().await {
                Ok(obj) => match obj.body.collect().await {
                    Ok(data) => {
                        let bytes = data.into_bytes();
                        tokio::task::spawn_blocking(move || reduce(&bytes, &account, &wanted))
                            .await
                            .unwrap_or_else(|e| Err(format!("reading failed: {e}")))
                    }
                    Err(e) => Err(format!("its content could not be read ({e})")),
                },
                Err(e) => Err(format!(
                    "s3:GetObject failed ({})",
                    crate::sources::aws::display_chain(&e)
                )),
            };
            (name, size, got)
        });
    }
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((name, size, got)) => merge(&mut out, name, size, got),
            Err(e) => out.partial.push(format!("a file read failed: {e}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn locations_and_days() {
        assert_eq!(
            Location::parse("s3://logs/org/trail/"),
            Location::S3 {
                bucket: "logs".into(),
                prefix: "org/trail".into()
            }
        );
        assert_eq!(
            Location::parse("./trail"),
            Location::Folder(PathBuf::from("./trail"))
        );
        let end = crate::engine::evidence::parse_time("2026-03-01T10:00:00Z").unwrap();
        assert!(days(Window::days_before(end, 90)).len() == 91);
        let w = Window::days_before(end, 2);
        assert_eq!(days(w), ["2026/02/27", "2026/02/28", "2026/03/01"]);
    }

    #[test]
    fn a_log_file_is_reduced_to_the_principals_asked_for_in_the_account() {
        use std::io::Write as _;
        let text = serde_json::json!({"Records": [
            {"eventTime": "2026-03-01T01:00:00Z", "recipientAccountId": "111122223333",
             "userIdentity": {"type": "IAMUser", "userName": "dave"}},
            {"eventTime": "2026-03-01T01:00:00Z", "recipientAccountId": "111122223333",
             "userIdentity": {"type": "IAMUser", "userName": "zoe"}},
            {"eventTime": "2026-03-01T01:00:00Z", "recipientAccountId": "444455556666",
             "userIdentity": {"type": "IAMUser", "userName": "dave"}},
            {"eventTime": "2026-03-01T01:00:00Z",
             "userIdentity": {"type": "AssumedRole", "sessionContext": {"sessionIssuer":
                {"type": "Role", "arn": "arn:aws:iam::111122223333:role/build"}}}},
            "not a record"
        ]})
        .to_string();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(text.as_bytes()).unwrap();
        let bytes = gz.finish().unwrap();
        let wanted = Wanted {
            users: ["dave".to_string()].into(),
            roles: ["arn:aws:iam::111122223333:role/build".to_string()].into(),
        };
        for data in [bytes.as_slice(), text.as_bytes()] {
            let got = reduce(data, "111122223333", &wanted).unwrap();
            let owners: Vec<&str> = got.iter().map(|(o, _)| o.as_str()).collect();
            assert_eq!(
                owners,
                ["user:dave", "arn:aws:iam::111122223333:role/build"]
            );
        }
        assert!(reduce(b"\x1f\x8b garbage", "1", &wanted).is_err());
        assert!(reduce(b"{}", "1", &wanted)
            .unwrap_err()
            .contains("no `Records`"));
    }
}
