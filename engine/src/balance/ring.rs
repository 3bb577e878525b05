//! Consistent hashing: a ring of virtual nodes, ketama style.
//!
//! Each target with a non-zero weight owns points on a 64-bit ring, placed by hashing its
//! name, so a point depends on who the target is and not on where it sits in the list. A
//! key belongs to the first point at or after its own hash. Removing a target moves only
//! the keys it owned; adding one takes roughly `1/n` of the keys from the others.

use std::collections::HashMap;
use std::fmt;

use super::TargetSpec;

/// Ring points for each target when all weights are equal (ketama's figure). With 160
/// points a target's share of keys deviates from the fair share by about 8% (one standard
/// deviation); each point costs 12 bytes.
pub const POINTS_PER_TARGET: u32 = 160;

/// Separates a target's name from its point number in the point hash; `0xFF` never occurs
/// in UTF-8, so no two (name, duplicate, point) triples hash the same input.
const NAME_END: u8 = 0xFF;

/// The compiled ring of one upstream group; read-only, lives in the snapshot.
#[derive(Clone, Default)]
pub struct HashRing {
    /// Point positions, sorted ascending (ties broken by target index).
    hashes: Vec<u64>,
    /// `owners[k]` is the target index owning `hashes[k]`.
    owners: Vec<u32>,
}

impl HashRing {
    /// Builds the ring for `targets`.
    ///
    /// A target gets `POINTS_PER_TARGET * live * weight / total_weight` points (rounded,
    /// at least 1), where `live` counts targets with a non-zero weight, so the ring stays
    /// near `160 * live` points whatever the weights' scale. Weight 0 targets get no
    /// points. Targets sharing a name are told apart by their rank among the duplicates.
    /// Never panics; more than `u32::MAX` targets would wrap owner indices (not a real
    /// upstream group).
    pub fn new(targets: &[TargetSpec]) -> Self {
        let live = targets.iter().filter(|t| t.weight > 0).count() as u128;
        let total: u128 = targets.iter().map(|t| u128::from(t.weight)).sum();
        let mut points: Vec<(u64, u32)> =
            Vec::with_capacity((live as usize).saturating_mul(POINTS_PER_TARGET as usize));
        let mut seen: HashMap<&str, u32> = HashMap::new();
        for (i, t) in targets.iter().enumerate() {
            if t.weight == 0 {
                continue;
            }
            let rank = seen.entry(t.name.as_str()).or_insert(0);
            let dup = *rank;
            *rank += 1;
            let share = u128::from(POINTS_PER_TARGET) * live * u128::from(t.weight);
            let count = ((share + total / 2) / total).clamp(1, u128::from(u32::MAX)) as u32;
            for point in 0..count {
                let mut h = KeyHasher::new();
                h.write(t.name.as_bytes());
                h.write(&[NAME_END]);
                h.write(&dup.to_le_bytes());
                h.write(&point.to_le_bytes());
                points.push((h.finish(), i as u32));
            }
        }
        points.sort_unstable();
        Self {
            hashes: points.iter().map(|p| p.0).collect(),
            owners: points.iter().map(|p| p.1).collect(),
        }
    }

    /// Number of points on the ring.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether the ring has no points (no target has a non-zero weight).
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The target owning `key`, ignoring health; `None` for an empty ring.
    pub fn owner(&self, key: &[u8]) -> Option<usize> {
        self.walk(hash_key(key)).next()
    }

    /// Targets in ring order from the first point at or after `hash`, wrapping once round
    /// the ring (a target appears once per point it owns).
    pub(super) fn walk(&self, hash: u64) -> impl Iterator<Item = usize> + '_ {
        let start = self.hashes.partition_point(|&p| p < hash);
        let n = self.hashes.len();
        (0..n).map(move |k| self.owners[(start + k) % n] as usize)
    }
}

impl fmt::Debug for HashRing {
    /// `HashRing { points: 480 }`: the points themselves say nothing to a reader.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HashRing")
            .field("points", &self.hashes.len())
            .finish()
    }
}

/// The ring position of `key`: FNV-1a 64 followed by murmur3's 64-bit finaliser.
///
/// Fixed and seedless on purpose, unlike `std`'s hasher: every shard, every reload and
/// every restart maps a key to the same position, so a client keeps its target.
pub fn hash_key(key: &[u8]) -> u64 {
    let mut h = KeyHasher::new();
    h.write(key);
    h.finish()
}

/// FNV-1a over the input, finalised with murmur3's `fmix64` so nearby inputs (point 1,
/// point 2) land far apart on the ring.
struct KeyHasher(u64);

impl KeyHasher {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    fn new() -> Self {
        Self(Self::OFFSET)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(Self::PRIME);
        }
    }

    fn finish(&self) -> u64 {
        let mut k = self.0;
        k ^= k >> 33;
        k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
        k ^= k >> 33;
        k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        k ^= k >> 33;
        k
    }
}
