//! A schedule's slots: a 5-field cron expression read as a Kubernetes CronJob reads it, in an IANA time zone,
//! and which slot is due now (CronJob's rule after downtime: only the latest missed slot, and only within the
//! starting deadline). Pure: "now" is always passed in.
//!
//! Parsing is croner's (a well-kept cron crate, DST-aware), configured as Vixie cron: five fields only, and when
//! both day-of-month and day-of-week are restricted a day matches if either does. croner's extensions that a
//! CronJob refuses (`L`, `W`, `#`, seconds, years) are refused here too.
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
    if !trimmed.starts_with('@') {
        let fields = trimmed.split_whitespace().count();
        if fields != 5 {
            return Err(format!(
                "schedule {expr:?}: expected 5 fields (minute hour day-of-month month day-of-week), found {fields}"
            ));
        }
        if let Some(c) = extension(trimmed) {
            return Err(format!(
                "schedule {expr:?}: {c:?} is not supported by Kubernetes cron syntax"
            ));
        }
    }
    let cron = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .dom_and_dow(false)
        .build()
        .parse(trimmed)
        .map_err(|e| format!("schedule {expr:?}: {e}"))?;
    let tz = match time_zone {
        None => chrono_tz::UTC,
        Some(name) => Tz::from_str(name)
            .map_err(|_| format!("timeZone {name:?}: not an IANA time zone name"))?,
    };
    Ok(Schedule { cron, tz })
}

/// The first of croner's extensions (`L`, `W`, `#`) in the expression, once month and weekday names (`JUL`,
/// `WED`), where those are ordinary letters, are taken out.
fn extension(expr: &str) -> Option<char> {
    const NAMES: [&str; 19] = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC", "SUN",
        "MON", "TUE", "WED", "THU", "FRI", "SAT",
    ];
    let stripped = NAMES
        .iter()
        .fold(expr.to_ascii_uppercase(), |s, n| s.replace(n, ""));
    stripped.chars().find(|c| matches!(c, 'L' | 'W' | '#'))
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
}
