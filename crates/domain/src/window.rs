//! Booking windows: when a slot's tickets open (09:00 museum time, N days before its date) and
//! close (a configured time before the slot starts). Pure functions of the time passed in.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::catalogue::{ProductRules, Slot};
use crate::error::BookingError;

/// The instants a slot can be booked between: `[opens_at, closes_at)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookingWindow {
    pub opens_at: Timestamp,
    pub closes_at: Timestamp,
}

impl BookingWindow {
    pub fn of(slot: &Slot, rules: &ProductRules, museum_tz: &TimeZone) -> Self {
        let open_day = slot
            .date
            .checked_sub(jiff::Span::new().days(i64::from(rules.open_days_before)));
        let opens_at = open_day
            .ok()
            .and_then(|d| {
                d.to_datetime(rules.open_at)
                    .to_zoned(museum_tz.clone())
                    .ok()
            })
            .map(|z| z.timestamp())
            .unwrap_or(Timestamp::MIN);
        let close_before = SignedDuration::from_mins(i64::from(rules.close_minutes_before_start));
        let closes_at = slot
            .starts_at
            .checked_sub(close_before)
            .unwrap_or(Timestamp::MIN);
        Self {
            opens_at,
            closes_at,
        }
    }

    pub fn is_open(&self, now: Timestamp) -> bool {
        self.opens_at <= now && now < self.closes_at
    }

    pub fn check(&self, now: Timestamp) -> Result<(), BookingError> {
        if self.is_open(now) {
            Ok(())
        } else {
            Err(BookingError::WindowClosed {
                opens_at: self.opens_at,
                closes_at: self.closes_at,
            })
        }
    }
}

/// The instant a civil date and time happen in the museum's zone.
pub fn museum_instant(
    date: jiff::civil::Date,
    time: jiff::civil::Time,
    tz: &TimeZone,
) -> Result<Timestamp, BookingError> {
    date.to_datetime(time)
        .to_zoned(tz.clone())
        .map(|z| z.timestamp())
        .map_err(|e| BookingError::invalid("date", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{ProductId, SlotId};
    use jiff::civil::{date, time};

    fn shanghai() -> TimeZone {
        TimeZone::get("Asia/Shanghai").unwrap()
    }

    fn wednesday_slot() -> Slot {
        let tz = shanghai();
        let d = date(2026, 11, 25); // a Wednesday
        Slot {
            id: SlotId(1),
            product_id: ProductId(1),
            date: d,
            start: time(9, 0, 0, 0),
            end: time(10, 30, 0, 0),
            starts_at: museum_instant(d, time(9, 0, 0, 0), &tz).unwrap(),
            ends_at: museum_instant(d, time(10, 30, 0, 0), &tz).unwrap(),
            capacity: 10,
            taken: 0,
        }
    }

    #[test]
    fn wednesday_opens_monday_at_nine_shanghai_time() {
        let w = BookingWindow::of(&wednesday_slot(), &ProductRules::default(), &shanghai());
        // Monday 2026-11-23 09:00 +08:00 is 01:00 UTC.
        assert_eq!(
            w.opens_at,
            "2026-11-23T01:00:00Z".parse::<Timestamp>().unwrap()
        );
        let just_before = w.opens_at - SignedDuration::from_millis(100);
        assert_eq!(w.check(just_before).unwrap_err().code(), "window_closed");
        assert!(w.is_open(w.opens_at));
        assert!(!w.is_open(w.closes_at));
    }

    #[test]
    fn close_offset_and_days_before_are_per_product() {
        let rules = ProductRules {
            open_days_before: 7,
            close_minutes_before_start: 30,
            ..ProductRules::default()
        };
        let w = BookingWindow::of(&wednesday_slot(), &rules, &shanghai());
        assert_eq!(
            w.opens_at,
            "2026-11-18T01:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(
            w.closes_at,
            "2026-11-25T00:30:00Z".parse::<Timestamp>().unwrap()
        );
    }
}
