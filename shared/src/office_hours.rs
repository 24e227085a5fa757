//! Office hours: when a scope's chat box may be online at all (docs/status.md).
//!
//! [`OfficeHoursSpec`] is the JSON shape clients send and read back;
//! [`OfficeHours::parse`] validates it into a schedule that answers
//! [`OfficeHours::is_open`] and [`OfficeHours::next_change`].

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};
use serde::{Deserialize, Serialize};

/// How far ahead [`OfficeHours::next_change`] looks (docs/status.md: null when
/// none within 14 days).
pub const NEXT_CHANGE_HORIZON_DAYS: i64 = 14;

/// The wire shape of office hours (docs/api.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OfficeHoursSpec {
    pub enabled: bool,
    pub timezone: String,
    #[serde(default)]
    pub weekly: WeeklySpec,
    #[serde(default)]
    pub exceptions: Vec<ExceptionSpec>,
}

/// Intervals per weekday; a missing day is closed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WeeklySpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mon: Vec<IntervalSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tue: Vec<IntervalSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wed: Vec<IntervalSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thu: Vec<IntervalSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fri: Vec<IntervalSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sat: Vec<IntervalSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sun: Vec<IntervalSpec>,
}

/// A local wall-clock interval, `"HH:MM"` to `"HH:MM"`. `"24:00"` may end a
/// day; a `to` earlier than `from` runs past midnight into the next day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IntervalSpec {
    pub from: String,
    pub to: String,
}

/// A dated exception (`"YYYY-MM-DD"`) whose hours replace the weekly plan for
/// that local date; empty hours mean closed all day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExceptionSpec {
    pub date: String,
    #[serde(default)]
    pub hours: Vec<IntervalSpec>,
}

const MINUTES_PER_DAY: u16 = 24 * 60;

/// How many local dates before `at`'s own date can still hold a range that
/// covers `at`: an overnight interval reaches into the next date, and one more
/// for transitions that skip a whole date (Pacific/Apia skipped 2011-12-30).
const DAYS_BEFORE: i64 = 2;

/// Validated office hours: answers whether a scope is open at an instant and
/// when that next changes.
#[derive(Clone, Debug)]
pub struct OfficeHours {
    enabled: bool,
    tz: TimeZone,
    /// Indexed by `Weekday::to_monday_zero_offset`; kept in spec order.
    weekly: [Vec<Interval>; 7],
    exceptions: BTreeMap<Date, Vec<Interval>>,
}

/// A validated interval in minutes after local midnight of the date it belongs
/// to. `end > MINUTES_PER_DAY` means it ends on the next date (overnight);
/// `end == MINUTES_PER_DAY` is `"24:00"`, midnight of the next date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Interval {
    start: u16,
    end: u16,
}

impl OfficeHours {
    /// Validates the spec. Errors carry a precise snake_case code.
    ///
    /// A disabled spec is validated too: it is stored and may be enabled later.
    pub fn parse(spec: &OfficeHoursSpec) -> Result<OfficeHours, OfficeHoursError> {
        let tz = parse_timezone(&spec.timezone)?;

        let days = spec.weekly.days();
        let mut weekly: [Vec<Interval>; 7] = Default::default();
        for (intervals, (name, specs)) in weekly.iter_mut().zip(days) {
            *intervals = parse_day(&format!("weekly.{name}"), specs)?;
        }
        check_overnight_tails(&days, &weekly)?;

        let mut exceptions = BTreeMap::new();
        for (i, exception) in spec.exceptions.iter().enumerate() {
            let path = format!("exceptions[{i}]");
            let Some(date) = parse_date(&exception.date) else {
                return Err(OfficeHoursError::InvalidDate {
                    path: format!("{path}.date"),
                    value: exception.date.clone(),
                });
            };
            if exceptions.contains_key(&date) {
                // Dates are strictly YYYY-MM-DD, so equal dates are equal strings.
                let first = spec.exceptions[..i]
                    .iter()
                    .position(|earlier| earlier.date == exception.date)
                    .unwrap_or_default();
                return Err(OfficeHoursError::DuplicateException {
                    path: format!("{path}.date"),
                    date: exception.date.clone(),
                    first_path: format!("exceptions[{first}].date"),
                });
            }
            // Overlaps with the neighbouring dates are fine: each date
            // contributes its own intervals and open is their union.
            exceptions.insert(date, parse_day(&format!("{path}.hours"), &exception.hours)?);
        }

        Ok(OfficeHours {
            enabled: spec.enabled,
            tz,
            weekly,
            exceptions,
        })
    }

    /// Whether office hours apply at all; when not, the scope is always open.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Whether `at` falls in an open interval. Disabled office hours are
    /// always open.
    pub fn is_open(&self, at: Timestamp) -> bool {
        if !self.enabled {
            return true;
        }
        self.ranges_around(at, 1)
            .iter()
            .any(|range| range.contains(&at))
    }

    /// The first instant strictly after `after` at which [`Self::is_open`]
    /// flips, if it is at most [`NEXT_CHANGE_HORIZON_DAYS`] days after `after`;
    /// `None` when disabled or none in that horizon.
    ///
    /// Returned instants are whole seconds (they come from HH:MM wall-clock
    /// times).
    pub fn next_change(&self, after: Timestamp) -> Option<Timestamp> {
        if !self.enabled {
            return None;
        }
        let horizon = after
            .checked_add(SignedDuration::from_hours(NEXT_CHANGE_HORIZON_DAYS * 24))
            .unwrap_or(Timestamp::MAX);
        // Two dates past the horizon so that a stretch running up to it is
        // complete (an overnight interval, a DST offset) before we answer.
        let stretches = merge(self.ranges_around(after, NEXT_CHANGE_HORIZON_DAYS + 2));
        let stretch = stretches.iter().find(|stretch| stretch.end > after)?;
        let change = if stretch.start > after {
            stretch.start
        } else {
            stretch.end
        };
        (change <= horizon).then_some(change)
    }

    /// The open ranges contributed by the local dates from [`DAYS_BEFORE`]
    /// before `at`'s local date to `days_after` after it, unmerged and
    /// unsorted.
    fn ranges_around(&self, at: Timestamp, days_after: i64) -> Vec<Range<Timestamp>> {
        let today = self.tz.to_datetime(at).date();
        (-DAYS_BEFORE..=days_after)
            // Near the ends of jiff's calendar there simply are no more dates.
            .filter_map(|offset| today.checked_add(offset.days()).ok())
            .flat_map(|date| {
                self.intervals_on(date)
                    .iter()
                    .filter_map(move |interval| self.range(date, *interval))
            })
            .collect()
    }

    /// An exception replaces the weekly plan for its local date.
    fn intervals_on(&self, date: Date) -> &[Interval] {
        if let Some(intervals) = self.exceptions.get(&date) {
            return intervals;
        }
        // `to_monday_zero_offset` is always 0..=6.
        let weekday = date.weekday().to_monday_zero_offset();
        &self.weekly[usize::try_from(weekday).unwrap_or_default()]
    }

    /// The instants an interval on `date` covers, or `None` when the timezone
    /// swallows it (02:00–03:00 on a spring-forward night is no time at all).
    fn range(&self, date: Date, interval: Interval) -> Option<Range<Timestamp>> {
        let start = self.instant(date, interval.start)?;
        let end = self.instant(date, interval.end)?;
        (start < end).then_some(start..end)
    }

    /// The instant of a wall-clock minute counted from midnight of `date`,
    /// resolved as jiff's "compatible" disambiguation does: a time in a DST
    /// gap moves forward by the gap, a time in a fold takes its first
    /// occurrence.
    fn instant(&self, date: Date, minute: u16) -> Option<Timestamp> {
        let date = if minute >= MINUTES_PER_DAY {
            date.tomorrow().ok()?
        } else {
            date
        };
        let minute = minute % MINUTES_PER_DAY;
        let hour = i8::try_from(minute / 60).ok()?;
        let minute = i8::try_from(minute % 60).ok()?;
        self.tz.to_timestamp(date.at(hour, minute, 0, 0)).ok()
    }
}

impl WeeklySpec {
    /// The days with their JSON names, in `Weekday::to_monday_zero_offset`
    /// order.
    fn days(&self) -> [(&'static str, &[IntervalSpec]); 7] {
        [
            ("mon", &self.mon),
            ("tue", &self.tue),
            ("wed", &self.wed),
            ("thu", &self.thu),
            ("fri", &self.fri),
            ("sat", &self.sat),
            ("sun", &self.sun),
        ]
    }
}

/// Sorts ranges and merges the overlapping and the touching ones, so each
/// boundary left is a real change between open and closed.
fn merge(mut ranges: Vec<Range<Timestamp>>) -> Vec<Range<Timestamp>> {
    ranges.sort_unstable_by_key(|range| range.start);
    let mut merged: Vec<Range<Timestamp>> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            // Touching counts: mon 22:00–24:00 and tue 00:00–06:00 are one
            // open stretch with no change at midnight.
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    merged
}

fn parse_timezone(name: &str) -> Result<TimeZone, OfficeHoursError> {
    match TimeZone::get(name) {
        // jiff maps "Etc/Unknown" to a placeholder zone; it names no place.
        Ok(tz) if !tz.is_unknown() => Ok(tz),
        _ => Err(OfficeHoursError::InvalidTimezone {
            timezone: name.to_owned(),
        }),
    }
}

/// Parses one day's intervals (`path` is e.g. `weekly.mon`) and checks that
/// none overlap. The result keeps spec order so errors can name indices.
fn parse_day(path: &str, specs: &[IntervalSpec]) -> Result<Vec<Interval>, OfficeHoursError> {
    let intervals = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| parse_interval(&format!("{path}[{i}]"), spec))
        .collect::<Result<Vec<_>, _>>()?;

    // Once sorted by start, any overlap shows up between neighbours.
    let mut order: Vec<usize> = (0..intervals.len()).collect();
    order.sort_by_key(|&i| intervals[i].start);
    for pair in order.windows(2) {
        let (earlier, later) = (pair[0], pair[1]);
        if intervals[later].start < intervals[earlier].end {
            let (first, second) = (earlier.min(later), earlier.max(later));
            return Err(overlap(
                format!("{path}[{second}]"),
                &specs[second],
                format!("{path}[{first}]"),
                &specs[first],
            ));
        }
    }
    Ok(intervals)
}

/// An overnight weekly interval runs into the next weekday (sun into mon), so
/// its tail must not overlap that day's intervals.
fn check_overnight_tails(
    days: &[(&'static str, &[IntervalSpec]); 7],
    weekly: &[Vec<Interval>; 7],
) -> Result<(), OfficeHoursError> {
    for today in 0..7 {
        let tomorrow = (today + 1) % 7;
        for (i, late) in weekly[today].iter().enumerate() {
            let Some(tail_end) = late.end.checked_sub(MINUTES_PER_DAY) else {
                continue;
            };
            let clash = weekly[tomorrow]
                .iter()
                .position(|early| early.start < tail_end);
            if let Some(j) = clash {
                let (today_name, today_specs) = days[today];
                let (tomorrow_name, tomorrow_specs) = days[tomorrow];
                return Err(overlap(
                    format!("weekly.{tomorrow_name}[{j}]"),
                    &tomorrow_specs[j],
                    format!("weekly.{today_name}[{i}]"),
                    &today_specs[i],
                ));
            }
        }
    }
    Ok(())
}

fn overlap(
    path: String,
    interval: &IntervalSpec,
    other_path: String,
    other: &IntervalSpec,
) -> OfficeHoursError {
    OfficeHoursError::OverlappingIntervals {
        path,
        interval: format!("{}-{}", interval.from, interval.to),
        other_path,
        other: format!("{}-{}", other.from, other.to),
    }
}

fn parse_interval(path: &str, spec: &IntervalSpec) -> Result<Interval, OfficeHoursError> {
    let invalid_time = |field: &str, value: &str| OfficeHoursError::InvalidTime {
        path: format!("{path}.{field}"),
        value: value.to_owned(),
    };
    // "24:00" only ends a day; an interval cannot start there.
    let start = parse_time(&spec.from)
        .filter(|&minute| minute < MINUTES_PER_DAY)
        .ok_or_else(|| invalid_time("from", &spec.from))?;
    let to = parse_time(&spec.to).ok_or_else(|| invalid_time("to", &spec.to))?;
    if to == start {
        return Err(OfficeHoursError::InvalidInterval {
            path: path.to_owned(),
            from: spec.from.clone(),
            to: spec.to.clone(),
        });
    }
    // A `to` before `from` is on the next date.
    let end = if to > start { to } else { to + MINUTES_PER_DAY };
    Ok(Interval { start, end })
}

/// Minutes after midnight of exactly `"HH:MM"`, from `00:00` to `24:00`.
fn parse_time(text: &str) -> Option<u16> {
    let &[h1, h2, b':', m1, m2] = text.as_bytes() else {
        return None;
    };
    let digit = |byte: u8| byte.is_ascii_digit().then(|| u16::from(byte - b'0'));
    let hour = digit(h1)? * 10 + digit(h2)?;
    let minute = digit(m1)? * 10 + digit(m2)?;
    match (hour, minute) {
        (0..=23, 0..=59) => Some(hour * 60 + minute),
        (24, 0) => Some(MINUTES_PER_DAY),
        _ => None,
    }
}

/// A date of exactly `"YYYY-MM-DD"` that exists in the calendar. jiff's own
/// parser also takes other shapes (`20261224`, `+002026-12-24`), so the shape
/// is checked first.
fn parse_date(text: &str) -> Option<Date> {
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, &byte)| match i {
            4 | 7 => byte == b'-',
            _ => byte.is_ascii_digit(),
        });
    if !shaped {
        return None;
    }
    text.parse().ok()
}

/// Why an [`OfficeHoursSpec`] was rejected. `path` fields name the offending
/// JSON field, e.g. `weekly.mon[1].to` or `exceptions[0].date`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OfficeHoursError {
    /// The timezone is not a known IANA name.
    InvalidTimezone { timezone: String },
    /// A `from` or `to` is not `"HH:MM"` in range (`"24:00"` only as `to`).
    InvalidTime { path: String, value: String },
    /// An interval whose `from` equals its `to` would be empty.
    InvalidInterval {
        path: String,
        from: String,
        to: String,
    },
    /// Two intervals of one day overlap, or an overnight weekly interval
    /// overlaps the next weekday's. `interval` and `other` are `"from-to"`.
    OverlappingIntervals {
        path: String,
        interval: String,
        other_path: String,
        other: String,
    },
    /// An exception's date is not an existing `"YYYY-MM-DD"`.
    InvalidDate { path: String, value: String },
    /// Two exceptions have the same date.
    DuplicateException {
        path: String,
        date: String,
        first_path: String,
    },
}

impl OfficeHoursError {
    /// The snake_case code used in the API's error body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidTimezone { .. } => "invalid_timezone",
            Self::InvalidTime { .. } => "invalid_time",
            Self::InvalidInterval { .. } => "invalid_interval",
            Self::OverlappingIntervals { .. } => "overlapping_intervals",
            Self::InvalidDate { .. } => "invalid_date",
            Self::DuplicateException { .. } => "duplicate_exception",
        }
    }
}

impl fmt::Display for OfficeHoursError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values are printed with `{:?}`: quoted, and escaped should they
        // hold control characters. Each field is named in words first (for the
        // dashboard's people), then by its path (for the API's programs).
        match self {
            Self::InvalidTimezone { timezone } => write!(
                f,
                "timezone: {timezone:?} is not a known IANA timezone; use a name like \"Europe/Prague\""
            ),
            Self::InvalidTime { path, value } if value == "24:00" => write!(
                f,
                "{}: \"24:00\" can only end an interval; start at \"00:00\" instead",
                Place(path)
            ),
            Self::InvalidTime { path, value } => write!(
                f,
                "{}: {value:?} is not a time; use HH:MM from 00:00 to 24:00",
                Place(path)
            ),
            Self::InvalidInterval { path, from, to } => write!(
                f,
                "{}: from {from:?} to {to:?} is empty; from and to must differ",
                Place(path)
            ),
            Self::OverlappingIntervals {
                path,
                interval,
                other_path,
                other,
            } => write!(
                f,
                "{}: {interval} overlaps {other}, {}; intervals must not overlap",
                Place(path),
                Place(other_path)
            ),
            Self::InvalidDate { path, value } => write!(
                f,
                "{}: {value:?} is not a date; use an existing YYYY-MM-DD",
                Place(path)
            ),
            Self::DuplicateException {
                path,
                date,
                first_path,
            } => write!(
                f,
                "{}: {date:?} already has an exception, {}; give each date once",
                Place(path),
                Place(first_path)
            ),
        }
    }
}

/// A field's path in words, counted from one, then the path itself:
/// `weekly.mon[1].to` is "Monday, interval 2, end (weekly.mon[1].to)".
struct Place<'a>(&'a str);

impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.0;
        let mut words = Vec::new();
        for segment in path.split('.') {
            let (name, index) = match segment.split_once('[') {
                Some((name, rest)) => match rest.strip_suffix(']').map(str::parse::<usize>) {
                    Some(Ok(index)) => (name, Some(index + 1)),
                    _ => return f.write_str(path),
                },
                None => (segment, None),
            };
            let word = match (name, index) {
                ("weekly", None) => continue,
                ("exceptions", Some(n)) => format!("exception {n}"),
                ("hours", Some(n)) => format!("interval {n}"),
                ("date", None) => "date".to_owned(),
                ("from", None) => "start".to_owned(),
                ("to", None) => "end".to_owned(),
                (day, Some(n)) => match WEEKDAYS.iter().find(|(key, _)| *key == day) {
                    Some((_, weekday)) => format!("{weekday}, interval {n}"),
                    None => return f.write_str(path),
                },
                _ => return f.write_str(path),
            };
            words.push(word);
        }
        if words.is_empty() {
            return f.write_str(path);
        }
        write!(f, "{} ({path})", words.join(", "))
    }
}

/// The keys of `weekly` and their names.
const WEEKDAYS: [(&str, &str); 7] = [
    ("mon", "Monday"),
    ("tue", "Tuesday"),
    ("wed", "Wednesday"),
    ("thu", "Thursday"),
    ("fri", "Friday"),
    ("sat", "Saturday"),
    ("sun", "Sunday"),
];

impl std::error::Error for OfficeHoursError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example in docs/status.md ("Office hours").
    const DOCUMENTED_EXAMPLE: &str = r#"{
        "enabled": true,
        "timezone": "Europe/Prague",
        "weekly": {
            "mon": [{"from": "09:00", "to": "12:00"}, {"from": "13:00", "to": "17:00"}],
            "sat": [{"from": "22:00", "to": "06:00"}]
        },
        "exceptions": [{"date": "2026-12-24", "hours": []}]
    }"#;

    fn spec_json(timezone: &str, weekly: &str, exceptions: &str) -> String {
        format!(
            r#"{{"enabled": true, "timezone": "{timezone}", "weekly": {weekly}, "exceptions": {exceptions}}}"#
        )
    }

    fn prague(weekly: &str) -> String {
        spec_json("Europe/Prague", weekly, "[]")
    }

    fn every_day(timezone: &str, from: &str, to: &str) -> String {
        let day = format!(r#"[{{"from": "{from}", "to": "{to}"}}]"#);
        let weekly = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
            .map(|name| format!(r#""{name}": {day}"#))
            .join(", ");
        spec_json(timezone, &format!("{{{weekly}}}"), "[]")
    }

    fn parse_spec(json: &str) -> Result<OfficeHours, OfficeHoursError> {
        let spec: OfficeHoursSpec = serde_json::from_str(json).expect("well-formed spec JSON");
        OfficeHours::parse(&spec)
    }

    fn hours(json: &str) -> OfficeHours {
        parse_spec(json).expect("a valid spec")
    }

    fn ts(text: &str) -> Timestamp {
        text.parse().expect("an RFC 3339 instant")
    }

    #[track_caller]
    fn check_open(json: &str, cases: &[(&str, bool)]) {
        let hours = hours(json);
        for &(at, open) in cases {
            assert_eq!(hours.is_open(ts(at)), open, "is_open at {at}");
        }
    }

    #[track_caller]
    fn check_next(json: &str, cases: &[(&str, Option<&str>)]) {
        let hours = hours(json);
        for &(after, expected) in cases {
            assert_eq!(
                hours.next_change(ts(after)),
                expected.map(ts),
                "next_change after {after}"
            );
        }
    }

    /// Asserts the code and that the message names `mentions` (path and value).
    #[track_caller]
    fn check_error(json: &str, code: &str, mentions: &[&str]) {
        let error = parse_spec(json).expect_err("an invalid spec");
        assert_eq!(error.code(), code, "{error}");
        let message = error.to_string();
        for part in mentions {
            assert!(
                message.contains(part),
                "{message:?} should mention {part:?}"
            );
        }
    }

    // --- validation ---

    #[test]
    fn unknown_timezones_are_invalid_timezone() {
        for timezone in ["Europe/Prag", "", "Mars/Olympus_Mons", "Etc/Unknown"] {
            check_error(
                &spec_json(timezone, "{}", "[]"),
                "invalid_timezone",
                &["timezone", &format!("{timezone:?}")],
            );
        }
        assert!(parse_spec(&spec_json("America/New_York", "{}", "[]")).is_ok());
        assert!(parse_spec(&spec_json("UTC", "{}", "[]")).is_ok());
    }

    #[test]
    fn malformed_times_are_invalid_time() {
        for bad in [
            "9:00",
            "12:60",
            "25:00",
            "24:01",
            "ab",
            "",
            "09:00 ",
            "0900",
            "-1:00",
            "０９:00",
        ] {
            check_error(
                &prague(&format!(
                    r#"{{"tue": [{{"from": "{bad}", "to": "17:00"}}]}}"#
                )),
                "invalid_time",
                &["weekly.tue[0].from", &format!("{bad:?}")],
            );
            check_error(
                &prague(&format!(
                    r#"{{"mon": [{{"from": "08:00", "to": "09:00"}}, {{"from": "09:00", "to": "{bad}"}}]}}"#
                )),
                "invalid_time",
                &["weekly.mon[1].to", &format!("{bad:?}")],
            );
        }
    }

    #[test]
    fn twenty_four_hundred_may_end_an_interval_but_not_start_one() {
        assert!(parse_spec(&prague(r#"{"mon": [{"from": "00:00", "to": "24:00"}]}"#)).is_ok());
        check_error(
            &prague(r#"{"mon": [{"from": "24:00", "to": "06:00"}]}"#),
            "invalid_time",
            &["weekly.mon[0].from", "\"24:00\""],
        );
    }

    #[test]
    fn an_interval_from_a_time_to_the_same_time_is_invalid_interval() {
        check_error(
            &prague(r#"{"wed": [{"from": "09:00", "to": "09:00"}]}"#),
            "invalid_interval",
            &["weekly.wed[0]", "\"09:00\""],
        );
        check_error(
            &prague(r#"{"wed": [{"from": "00:00", "to": "00:00"}]}"#),
            "invalid_interval",
            &["weekly.wed[0]"],
        );
    }

    #[test]
    fn overlapping_intervals_of_one_day_are_rejected_but_touching_ones_are_fine() {
        check_error(
            &prague(
                r#"{"mon": [{"from": "09:00", "to": "12:00"}, {"from": "11:00", "to": "13:00"}]}"#,
            ),
            "overlapping_intervals",
            &[
                "weekly.mon[1]",
                "11:00-13:00",
                "weekly.mon[0]",
                "09:00-12:00",
            ],
        );
        // Listed out of order, one inside another.
        check_error(
            &prague(
                r#"{"fri": [{"from": "13:00", "to": "14:00"}, {"from": "08:00", "to": "18:00"}]}"#,
            ),
            "overlapping_intervals",
            &["weekly.fri[1]", "weekly.fri[0]"],
        );
        // An overnight interval extends past midnight within its own day's list.
        check_error(
            &prague(
                r#"{"mon": [{"from": "22:00", "to": "02:00"}, {"from": "23:00", "to": "23:30"}]}"#,
            ),
            "overlapping_intervals",
            &["weekly.mon[1]", "22:00-02:00"],
        );
        assert!(
            parse_spec(&prague(
                r#"{"mon": [{"from": "09:00", "to": "12:00"}, {"from": "12:00", "to": "13:00"}]}"#
            ))
            .is_ok()
        );
        // Early hours and an overnight interval ending the same day are distinct times.
        assert!(
            parse_spec(&prague(
                r#"{"mon": [{"from": "01:00", "to": "03:00"}, {"from": "22:00", "to": "02:00"}]}"#
            ))
            .is_ok()
        );
    }

    #[test]
    fn an_overnight_tail_must_not_overlap_the_next_weekday() {
        check_error(
            &prague(
                r#"{"sun": [{"from": "22:00", "to": "06:00"}], "mon": [{"from": "05:00", "to": "09:00"}]}"#,
            ),
            "overlapping_intervals",
            &[
                "weekly.mon[0]",
                "05:00-09:00",
                "weekly.sun[0]",
                "22:00-06:00",
            ],
        );
        check_error(
            &prague(
                r#"{"tue": [{"from": "20:00", "to": "01:00"}], "wed": [{"from": "00:00", "to": "00:30"}]}"#,
            ),
            "overlapping_intervals",
            &["weekly.wed[0]", "weekly.tue[0]"],
        );
        // Touching at the tail's end is fine, as is a 24:00 end before a 00:00 start.
        assert!(
            parse_spec(&prague(
                r#"{"sun": [{"from": "22:00", "to": "06:00"}], "mon": [{"from": "06:00", "to": "09:00"}]}"#
            ))
            .is_ok()
        );
        assert!(
            parse_spec(&prague(
                r#"{"mon": [{"from": "22:00", "to": "24:00"}], "tue": [{"from": "00:00", "to": "06:00"}]}"#
            ))
            .is_ok()
        );
    }

    #[test]
    fn exception_hours_are_validated_like_weekly_ones() {
        check_error(
            &spec_json(
                "Europe/Prague",
                "{}",
                r#"[{"date": "2026-12-24", "hours": [{"from": "10:00", "to": "12:75"}]}]"#,
            ),
            "invalid_time",
            &["exceptions[0].hours[0].to", "\"12:75\""],
        );
        check_error(
            &spec_json(
                "Europe/Prague",
                "{}",
                r#"[{"date": "2026-12-24", "hours": [{"from": "10:00", "to": "12:00"}, {"from": "11:59", "to": "13:00"}]}]"#,
            ),
            "overlapping_intervals",
            &["exceptions[0].hours[1]", "exceptions[0].hours[0]"],
        );
        check_error(
            &spec_json(
                "Europe/Prague",
                "{}",
                r#"[{"date": "2026-12-24", "hours": [{"from": "10:00", "to": "10:00"}]}]"#,
            ),
            "invalid_interval",
            &["exceptions[0].hours[0]"],
        );
    }

    #[test]
    fn malformed_dates_are_invalid_date() {
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "2026-2-03",
            "26-12-24",
            "20261224",
            "+002026-12-24",
            "2026-12-24T00:00",
            "2026/12/24",
            "",
        ] {
            check_error(
                &spec_json(
                    "Europe/Prague",
                    "{}",
                    &format!(r#"[{{"date": "2026-12-24"}}, {{"date": "{bad}"}}]"#),
                ),
                "invalid_date",
                &["exceptions[1].date", &format!("{bad:?}")],
            );
        }
        assert!(
            parse_spec(&spec_json(
                "Europe/Prague",
                "{}",
                r#"[{"date": "2028-02-29"}]"#
            ))
            .is_ok()
        );
    }

    #[test]
    fn the_same_exception_date_twice_is_duplicate_exception() {
        check_error(
            &spec_json(
                "Europe/Prague",
                "{}",
                r#"[{"date": "2026-12-24"}, {"date": "2026-12-25"}, {"date": "2026-12-24", "hours": [{"from": "09:00", "to": "12:00"}]}]"#,
            ),
            "duplicate_exception",
            &["exceptions[2].date", "\"2026-12-24\"", "exceptions[0].date"],
        );
    }

    #[test]
    fn error_messages_are_sentences_naming_the_field_and_value() {
        let error = parse_spec(&prague(
            r#"{"mon": [{"from": "08:00", "to": "09:00"}, {"from": "09:00", "to": "25:00"}]}"#,
        ))
        .expect_err("25:00 is no time");
        assert_eq!(
            error,
            OfficeHoursError::InvalidTime {
                path: "weekly.mon[1].to".into(),
                value: "25:00".into()
            }
        );
        assert_eq!(
            error.to_string(),
            r#"Monday, interval 2, end (weekly.mon[1].to): "25:00" is not a time; use HH:MM from 00:00 to 24:00"#
        );
    }

    #[test]
    fn places_are_named_in_words_counted_from_one() {
        let place = |path: &str| Place(path).to_string();
        assert_eq!(
            place("weekly.sun[0].from"),
            "Sunday, interval 1, start (weekly.sun[0].from)"
        );
        assert_eq!(
            place("weekly.wed[2]"),
            "Wednesday, interval 3 (weekly.wed[2])"
        );
        assert_eq!(
            place("exceptions[4].date"),
            "exception 5, date (exceptions[4].date)"
        );
        assert_eq!(
            place("exceptions[0].hours[1].to"),
            "exception 1, interval 2, end (exceptions[0].hours[1].to)"
        );
        assert_eq!(
            place("exceptions[x].date"),
            "exceptions[x].date",
            "not ours: the path alone"
        );
        assert_eq!(place("weekly.xyz[0]"), "weekly.xyz[0]");
        assert_eq!(place("timezone"), "timezone");
    }

    #[test]
    fn disabled_office_hours_are_still_validated() {
        let json = r#"{"enabled": false, "timezone": "Nowhere/Special"}"#;
        assert_eq!(parse_spec(json).unwrap_err().code(), "invalid_timezone");
    }

    // --- evaluation ---

    #[test]
    fn weekday_hours_are_open_from_from_and_closed_from_to() {
        // Monday 2026-11-23 in Prague is UTC+1.
        check_open(
            DOCUMENTED_EXAMPLE,
            &[
                ("2026-11-23T07:59:59Z", false),
                ("2026-11-23T08:00:00Z", true),
                ("2026-11-23T10:59:59Z", true),
                ("2026-11-23T11:00:00Z", false),
                ("2026-11-23T11:30:00Z", false),
                ("2026-11-23T12:00:00Z", true),
                ("2026-11-23T15:59:59.999Z", true),
                ("2026-11-23T16:00:00Z", false),
            ],
        );
    }

    #[test]
    fn a_missing_day_is_closed() {
        // Tuesday to Friday are not in the plan.
        check_open(
            DOCUMENTED_EXAMPLE,
            &[
                ("2026-11-24T08:00:00Z", false),
                ("2026-11-25T12:00:00Z", false),
                ("2026-11-27T15:00:00Z", false),
            ],
        );
        check_open(&prague("{}"), &[("2026-11-23T08:00:00Z", false)]);
    }

    #[test]
    fn an_interval_may_end_at_midnight_with_24_00() {
        let json = prague(r#"{"fri": [{"from": "20:00", "to": "24:00"}]}"#);
        // Friday 2026-11-27, UTC+1.
        check_open(
            &json,
            &[
                ("2026-11-27T19:00:00Z", true),
                ("2026-11-27T22:59:59Z", true),
                ("2026-11-27T23:00:00Z", false),
            ],
        );
        check_next(
            &json,
            &[("2026-11-27T19:00:00Z", Some("2026-11-27T23:00:00Z"))],
        );
    }

    #[test]
    fn overnight_interval_runs_into_the_next_day() {
        // Saturday 2026-11-28 22:00 to Sunday 06:00, UTC+1.
        check_open(
            DOCUMENTED_EXAMPLE,
            &[
                ("2026-11-28T20:59:59Z", false),
                ("2026-11-28T21:00:00Z", true),
                ("2026-11-28T23:00:00Z", true),
                ("2026-11-29T02:00:00Z", true),
                ("2026-11-29T04:59:59Z", true),
                ("2026-11-29T05:00:00Z", false),
            ],
        );
        check_next(
            DOCUMENTED_EXAMPLE,
            &[
                ("2026-11-28T12:00:00Z", Some("2026-11-28T21:00:00Z")),
                ("2026-11-28T21:00:00Z", Some("2026-11-29T05:00:00Z")),
            ],
        );
    }

    #[test]
    fn an_overnight_interval_on_sunday_wraps_into_monday() {
        let json = prague(r#"{"sun": [{"from": "23:00", "to": "01:00"}]}"#);
        // Sunday 2026-11-29 23:00 to Monday 01:00 local.
        check_open(
            &json,
            &[
                ("2026-11-29T22:00:00Z", true),
                ("2026-11-29T23:30:00Z", true),
                ("2026-11-30T00:00:00Z", false),
            ],
        );
    }

    #[test]
    fn next_change_finds_the_next_opening_or_closing_strictly_after() {
        check_next(
            DOCUMENTED_EXAMPLE,
            &[
                // The contract's snapshot: open on Monday, closing at 17:00 local.
                ("2026-11-23T12:30:00Z", Some("2026-11-23T16:00:00Z")),
                ("2026-11-23T07:00:00Z", Some("2026-11-23T08:00:00Z")),
                // Exactly at a boundary, the next one.
                ("2026-11-23T08:00:00Z", Some("2026-11-23T11:00:00Z")),
                ("2026-11-23T11:00:00Z", Some("2026-11-23T12:00:00Z")),
                // Sub-second input, whole-second answer.
                ("2026-11-23T08:00:00.5Z", Some("2026-11-23T11:00:00Z")),
                // Tuesday: nothing until Saturday night.
                ("2026-11-24T10:00:00Z", Some("2026-11-28T21:00:00Z")),
            ],
        );
    }

    #[test]
    fn touching_intervals_merge_so_next_change_skips_the_seam() {
        // Monday 22:00–24:00 and Tuesday 00:00–06:00: no change at midnight.
        let json = prague(
            r#"{"mon": [{"from": "22:00", "to": "24:00"}], "tue": [{"from": "00:00", "to": "06:00"}, {"from": "09:00", "to": "12:00"}, {"from": "12:00", "to": "13:00"}]}"#,
        );
        check_next(
            &json,
            &[
                ("2026-11-23T21:00:00Z", Some("2026-11-24T05:00:00Z")),
                ("2026-11-23T22:59:59Z", Some("2026-11-24T05:00:00Z")),
                ("2026-11-24T05:00:00Z", Some("2026-11-24T08:00:00Z")),
                ("2026-11-24T08:00:00Z", Some("2026-11-24T12:00:00Z")),
            ],
        );
        check_open(
            &json,
            &[
                ("2026-11-23T23:00:00Z", true),
                ("2026-11-24T11:00:00Z", true),
            ],
        );
        // An overnight tail touching the next day's first interval.
        check_next(
            &prague(
                r#"{"sat": [{"from": "22:00", "to": "06:00"}], "sun": [{"from": "06:00", "to": "08:00"}]}"#,
            ),
            &[("2026-11-28T21:00:00Z", Some("2026-11-29T07:00:00Z"))],
        );
    }

    #[test]
    fn a_week_open_around_the_clock_is_always_open_and_never_changes() {
        let json = every_day("Europe/Prague", "00:00", "24:00");
        check_open(
            &json,
            &[
                ("2026-11-23T23:00:00Z", true),
                ("2026-03-29T01:30:00Z", true),
                ("2026-10-25T01:30:00Z", true),
            ],
        );
        check_next(
            &json,
            &[
                ("2026-11-23T12:00:00Z", None),
                ("2026-03-29T00:30:00Z", None),
            ],
        );
    }

    #[test]
    fn a_closed_holiday_exception_closes_the_whole_date() {
        let json = spec_json(
            "Europe/Prague",
            r#"{"wed": [{"from": "09:00", "to": "17:00"}], "thu": [{"from": "09:00", "to": "17:00"}], "fri": [{"from": "09:00", "to": "17:00"}]}"#,
            r#"[{"date": "2026-12-24", "hours": []}]"#,
        );
        // Thursday 2026-12-24 is closed; the Wednesday before and Friday after are not.
        check_open(
            &json,
            &[
                ("2026-12-23T08:00:00Z", true),
                ("2026-12-24T08:00:00Z", false),
                ("2026-12-24T12:00:00Z", false),
                ("2026-12-25T08:00:00Z", true),
            ],
        );
        check_next(
            &json,
            &[("2026-12-23T16:00:00Z", Some("2026-12-25T08:00:00Z"))],
        );
        // The contract example closes Thursday 24th too, though the default weekly has no Thursday.
        check_open(DOCUMENTED_EXAMPLE, &[("2026-12-24T09:00:00Z", false)]);
    }

    #[test]
    fn an_exception_with_special_hours_replaces_the_weekly_plan() {
        let json = spec_json(
            "Europe/Prague",
            r#"{"thu": [{"from": "09:00", "to": "17:00"}]}"#,
            r#"[{"date": "2026-12-31", "hours": [{"from": "10:00", "to": "12:00"}]}]"#,
        );
        // Thursday 2026-12-31 local 10:00–12:00 only.
        check_open(
            &json,
            &[
                ("2026-12-31T08:30:00Z", false),
                ("2026-12-31T09:00:00Z", true),
                ("2026-12-31T10:59:59Z", true),
                ("2026-12-31T11:00:00Z", false),
                ("2026-12-31T15:00:00Z", false),
                // The Thursday before keeps the weekly plan.
                ("2026-12-24T15:00:00Z", true),
            ],
        );
        check_next(
            &json,
            &[
                ("2026-12-31T07:00:00Z", Some("2026-12-31T09:00:00Z")),
                ("2026-12-31T09:00:00Z", Some("2026-12-31T11:00:00Z")),
            ],
        );
        // An exception opens a day the weekly plan leaves closed (Sunday).
        check_open(
            &spec_json(
                "Europe/Prague",
                "{}",
                r#"[{"date": "2026-11-29", "hours": [{"from": "10:00", "to": "11:00"}]}]"#,
            ),
            &[
                ("2026-11-29T09:30:00Z", true),
                ("2026-11-30T09:30:00Z", false),
            ],
        );
    }

    #[test]
    fn overnight_intervals_cross_into_and_out_of_exception_dates() {
        let json = spec_json(
            "Europe/Prague",
            r#"{"wed": [{"from": "22:00", "to": "06:00"}], "thu": [{"from": "09:00", "to": "17:00"}]}"#,
            r#"[
                {"date": "2026-12-24", "hours": [{"from": "05:00", "to": "07:00"}]},
                {"date": "2026-12-31", "hours": [{"from": "22:00", "to": "02:00"}]},
                {"date": "2027-01-01", "hours": []}
            ]"#,
        );
        check_open(
            &json,
            &[
                // Wednesday night's interval still runs into the exception date,
                // and the exception's own 05:00–07:00 overlaps it: open is the union.
                ("2026-12-24T02:00:00Z", true),
                ("2026-12-24T05:30:00Z", true),
                ("2026-12-24T06:00:00Z", false),
                // The exception replaced Thursday's 09:00–17:00.
                ("2026-12-24T09:00:00Z", false),
                // New Year's Eve runs to 02:00 on the closed New Year's Day.
                ("2026-12-31T21:00:00Z", true),
                ("2027-01-01T00:59:59Z", true),
                ("2027-01-01T01:00:00Z", false),
            ],
        );
        check_next(
            &json,
            &[("2026-12-23T22:00:00Z", Some("2026-12-24T06:00:00Z"))],
        );
    }

    // --- daylight saving time ---

    #[test]
    fn nine_to_five_follows_the_wall_clock_across_prague_spring_forward() {
        // 2026-03-29 02:00 CET (UTC+1) becomes 03:00 CEST (UTC+2).
        let json = every_day("Europe/Prague", "09:00", "17:00");
        check_open(
            &json,
            &[
                ("2026-03-28T07:59:59Z", false),
                ("2026-03-28T08:00:00Z", true),
                ("2026-03-28T15:59:59Z", true),
                ("2026-03-28T16:00:00Z", false),
                ("2026-03-29T06:59:59Z", false),
                ("2026-03-29T07:00:00Z", true),
                ("2026-03-29T14:59:59Z", true),
                ("2026-03-29T15:00:00Z", false),
            ],
        );
        check_next(
            &json,
            &[
                ("2026-03-28T16:00:00Z", Some("2026-03-29T07:00:00Z")),
                ("2026-03-29T07:00:00Z", Some("2026-03-29T15:00:00Z")),
            ],
        );
    }

    #[test]
    fn nine_to_five_follows_the_wall_clock_across_prague_fall_back() {
        // 2026-10-25 03:00 CEST (UTC+2) becomes 02:00 CET (UTC+1).
        let json = every_day("Europe/Prague", "09:00", "17:00");
        check_open(
            &json,
            &[
                ("2026-10-24T07:00:00Z", true),
                ("2026-10-24T15:00:00Z", false),
                ("2026-10-25T07:30:00Z", false),
                ("2026-10-25T08:00:00Z", true),
                ("2026-10-25T15:30:00Z", true),
                ("2026-10-25T16:00:00Z", false),
            ],
        );
        check_next(
            &json,
            &[
                ("2026-10-24T15:00:00Z", Some("2026-10-25T08:00:00Z")),
                ("2026-10-25T08:00:00Z", Some("2026-10-25T16:00:00Z")),
            ],
        );
    }

    #[test]
    fn nine_to_five_follows_the_wall_clock_across_new_york_switches() {
        // 2026-03-08 02:00 EST (UTC-5) becomes 03:00 EDT (UTC-4);
        // 2026-11-01 02:00 EDT becomes 01:00 EST.
        let json = every_day("America/New_York", "09:00", "17:00");
        check_open(
            &json,
            &[
                ("2026-03-07T14:00:00Z", true),
                ("2026-03-07T21:59:59Z", true),
                ("2026-03-07T22:00:00Z", false),
                ("2026-03-08T12:59:59Z", false),
                ("2026-03-08T13:00:00Z", true),
                ("2026-03-08T21:00:00Z", false),
                ("2026-10-31T13:00:00Z", true),
                ("2026-10-31T21:00:00Z", false),
                ("2026-11-01T13:30:00Z", false),
                ("2026-11-01T14:00:00Z", true),
                ("2026-11-01T21:59:59Z", true),
                ("2026-11-01T22:00:00Z", false),
            ],
        );
        check_next(
            &json,
            &[
                ("2026-03-07T22:00:00Z", Some("2026-03-08T13:00:00Z")),
                ("2026-10-31T21:00:00Z", Some("2026-11-01T14:00:00Z")),
            ],
        );
    }

    #[test]
    fn an_interval_inside_the_spring_forward_gap_is_empty() {
        // 02:00–03:00 never happens on 2026-03-29 in Prague.
        let json = prague(r#"{"sun": [{"from": "02:00", "to": "03:00"}]}"#);
        check_open(
            &json,
            &[
                ("2026-03-29T00:59:59Z", false),
                ("2026-03-29T01:00:00Z", false),
                ("2026-03-29T01:30:00Z", false),
                // A week later it is an ordinary hour (UTC+2).
                ("2026-04-05T00:00:00Z", true),
            ],
        );
        check_next(
            &json,
            &[("2026-03-28T12:00:00Z", Some("2026-04-05T00:00:00Z"))],
        );
        // The same in New York, 2026-03-08.
        let json = spec_json(
            "America/New_York",
            r#"{"sun": [{"from": "02:00", "to": "03:00"}]}"#,
            "[]",
        );
        check_next(
            &json,
            &[("2026-03-07T12:00:00Z", Some("2026-03-15T06:00:00Z"))],
        );
    }

    #[test]
    fn intervals_touching_the_spring_forward_gap_shift_as_the_clock_does() {
        // Prague 2026-03-29: 01:00 CET is 00:00Z and 04:00 CEST is 02:00Z, two real hours.
        check_next(
            &prague(r#"{"sun": [{"from": "01:00", "to": "04:00"}]}"#),
            &[
                ("2026-03-28T23:00:00Z", Some("2026-03-29T00:00:00Z")),
                ("2026-03-29T00:00:00Z", Some("2026-03-29T02:00:00Z")),
            ],
        );
        // A start inside the gap moves forward by the gap: 02:30 becomes 03:30 CEST.
        check_open(
            &prague(r#"{"sun": [{"from": "02:30", "to": "05:00"}]}"#),
            &[
                ("2026-03-29T01:29:59Z", false),
                ("2026-03-29T01:30:00Z", true),
                ("2026-03-29T02:59:59Z", true),
                ("2026-03-29T03:00:00Z", false),
            ],
        );
    }

    #[test]
    fn a_time_in_the_repeated_fall_back_hour_means_its_first_occurrence() {
        // New York 2026-11-01: 01:00–01:30 EDT is 05:00Z–05:30Z; the repeat in EST stays closed.
        check_open(
            &spec_json(
                "America/New_York",
                r#"{"sun": [{"from": "01:00", "to": "01:30"}]}"#,
                "[]",
            ),
            &[
                ("2026-11-01T04:59:59Z", false),
                ("2026-11-01T05:00:00Z", true),
                ("2026-11-01T05:30:00Z", false),
                ("2026-11-01T06:15:00Z", false),
            ],
        );
        // Prague 2026-10-25: 02:30 CEST is 00:30Z, 04:00 CET is 03:00Z.
        check_next(
            &prague(r#"{"sun": [{"from": "02:30", "to": "04:00"}]}"#),
            &[
                ("2026-10-25T00:00:00Z", Some("2026-10-25T00:30:00Z")),
                ("2026-10-25T00:30:00Z", Some("2026-10-25T03:00:00Z")),
            ],
        );
    }

    #[test]
    fn an_overnight_interval_across_the_fall_back_night_lasts_an_hour_longer() {
        // Saturday 22:00 CEST (20:00Z) to Sunday 06:00 CET (05:00Z): nine hours.
        check_next(
            DOCUMENTED_EXAMPLE,
            &[
                ("2026-10-24T12:00:00Z", Some("2026-10-24T20:00:00Z")),
                ("2026-10-24T20:00:00Z", Some("2026-10-25T05:00:00Z")),
            ],
        );
    }

    // --- horizon and disabled ---

    #[test]
    fn next_change_is_none_beyond_fourteen_days() {
        check_next(&prague("{}"), &[("2026-11-23T12:00:00Z", None)]);
        // Only an exception 20 days away.
        let json = spec_json(
            "Europe/Prague",
            "{}",
            r#"[{"date": "2026-12-13", "hours": [{"from": "10:00", "to": "11:00"}]}]"#,
        );
        check_next(
            &json,
            &[
                ("2026-11-23T09:00:00Z", None),
                ("2026-12-01T09:00:00Z", Some("2026-12-13T09:00:00Z")),
            ],
        );
        // Exactly fourteen days counts; a second more does not.
        let json = spec_json(
            "Europe/Prague",
            "{}",
            r#"[{"date": "2026-12-08", "hours": [{"from": "10:00", "to": "11:00"}]}]"#,
        );
        check_next(
            &json,
            &[
                ("2026-11-24T09:00:00Z", Some("2026-12-08T09:00:00Z")),
                ("2026-11-24T08:59:59Z", None),
            ],
        );
    }

    #[test]
    fn disabled_office_hours_are_always_open_and_never_change() {
        let json = r#"{"enabled": false, "timezone": "Europe/Prague", "weekly": {"mon": [{"from": "09:00", "to": "17:00"}]}}"#;
        let hours = hours(json);
        assert!(!hours.enabled());
        for at in [
            "2026-11-23T03:00:00Z",
            "2026-11-23T10:00:00Z",
            "2026-11-24T10:00:00Z",
        ] {
            assert!(hours.is_open(ts(at)), "disabled is open at {at}");
            assert_eq!(hours.next_change(ts(at)), None);
        }
        assert!(self::hours(DOCUMENTED_EXAMPLE).enabled());
    }

    #[test]
    fn extreme_instants_do_not_panic() {
        let hours = hours(&every_day("Pacific/Apia", "22:00", "06:00"));
        for at in [Timestamp::MIN, Timestamp::MAX, Timestamp::UNIX_EPOCH] {
            let _ = hours.is_open(at);
            let _ = hours.next_change(at);
        }
        // Samoa skipped 2011-12-30 (UTC-10 to UTC+14). The night of the 29th
        // ends at "06:00 on the 30th", a time in the gap that moves forward to
        // 06:00 on the 31st; at 05:00 on the 31st it is two local dates back.
        assert!(hours.is_open(ts("2011-12-30T08:00:00Z")));
        assert!(hours.is_open(ts("2011-12-30T15:00:00Z")));
        assert!(!hours.is_open(ts("2011-12-30T16:00:00Z")));
        assert_eq!(
            hours.next_change(ts("2011-12-30T15:00:00Z")),
            Some(ts("2011-12-30T16:00:00Z"))
        );
    }

    // --- wire shape ---

    #[test]
    fn the_contract_example_round_trips_through_serde() {
        let spec: OfficeHoursSpec = serde_json::from_str(DOCUMENTED_EXAMPLE).unwrap();
        assert_eq!(spec.weekly.mon.len(), 2);
        assert_eq!(spec.exceptions[0].date, "2026-12-24");
        let value = serde_json::to_value(&spec).unwrap();
        let original: serde_json::Value = serde_json::from_str(DOCUMENTED_EXAMPLE).unwrap();
        assert_eq!(value, original);
        let again: OfficeHoursSpec = serde_json::from_value(value).unwrap();
        assert_eq!(again, spec);
        assert!(OfficeHours::parse(&again).is_ok());
    }

    #[test]
    fn weekly_and_exceptions_may_be_omitted() {
        let spec: OfficeHoursSpec =
            serde_json::from_str(r#"{"enabled": true, "timezone": "UTC"}"#).unwrap();
        assert_eq!(spec.weekly, WeeklySpec::default());
        assert!(spec.exceptions.is_empty());
    }

    #[test]
    fn unknown_fields_are_rejected() {
        for json in [
            r#"{"enabled": true, "timezone": "UTC", "weekly": {"monday": []}}"#,
            r#"{"enabled": true, "timezone": "UTC", "holidays": []}"#,
            r#"{"enabled": true, "timezone": "UTC", "weekly": {"mon": [{"from": "09:00", "to": "10:00", "until": "11:00"}]}}"#,
            r#"{"enabled": true, "timezone": "UTC", "exceptions": [{"date": "2026-12-24", "closed": true}]}"#,
        ] {
            assert!(
                serde_json::from_str::<OfficeHoursSpec>(json).is_err(),
                "{json}"
            );
        }
    }
}
