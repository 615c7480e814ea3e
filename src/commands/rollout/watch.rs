//! The watch after a wave: CloudTrail read again and again for the refused calls of the
//! principals the wave's changes reach, from the publish time, each judged with the principal's
//! old and new policy sets ([`crate::sources::watch`]). It ends at once on a refused call the
//! change caused (or one that cannot be told from such a call: failing closed), at the end of
//! its time, or on Ctrl-C.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use crate::report::rollout::show_duration;
use crate::sources::aws::AwsStore;
use crate::sources::evidence::Options;
use crate::sources::watch::{self, Refusal, Watched};
use crate::ui::Ui;

/// How late CloudTrail delivers events: about 5 minutes on average, up to 15 ("CloudTrail
/// concepts": event history shows events within about 15 minutes of the call).
pub const DELIVERY: Duration = Duration::from_secs(15 * 60);

/// One account of a wave being watched.
pub struct Target {
    pub account: String,
    pub store: AwsStore,
    pub watched: Vec<Watched>,
}

/// How the watch ended.
pub enum Ended {
    Clean,
    /// A refused call caused by the change, or that cannot be told from one.
    Denied,
    Unreadable(String),
    Interrupted,
}

/// What the watch saw.
pub struct Watch {
    pub ended: Ended,
    pub calls: usize,
    /// Every refused call seen (caused or not), by time.
    pub refusals: Vec<Refusal>,
    /// Why the reading is partial (principals that cannot be watched, logs that cannot be read).
    pub notes: Vec<String>,
}

/// The pause between two reads: a sixth of the watch, from 2 seconds to a minute (event
/// history answers 2 lookups a second per account and Region; each read costs one lookup per
/// access key and user).
fn poll_every(total: Duration) -> Duration {
    (total / 6).clamp(Duration::from_secs(2), Duration::from_secs(60))
}

/// Watches `targets` for `total`, reading refused calls made since `since` (epoch seconds).
pub async fn watch(
    ui: &Ui,
    wave: usize,
    targets: &[Target],
    since: i64,
    total: Duration,
    opts: &Options,
    interrupted: &AtomicBool,
) -> Watch {
    let principals: usize = targets.iter().map(|t| t.watched.len()).sum();
    let short = if total < DELIVERY {
        format!(
            "; CloudTrail delivers events about 5 minutes after the call, sometimes up to {}: a refusal near the end of a {} watch can be missed",
            show_duration(DELIVERY),
            show_duration(total)
        )
    } else {
        "; CloudTrail delivers events about 5 minutes after the call".to_string()
    };
    ui.warn(&format!(
        "wave {wave}: watching CloudTrail for {} for refused calls of the {principals} principal(s) its changes reach{short}",
        show_duration(total)
    ));
    let started = Instant::now();
    let every = poll_every(total);
    let mut out = Watch {
        ended: Ended::Clean,
        calls: 0,
        refusals: Vec::new(),
        notes: Vec::new(),
    };
    loop {
        let left = total.saturating_sub(started.elapsed());
        if !pause(every.min(left), interrupted).await {
            out.ended = Ended::Interrupted;
            return out;
        }
        let until = OffsetDateTime::now_utc().unix_timestamp();
        let (seen, error) = read_all(targets, since, until, opts).await;
        out.calls = seen.calls;
        out.refusals = seen.refusals;
        out.notes = seen.notes;
        let caused = out
            .refusals
            .iter()
            .filter(|r| r.stops_the_rollout())
            .count();
        if caused > 0 {
            out.ended = Ended::Denied;
            return out;
        }
        let left = total.saturating_sub(started.elapsed());
        ui.warn(&format!(
            "wave {wave}: {} left; so far {} calls read, {} refused, none caused by the change{}",
            show_duration(Duration::from_secs(left.as_secs())),
            out.calls,
            out.refusals.len(),
            error
                .as_deref()
                .map(|e| format!("; CloudTrail not readable now: {e}"))
                .unwrap_or_default()
        ));
        if left.is_zero() {
            // The last read decides: one that failed leaves the wave unwatched (fail closed).
            out.ended = match error {
                Some(e) => Ended::Unreadable(e),
                None => Ended::Clean,
            };
            return out;
        }
    }
}

/// Waits `d`, checking for Ctrl-C; false when interrupted.
async fn pause(d: Duration, interrupted: &AtomicBool) -> bool {
    let end = Instant::now() + d;
    loop {
        if interrupted.load(Ordering::SeqCst) {
            return false;
        }
        let now = Instant::now();
        if now >= end {
            return true;
        }
        tokio::time::sleep((end - now).min(Duration::from_millis(200))).await;
    }
}

struct SeenAll {
    calls: usize,
    refusals: Vec<Refusal>,
    notes: Vec<String>,
}

/// One read of every account of the wave; the first error of an account that could not be read.
async fn read_all(
    targets: &[Target],
    since: i64,
    until: i64,
    opts: &Options,
) -> (SeenAll, Option<String>) {
    let reads = targets
        .iter()
        .map(|t| watch::look(&t.store, &t.watched, since, until, opts));
    let results = futures::future::join_all(reads).await;
    let mut all = SeenAll {
        calls: 0,
        refusals: Vec::new(),
        notes: Vec::new(),
    };
    let mut error = None;
    for (t, seen) in targets.iter().zip(results) {
        all.calls += seen.records;
        all.refusals.extend(seen.refusals);
        all.notes.extend(
            seen.partial
                .iter()
                .map(|p| format!("account {}: {p}", t.account)),
        );
        if let Some(e) = seen.error {
            error.get_or_insert(format!("account {}: {e}", t.account));
        }
    }
    all.refusals
        .sort_by(|a, b| (&a.time, &a.event_id).cmp(&(&b.time, &b.event_id)));
    (all, error)
}
