//! How fast the line moves: admissions per second, started at a configured rate and adapted
//! from what the booking path reports — its p99 latency and the admitted people still inside
//! their window. Additive increase while both are under their targets, multiplicative decrease
//! when either is over (the rule TCP uses, for the same reason: find the capacity and stay near
//! it without overshooting long).

/// The controller's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateSettings {
    /// Admissions per second at the opening.
    pub start_per_s: f64,
    pub min_per_s: f64,
    pub max_per_s: f64,
    /// Booking p99 above this slows the line.
    pub target_p99_ms: f64,
    /// More admitted people inside their window than this slows the line.
    pub max_in_flight: usize,
    /// Added per adjustment while healthy.
    pub step_per_s: f64,
    /// Kept per adjustment when over a target (0.7: 30 % slower).
    pub backoff: f64,
}

impl Default for RateSettings {
    fn default() -> Self {
        Self {
            start_per_s: 50.0,
            min_per_s: 5.0,
            max_per_s: 2_000.0,
            target_p99_ms: 200.0,
            max_in_flight: 2_000,
            step_per_s: 10.0,
            backoff: 0.7,
        }
    }
}

/// The admission rate, and the fraction of an admission carried between ticks.
#[derive(Debug, Clone)]
pub struct Rate {
    settings: RateSettings,
    per_s: f64,
    carried: f64,
}

impl Rate {
    pub fn new(settings: RateSettings) -> Self {
        Self {
            per_s: settings
                .start_per_s
                .clamp(settings.min_per_s, settings.max_per_s),
            settings,
            carried: 0.0,
        }
    }

    pub fn per_s(&self) -> f64 {
        self.per_s
    }

    /// Adapts to the booking path's latest `p99_ms` and the admitted people `in_flight`.
    pub fn adjust(&mut self, p99_ms: f64, in_flight: usize) {
        let s = &self.settings;
        let next = if p99_ms > s.target_p99_ms || in_flight > s.max_in_flight {
            self.per_s * s.backoff
        } else {
            self.per_s + s.step_per_s
        };
        self.per_s = next.clamp(s.min_per_s, s.max_per_s);
    }

    /// How many to admit for a tick of `secs` seconds (fractions carry to the next tick).
    pub fn admissions(&mut self, secs: f64) -> usize {
        let due = self.per_s * secs.max(0.0) + self.carried;
        let whole = due.floor();
        self.carried = due - whole;
        // `whole` is at most max_per_s × secs: far inside usize.
        whole as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_speeds_up_overloaded_slows_down_within_bounds() {
        let mut r = Rate::new(RateSettings::default());
        assert_eq!(r.per_s(), 50.0);
        r.adjust(100.0, 10);
        assert_eq!(r.per_s(), 60.0);
        r.adjust(300.0, 10);
        assert!((r.per_s() - 42.0).abs() < 1e-9);
        r.adjust(100.0, 5_000);
        assert!((r.per_s() - 29.4).abs() < 1e-9);
        for _ in 0..100 {
            r.adjust(1_000.0, 0);
        }
        assert_eq!(r.per_s(), 5.0, "never below the floor");
        for _ in 0..1_000 {
            r.adjust(1.0, 0);
        }
        assert_eq!(r.per_s(), 2_000.0, "never above the ceiling");
    }

    #[test]
    fn fractions_carry_between_ticks() {
        let mut r = Rate::new(RateSettings {
            start_per_s: 5.0,
            ..RateSettings::default()
        });
        let total: usize = (0..100).map(|_| r.admissions(0.1)).sum();
        assert_eq!(total, 50, "5 a second over 10 seconds");
    }
}
