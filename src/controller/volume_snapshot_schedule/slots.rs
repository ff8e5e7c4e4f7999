//! A schedule's slots: a 5-field cron expression read as a Kubernetes CronJob reads it, in an IANA time zone,
//! and which slot is due now (CronJob's rule after downtime: only the latest missed slot, and only within the
//! starting deadline). Pure: "now" is always passed in.
//!
//! Parsing is croner's (a well-kept cron crate, DST-aware), configured as Vixie cron: five fields only, and when
//! both day-of-month and day-of-week are restricted a day matches if either does. croner's extensions that a
//! CronJob refuses (`L`, `W`, `#`, `+`, seconds, years) are refused here too, and what croner reads differently
//! from CronJob is adapted: `@midnight`, `5/15` (= `5-59/15`), `*/1` or `?` in a day field meaning `*`.
//!
//! Daylight saving time, as croner defines it: a slot in an hour the clock skips (02:30 on a spring-forward
//! night in Europe/Berlin) is taken at the first instant after the gap (03:00 local); a slot in an hour the
//! clock repeats (02:30 on the autumn night) is taken once, at its first occurrence.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

#[derive(Clone, Debug)]
pub struct Schedule {
    cron: Cron,
    tz: Tz,
}

/// The slot due now, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    /// No slot in (last, now].
    None,
    /// Take the snapshot of `slot`, the latest slot in (last, now]; `missed` earlier slots in that interval are
    /// skipped (counted up to [`MISSED_COUNT_LIMIT`]).
    Take { slot: DateTime<Utc>, missed: u32 },
    /// The latest slot is older than the starting deadline: it is skipped too (with the `missed` before it).
    TooLate { slot: DateTime<Utc>, missed: u32 },
}

/// Missed slots are counted up to this many (a minutely schedule down for a year would otherwise be walked
/// slot by slot); beyond it the count saturates.
pub const MISSED_COUNT_LIMIT: u32 = 1000;

pub fn parse(expr: &str, time_zone: Option<&str>) -> Result<Schedule, String> {
    let trimmed = expr.trim();
    if trimmed.starts_with("TZ=") || trimmed.starts_with("CRON_TZ=") {
        return Err(format!(
            "schedule {expr:?}: a time zone inside the expression is not supported; use spec.timeZone"
        ));
    }
    let pattern = if trimmed.starts_with('@') {
        expand_macro(trimmed)
            .ok_or_else(|| {
                format!(
                    "schedule {expr:?}: unknown macro (use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)"
                )
            })?
            .to_owned()
    } else {
        let fields: Vec<&str> = trimmed.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "schedule {expr:?}: expected 5 fields (minute hour day-of-month month day-of-week), found {}",
                fields.len()
            ));
        }
        if let Some(c) = extension(trimmed) {
            return Err(format!(
                "schedule {expr:?}: {c:?} is not supported by Kubernetes cron syntax"
            ));
        }
        if fields.iter().any(|f| {
            f.split(',')
                .any(|item| item.is_empty() || item.starts_with('/'))
        }) {
            return Err(format!(
                "schedule {expr:?}: an empty list item or a step without a start"
            ));
        }
        with_star_days(&fields)
    };
    // `sloppy_ranges` accepts `5/15` (5-59/15), which CronJob accepts; a bare `/15` is refused above.
    let cron = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .dom_and_dow(false)
        .sloppy_ranges(true)
        .build()
        .parse(&pattern)
        .map_err(|e| format!("schedule {expr:?}: {e}"))?;
    let tz = match time_zone {
        None => chrono_tz::UTC,
        Some(name) => Tz::from_str(name)
            .map_err(|_| format!("timeZone {name:?}: not an IANA time zone name"))?,
    };
    let schedule = Schedule { cron, tz };
    if schedule.next_after(never_fires_probe()).is_none() {
        return Err(format!(
            "schedule {expr:?}: never fires (no date matches its day and month)"
        ));
    }
    Ok(schedule)
}

/// CronJob's macros as the expressions they stand for; croner lacks `@midnight`, and the rest (`@every`,
/// `@reboot`) CronJob refuses too, which deserves a clearer message than croner's field count.
fn expand_macro(expr: &str) -> Option<&'static str> {
    match expr.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => Some("0 0 1 1 *"),
        "@monthly" => Some("0 0 1 * *"),
        "@weekly" => Some("0 0 * * 0"),
        "@daily" | "@midnight" => Some("0 0 * * *"),
        "@hourly" => Some("0 * * * *"),
        _ => None,
    }
}

/// CronJob (robfig/cron) reads `*/1` and `?` in day-of-month and day-of-week as `*`, so such a field defers to
/// the other one instead of ORing with it; croner only treats a literal `*` that way, so it is given one.
fn with_star_days(fields: &[&str]) -> String {
    fields
        .iter()
        .enumerate()
        .map(|(i, f)| match (i, *f) {
            (2 | 4, "*/1" | "?" | "?/1") => "*",
            _ => f,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A fixed start for the "does it ever fire" check, so that parsing never reads the clock; a satisfiable day and
/// month recurs within 28 years of any date, long before croner's search limit (year 5000).
fn never_fires_probe() -> DateTime<Utc> {
    DateTime::from_timestamp(946_684_800, 0).expect("2000-01-01T00:00:00Z is representable")
}

/// The first of croner's extensions (`L`, `W`, `#`, `+`) in the expression, once month and weekday names (`JUL`,
/// `WED`), where those are ordinary letters, are taken out.
fn extension(expr: &str) -> Option<char> {
    const NAMES: [&str; 19] = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC", "SUN",
        "MON", "TUE", "WED", "THU", "FRI", "SAT",
    ];
    let stripped = NAMES
        .iter()
        .fold(expr.to_ascii_uppercase(), |s, n| s.replace(n, ""));
    stripped
        .chars()
        .find(|c| matches!(c, 'L' | 'W' | '#' | '+'))
}

impl Schedule {
    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// The first slot strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&t.with_timezone(&self.tz), false)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    /// The latest slot at or before `t`.
    fn latest_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_previous_occurrence(&t.with_timezone(&self.tz), true)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    /// The slot due at `now`, `last` being the last slot handled (or the object's creation).
    pub fn due(
        &self,
        last: DateTime<Utc>,
        now: DateTime<Utc>,
        starting_deadline: Option<Duration>,
    ) -> Due {
        let Some(slot) = self.latest_at_or_before(now).filter(|s| *s > last) else {
            return Due::None;
        };
        let missed = self.count_between(last, slot);
        let late = starting_deadline
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .is_some_and(|d| now - slot > d);
        if late {
            Due::TooLate { slot, missed }
        } else {
            Due::Take { slot, missed }
        }
    }

    /// Slots strictly between `after` and `before`, saturating at [`MISSED_COUNT_LIMIT`].
    fn count_between(&self, after: DateTime<Utc>, before: DateTime<Utc>) -> u32 {
        let mut n = 0;
        let mut t = after;
        while n < MISSED_COUNT_LIMIT {
            match self.next_after(t) {
                Some(s) if s < before => {
                    n += 1;
                    t = s;
                }
                _ => break,
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn cronjob_syntax_is_accepted_and_extensions_refused() {
        for ok in [
            "0 2 * * *",
            "*/15 * * * *",
            "0 0 1,15 * MON-FRI",
            "30 4 * JUL SUN",
            "@daily",
            "@hourly",
            "0 0 ? * *",
        ] {
            parse(ok, None).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for (bad, why) in [
            ("61 * * * *", "schedule \"61 * * * *\""),
            ("0 0 * * * *", "expected 5 fields"),
            ("* * *", "expected 5 fields"),
            ("0 0 L * *", "not supported"),
            ("0 0 * * 5#3", "not supported"),
            ("TZ=UTC 0 0 * * *", "spec.timeZone"),
        ] {
            let e = parse(bad, None).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        let e = parse("0 0 * * *", Some("Mars/Base")).unwrap_err();
        assert_eq!(e, "timeZone \"Mars/Base\": not an IANA time zone name");
    }

    #[test]
    fn day_of_month_or_day_of_week_as_vixie_cron() {
        // The 13th, or any Friday: 2026-03-06 is a Friday, the 13th a Friday too, 2026-03-09 a Monday.
        let s = parse("0 0 13 * FRI", None).unwrap();
        assert_eq!(
            s.next_after(at("2026-03-01T00:00:00Z")),
            Some(at("2026-03-06T00:00:00Z"))
        );
        let s = parse("0 0 9 * FRI", None).unwrap();
        assert_eq!(
            s.next_after(at("2026-03-07T00:00:00Z")),
            Some(at("2026-03-09T00:00:00Z"))
        );
    }

    #[test]
    fn slots_are_read_in_the_time_zone() {
        let s = parse("30 2 * * *", Some("America/New_York")).unwrap();
        assert_eq!(
            s.next_after(at("2026-06-01T00:00:00Z")),
            Some(at("2026-06-01T06:30:00Z"))
        );
    }

    #[test]
    fn daylight_saving_in_berlin() {
        let s = parse("30 2 * * *", Some("Europe/Berlin")).unwrap();
        // 2026-03-29: 02:00 → 03:00 (the slot falls in the gap: taken right after it, 01:00 UTC).
        let spring = s.next_after(at("2026-03-28T12:00:00Z")).unwrap();
        assert_eq!(spring, at("2026-03-29T01:00:00Z"), "{spring}");
        // 2026-10-25: 03:00 → 02:00 (02:30 happens twice: taken once).
        let first = s.next_after(at("2026-10-24T12:00:00Z")).unwrap();
        assert_eq!(first, at("2026-10-25T00:30:00Z"));
        let again = s.next_after(first).unwrap();
        assert_eq!(
            again,
            at("2026-10-26T01:30:00Z"),
            "not a second time on the 25th"
        );
    }

    #[test]
    fn only_the_latest_missed_slot_is_due() {
        let s = parse("0 * * * *", None).unwrap();
        let last = at("2026-01-01T00:00:00Z");
        assert_eq!(s.due(last, at("2026-01-01T00:59:00Z"), None), Due::None);
        assert_eq!(
            s.due(last, at("2026-01-01T01:00:00Z"), None),
            Due::Take {
                slot: at("2026-01-01T01:00:00Z"),
                missed: 0
            }
        );
        assert_eq!(
            s.due(last, at("2026-01-01T03:20:00Z"), None),
            Due::Take {
                slot: at("2026-01-01T03:00:00Z"),
                missed: 2
            }
        );
        let deadline = Some(Duration::from_secs(600));
        assert_eq!(
            s.due(last, at("2026-01-01T03:20:00Z"), deadline),
            Due::TooLate {
                slot: at("2026-01-01T03:00:00Z"),
                missed: 2
            }
        );
        assert_eq!(
            s.due(last, at("2026-01-01T03:05:00Z"), deadline),
            Due::Take {
                slot: at("2026-01-01T03:00:00Z"),
                missed: 2
            }
        );
        // Handled already.
        assert_eq!(
            s.due(at("2026-01-01T03:00:00Z"), at("2026-01-01T03:05:00Z"), None),
            Due::None
        );
    }

    #[test]
    fn a_year_of_minutes_is_not_walked() {
        let s = parse("* * * * *", None).unwrap();
        let due = s.due(at("2025-01-01T00:00:00Z"), at("2026-01-01T00:00:30Z"), None);
        assert_eq!(
            due,
            Due::Take {
                slot: at("2026-01-01T00:00:00Z"),
                missed: MISSED_COUNT_LIMIT
            }
        );
    }

    #[test]
    fn what_croner_reads_differently_is_read_as_cronjob_does() {
        // `@midnight` is CronJob's, not croner's.
        let s = parse("@midnight", None).unwrap();
        assert_eq!(
            s.next_after(at("2026-01-01T00:30:00Z")),
            Some(at("2026-01-02T00:00:00Z"))
        );
        for bad in ["@every 1h", "@reboot"] {
            let e = parse(bad, None).unwrap_err();
            assert!(e.contains("unknown macro"), "{bad}: {e}");
        }
        // `+` (croner's day-of-month AND day-of-week) and a bare `/step` are not CronJob syntax.
        for bad in ["0 0 1 * +MON", "/5 * * * *", "1,,2 * * * *"] {
            assert!(parse(bad, None).is_err(), "{bad} must be refused");
        }
        // `N/step` is `N-max/step`.
        let s = parse("5/20 0 * * *", None).unwrap();
        assert_eq!(
            s.next_after(at("2026-01-01T00:06:00Z")),
            Some(at("2026-01-01T00:25:00Z"))
        );
        // `*/1` and `?` in a day field are `*`: only the other day field restricts (Fridays only).
        // 2026-03-06 is a Friday.
        for star in ["*/1", "?"] {
            let s = parse(&format!("0 0 {star} * FRI"), None).unwrap();
            assert_eq!(
                s.next_after(at("2026-03-02T00:00:00Z")),
                Some(at("2026-03-06T00:00:00Z")),
                "{star}"
            );
        }
        // A restricted day-of-month ORs with day-of-week, stepped or not: the 3rd (odd) comes before Friday.
        let s = parse("0 0 */2 * FRI", None).unwrap();
        assert_eq!(
            s.next_after(at("2026-03-02T00:00:00Z")),
            Some(at("2026-03-03T00:00:00Z"))
        );
    }

    #[test]
    fn a_schedule_that_never_fires_is_refused() {
        let e = parse("0 0 30 2 *", None).unwrap_err();
        assert!(e.contains("never fires"), "{e}");
        parse("0 0 29 2 *", None).unwrap();
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        fn schedules() -> impl Strategy<Value = (&'static str, &'static str)> {
            let exprs = prop::sample::select(vec![
                "* * * * *",
                "*/7 * * * *",
                "30 2 * * *",
                "0 */3 * * *",
                "15,45 1-3 * * *",
                "0 0 13 * FRI",
            ]);
            let zones = prop::sample::select(vec![
                "UTC",
                "Europe/Berlin",
                "America/New_York",
                "Australia/Lord_Howe",
            ]);
            (exprs, zones)
        }

        /// Instants in 2026, half of them in the hours around Berlin's and New York's DST changes.
        fn instants() -> impl Strategy<Value = DateTime<Utc>> {
            let year = 1_767_225_600i64..1_798_761_600;
            let near_dst = (
                0i64..4 * 3600,
                prop::sample::select(vec![
                    1_774_742_400i64, // 2026-03-29T00:00Z (Berlin forward 01:00Z)
                    1_792_886_400,    // 2026-10-25T00:00Z (Berlin back 01:00Z)
                    1_772_942_400,    // 2026-03-08T04:00Z (New York forward 07:00Z)
                    1_793_505_600,    // 2026-11-01T04:00Z (New York back 06:00Z)
                ]),
            )
                .prop_map(|(offset, base)| base + offset);
            prop_oneof![year, near_dst]
                .prop_map(|s| DateTime::from_timestamp(s, 0).expect("in range"))
        }

        proptest! {
            /// `due` relies on croner's backward search; it must agree with the forward one, DST included.
            #[test]
            fn backward_and_forward_searches_agree((expr, tz) in schedules(), now in instants()) {
                let s = parse(expr, Some(tz)).unwrap();
                let latest = s.latest_at_or_before(now).expect("a slot before");
                prop_assert!(latest <= now);
                prop_assert!(s.next_after(latest).expect("a slot after") > now);
                prop_assert_eq!(s.next_after(latest - chrono::Duration::seconds(1)), Some(latest));
            }

            /// `due` is the latest slot in (last, now] with the count before it, as a forward walk finds them.
            #[test]
            fn due_matches_a_forward_walk((expr, tz) in schedules(), last in instants(), gap in 0i64..2 * 86_400) {
                let s = parse(expr, Some(tz)).unwrap();
                let now = last + chrono::Duration::seconds(gap);
                let mut found = Vec::new();
                let mut t = last;
                while let Some(next) = s.next_after(t).filter(|n| *n <= now) {
                    found.push(next);
                    t = next;
                }
                let expected = match found.split_last() {
                    None => Due::None,
                    Some((slot, before)) => Due::Take {
                        slot: *slot,
                        missed: (before.len() as u32).min(MISSED_COUNT_LIMIT),
                    },
                };
                prop_assert_eq!(s.due(last, now, None), expected);
            }
        }
    }
}
