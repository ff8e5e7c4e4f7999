//! Grandfather-father-son retention over a schedule's own snapshots, as proxmox-backup's prune and restic's
//! `forget` define it: the newest `keep_last`, plus the newest snapshot of each of the most recent `hourly`
//! hours (`daily` days, `weekly` ISO weeks, `monthly` months) that have a snapshot, in the schedule's time zone;
//! everything else expires. Snapshots a FlexCloneMount depends on, and anything not the schedule's own, are the
//! caller's to protect: this decides over what it is given. Pure.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Tz;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    pub keep_last: Option<u32>,
    pub hourly: Option<u32>,
    pub daily: Option<u32>,
    pub weekly: Option<u32>,
    pub monthly: Option<u32>,
}

impl Policy {
    /// No rule set: everything is kept.
    pub fn is_unbounded(&self) -> bool {
        *self == Policy::default()
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    pub name: &'a str,
    pub time: DateTime<Utc>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    pub keep: BTreeSet<String>,
    /// Oldest first.
    pub expire: Vec<String>,
}

/// The calendar bucket of a time for one rule.
type Bucket = (i32, u32, u32, u32);
/// One rule: how many buckets it keeps, and the bucket of an entry.
type Rule<'f> = (Option<u32>, &'f dyn Fn(&Entry<'_>) -> Bucket);

pub fn decide(entries: &[Entry<'_>], policy: &Policy, tz: Tz) -> Decision {
    // Newest first; equal times ordered by name, so the input order never matters.
    let mut sorted: Vec<Entry<'_>> = entries.to_vec();
    sorted.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| a.name.cmp(b.name)));
    if policy.is_unbounded() {
        return Decision {
            keep: sorted.iter().map(|e| e.name.to_owned()).collect(),
            expire: Vec::new(),
        };
    }
    let mut keep: BTreeSet<String> = BTreeSet::new();
    if let Some(n) = policy.keep_last {
        keep.extend(sorted.iter().take(n as usize).map(|e| e.name.to_owned()));
    }
    let local = |e: &Entry<'_>| e.time.with_timezone(&tz);
    let rules: [Rule<'_>; 4] = [
        (policy.hourly, &|e| {
            let t = local(e);
            (t.year(), t.ordinal(), t.hour(), 0)
        }),
        (policy.daily, &|e| {
            let t = local(e);
            (t.year(), t.ordinal(), 0, 0)
        }),
        (policy.weekly, &|e| {
            let w = local(e).iso_week();
            (w.year(), w.week(), 0, 0)
        }),
        (policy.monthly, &|e| {
            let t = local(e);
            (t.year(), t.month(), 0, 0)
        }),
    ];
    for (count, bucket) in rules {
        let Some(count) = count else { continue };
        let mut seen: Vec<Bucket> = Vec::new();
        for e in &sorted {
            if seen.len() as u32 >= count {
                break;
            }
            let b = bucket(e);
            if !seen.contains(&b) {
                // The newest of each bucket: sorted newest first, so the first one met.
                seen.push(b);
                keep.insert(e.name.to_owned());
            }
        }
    }
    let expire = sorted
        .iter()
        .rev()
        .filter(|e| !keep.contains(e.name))
        .map(|e| e.name.to_owned())
        .collect();
    Decision { keep, expire }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn thirty_nightly_snapshots() {
        // 2026-03-01 (a Sunday) … 2026-03-30, one at 02:30 UTC each night.
        let names: Vec<String> = (1..=30).map(|d| format!("d{d:02}")).collect();
        let entries: Vec<Entry<'_>> = names
            .iter()
            .enumerate()
            .map(|(i, n)| Entry {
                name: n,
                time: at("2026-03-01T02:30:00Z") + chrono::Duration::days(i as i64),
            })
            .collect();
        let policy = Policy {
            keep_last: Some(3),
            daily: Some(7),
            weekly: Some(4),
            monthly: Some(2),
            ..Policy::default()
        };
        let d = decide(&entries, &policy, chrono_tz::UTC);
        let kept: Vec<&str> = d.keep.iter().map(String::as_str).collect();
        // last 3 and daily 7: d24..d30; weekly 4 (ISO weeks end on Sundays 29, 22, 15, 8): d29 is in the week of
        // d30 (Mon 23 – Sun 29 → newest d29; d30 starts a new week), so weeks: d30, d29, d22, d15; monthly 2:
        // only March has snapshots → d30.
        assert_eq!(
            kept,
            ["d15", "d22", "d24", "d25", "d26", "d27", "d28", "d29", "d30"]
        );
        assert_eq!(d.expire.first().map(String::as_str), Some("d01"));
        assert_eq!(d.expire.len(), 21);
    }

    #[test]
    fn days_are_counted_in_the_time_zone() {
        // 23:30 and 00:30 UTC are the same day (evening) in New York.
        let entries = [
            Entry {
                name: "late",
                time: at("2026-06-02T00:30:00Z"),
            },
            Entry {
                name: "early",
                time: at("2026-06-01T23:30:00Z"),
            },
        ];
        let policy = Policy {
            daily: Some(5),
            ..Policy::default()
        };
        let ny = decide(&entries, &policy, "America/New_York".parse().unwrap());
        assert_eq!(ny.expire, ["early"]);
        let utc = decide(&entries, &policy, chrono_tz::UTC);
        assert!(utc.expire.is_empty());
    }

    #[test]
    fn an_empty_policy_keeps_everything_and_zero_keeps_nothing() {
        let entries = [Entry {
            name: "a",
            time: at("2026-01-01T00:00:00Z"),
        }];
        assert!(decide(&entries, &Policy::default(), chrono_tz::UTC)
            .expire
            .is_empty());
        let none = Policy {
            keep_last: Some(0),
            ..Policy::default()
        };
        assert_eq!(decide(&entries, &none, chrono_tz::UTC).expire, ["a"]);
    }

    fn arb_policy() -> impl Strategy<Value = Policy> {
        let n = || proptest::option::of(0u32..6);
        (n(), n(), n(), n(), n()).prop_map(|(keep_last, hourly, daily, weekly, monthly)| Policy {
            keep_last,
            hourly,
            daily,
            weekly,
            monthly,
        })
    }

    fn arb_times() -> impl Strategy<Value = Vec<i64>> {
        // Up to 40 snapshots within ~4 months, minute resolution.
        proptest::collection::vec(0i64..(120 * 24 * 60), 0..40)
    }

    fn entries(names: &[String], minutes: &[i64]) -> Vec<(String, DateTime<Utc>)> {
        names
            .iter()
            .zip(minutes)
            .map(|(n, m)| {
                (
                    n.clone(),
                    at("2026-01-01T00:00:00Z") + chrono::Duration::minutes(*m),
                )
            })
            .collect()
    }

    fn run(e: &[(String, DateTime<Utc>)], p: &Policy) -> Decision {
        let es: Vec<Entry<'_>> = e.iter().map(|(n, t)| Entry { name: n, time: *t }).collect();
        decide(&es, p, "Europe/Berlin".parse().unwrap())
    }

    proptest! {
        #[test]
        fn keep_and_expire_partition_the_input(minutes in arb_times(), p in arb_policy()) {
            let names: Vec<String> = (0..minutes.len()).map(|i| format!("s{i}")).collect();
            let d = run(&entries(&names, &minutes), &p);
            let expired: BTreeSet<String> = d.expire.iter().cloned().collect();
            prop_assert_eq!(expired.len(), d.expire.len());
            prop_assert!(d.keep.is_disjoint(&expired));
            let all: BTreeSet<String> = names.iter().cloned().collect();
            prop_assert_eq!(d.keep.union(&expired).cloned().collect::<BTreeSet<_>>(), all);
        }

        #[test]
        fn never_more_than_the_rules_add_up_to(minutes in arb_times(), p in arb_policy()) {
            prop_assume!(!p.is_unbounded());
            let names: Vec<String> = (0..minutes.len()).map(|i| format!("s{i}")).collect();
            let d = run(&entries(&names, &minutes), &p);
            let bound: u32 = [p.keep_last, p.hourly, p.daily, p.weekly, p.monthly].iter().map(|c| c.unwrap_or(0)).sum();
            prop_assert!(d.keep.len() as u32 <= bound);
        }

        #[test]
        fn the_newest_is_kept_by_any_rule_of_one_or_more(minutes in arb_times(), p in arb_policy()) {
            prop_assume!(!minutes.is_empty());
            let any = [p.keep_last, p.hourly, p.daily, p.weekly, p.monthly].iter().any(|c| c.unwrap_or(0) >= 1);
            prop_assume!(any);
            let names: Vec<String> = (0..minutes.len()).map(|i| format!("s{i}")).collect();
            let e = entries(&names, &minutes);
            let newest = e.iter().max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0))).unwrap().0.clone();
            prop_assert!(run(&e, &p).keep.contains(&newest));
        }

        #[test]
        fn raising_a_count_never_expires_what_was_kept(minutes in arb_times(), p in arb_policy(), which in 0usize..5) {
            let names: Vec<String> = (0..minutes.len()).map(|i| format!("s{i}")).collect();
            let e = entries(&names, &minutes);
            let mut more = p;
            let field = match which {
                0 => &mut more.keep_last,
                1 => &mut more.hourly,
                2 => &mut more.daily,
                3 => &mut more.weekly,
                _ => &mut more.monthly,
            };
            *field = Some(field.unwrap_or(0) + 1);
            let before = run(&e, &p);
            let after = run(&e, &more);
            if !p.is_unbounded() {
                prop_assert!(before.keep.is_subset(&after.keep));
            }
        }

        #[test]
        fn the_order_of_the_input_does_not_matter(minutes in arb_times(), p in arb_policy()) {
            let names: Vec<String> = (0..minutes.len()).map(|i| format!("s{i}")).collect();
            let e = entries(&names, &minutes);
            let mut reversed = e.clone();
            reversed.reverse();
            prop_assert_eq!(run(&e, &p), run(&reversed, &p));
        }
    }
}
