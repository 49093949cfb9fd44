//! The call meter: counters in a small file mapped into memory. Counting a call is a few
//! instructions on the mapped page — no system call, no disk write — and survives `kill -9`,
//! because the page belongs to the kernel's page cache, which writes it back whether or not
//! the process lives. (A power cut can lose what the kernel had not yet written; the counters
//! are folded into the database every few seconds, which bounds that loss.)
//!
//! Layout (little-endian): magic `GHMETER1`, the node id (random, kept for the file's life),
//! then one u64 per [`Counted`] kind.
//!
//! Architecture invariant: the only `unsafe` in the workspace is the mapping in
//! [`CallMeter::open`], and the file is only ever touched through this type.

use std::fs::OpenOptions;
use std::io;
use std::path::Path;
use std::sync::Mutex;

use memmap2::MmapMut;

const MAGIC: &[u8; 8] = b"GHMETER1";
const FILE_BYTES: u64 = 4096;
const NODE_AT: usize = 8;
const COUNTERS_AT: usize = 16;

/// What a call came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Counted {
    /// Let through to the service.
    Passed = 0,
    /// Refused by a limit, a flow rule or shedding.
    Refused,
    /// Answered with a challenge.
    Challenged,
    /// Refused by a block list or the bot signals.
    Blocked,
    /// A risk assessment (the "risk identification" product), by the level it answered.
    RiskPass,
    RiskChallenge,
    RiskReview,
    RiskReject,
}

/// Counters in the file. Kinds are only ever added at the end: a file written before a kind
/// existed reads it as zero.
const KINDS: usize = 8;

/// The counters' values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub passed: u64,
    pub refused: u64,
    pub challenged: u64,
    pub blocked: u64,
}

impl Totals {
    /// Every call counted.
    pub fn calls(&self) -> u64 {
        self.passed + self.refused + self.challenged + self.blocked
    }
}

/// The risk assessments counted, by level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RiskTotals {
    pub pass: u64,
    pub challenge: u64,
    pub review: u64,
    pub reject: u64,
}

impl RiskTotals {
    /// Every assessment counted.
    pub fn calls(&self) -> u64 {
        self.pass + self.challenge + self.review + self.reject
    }
}

/// A meter file, mapped.
pub struct CallMeter {
    map: Mutex<MmapMut>,
    node: u64,
    /// Held open with an exclusive lock for the meter's life: no other process maps it.
    _file: std::fs::File,
}

fn read_u64(map: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(src) = map.get(at..at + 8) {
        b.copy_from_slice(src);
    }
    u64::from_le_bytes(b)
}

fn write_u64(map: &mut [u8], at: usize, v: u64) {
    if let Some(dst) = map.get_mut(at..at + 8) {
        dst.copy_from_slice(&v.to_le_bytes());
    }
}

impl CallMeter {
    /// Opens the meter file, creating it (with a new node id) if it does not exist.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        file.try_lock().map_err(|_| {
            io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "{} is in use by another Gatehouse process (one process per meter file)",
                    path.display()
                ),
            )
        })?;
        let fresh = file.metadata()?.len() == 0;
        if fresh {
            file.set_len(FILE_BYTES)?;
        } else if file.metadata()?.len() != FILE_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is not a call meter (wrong size)", path.display()),
            ));
        }
        // SAFETY: the mapping is sound as long as no one else truncates or writes the file
        // while it is mapped. Gatehouse opens it only here, under the exclusive lock taken
        // above and held until the map is gone; its size was checked and never changes; and
        // within this process every access goes through the Mutex below, as byte copies.
        #[allow(unsafe_code)]
        let mut map = unsafe { MmapMut::map_mut(&file)? };
        if fresh {
            map.get_mut(..8)
                .ok_or_else(|| io::Error::other("meter map too small"))?
                .copy_from_slice(MAGIC);
            write_u64(&mut map, NODE_AT, rand::random::<u64>() >> 1);
            map.flush()?;
        } else if map.get(..8) != Some(MAGIC.as_slice()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is not a call meter", path.display()),
            ));
        }
        let node = read_u64(&map, NODE_AT);
        Ok(Self {
            map: Mutex::new(map),
            node,
            _file: file,
        })
    }

    /// This meter's node id (one per data directory).
    pub fn node(&self) -> u64 {
        self.node
    }

    /// Counts one call.
    pub fn count(&self, kind: Counted) {
        let at = COUNTERS_AT + 8 * (kind as usize);
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let v = read_u64(&map, at);
        write_u64(&mut map, at, v.wrapping_add(1));
    }

    /// The counters now.
    pub fn totals(&self) -> Totals {
        let map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let get = |k: Counted| read_u64(&map, COUNTERS_AT + 8 * (k as usize));
        debug_assert!(COUNTERS_AT + 8 * KINDS <= FILE_BYTES as usize);
        Totals {
            passed: get(Counted::Passed),
            refused: get(Counted::Refused),
            challenged: get(Counted::Challenged),
            blocked: get(Counted::Blocked),
        }
    }

    /// The risk assessments' counters now.
    pub fn risk_totals(&self) -> RiskTotals {
        let map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let get = |k: Counted| read_u64(&map, COUNTERS_AT + 8 * (k as usize));
        RiskTotals {
            pass: get(Counted::RiskPass),
            challenge: get(Counted::RiskChallenge),
            review: get(Counted::RiskReview),
            reject: get(Counted::RiskReject),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn counts_persist_in_the_file_and_the_node_stays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meter");
        let node = {
            let m = CallMeter::open(&path).unwrap();
            for _ in 0..1_000 {
                m.count(Counted::Passed);
            }
            m.count(Counted::Blocked);
            m.count(Counted::Challenged);
            m.node()
            // Dropped without any flush: the kernel's page is the record.
        };
        let m = CallMeter::open(&path).unwrap();
        assert_eq!(m.node(), node);
        let t = m.totals();
        assert_eq!(
            (t.passed, t.blocked, t.challenged, t.refused),
            (1_000, 1, 1, 0)
        );
        assert_eq!(t.calls(), 1_002);
        assert_eq!(m.risk_totals(), RiskTotals::default());
    }

    #[test]
    fn risk_assessments_are_counted_apart_from_traffic_and_persist() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meter");
        {
            let m = CallMeter::open(&path).unwrap();
            m.count(Counted::Passed);
            for _ in 0..5 {
                m.count(Counted::RiskPass);
            }
            m.count(Counted::RiskChallenge);
            m.count(Counted::RiskReview);
            m.count(Counted::RiskReject);
            m.count(Counted::RiskReject);
        }
        let m = CallMeter::open(&path).unwrap();
        assert_eq!(m.totals().calls(), 1, "risk calls are not traffic calls");
        let r = m.risk_totals();
        assert_eq!((r.pass, r.challenge, r.review, r.reject), (5, 1, 1, 2));
        assert_eq!(r.calls(), 9);
    }

    #[test]
    fn one_process_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meter");
        let first = CallMeter::open(&path).unwrap();
        let second = CallMeter::open(&path).err().unwrap();
        assert_eq!(second.kind(), io::ErrorKind::WouldBlock);
        drop(first);
        assert!(CallMeter::open(&path).is_ok());
    }

    #[test]
    fn other_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not-a-meter");
        std::fs::write(&path, vec![7u8; 4096]).unwrap();
        assert!(CallMeter::open(&path).is_err());
        std::fs::write(&path, b"short").unwrap();
        assert!(CallMeter::open(&path).is_err());
    }

    #[test]
    fn many_threads_count_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let m = std::sync::Arc::new(CallMeter::open(&dir.path().join("m")).unwrap());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..25_000 {
                        m.count(Counted::Refused);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(m.totals().refused, 100_000);
    }
}
