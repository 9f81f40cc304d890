//! An ordered map for the agent's per-MAC tables, which hold up to millions
//! of entries of a few dozen bytes.
//!
//! `BTreeMap` allocates fixed nodes of eleven slots. A node that splits
//! keeps six and gives five away, and entries inserted in key order never
//! come back to fill the left part: a table of MACs learned in order sits
//! about 55% full, scattered ones about 70%. At a million MACs the empty
//! slots were most of the agent's memory per MAC (docs/BENCHMARKS.md).
//!
//! [`PackedMap`] keeps sorted runs ("chunks") of entries in `Vec`s that grow
//! by an eighth at a time and shrink after a split, so their capacity stays
//! within about an eighth of what they hold whatever the insert order. A
//! `BTreeMap` indexes the chunks by a key at or below each chunk's first
//! key; with chunks of up to 4 KiB that index is a few bytes per entry.
//! An insert moves at most one chunk's entries; lookups are one B-tree
//! search and one binary search.

use std::{collections::BTreeMap, mem, ops::Bound};

/// An ordered map, packed (see the module documentation).
///
/// Invariants: chunks are non-empty and sorted; each chunk's index key is
/// at or below its first key and above the previous chunk's last key (a
/// removal may leave the index key below the first key, which changes
/// nothing about where a key belongs).
#[derive(Clone, Debug)]
pub struct PackedMap<K, V> {
    chunks: BTreeMap<K, Vec<(K, V)>>,
    len: usize,
}

impl<K, V> Default for PackedMap<K, V> {
    fn default() -> Self {
        Self { chunks: BTreeMap::new(), len: 0 }
    }
}

impl<K: Ord + Clone, V> PackedMap<K, V> {
    /// The most entries a chunk holds: 4 KiB of them, and at least eight.
    /// An insert moves half a chunk on average.
    const MAX_CHUNK: usize = {
        let fit = 4096 / if size_of::<(K, V)>() == 0 { 1 } else { size_of::<(K, V)>() };
        if fit < 8 { 8 } else { fit }
    };

    /// A chunk this small is merged with a neighbour when they fit together
    /// in half a chunk, so that removals do not leave many tiny chunks.
    const SMALL_CHUNK: usize = Self::MAX_CHUNK / 4;

    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The chunk `key` belongs to, if any chunk starts at or before it.
    fn chunk_of(&self, key: &K) -> Option<&Vec<(K, V)>> {
        self.chunks.range((Bound::Unbounded, Bound::Included(key))).next_back().map(|(_, chunk)| chunk)
    }

    fn position(chunk: &[(K, V)], key: &K) -> Result<usize, usize> {
        chunk.binary_search_by(|(k, _)| k.cmp(key))
    }

    #[must_use]
    pub fn get_key_value(&self, key: &K) -> Option<(&K, &V)> {
        let chunk = self.chunk_of(key)?;
        let (k, v) = &chunk[Self::position(chunk, key).ok()?];
        Some((k, v))
    }

    #[must_use]
    pub fn get(&self, key: &K) -> Option<&V> {
        self.get_key_value(key).map(|(_, v)| v)
    }

    #[must_use]
    pub fn contains_key(&self, key: &K) -> bool {
        self.get_key_value(key).is_some()
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let (_, chunk) = self.chunks.range_mut((Bound::Unbounded, Bound::Included(key))).next_back()?;
        let index = Self::position(chunk, key).ok()?;
        Some(&mut chunk[index].1)
    }

    /// Inserts `value` at `key`. Unlike `BTreeMap`, an equal key already
    /// there is replaced too (keys may carry fields outside their order).
    /// Returns the old value.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        if let Some((_, chunk)) = self.chunks.range_mut((Bound::Unbounded, Bound::Included(&key))).next_back()
        {
            let index = match Self::position(chunk, &key) {
                Ok(index) => return Some(mem::replace(&mut chunk[index], (key, value)).1),
                Err(index) => index,
            };
            make_room(chunk);
            chunk.insert(index, (key, value));
            self.len += 1;
            if chunk.len() > Self::MAX_CHUNK {
                // `split_off` allocates the tail exactly; the head gives back
                // the tail's room.
                let tail = chunk.split_off(chunk.len() / 2);
                chunk.shrink_to_fit();
                if let Some((first, _)) = tail.first() {
                    self.chunks.insert(first.clone(), tail);
                }
            }
            return None;
        }
        // Before every chunk: the first one takes it if it has room (keys
        // arriving in falling order fill chunks too), under a new index key.
        self.len += 1;
        match self.chunks.first_entry() {
            Some(first) if first.get().len() < Self::MAX_CHUNK => {
                let mut chunk = first.remove();
                make_room(&mut chunk);
                chunk.insert(0, (key.clone(), value));
                self.chunks.insert(key, chunk);
            }
            _ => {
                self.chunks.insert(key.clone(), vec![(key, value)]);
            }
        }
        None
    }

    /// Removes `key`, returning the stored key and value.
    pub fn remove_entry(&mut self, key: &K) -> Option<(K, V)> {
        let (index_key, chunk) =
            self.chunks.range_mut((Bound::Unbounded, Bound::Included(key))).next_back()?;
        let position = Self::position(chunk, key).ok()?;
        let entry = chunk.remove(position);
        self.len -= 1;
        if chunk.len() <= Self::SMALL_CHUNK {
            let index_key = index_key.clone();
            self.settle(&index_key);
        } else if chunk.capacity() > chunk.len() + chunk.len() / 4 {
            chunk.shrink_to(chunk.len() + chunk.len() / 8);
        }
        Some(entry)
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.remove_entry(key).map(|(_, v)| v)
    }

    /// After a removal from the chunk at `index_key`: drops it if empty,
    /// else merges it into a neighbour when both fit in half a chunk.
    fn settle(&mut self, index_key: &K) {
        let Some(len) = self.chunks.get(index_key).map(Vec::len) else { return };
        if len == 0 {
            self.chunks.remove(index_key);
            return;
        }
        let fits = |other: usize| len + other <= Self::MAX_CHUNK / 2;
        let before = self
            .chunks
            .range((Bound::Unbounded, Bound::Excluded(index_key)))
            .next_back()
            .filter(|(_, chunk)| fits(chunk.len()))
            .map(|(k, _)| k.clone());
        if let Some(before) = before {
            if let (Some(chunk), Some(into)) = (self.chunks.remove(index_key), self.chunks.get_mut(&before)) {
                append(into, chunk);
            }
            return;
        }
        let after = self
            .chunks
            .range((Bound::Excluded(index_key), Bound::Unbounded))
            .next()
            .filter(|(_, chunk)| fits(chunk.len()))
            .map(|(k, _)| k.clone());
        if let Some(after) = after
            && let (Some(chunk), Some(into)) = (self.chunks.remove(&after), self.chunks.get_mut(index_key))
        {
            append(into, chunk);
        }
    }

    /// Keeps the entries for which `keep` is true, and packs what is left.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        let chunks = mem::take(&mut self.chunks);
        self.len = 0;
        let mut open: Option<(K, Vec<(K, V)>)> = None;
        for (index_key, mut chunk) in chunks {
            chunk.retain_mut(|(k, v)| keep(k, v));
            if chunk.is_empty() {
                continue;
            }
            self.len += chunk.len();
            match &mut open {
                Some((_, into)) if into.len() + chunk.len() <= Self::MAX_CHUNK / 2 => append(into, chunk),
                _ => {
                    if let Some((k, mut done)) = open.replace((index_key, chunk)) {
                        done.shrink_to_fit();
                        self.chunks.insert(k, done);
                    }
                }
            }
        }
        if let Some((k, mut done)) = open {
            done.shrink_to_fit();
            self.chunks.insert(k, done);
        }
    }

    /// The entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        self.chunks.values().flat_map(|chunk| chunk.iter().map(|(k, v)| (k, v)))
    }

    /// The entries in key order, values mutable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> + '_ {
        self.chunks.values_mut().flat_map(|chunk| chunk.iter_mut().map(|(k, v)| (&*k, v)))
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> + '_ {
        self.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.iter().map(|(_, v)| v)
    }

    /// The entries from `start` on, in key order.
    pub fn range_from<'a>(&'a self, start: Bound<&K>) -> impl Iterator<Item = (&'a K, &'a V)> {
        let from = match start {
            Bound::Unbounded => None,
            Bound::Included(key) | Bound::Excluded(key) => {
                self.chunks.range((Bound::Unbounded, Bound::Included(key))).next_back().map(|(k, _)| k)
            }
        };
        let chunks = match from {
            Some(index_key) => self.chunks.range((Bound::Included(index_key), Bound::Unbounded)),
            None => self.chunks.range::<K, _>(..),
        };
        chunks.flat_map(|(_, chunk)| chunk.iter().map(|(k, v)| (k, v))).skip_while(
            move |(k, _)| match start {
                Bound::Unbounded => false,
                Bound::Included(start) => *k < start,
                Bound::Excluded(start) => *k <= start,
            },
        )
    }

    /// How many entries the chunks have room for, and how many chunks there
    /// are: what the packing is judged by.
    #[cfg(test)]
    fn footprint(&self) -> (usize, usize) {
        (self.chunks.values().map(Vec::capacity).sum(), self.chunks.len())
    }

    /// Checks the invariants.
    #[cfg(test)]
    fn check(&self) {
        let mut previous: Option<&K> = None;
        let mut len = 0;
        for (index_key, chunk) in &self.chunks {
            assert!(!chunk.is_empty(), "an empty chunk");
            assert!(chunk.len() <= Self::MAX_CHUNK, "a chunk over the maximum");
            assert!(chunk.windows(2).all(|pair| pair[0].0 < pair[1].0), "a chunk out of order");
            assert!(*index_key <= chunk[0].0, "an index key above its chunk");
            if let Some(previous) = previous {
                assert!(previous < index_key, "an index key at or below the previous chunk's last key");
            }
            previous = chunk.last().map(|(k, _)| k);
            len += chunk.len();
        }
        assert_eq!(len, self.len, "the count");
    }
}

/// Makes room for one more entry in a full chunk: by an eighth, not by
/// doubling, since the slack is the memory this map exists to save.
fn make_room<T>(chunk: &mut Vec<T>) {
    if chunk.len() == chunk.capacity() {
        chunk.reserve_exact((chunk.len() / 8).max(2));
    }
}

/// Moves `chunk`'s entries to the end of `into`, growing it exactly
/// (`extend` alone may double it).
fn append<T>(into: &mut Vec<T>, chunk: Vec<T>) {
    into.reserve_exact(chunk.len());
    into.extend(chunk);
}

impl<K: Ord + Clone, V> FromIterator<(K, V)> for PackedMap<K, V> {
    /// Collects into chunks three quarters full (room for inserts before
    /// the first split), each allocated exactly; of equal keys the last one
    /// stays, as in `BTreeMap`. The sorted entries are cut into chunks from
    /// the back and their buffer is shrunk as it empties, so that a big
    /// table is not held twice while it is built.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(entries: I) -> Self {
        let mut entries: Vec<(K, V)> = entries.into_iter().collect();
        // Stable: equal keys stay in arrival order.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        // `dedup_by` drops the later of two equal entries: keep its value.
        entries.dedup_by(|later, kept| {
            let equal = later.0 == kept.0;
            if equal {
                mem::swap(later, kept);
            }
            equal
        });
        let mut map = Self::new();
        let fill = Self::MAX_CHUNK * 3 / 4;
        let shrink_every = (entries.len() / 16).max(fill);
        let mut since_shrink = 0;
        while !entries.is_empty() {
            let chunk = entries.split_off(entries.len().saturating_sub(fill));
            since_shrink += chunk.len();
            if let Some((first, _)) = chunk.first() {
                map.len += chunk.len();
                map.chunks.insert(first.clone(), chunk);
            }
            if since_shrink >= shrink_every {
                since_shrink = 0;
                entries.shrink_to_fit();
            }
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    /// Keys with one field outside the order, to show that an insert
    /// replaces the stored key.
    #[derive(Clone, Debug)]
    struct Tagged(u16, u8);

    impl PartialEq for Tagged {
        fn eq(&self, other: &Self) -> bool {
            self.0 == other.0
        }
    }
    impl Eq for Tagged {}
    impl PartialOrd for Tagged {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Tagged {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            self.0.cmp(&other.0)
        }
    }

    #[derive(Clone, Debug)]
    struct Padded(u32, #[expect(dead_code, reason = "only sets the entry size")] [u8; 250]);

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u16, u8, u32),
        Remove(u16),
        /// Keep keys whose value is not divisible by this.
        Retain(u32),
        RangeFrom(u16, bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        // A narrow key space, so that removals and replacements hit.
        prop_oneof![
            8 => (0..600u16, any::<u8>(), any::<u32>()).prop_map(|(k, t, v)| Op::Insert(k, t, v)),
            4 => (0..600u16).prop_map(Op::Remove),
            1 => (2..9u32).prop_map(Op::Retain),
            1 => (0..600u16, any::<bool>()).prop_map(|(k, inclusive)| Op::RangeFrom(k, inclusive)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn behaves_like_a_btree_map(ops in prop::collection::vec(op(), 1..3000)) {
            // Values big enough for chunks of fifteen, so that a few hundred keys
            // split, merge and re-key chunks.
            let mut map: PackedMap<Tagged, Padded> = PackedMap::new();
            prop_assert_eq!(PackedMap::<Tagged, Padded>::MAX_CHUNK, 15);
            let mut model: BTreeMap<u16, (u8, u32)> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, tag, v) => {
                        let old = map.insert(Tagged(k, tag), Padded(v, [0; 250])).map(|p| p.0);
                        prop_assert_eq!(old, model.insert(k, (tag, v)).map(|(_, v)| v));
                    }
                    Op::Remove(k) => {
                        let old = map.remove_entry(&Tagged(k, 0)).map(|(key, v)| (key.1, v.0));
                        prop_assert_eq!(old, model.remove(&k));
                    }
                    Op::Retain(divisor) => {
                        map.retain(|_, v| v.0 % divisor != 0);
                        model.retain(|_, (_, v)| *v % divisor != 0);
                    }
                    Op::RangeFrom(k, inclusive) => {
                        let bound = if inclusive { Bound::Included(k) } else { Bound::Excluded(k) };
                        let probe = Tagged(k, 0);
                        let ours = map.range_from(if inclusive {
                            Bound::Included(&probe)
                        } else {
                            Bound::Excluded(&probe)
                        });
                        let ours: Vec<(u16, u8, u32)> = ours.map(|(k, v)| (k.0, k.1, v.0)).collect();
                        let theirs: Vec<(u16, u8, u32)> =
                            model.range((bound, Bound::Unbounded)).map(|(k, (t, v))| (*k, *t, *v)).collect();
                        prop_assert_eq!(ours, theirs);
                    }
                }
                map.check();
            }
            let ours: Vec<(u16, u8, u32)> = map.iter().map(|(k, v)| (k.0, k.1, v.0)).collect();
            let theirs: Vec<(u16, u8, u32)> = model.iter().map(|(k, (t, v))| (*k, *t, *v)).collect();
            prop_assert_eq!(ours, theirs);
            prop_assert_eq!(map.len(), model.len());
            for k in 0..600u16 {
                prop_assert_eq!(map.get(&Tagged(k, 0)).map(|p| p.0), model.get(&k).map(|(_, v)| *v));
            }
            let everything: Vec<u16> = map.range_from(Bound::Unbounded).map(|(k, _)| k.0).collect();
            prop_assert_eq!(everything, model.keys().copied().collect::<Vec<_>>());
        }

        #[test]
        fn collecting_keeps_the_last_of_equal_keys(entries in prop::collection::vec((0..300u16, any::<u32>()), 0..2000)) {
            let map: PackedMap<u16, u32> = entries.iter().copied().collect();
            let model: BTreeMap<u16, u32> = entries.into_iter().collect();
            map.check();
            prop_assert_eq!(map.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>(), model.into_iter().collect::<Vec<_>>());
        }
    }

    /// The point of the map: whatever the insert order, the room allocated
    /// stays close to what is held. (`BTreeMap` holds eleven slots per node
    /// and fills about six of them when keys come in order.)
    #[test]
    fn room_stays_within_a_quarter_of_the_entries_in_any_order() {
        const N: u32 = 100_000;
        for name in ["rising", "falling", "scattered"] {
            let key_of = |i: u32| match name {
                "rising" => i,
                "falling" => N - i,
                // A multiplicative scatter: a bijection modulo 2^32.
                _ => i.wrapping_mul(2_654_435_761),
            };
            let mut map: PackedMap<u32, [u8; 40]> = PackedMap::new();
            for i in 0..N {
                map.insert(key_of(i), [0; 40]);
            }
            map.check();
            let (room, chunks) = map.footprint();
            assert_eq!(map.len(), N as usize);
            assert!(room <= map.len() * 5 / 4, "{name}: room for {room} entries holding {N}");
            // Chunks average at least a quarter full, so the index is small.
            assert!(
                chunks <= map.len() / (PackedMap::<u32, [u8; 40]>::MAX_CHUNK / 4),
                "{name}: {chunks} chunks"
            );
        }
    }

    /// Removing most entries gives the room back and merges small chunks.
    #[test]
    fn removals_give_room_back() {
        let mut map: PackedMap<u32, [u8; 40]> = (0..50_000).map(|k| (k, [0; 40])).collect();
        for k in 0..50_000 {
            if k % 10 != 0 {
                map.remove(&k);
            }
        }
        map.check();
        let (room, chunks) = map.footprint();
        assert_eq!(map.len(), 5_000);
        assert!(room <= map.len() * 5 / 4, "room for {room} entries holding 5000");
        assert!(chunks <= map.len() / (PackedMap::<u32, [u8; 40]>::MAX_CHUNK / 8), "{chunks} chunks");
    }
}
