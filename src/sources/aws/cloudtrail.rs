//! CloudTrail event history (`LookupEvents`) of one account: the calls of the principals a change
//! affects, in the account's own credentials and at the same endpoint as every other service.
//!
//! Event history keeps 90 days of management events per Region and answers 2 requests per second
//! per account and Region ("CloudTrail quotas"; `ThrottlingException` above it). So:
//! - one lookup attribute per request (the API takes one): `AccessKeyId` for each active
//!   long-term key of an affected user, `Username` for the user's console and session use; the
//!   same event found twice is counted once (by event id);
//! - a client-side limiter per account and Region keeps below the rate ([`Pace`]); Regions are
//!   read concurrently, each one's lookups in turn;
//! - every page is read (`NextToken` until there is none); a `ThrottlingException` is retried
//!   with the same token after a pause (the SDK's own retries are off, so that every request
//!   passes the limiter); a lookup that still fails makes the read *partial*, named with the
//!   Region and what was missed, never "no calls".

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_cloudtrail::error::ProvideErrorMetadata;
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use tokio::sync::Mutex;

use crate::engine::evidence::{Record, Window};

/// The documented rate of `LookupEvents`, per account and Region.
pub const LOOKUPS_PER_SECOND: usize = 2;

/// Events per page (the API's maximum).
const PAGE: i32 = 50;

/// How often a throttled lookup is tried again before the read is called partial.
const THROTTLE_RETRIES: u32 = 8;

/// A client-side limiter: at most `per_second` requests in any second (with a margin, so that
/// the server, which sees the requests a little later or earlier, never counts more).
#[derive(Debug)]
pub struct Pace {
    per_second: usize,
    window: Duration,
    sent: Mutex<VecDeque<Instant>>,
}

impl Pace {
    pub fn new(per_second: usize) -> Pace {
        Pace {
            per_second: per_second.max(1),
            window: Duration::from_millis(1100),
            sent: Mutex::new(VecDeque::new()),
        }
    }

    /// Waits until one more request keeps within the rate, and counts it.
    pub async fn wait(&self) {
        let mut sent = self.sent.lock().await;
        loop {
            let now = Instant::now();
            while sent
                .front()
                .is_some_and(|t| now.duration_since(*t) >= self.window)
            {
                sent.pop_front();
            }
            if sent.len() < self.per_second {
                sent.push_back(now);
                return;
            }
            let oldest = sent.front().copied().unwrap_or(now);
            let wait = self.window.saturating_sub(now.duration_since(oldest));
            tokio::time::sleep(wait).await;
        }
    }
}

/// What to look up for one user.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub user: String,
    /// Active long-term access key ids.
    pub keys: Vec<String>,
}

/// What event history gave for one user.
#[derive(Debug, Clone, Default)]
pub struct UserRead {
    pub records: Vec<Record>,
    /// Why the read is partial (Region and what was missed), if it is.
    pub partial: Vec<String>,
}

/// The read of one account.
#[derive(Debug, Default)]
pub struct Read {
    pub users: BTreeMap<String, UserRead>,
    /// Requests made (throttled ones included), pages read, throttles met.
    pub lookups: usize,
    pub pages: usize,
    pub throttled: usize,
    /// Set when event history cannot be read at all (the reason).
    pub error: Option<String>,
}

/// Progress of a long read: called with a short line now and then.
pub type Progress = Arc<dyn Fn(String) + Send + Sync>;

/// Reads the event history of every wanted user in `regions`, within `window`.
pub async fn read(
    sdk: &aws_types::SdkConfig,
    account: &str,
    wanted: &[Wanted],
    regions: &[String],
    window: Window,
    progress: Option<Progress>,
) -> Read {
    let mut set = tokio::task::JoinSet::new();
    for region in regions {
        let conf = aws_sdk_cloudtrail::config::Builder::from(sdk)
            .region(aws_sdk_cloudtrail::config::Region::new(region.clone()))
            .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
            .build();
        let client = aws_sdk_cloudtrail::Client::from_conf(conf);
        let (wanted, region, account, progress) = (
            wanted.to_vec(),
            region.clone(),
            account.to_string(),
            progress.clone(),
        );
        set.spawn(async move {
            read_region(&client, &account, &region, &wanted, window, progress).await
        });
    }
    let mut out = Read::default();
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut failed: Vec<String> = Vec::new();
    while let Some(joined) = set.join_next().await {
        let r = match joined {
            Ok(r) => r,
            Err(e) => {
                failed.push(format!("a CloudTrail read task failed: {e}"));
                continue;
            }
        };
        out.lookups += r.lookups;
        out.pages += r.pages;
        out.throttled += r.throttled;
        if let Some(e) = r.error {
            failed.push(e);
        }
        for (user, read) in r.users {
            let slot = out.users.entry(user.clone()).or_default();
            let ids = seen.entry(user).or_default();
            for rec in read.records {
                // The same event found by key and by user name is one call.
                match &rec.event_id {
                    Some(id) if !ids.insert(id.clone()) => {}
                    _ => slot.records.push(rec),
                }
            }
            slot.partial.extend(read.partial);
        }
    }
    failed.sort();
    if !failed.is_empty() && failed.len() >= regions.len() {
        // No Region could be read: there is no evidence, only the reason.
        out.error = Some(failed.join("; "));
    } else {
        // Some Regions could not be read: what was read is a lower bound.
        for w in wanted {
            out.users
                .entry(w.user.clone())
                .or_default()
                .partial
                .extend(failed.iter().cloned());
        }
    }
    out
}

/// What a long read has done so far, for the progress line.
fn progress_line(account: &str, region: &str, out: &Read, started: Instant, user: &str) -> String {
    format!(
        "account {account} {region}: {} pages of CloudTrail events read in {}s ({user})",
        out.pages,
        started.elapsed().as_secs(),
    )
}

/// The records of one page of events, each kept with its event id; one that cannot be read
/// makes the user's read partial, never silently shorter.
fn keep_events(slot: &mut UserRead, events: &[aws_sdk_cloudtrail::types::Event], region: &str) {
    for ev in events {
        let Some(text) = ev.cloud_trail_event() else {
            continue;
        };
        match Record::parse(text) {
            Ok(mut rec) => {
                if rec.event_id.is_none() {
                    rec.event_id = ev.event_id().map(str::to_string);
                }
                slot.records.push(rec);
            }
            Err(e) => slot
                .partial
                .push(format!("{region}: an event could not be read ({e})")),
        }
    }
}

/// One Region: every lookup of every user, in turn, through one limiter.
async fn read_region(
    client: &aws_sdk_cloudtrail::Client,
    account: &str,
    region: &str,
    wanted: &[Wanted],
    window: Window,
    progress: Option<Progress>,
) -> Read {
    let pace = Pace::new(LOOKUPS_PER_SECOND);
    let mut out = Read::default();
    let started = Instant::now();
    let mut last_note = Instant::now();
    for w in wanted {
        let mut attrs: Vec<(LookupAttributeKey, String)> = w
            .keys
            .iter()
            .map(|k| (LookupAttributeKey::AccessKeyId, k.clone()))
            .collect();
        attrs.push((LookupAttributeKey::Username, w.user.clone()));
        for (key, value) in attrs {
            let what = format!("{} {value}", key.as_str());
            let mut token: Option<String> = None;
            let mut throttles = 0u32;
            loop {
                pace.wait().await;
                out.lookups += 1;
                let attr = match LookupAttribute::builder()
                    .attribute_key(key.clone())
                    .attribute_value(value.clone())
                    .build()
                {
                    Ok(a) => a,
                    Err(e) => {
                        out.users
                            .entry(w.user.clone())
                            .or_default()
                            .partial
                            .push(format!(
                                "{region}: lookup by {what} could not be made ({e})"
                            ));
                        break;
                    }
                };
                let sent = client
                    .lookup_events()
                    .lookup_attributes(attr)
                    .start_time(aws_smithy_types::DateTime::from_secs(window.start))
                    .end_time(aws_smithy_types::DateTime::from_secs(window.end))
                    .max_results(PAGE)
                    .set_next_token(token.clone())
                    .send()
                    .await;
                let page = match sent {
                    Ok(p) => p,
                    Err(e) => {
                        let code = e.code().map(str::to_string);
                        if code.as_deref() == Some("ThrottlingException")
                            && throttles < THROTTLE_RETRIES
                        {
                            throttles += 1;
                            out.throttled += 1;
                            let pause = Duration::from_millis(500u64 << throttles.min(4));
                            tokio::time::sleep(pause).await;
                            continue;
                        }
                        let denied = matches!(
                            code.as_deref(),
                            Some(
                                "AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation"
                            )
                        );
                        let why = format!(
                            "cloudtrail:LookupEvents in account {account}, {region} failed ({})",
                            crate::sources::aws::display_chain(&e)
                        );
                        if denied || out.pages == 0 {
                            // The Region's first lookup failed (denied, or event history not
                            // served there): nothing can be read here; say so once.
                            out.error = Some(if denied {
                                format!("{why}: grant cloudtrail:LookupEvents to read what each credential did")
                            } else {
                                why
                            });
                            return out;
                        }
                        out.users
                            .entry(w.user.clone())
                            .or_default()
                            .partial
                            .push(format!(
                                "{region}: lookup by {what} stopped after {} page(s): {}",
                                if token.is_some() { "some" } else { "no" },
                                code.unwrap_or_else(|| "no answer".into())
                            ));
                        break;
                    }
                };
                out.pages += 1;
                throttles = 0;
                keep_events(
                    out.users.entry(w.user.clone()).or_default(),
                    page.events(),
                    region,
                );
                match page.next_token() {
                    Some(t) if !t.is_empty() && Some(t) != token.as_deref() => {
                        token = Some(t.to_string())
                    }
                    _ => break,
                }
                if let Some(p) = &progress {
                    if last_note.elapsed() >= Duration::from_secs(5) {
                        last_note = Instant::now();
                        p(progress_line(account, region, &out, started, &w.user));
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_limiter_never_lets_three_requests_into_one_second() {
        let pace = Pace::new(LOOKUPS_PER_SECOND);
        let mut sent = Vec::new();
        for _ in 0..5 {
            pace.wait().await;
            sent.push(Instant::now());
        }
        for w in sent.windows(3) {
            assert!(
                w[2].duration_since(w[0]) >= Duration::from_secs(1),
                "{:?}",
                w[2].duration_since(w[0])
            );
        }
    }
}
