//! The rush simulator's people: who each simulated account is (its population, device, address,
//! contact phone, the ID numbers it books for) and how it behaves at the 09:00 release — when it
//! looks at the page, how long after its admission it submits, whether it solves a challenge.
//!
//! - **family**: an ordinary visitor booking 1–5 tickets for their own family, on their own
//!   phone and home network; looks at the slot's page, submits like a person (seconds after the
//!   admission), solves a challenge if asked (the browser does). Not every family looks the
//!   part: 1 in 20 shares its phone with the family before it (a household with two accounts),
//!   1 in 10 is behind a mobile carrier's NAT (five /24s shared by all of them), 1 in 20 comes
//!   from a shared link straight to booking (no page seen), 1 in 33 submits within 1–2 s
//!   (autofill).
//! - **casual scalper**: a person with a few accounts on one phone, booking 5 borrowed ID
//!   numbers per account; behaves like a person otherwise.
//! - **ring**: a professional scalper ring — dozens of accounts on a few devices, a couple of
//!   contact phones, rotating addresses, 5 borrowed ID numbers per booking, scripted timing
//!   (submits well under a second after its admission); solves challenges.
//! - **bot**: a pure script — no page view, a new device id per request, data-centre
//!   addresses, submits at once, tries to book before its admission; cannot solve challenges.

use std::net::Ipv4Addr;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Population {
    Family,
    CasualScalper,
    Ring,
    Bot,
}

impl Population {
    pub const ALL: [Population; 4] = [
        Population::Family,
        Population::CasualScalper,
        Population::Ring,
        Population::Bot,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Population::Family => "families",
            Population::CasualScalper => "casual_scalpers",
            Population::Ring => "rings",
            Population::Bot => "bots",
        }
    }

    /// Labelled a scalper (casual or ring): what the "scalper" decisions are scored against.
    pub fn is_scalper(self) -> bool {
        matches!(self, Population::CasualScalper | Population::Ring)
    }
}

/// How many of each, as `gatehouse sim rush` is told (its defaults are documented there).
#[derive(Debug, Clone, Copy)]
pub struct Mix {
    pub families: usize,
    pub casual_scalpers: usize,
    pub casual_accounts: usize,
    pub rings: usize,
    pub ring_accounts: usize,
    pub ring_devices: usize,
    pub bots: usize,
}

impl Mix {
    pub fn accounts(&self) -> usize {
        self.families
            + self.casual_scalpers * self.casual_accounts
            + self.rings * self.ring_accounts
            + self.bots
    }
}

/// One simulated account.
#[derive(Debug, Clone)]
pub struct Person {
    pub population: Population,
    /// `None`: a new device id every request (a bot).
    pub device: Option<String>,
    pub contact_phone: String,
    /// The ID numbers it books for (its family's, or borrowed).
    pub ids: Vec<u32>,
    /// Its home network (/24), or None when it rotates addresses per request.
    home: Option<[u8; 3]>,
    /// Seconds from admission to submit.
    pub think_secs: f64,
    pub views_page: bool,
    pub solves_challenges: bool,
}

impl Person {
    /// The address it sends from now (`X-Forwarded-For` through the trusted local proxy).
    pub fn address(&self, rng: &mut ChaCha8Rng) -> String {
        let [a, b, c] = self.home.unwrap_or_else(|| {
            if self.population == Population::Bot {
                // A few data-centre networks.
                [45, 77, rng.gen_range(0..4)]
            } else {
                [100, rng.gen_range(64..128), rng.gen()]
            }
        });
        Ipv4Addr::new(a, b, c, rng.gen_range(1..255)).to_string()
    }

    /// The device id it sends now.
    pub fn device_now(&self, rng: &mut ChaCha8Rng) -> String {
        self.device
            .clone()
            .unwrap_or_else(|| format!("bot-{:016x}", rng.gen::<u64>()))
    }
}

/// Everyone, in account order: families, then casual scalpers, rings and bots. ID numbers are
/// unique across people (nobody is refused for an ID number someone else booked), so what
/// stops a scalper is risk control, not the per-ID limit.
pub fn people(mix: &Mix, rng: &mut ChaCha8Rng, human_secs: (f64, f64)) -> Vec<Person> {
    let mut out = Vec::with_capacity(mix.accounts());
    let mut next_id: u32 = 1;
    let mut ids = |n: usize| -> Vec<u32> {
        let first = next_id;
        next_id += u32::try_from(n).unwrap_or(0);
        (first..next_id).collect()
    };
    let human = |rng: &mut ChaCha8Rng| rng.gen_range(human_secs.0..=human_secs.1.max(human_secs.0));
    let home = |n: usize, base: u8| -> [u8; 3] {
        [
            base,
            u8::try_from((n >> 8) & 0xff).unwrap_or(0),
            u8::try_from(n & 0xff).unwrap_or(0),
        ]
    };
    for f in 0..mix.families {
        let size = rng.gen_range(1..=5);
        let household = f % 20 == 1;
        let carrier_nat = f % 10 == 3;
        let deep_link = f % 20 == 7;
        let autofill = f % 33 == 5;
        out.push(Person {
            population: Population::Family,
            device: Some(format!("family-{}", if household { f - 1 } else { f })),
            contact_phone: format!("137{:08}", f),
            ids: ids(size),
            home: Some(if carrier_nat {
                [10, 250, u8::try_from(f % 5).unwrap_or(0)]
            } else {
                home(f, 10)
            }),
            think_secs: if autofill {
                rng.gen_range(1.0..2.0)
            } else {
                human(rng)
            },
            views_page: !deep_link,
            solves_challenges: true,
        });
    }
    for p in 0..mix.casual_scalpers {
        for _ in 0..mix.casual_accounts {
            out.push(Person {
                population: Population::CasualScalper,
                device: Some(format!("casual-{p}")),
                contact_phone: format!("136{:08}", p),
                ids: ids(5),
                home: Some(home(p, 11)),
                think_secs: human(rng),
                views_page: true,
                solves_challenges: true,
            });
        }
    }
    for r in 0..mix.rings {
        for a in 0..mix.ring_accounts {
            out.push(Person {
                population: Population::Ring,
                device: Some(format!("ring-{r}-{}", a % mix.ring_devices.max(1))),
                contact_phone: format!("135{:04}{:04}", r, a % 2),
                ids: ids(5),
                home: None,
                think_secs: rng.gen_range(0.2..0.8),
                views_page: true,
                solves_challenges: true,
            });
        }
    }
    for b in 0..mix.bots {
        out.push(Person {
            population: Population::Bot,
            device: None,
            contact_phone: format!("134{:08}", b),
            ids: ids(5),
            home: None,
            think_secs: rng.gen_range(0.0..0.1),
            views_page: false,
            solves_challenges: false,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use rand::SeedableRng;

    use super::*;

    #[test]
    fn the_populations_are_as_documented_and_id_numbers_never_repeat() {
        let mix = Mix {
            families: 50,
            casual_scalpers: 4,
            casual_accounts: 3,
            rings: 2,
            ring_accounts: 10,
            ring_devices: 3,
            bots: 7,
        };
        let everyone = people(&mix, &mut ChaCha8Rng::seed_from_u64(1), (2.5, 8.0));
        assert_eq!(everyone.len(), mix.accounts());
        assert_eq!(everyone.len(), 50 + 12 + 20 + 7);
        let mut all_ids: Vec<u32> = everyone.iter().flat_map(|p| p.ids.clone()).collect();
        let n = all_ids.len();
        all_ids.sort_unstable();
        all_ids.dedup();
        assert_eq!(all_ids.len(), n, "no ID number is booked by two people");
        let rings: Vec<&Person> = everyone
            .iter()
            .filter(|p| p.population == Population::Ring)
            .collect();
        let devices: std::collections::BTreeSet<&String> =
            rings.iter().filter_map(|p| p.device.as_ref()).collect();
        assert_eq!(devices.len(), 6, "3 devices per ring");
        assert!(rings.iter().all(|p| p.think_secs < 1.0 && p.ids.len() == 5));
        let families = everyone
            .iter()
            .filter(|p| p.population == Population::Family);
        assert!(families.clone().all(|p| (1..=5).contains(&p.ids.len())));
        let quick = families.clone().filter(|p| p.think_secs < 2.5).count();
        let no_page = families.clone().filter(|p| !p.views_page).count();
        assert_eq!(
            (quick, no_page),
            (2, 3),
            "1 in 33 autofills, 1 in 20 skips the page"
        );
        let phones: std::collections::BTreeSet<&String> =
            families.clone().filter_map(|p| p.device.as_ref()).collect();
        assert_eq!(phones.len(), 50 - 3, "1 in 20 households share a phone");
        let bot = everyone.last().unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        assert_ne!(
            bot.device_now(&mut rng),
            bot.device_now(&mut rng),
            "a bot's device changes"
        );
        assert!(bot.address(&mut rng).starts_with("45.77."));
        assert!(!bot.solves_challenges && !bot.views_page);
    }
}
