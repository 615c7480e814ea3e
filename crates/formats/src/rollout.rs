//! The journal's records of a staged rollout (`apply --waves`): which accounts each wave holds,
//! and each step of each wave (started, published, watched, rolled back), one sealed line per
//! step, beside the publish records of the same run. From them, [`progress`] says where an
//! interrupted rollout stopped, so that `apply --plan FILE --resume` goes on from the first
//! unfinished wave.
//!
//! A rollout record is told from a publish record by its `"record": "rollout"` field; both are
//! sealed the same way (see [`crate::journal`]).

use serde::{Deserialize, Serialize};

/// One step of a rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutRecord {
    /// Always `"rollout"`: what tells this record from a publish record.
    pub record: String,
    /// RFC 3339, UTC. Empty until the journal stamps it when appending.
    pub time: String,
    /// The run that wrote this record.
    pub run_id: String,
    /// The rollout this record belongs to: the run id of the run that began it (a resumed
    /// rollout keeps it).
    pub rollout_id: String,
    pub event: Event,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Event {
    /// The rollout began: its waves, in order, and how it is watched.
    Began {
        /// SHA-256 of the saved plan file's bytes (`apply --plan`); `None` for a fresh plan,
        /// which cannot be resumed.
        plan_sha256: Option<String>,
        spec: String,
        watch_seconds: u64,
        on_denial: OnDenial,
        waves: Vec<Vec<String>>,
    },
    /// A wave's changes are about to be published (its publish records follow).
    WaveStarted { wave: usize },
    /// Every change of the wave was decided and written (or failed).
    WavePublished {
        wave: usize,
        applied: usize,
        not_applied: usize,
    },
    /// The watch after a wave ended.
    WaveWatched { wave: usize, watch: WatchResult },
    /// The wave's changes were restored (`--on-denial rollback`).
    WaveRolledBack {
        wave: usize,
        restored: usize,
        failed: usize,
    },
    /// The rollout ended: every wave done, or stopped.
    Ended { how: Ending },
}

/// What to do when the watch sees a refused call the change caused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OnDenial {
    /// Restore the wave's changes, then stop.
    #[default]
    Rollback,
    /// Stop, leaving the wave published.
    Stop,
}

impl OnDenial {
    pub fn parse(text: &str) -> Result<OnDenial, String> {
        match text.trim() {
            "rollback" => Ok(OnDenial::Rollback),
            "stop" => Ok(OnDenial::Stop),
            other => Err(format!(
                "--on-denial {other:?}: use `rollback` (restore the wave's changes, then stop) or `stop` (stop, leave the wave published)"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OnDenial::Rollback => "rollback",
            OnDenial::Stop => "stop",
        }
    }
}

/// How a wave's watch ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum WatchResult {
    /// Watched to the end: no refused call the change caused. `refusals`: those it did not
    /// cause; `calls`: calls read.
    Clean { calls: usize, refusals: usize },
    /// A refused call the change caused (or could not be told apart from one): the first few,
    /// one line each.
    Denied { lines: Vec<String> },
    /// CloudTrail could not be read to the end: why.
    Unreadable { why: String },
    /// Stopped by the operator (Ctrl-C) before the watch ended.
    Interrupted,
    /// `--watch 0`: not watched.
    NotWatched,
}

/// How a rollout ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ending {
    /// Every wave published and watched clean.
    Finished,
    /// Stopped on a refused call the change caused (the wave rolled back, or left published
    /// with `--on-denial stop`).
    Denied,
    /// Stopped because the watch could not read CloudTrail, or a wave's changes failed.
    Stopped,
}

impl RolloutRecord {
    pub fn new(run_id: &str, rollout_id: &str, event: Event) -> RolloutRecord {
        RolloutRecord {
            record: "rollout".into(),
            time: String::new(),
            run_id: run_id.into(),
            rollout_id: rollout_id.into(),
            event,
        }
    }
}

/// Where a wave stands, from its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaveState {
    NotStarted,
    /// Started; some of its changes may be published (a run stopped while publishing).
    Started,
    /// Published, the watch not ended (interrupted, or the run stopped).
    Published,
    /// Published and watched clean (or not watched with `--watch 0`): done.
    Done,
}

/// An earlier rollout as its records tell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub rollout_id: String,
    pub plan_sha256: Option<String>,
    pub spec: String,
    pub watch_seconds: u64,
    pub on_denial: OnDenial,
    pub waves: Vec<Vec<String>>,
    pub states: Vec<WaveState>,
    /// The time each wave was first started (RFC 3339), when it was.
    pub started_at: Vec<Option<String>>,
    /// Set when the rollout ended: how, and the record's time.
    pub ended: Option<(Ending, String)>,
}

impl Progress {
    /// The first wave not done, if any.
    pub fn first_unfinished(&self) -> Option<usize> {
        self.states.iter().position(|s| *s != WaveState::Done)
    }
}

/// The latest rollout of the plan with digest `plan_sha256`, from a journal's rollout records
/// in file order; `None` when the journal has none.
pub fn progress(records: &[RolloutRecord], plan_sha256: &str) -> Option<Progress> {
    let began = records.iter().rev().find_map(|r| match &r.event {
        Event::Began {
            plan_sha256: Some(d),
            spec,
            watch_seconds,
            on_denial,
            waves,
        } if d == plan_sha256 => Some(Progress {
            rollout_id: r.rollout_id.clone(),
            plan_sha256: Some(d.clone()),
            spec: spec.clone(),
            watch_seconds: *watch_seconds,
            on_denial: *on_denial,
            waves: waves.clone(),
            states: vec![WaveState::NotStarted; waves.len()],
            started_at: vec![None; waves.len()],
            ended: None,
        }),
        _ => None,
    })?;
    let mut p = began;
    let id = p.rollout_id.clone();
    for r in records.iter().filter(|r| r.rollout_id == id) {
        let set = |p: &mut Progress, wave: usize, state: WaveState| {
            if let Some(s) = p.states.get_mut(wave) {
                *s = state;
            }
        };
        match &r.event {
            Event::Began { .. } => {}
            Event::WaveStarted { wave } => {
                if let Some(at) = p.started_at.get_mut(*wave) {
                    at.get_or_insert_with(|| r.time.clone());
                }
                // Started again after an interruption: its earlier progress stands until
                // the new records say more.
                if p.states.get(*wave) == Some(&WaveState::NotStarted) {
                    set(&mut p, *wave, WaveState::Started);
                }
            }
            Event::WavePublished {
                wave, not_applied, ..
            } => set(
                &mut p,
                *wave,
                if *not_applied == 0 {
                    WaveState::Published
                } else {
                    WaveState::Started
                },
            ),
            Event::WaveWatched { wave, watch } => match watch {
                WatchResult::Clean { .. } | WatchResult::NotWatched
                    if p.states.get(*wave) == Some(&WaveState::Published) =>
                {
                    set(&mut p, *wave, WaveState::Done)
                }
                _ => {}
            },
            Event::WaveRolledBack { wave, .. } => set(&mut p, *wave, WaveState::Started),
            Event::Ended { how } => p.ended = Some((*how, r.time.clone())),
        }
    }
    Some(p)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn rec(event: Event) -> RolloutRecord {
        RolloutRecord {
            time: "2026-12-06T10:00:00Z".into(),
            ..RolloutRecord::new("run-2", "run-1", event)
        }
    }

    fn began(digest: &str) -> RolloutRecord {
        rec(Event::Began {
            plan_sha256: Some(digest.into()),
            spec: "1,rest".into(),
            watch_seconds: 60,
            on_denial: OnDenial::Rollback,
            waves: vec![vec!["111111111111".into()], vec!["222222222222".into()]],
        })
    }

    #[test]
    fn a_rollout_interrupted_during_a_watch_resumes_at_that_wave() {
        let records = vec![
            began("d"),
            rec(Event::WaveStarted { wave: 0 }),
            rec(Event::WavePublished {
                wave: 0,
                applied: 1,
                not_applied: 0,
            }),
            rec(Event::WaveWatched {
                wave: 0,
                watch: WatchResult::Clean {
                    calls: 3,
                    refusals: 0,
                },
            }),
            rec(Event::WaveStarted { wave: 1 }),
            rec(Event::WavePublished {
                wave: 1,
                applied: 1,
                not_applied: 0,
            }),
            rec(Event::WaveWatched {
                wave: 1,
                watch: WatchResult::Interrupted,
            }),
        ];
        let p = progress(&records, "d").unwrap();
        assert_eq!(p.states, [WaveState::Done, WaveState::Published]);
        assert_eq!(p.first_unfinished(), Some(1));
        assert!(p.ended.is_none());
        assert!(progress(&records, "other plan").is_none());
    }

    #[test]
    fn a_wave_with_changes_not_written_is_not_published_and_a_rolled_back_one_is_not_done() {
        let records = vec![
            began("d"),
            rec(Event::WaveStarted { wave: 0 }),
            rec(Event::WavePublished {
                wave: 0,
                applied: 1,
                not_applied: 2,
            }),
        ];
        let p = progress(&records, "d").unwrap();
        assert_eq!(p.states[0], WaveState::Started);
        let mut more = records.clone();
        more.push(rec(Event::WaveRolledBack {
            wave: 0,
            restored: 1,
            failed: 0,
        }));
        more.push(rec(Event::Ended {
            how: Ending::Denied,
        }));
        let p = progress(&more, "d").unwrap();
        assert_eq!(p.states[0], WaveState::Started);
        assert_eq!(p.ended.map(|e| e.0), Some(Ending::Denied));
    }

    #[test]
    fn records_round_trip_through_json_with_their_kind() {
        let r = rec(Event::WaveWatched {
            wave: 2,
            watch: WatchResult::Denied {
                lines: vec!["x".into()],
            },
        });
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains("\"record\":\"rollout\""), "{text}");
        assert!(text.contains("\"kind\":\"wave-watched\""), "{text}");
        assert!(text.contains("\"result\":\"denied\""), "{text}");
        assert_eq!(serde_json::from_str::<RolloutRecord>(&text).unwrap(), r);
    }

    /// The fuzzing seed, written by hand from the documented format (compact JSON, SHA-256 of
    /// it without the `sha256` field): every line reads as a sealed rollout record.
    #[test]
    fn a_journal_written_from_the_documented_format_reads() {
        let text = include_str!("../../../tests/fixtures/fuzz/journal/rollout.jsonl");
        let parsed = crate::journal::parse(text);
        assert!(parsed.bad.is_empty(), "{:?}", parsed.bad);
        let records: Vec<RolloutRecord> = parsed.rollouts.into_iter().map(|(_, r)| r).collect();
        assert_eq!(records.len(), 5);
        let p = progress(&records, "d").unwrap();
        assert_eq!(p.ended.map(|e| e.0), Some(Ending::Denied));
        assert_eq!(p.states, [WaveState::Published, WaveState::NotStarted]);
    }
}
