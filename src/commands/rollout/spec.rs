//! `--waves SPEC` and `--watch DURATION`: which accounts go in which wave, and how long each
//! wave is watched. Pure.
//!
//! A spec is a comma-separated list of steps, each taking the next accounts in the plan's fixed
//! order: a count (`1`), a percentage of all the accounts, rounded up (`10%`), or `rest` (every
//! account left; only last). The steps must cover every account: `1,10%` over 40 accounts
//! leaves 35 in no wave and is refused (end it with `rest`). Steps that find no account left
//! are dropped, so one account is always one wave. `tag` instead takes each account's `wave`
//! tag (a positive number, from the accounts file or the organisation's account tags): waves in
//! ascending order of the number, accounts in plan order within one.

use std::collections::BTreeMap;
use std::time::Duration;

/// The longest watch accepted: a day (CloudTrail's delivery delay is minutes, not days).
pub const MAX_WATCH: Duration = Duration::from_secs(24 * 3600);

/// One step of a spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Count(usize),
    Percent(u32),
    Rest,
}

/// A parsed `--waves` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    Steps(Vec<Step>),
    /// Each account's `wave` tag.
    Tag,
}

/// The tag `--waves tag` reads.
pub const WAVE_TAG: &str = "wave";

impl Spec {
    pub fn parse(text: &str) -> Result<Spec, String> {
        let text = text.trim();
        if text == "tag" {
            return Ok(Spec::Tag);
        }
        let mut steps = Vec::new();
        let parts: Vec<&str> = text.split(',').map(str::trim).collect();
        for (i, part) in parts.iter().enumerate() {
            let step = if *part == "rest" {
                if i + 1 != parts.len() {
                    return Err(format!(
                        "--waves {text:?}: `rest` takes every account left, so it comes last"
                    ));
                }
                Step::Rest
            } else if let Some(p) = part.strip_suffix('%') {
                match p.trim().parse::<u32>() {
                    Ok(n) if (1..=100).contains(&n) => Step::Percent(n),
                    _ => {
                        return Err(format!(
                            "--waves {text:?}: {part:?} is not a percentage from 1% to 100%"
                        ))
                    }
                }
            } else {
                match part.parse::<usize>() {
                    Ok(n) if n >= 1 => Step::Count(n),
                    _ => return Err(format!(
                        "--waves {text:?}: {part:?} is not a step: give a count of accounts (1), a percentage (10%) or `rest`, separated by commas (e.g. 1,10%,rest), or `tag` to use each account's `wave` tag"
                    )),
                }
            };
            steps.push(step);
        }
        Ok(Spec::Steps(steps))
    }

    /// The accounts (ids, in plan order, with their tags) split into waves.
    pub fn partition(
        &self,
        accounts: &[(String, BTreeMap<String, String>)],
        text: &str,
    ) -> Result<Vec<Vec<String>>, String> {
        match self {
            Spec::Tag => by_tag(accounts),
            Spec::Steps(steps) => by_steps(steps, accounts, text),
        }
    }
}

fn by_steps(
    steps: &[Step],
    accounts: &[(String, BTreeMap<String, String>)],
    text: &str,
) -> Result<Vec<Vec<String>>, String> {
    let total = accounts.len();
    let mut left = accounts.iter().map(|(id, _)| id.clone());
    let mut waves = Vec::new();
    let mut taken = 0;
    for step in steps {
        let n = match *step {
            Step::Count(n) => n,
            // Rounded up: 10% of 5 accounts is one account, never none.
            Step::Percent(p) => (total * p as usize).div_ceil(100),
            Step::Rest => total,
        };
        let wave: Vec<String> = left.by_ref().take(n).collect();
        taken += wave.len();
        if !wave.is_empty() {
            waves.push(wave);
        }
    }
    if taken < total {
        return Err(format!(
            "--waves {text:?} puts {taken} of the {total} accounts with changes in a wave and leaves {} in none: end it with `rest` (e.g. {text},rest)",
            total - taken
        ));
    }
    Ok(waves)
}

fn by_tag(accounts: &[(String, BTreeMap<String, String>)]) -> Result<Vec<Vec<String>>, String> {
    let mut waves: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for (id, tags) in accounts {
        let Some(value) = tags.get(WAVE_TAG) else {
            return Err(format!(
                "--waves tag: account {id} has no `{WAVE_TAG}` tag: give every account with changes one (accounts file: tags = {{ {WAVE_TAG} = \"1\" }}; an organisation: tag the account `{WAVE_TAG}`), or use a spec such as 1,10%,rest"
            ));
        };
        match value.trim().parse::<u64>() {
            Ok(n) if n >= 1 => waves.entry(n).or_default().push(id.clone()),
            _ => {
                return Err(format!(
                    "--waves tag: account {id}'s `{WAVE_TAG}` tag is {value:?}, not a wave number (1, 2, …)"
                ))
            }
        }
    }
    Ok(waves.into_values().collect())
}

/// `--watch DURATION`: `0` (no watch), or a whole number with a unit: `90s`, `30m`, `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    let bad = || {
        format!("--watch {text:?}: give a duration such as 30m, 90s or 1h (s, m or h), or 0 for no watch")
    };
    let (number, unit) = t.split_at(t.len().saturating_sub(1));
    let n: u64 = number.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => return Err(bad()),
    };
    let d = Duration::from_secs(secs);
    if d > MAX_WATCH {
        return Err(format!(
            "--watch {text:?}: at most 24h (CloudTrail delivers events within minutes)"
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn accounts(n: usize) -> Vec<(String, BTreeMap<String, String>)> {
        (0..n)
            .map(|i| (format!("{:012}", i + 1), BTreeMap::new()))
            .collect()
    }

    fn sizes(spec: &str, n: usize) -> Result<Vec<usize>, String> {
        let waves = Spec::parse(spec)?.partition(&accounts(n), spec)?;
        Ok(waves.iter().map(Vec::len).collect())
    }

    #[test]
    fn counts_percentages_and_rest_take_accounts_in_order() {
        assert_eq!(sizes("1,10%,rest", 40).unwrap(), [1, 4, 35]);
        assert_eq!(sizes("1,10%,rest", 5).unwrap(), [1, 1, 3]);
        assert_eq!(sizes("1,rest", 1).unwrap(), [1], "one account is one wave");
        assert_eq!(sizes("2,50%,50%", 4).unwrap(), [2, 2]);
        let waves = Spec::parse("2,rest")
            .unwrap()
            .partition(&accounts(3), "2,rest")
            .unwrap();
        assert_eq!(waves[0], ["000000000001", "000000000002"]);
        assert_eq!(waves[1], ["000000000003"]);
    }

    #[test]
    fn a_spec_that_leaves_accounts_out_or_is_malformed_is_refused() {
        let e = sizes("1,10%", 40).unwrap_err();
        assert!(e.contains("leaves 35") && e.contains("rest"), "{e}");
        for bad in ["0", "0%", "101%", "rest,1", "x", "1,,rest", "-1"] {
            assert!(Spec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tags_order_the_waves_and_every_account_needs_one() {
        let mut a = accounts(3);
        for (i, w) in [(0, "2"), (1, "1"), (2, "2")] {
            a[i].1.insert("wave".into(), w.into());
        }
        let waves = Spec::Tag.partition(&a, "tag").unwrap();
        assert_eq!(
            waves,
            vec![
                vec!["000000000002".to_string()],
                vec!["000000000001".into(), "000000000003".into()]
            ]
        );
        a[1].1.remove("wave");
        let e = Spec::Tag.partition(&a, "tag").unwrap_err();
        assert!(
            e.contains("000000000002") && e.contains("no `wave` tag"),
            "{e}"
        );
        a[1].1.insert("wave".into(), "first".into());
        assert!(Spec::Tag.partition(&a, "tag").is_err());
    }

    #[test]
    fn durations_need_a_unit_and_stay_within_a_day() {
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        for bad in ["30", "-5m", "m", "1d", "25h", "", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        /// Whatever the spec and the number of accounts, an accepted partition puts every
        /// account in exactly one wave, in plan order, with no empty wave.
        #[test]
        fn an_accepted_partition_covers_every_account_once_in_order(
            steps in prop::collection::vec(prop_oneof![
                (1usize..5).prop_map(|n| n.to_string()),
                (1u32..=100).prop_map(|p| format!("{p}%")),
            ], 0..4),
            rest in any::<bool>(),
            n in 1usize..60,
        ) {
            let mut parts = steps.clone();
            if rest || parts.is_empty() {
                parts.push("rest".into());
            }
            let spec = parts.join(",");
            let all = accounts(n);
            if let Ok(waves) = Spec::parse(&spec).unwrap().partition(&all, &spec) {
                prop_assert!(waves.iter().all(|w| !w.is_empty()));
                let flat: Vec<String> = waves.concat();
                let ids: Vec<String> = all.iter().map(|(id, _)| id.clone()).collect();
                prop_assert_eq!(flat, ids);
            } else {
                prop_assert!(!rest && !steps.is_empty());
            }
        }
    }
}
