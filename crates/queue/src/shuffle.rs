//! The fair shuffle of the pre-queue, specified so anyone can re-run it. Before the release
//! Gatehouse publishes `SHA-256(seed)`; after it, the seed and the list of place ids in join
//! order. Re-running [`shuffle`] over that list with that seed gives the published queue order.
//!
//! The algorithm, exactly: a ChaCha20 stream (the `rand_chacha` crate's `ChaCha20Rng`, seeded
//! with the 32-byte seed, 20 rounds, stream 0) gives 64-bit words (`next_u64`, little-endian
//! word order as that crate defines it). For `i` from `n − 1` down to `1`, draw words until one
//! is below `zone = 2^64 − (2^64 mod (i + 1))`, take `j = word mod (i + 1)`, and swap items `i`
//! and `j` (Fisher–Yates; the rejection makes every `j` equally likely).

use rand::RngCore;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};

/// The secret that decides a release's order, drawn when its pre-queue opens.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Seed(pub [u8; 32]);

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never printed before the release: the commitment is what is public until then.
        f.write_str("Seed(…)")
    }
}

impl Seed {
    /// A fresh seed from the operating system's generator.
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// What is published before the release: `SHA-256(seed)`, hex.
    pub fn commitment(&self) -> String {
        hex_of(&Sha256::digest(self.0))
    }

    /// The seed, hex (published after the release).
    pub fn to_hex(&self) -> String {
        hex_of(&self.0)
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        let bytes = data_encoding::HEXLOWER_PERMISSIVE
            .decode(text.trim().as_bytes())
            .ok()?;
        Some(Self(bytes.try_into().ok()?))
    }
}

fn hex_of(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

/// Whether `seed` is the one `commitment` promised.
pub fn keeps_promise(seed: &Seed, commitment: &str) -> bool {
    seed.commitment().eq_ignore_ascii_case(commitment.trim())
}

/// A uniform index in `0..=i` from the stream (rejection sampling; see the module's text).
fn below(rng: &mut ChaCha20Rng, i: u64) -> u64 {
    let n = i + 1;
    let zone = u64::MAX - (u64::MAX % n + 1) % n;
    loop {
        let word = rng.next_u64();
        if word <= zone {
            return word % n;
        }
    }
}

/// Shuffles `items` in place as the module describes.
pub fn shuffle<T>(items: &mut [T], seed: &Seed) {
    let mut rng = ChaCha20Rng::from_seed(seed.0);
    for i in (1..items.len()).rev() {
        let j = below(&mut rng, i as u64);
        items.swap(i, usize::try_from(j).unwrap_or(i));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_order_and_another_seed_another() {
        let seed = Seed([7; 32]);
        let mut a: Vec<u32> = (0..1000).collect();
        let mut b = a.clone();
        shuffle(&mut a, &seed);
        shuffle(&mut b, &seed);
        assert_eq!(a, b);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>(), "a permutation");
        let mut c: Vec<u32> = (0..1000).collect();
        shuffle(&mut c, &Seed([8; 32]));
        assert_ne!(a, c);
    }

    /// A published vector: anyone re-implementing the shuffle from the module's text checks
    /// their code against it (seed 00 01 02 … 1f, items 0..10).
    #[test]
    fn a_published_vector() {
        let seed = Seed(core::array::from_fn(|i| u8::try_from(i).unwrap_or(0)));
        let mut items: Vec<u32> = (0..10).collect();
        shuffle(&mut items, &seed);
        assert_eq!(
            items, PUBLISHED,
            "the algorithm changed: the published order no longer re-runs"
        );
    }

    // Computed by tests/peer_shuffle.py from OpenSSL's ChaCha20 (Python's `cryptography`) too.
    const PUBLISHED: [u32; 10] = [6, 0, 8, 4, 1, 5, 9, 2, 7, 3];

    #[test]
    fn the_commitment_binds_the_seed() {
        let seed = Seed([3; 32]);
        assert!(keeps_promise(&seed, &seed.commitment()));
        assert!(!keeps_promise(&Seed([4; 32]), &seed.commitment()));
        assert_eq!(Seed::from_hex(&seed.to_hex()), Some(seed));
        assert_eq!(Seed::from_hex("abcd"), None);
        assert_eq!(format!("{seed:?}"), "Seed(…)");
    }

    /// Every position is equally likely for every item: 3 items, 60,000 shuffles, each of the
    /// 6 orders about 10,000 times (chi-square, 5 degrees of freedom, p ≈ 0.001 at 20.5).
    #[test]
    fn every_order_is_equally_likely() {
        let mut counts = std::collections::HashMap::new();
        for s in 0u32..60_000 {
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&s.to_le_bytes());
            let mut items = [0u8, 1, 2];
            shuffle(&mut items, &Seed(seed));
            *counts.entry(items).or_insert(0u32) += 1;
        }
        assert_eq!(counts.len(), 6);
        let chi: f64 = counts
            .values()
            .map(|&c| (f64::from(c) - 10_000.0).powi(2) / 10_000.0)
            .sum();
        assert!(chi < 20.5, "chi-square {chi}: {counts:?}");
    }
}
