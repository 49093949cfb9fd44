//! What changes a line: a join, an admission of the next few, a place finished, the sell-out.
//! One node applies them as they happen; many nodes append them to one shared log and each
//! applies the log in its order, so every node holds the same line. Each event names the
//! instant it happened, and applying it reads no other clock, so the same events in the same
//! order give the same line everywhere. The bytes here are how an event travels in that log.

use jiff::Timestamp;

use crate::line::{Person, PlaceId};

/// One change to a release's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `person` asks for a place.
    Join { person: Person, at: Timestamp },
    /// The next `n` places are admitted (at the opening, with `n` possibly 0: the shuffle).
    Admit { n: u32, at: Timestamp },
    /// `place` booked (`bought`) or gave its window up.
    Finish {
        place: PlaceId,
        bought: bool,
        at: Timestamp,
    },
    /// Nothing is left: nobody new joins and everyone waiting is told.
    SellOut { at: Timestamp },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an event of the waiting room's log")]
pub struct MalformedEvent;

const VERSION: u8 = 1;
/// At most this many blind indexes travel with a join (a phone and a family's ID numbers).
pub const MAX_KEYS: usize = 64;

impl Event {
    /// The event's bytes in the shared log: a version, a tag, then fixed-width big-endian fields.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.push(VERSION);
        let at = |out: &mut Vec<u8>, t: &Timestamp| {
            out.extend_from_slice(&t.as_millisecond().to_be_bytes());
        };
        match self {
            Event::Join { person, at: t } => {
                out.push(b'J');
                at(&mut out, t);
                out.extend_from_slice(&person.account.to_be_bytes());
                out.extend_from_slice(&person.session);
                let keys = person.keys.iter().take(MAX_KEYS);
                out.push(u8::try_from(keys.len()).unwrap_or(0));
                for k in keys {
                    out.extend_from_slice(k);
                }
            }
            Event::Admit { n, at: t } => {
                out.push(b'A');
                at(&mut out, t);
                out.extend_from_slice(&n.to_be_bytes());
            }
            Event::Finish {
                place,
                bought,
                at: t,
            } => {
                out.push(b'F');
                at(&mut out, t);
                out.extend_from_slice(&place.0.to_be_bytes());
                out.push(u8::from(*bought));
            }
            Event::SellOut { at: t } => {
                out.push(b'S');
                at(&mut out, t);
            }
        }
        out
    }

    /// Reads an event back; anything else is refused, never half-read.
    pub fn decode(bytes: &[u8]) -> Result<Self, MalformedEvent> {
        let mut r = Reader(bytes);
        if r.byte()? != VERSION {
            return Err(MalformedEvent);
        }
        let tag = r.byte()?;
        let at = Timestamp::from_millisecond(i64::from_be_bytes(r.array()?))
            .map_err(|_| MalformedEvent)?;
        let event = match tag {
            b'J' => {
                let account = i64::from_be_bytes(r.array()?);
                let session = r.array()?;
                let n = usize::from(r.byte()?);
                if n > MAX_KEYS {
                    return Err(MalformedEvent);
                }
                let keys = (0..n).map(|_| r.array()).collect::<Result<_, _>>()?;
                Event::Join {
                    person: Person {
                        account,
                        session,
                        keys,
                    },
                    at,
                }
            }
            b'A' => Event::Admit {
                n: u32::from_be_bytes(r.array()?),
                at,
            },
            b'F' => {
                let place = PlaceId(u64::from_be_bytes(r.array()?));
                let bought = match r.byte()? {
                    0 => false,
                    1 => true,
                    _ => return Err(MalformedEvent),
                };
                Event::Finish { place, bought, at }
            }
            b'S' => Event::SellOut { at },
            _ => return Err(MalformedEvent),
        };
        if r.0.is_empty() {
            Ok(event)
        } else {
            Err(MalformedEvent)
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, MalformedEvent> {
        let (&b, rest) = self.0.split_first().ok_or(MalformedEvent)?;
        self.0 = rest;
        Ok(b)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], MalformedEvent> {
        let (head, rest) = self.0.split_at_checked(N).ok_or(MalformedEvent)?;
        self.0 = rest;
        head.try_into().map_err(|_| MalformedEvent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn every_event_reads_back_as_written() {
        let events = [
            Event::Join {
                person: Person {
                    account: -3,
                    session: [7; 32],
                    keys: vec![[1; 32], [2; 32]],
                },
                at: at(1_800_000_000_123),
            },
            Event::Join {
                person: Person {
                    account: i64::MAX,
                    session: [0; 32],
                    keys: Vec::new(),
                },
                at: at(-5),
            },
            Event::Admit {
                n: 40,
                at: at(1_800_000_000_000),
            },
            Event::Finish {
                place: PlaceId(u64::MAX),
                bought: true,
                at: at(1),
            },
            Event::Finish {
                place: PlaceId(9),
                bought: false,
                at: at(2),
            },
            Event::SellOut { at: at(3) },
        ];
        for e in events {
            assert_eq!(Event::decode(&e.encode()), Ok(e));
        }
    }

    #[test]
    fn anything_else_is_refused_whole() {
        let good = Event::Finish {
            place: PlaceId(9),
            bought: true,
            at: at(2),
        }
        .encode();
        // Every truncation, one byte too many, another version, an unknown tag, a bad flag.
        for cut in 0..good.len() {
            assert_eq!(Event::decode(&good[..cut]), Err(MalformedEvent), "{cut}");
        }
        let mut long = good.clone();
        long.push(0);
        assert_eq!(Event::decode(&long), Err(MalformedEvent));
        for (at, value) in [(0, 2), (1, b'X'), (good.len() - 1, 2)] {
            let mut bad = good.clone();
            bad[at] = value;
            assert_eq!(Event::decode(&bad), Err(MalformedEvent), "{at}");
        }
        let mut keys = Event::Join {
            person: Person {
                account: 1,
                session: [0; 32],
                keys: Vec::new(),
            },
            at: at(0),
        }
        .encode();
        let last = keys.len() - 1;
        keys[last] = 65;
        keys.extend(std::iter::repeat_n(0, 65 * 32));
        assert_eq!(Event::decode(&keys), Err(MalformedEvent));
    }
}
