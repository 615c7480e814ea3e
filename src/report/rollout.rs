//! The report of a staged rollout (`apply --waves`): each wave with its accounts, what was
//! published, the watch's result (the refused calls it saw, caused by the change or not) and
//! what was rolled back; in text, JSON and Markdown.

use serde::Serialize;

use crate::engine::escape::escape;
use crate::engine::evidence::Cause;
use crate::report::markdown::md_text as md_cell;
use crate::sources::watch::Refusal;

/// The most refused calls listed per wave (all are counted).
pub const LISTED: usize = 20;

/// A rollout as it went in this run.
#[derive(Debug, Clone, Serialize)]
pub struct RolloutView {
    /// The `--waves` spec, or `tag`.
    pub spec: String,
    /// Seconds each wave is watched (`--watch`; 0: not watched).
    pub watch_seconds: u64,
    pub on_denial: String,
    /// The rollout this run began or resumed (its id in the journal).
    pub rollout_id: String,
    pub resumed: bool,
    pub waves: Vec<WaveView>,
    /// `finished`, `denied`, `stopped`, `interrupted`.
    pub ended: String,
    /// What to do next, when the rollout did not finish.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// One wave.
#[derive(Debug, Clone, Serialize)]
pub struct WaveView {
    /// 1-based, as shown.
    pub wave: usize,
    pub accounts: Vec<String>,
    /// `done-earlier` (published and watched by an earlier run of this rollout), `published`,
    /// `rolled-back`, `not-started`, `stopped`.
    pub state: String,
    /// Changes live after this run's publish (applied now, or already applied).
    pub published: usize,
    /// Changes not published (declined, held back, failed, stale).
    pub not_published: usize,
    /// `clean`, `denied`, `unreadable`, `interrupted`, `not-watched`, or empty when the wave
    /// was not watched in this run.
    pub watch: String,
    /// Calls read by the watch, and refused calls seen.
    pub calls: usize,
    pub refusals: Vec<Refusal>,
    /// Why the watch is partial or could not read, one line each.
    pub notes: Vec<String>,
    /// What rolling the wave back did, one line per change.
    pub rolled_back: Vec<String>,
}

/// A duration as the operator wrote it back: `1h 5m`, `30m`, `45s`.
pub fn show_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    let mut out = Vec::new();
    if h > 0 {
        out.push(format!("{h}h"));
    }
    if m > 0 {
        out.push(format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push(format!("{s}s"));
    }
    out.join(" ")
}

/// One refused call, one line.
pub fn refusal_line(r: &Refusal) -> String {
    let what = match r.cause {
        Cause::Caused => "CAUSED BY THE CHANGE",
        Cause::Unknown => "COULD NOT TELL whether the change caused it",
        Cause::NotCaused => "not caused by the change",
    };
    escape(&format!(
        "account {} · {} · {} · {} ({}): {what}: {}",
        r.account, r.principal, r.action, r.time, r.error_code, r.why
    ))
}

fn watch_phrase(w: &WaveView, watch: &str) -> String {
    let caused_n = w.refusals.iter().filter(|r| r.stops_the_rollout()).count();
    let other = w.refusals.len() - caused_n;
    match w.watch.as_str() {
        "clean" => format!(
            "watched {watch}: no refused call caused by the change ({} calls read, {other} refused calls not caused by it)",
            w.calls
        ),
        "denied" => format!(
            "watched: {caused_n} refused call(s) caused by the change, or that could not be told from one"
        ),
        "unreadable" => "watch could not read CloudTrail to the end".into(),
        "interrupted" => "watch interrupted (Ctrl-C) before its end".into(),
        "not-watched" => "not watched".into(),
        _ => String::new(),
    }
}

/// The text report.
pub fn text(v: &RolloutView) -> String {
    let watch = show_duration(std::time::Duration::from_secs(v.watch_seconds));
    let mut s = format!(
        "\nRollout{}: {} wave(s) ({}), watch {watch} after each, on a caused refusal: {}\n",
        if v.resumed { " (resumed)" } else { "" },
        v.waves.len(),
        escape(&v.spec),
        v.on_denial
    );
    for w in &v.waves {
        let accounts = escape(&w.accounts.join(", "));
        let state = match w.state.as_str() {
            "done-earlier" => "published and watched by an earlier run".to_string(),
            "not-started" => "not started".to_string(),
            _ => {
                let mut p = format!("{} change(s) published", w.published);
                if w.not_published > 0 {
                    p.push_str(&format!(", {} not published", w.not_published));
                }
                let phrase = watch_phrase(w, &watch);
                if !phrase.is_empty() {
                    p.push_str("; ");
                    p.push_str(&phrase);
                }
                if w.state == "rolled-back" {
                    p.push_str("; ROLLED BACK");
                }
                p
            }
        };
        s.push_str(&format!("  wave {}: {accounts}: {state}\n", w.wave));
        for r in w.refusals.iter().take(LISTED) {
            s.push_str(&format!("      {}\n", refusal_line(r)));
        }
        if w.refusals.len() > LISTED {
            s.push_str(&format!(
                "      … and {} more refused calls\n",
                w.refusals.len() - LISTED
            ));
        }
        for n in &w.notes {
            s.push_str(&format!("      note: {}\n", escape(n)));
        }
        for l in &w.rolled_back {
            s.push_str(&format!("      {}\n", escape(l)));
        }
    }
    s.push_str(&format!("Rollout {}.\n", v.ended));
    if let Some(next) = &v.next {
        s.push_str(&format!("Next: {}\n", escape(next)));
    }
    s
}

/// The Markdown report.
pub fn markdown(v: &RolloutView) -> String {
    let watch = show_duration(std::time::Duration::from_secs(v.watch_seconds));
    let mut s = format!(
        "\n## Rollout\n\n{} wave(s) (`{}`), watch {watch} after each, on a caused refusal: {}{}. Rollout **{}**.\n\n| wave | accounts | published | not published | watch | refused calls (caused / not) |\n|--:|---|--:|--:|---|---|\n",
        v.waves.len(),
        md_cell(&v.spec),
        v.on_denial,
        if v.resumed { " (resumed)" } else { "" },
        v.ended
    );
    for w in &v.waves {
        let caused_n = w.refusals.iter().filter(|r| r.stops_the_rollout()).count();
        let watch_cell = match w.state.as_str() {
            "done-earlier" => "done by an earlier run".to_string(),
            "not-started" => "not started".to_string(),
            _ if w.state == "rolled-back" => format!("{}, rolled back", w.watch),
            _ => w.watch.clone(),
        };
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} / {} |\n",
            w.wave,
            md_cell(&w.accounts.join(", ")),
            w.published,
            w.not_published,
            md_cell(&watch_cell),
            caused_n,
            w.refusals.len() - caused_n
        ));
    }
    let listed: Vec<&Refusal> = v.waves.iter().flat_map(|w| w.refusals.iter()).collect();
    if !listed.is_empty() {
        s.push_str("\nRefused calls seen:\n\n");
        for r in listed.iter().take(LISTED) {
            s.push_str(&format!("- {}\n", md_cell(&refusal_line(r))));
        }
    }
    let undone: Vec<&String> = v.waves.iter().flat_map(|w| w.rolled_back.iter()).collect();
    if !undone.is_empty() {
        s.push_str("\nRolled back:\n\n");
        for l in undone {
            s.push_str(&format!("- {}\n", md_cell(l)));
        }
    }
    let notes: Vec<&String> = v.waves.iter().flat_map(|w| w.notes.iter()).collect();
    if !notes.is_empty() {
        s.push_str("\nNotes:\n\n");
        for l in notes {
            s.push_str(&format!("- {}\n", md_cell(l)));
        }
    }
    if let Some(next) = &v.next {
        s.push_str(&format!("\nNext: {}\n", md_cell(next)));
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn refusal(cause: Cause, action: &str, why: &str) -> Refusal {
        Refusal {
            account: "111122223333".into(),
            change_id: "4e524af2e2ea".into(),
            principal: "arn:aws:iam::111122223333:user/builder".into(),
            action: action.into(),
            time: "2026-12-06T13:30:34Z".into(),
            error_code: "Client.UnauthorizedOperation".into(),
            event_id: "e1".into(),
            region: "us-east-1".into(),
            cause,
            why: why.into(),
        }
    }

    fn wave(n: usize, accounts: &[&str], state: &str, watch: &str) -> WaveView {
        WaveView {
            wave: n,
            accounts: accounts.iter().map(|a| a.to_string()).collect(),
            state: state.into(),
            published: if state == "not-started" {
                0
            } else {
                accounts.len()
            },
            not_published: 0,
            watch: watch.into(),
            calls: 3,
            refusals: Vec::new(),
            notes: Vec::new(),
            rolled_back: Vec::new(),
        }
    }

    /// A rollout stopped in its first wave, as text and Markdown.
    fn stopped() -> RolloutView {
        let mut first = wave(1, &["111122223333"], "rolled-back", "denied");
        first.refusals = vec![
            refusal(
                Cause::Caused,
                "ec2:DescribeInstances",
                "allowed by the old policies, refused by the new ones",
            ),
            refusal(
                Cause::NotCaused,
                "iam:CreateUser",
                "never granted: the old policies did not allow it either",
            ),
        ];
        first.notes = vec!["account 111122223333: event history read in us-east-1 only".into()];
        first.rolled_back =
            vec!["rolled back 111122223333: arn:aws:iam::111122223333:policy/ForceMFA (change 4e524af2e2ea): default version v1 restored".into()];
        RolloutView {
            spec: "1,50%,rest".into(),
            watch_seconds: 1800,
            on_denial: "rollback".into(),
            rollout_id: "20261206T133032Z-bb93".into(),
            resumed: false,
            waves: vec![
                first,
                wave(2, &["222233334444", "333344445555"], "not-started", ""),
                wave(3, &["444455556666"], "not-started", ""),
            ],
            ended: "stopped on a refused call the change caused".into(),
            next: Some("find out why from the refused calls above".into()),
        }
    }

    #[test]
    fn a_stopped_rollout_in_text_and_markdown() {
        insta::assert_snapshot!("rollout_stopped_text", text(&stopped()));
        insta::assert_snapshot!("rollout_stopped_markdown", markdown(&stopped()));
    }

    #[test]
    fn a_finished_rollout_in_json_keeps_every_field() {
        let mut v = stopped();
        v.ended = "finished".into();
        v.next = None;
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["waves"][0]["refusals"][0]["cause"], "caused");
        assert_eq!(json["waves"][1]["state"], "not-started");
        assert!(json.get("next").is_none());
        assert_eq!(json["watch_seconds"], 1800);
    }

    #[test]
    fn durations_are_shown_as_written() {
        use std::time::Duration;
        assert_eq!(show_duration(Duration::from_secs(3900)), "1h 5m");
        assert_eq!(show_duration(Duration::from_secs(45)), "45s");
        assert_eq!(show_duration(Duration::ZERO), "0s");
    }
}
