//! Rebuilding a tree from its leaves with `tlog::Frontier`, keeping only its
//! right edge in memory, and saving that edge so that a later run can go on.

use std::cell::RefCell;
use std::collections::HashMap;

use tlog::{Frontier, Hash, HashReader, NodeId, TILE_HEIGHT};

/// The right edge of a tree being rebuilt leaf by leaf.
///
/// Besides the frontier it remembers the last stored hash it produced at
/// each level: those are exactly the frontier's hashes, which `tlog` does
/// not expose, so they can be saved and the frontier reloaded with
/// [`Frontier::from_reader`].
pub struct TreeBuilder {
    frontier: Frontier,
    last: [Option<(u64, Hash)>; 64],
}

impl TreeBuilder {
    /// The builder of the empty tree.
    pub fn new() -> Self {
        TreeBuilder {
            frontier: Frontier::new(),
            last: [None; 64],
        }
    }

    /// A builder that goes on from a saved right edge (see [`TreeBuilder::saved_edge`]).
    ///
    /// # Errors
    /// If `edge` is not the right edge of a tree of `size` leaves.
    pub fn restore(size: u64, edge: &[(NodeId, Hash)]) -> Result<Self, tlog::Error> {
        let map: HashMap<NodeId, Hash> = edge.iter().copied().collect();
        let frontier = Frontier::from_reader(size, &MapReader(&map))?;
        let mut last = [None; 64];
        for (id, h) in edge {
            if let Some(slot) = last.get_mut(usize::from(id.level)) {
                *slot = Some((id.index, *h));
            }
        }
        Ok(TreeBuilder { frontier, last })
    }

    /// Number of leaves appended.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// Root hash of the tree so far.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// Appends a leaf. `on_tile_hash(tile_level, index, hash)` is called for
    /// every new stored hash that belongs in a tile (tree levels 0, 8, 16, ...).
    #[inline]
    pub fn append(&mut self, leaf_hash: Hash, mut on_tile_hash: impl FnMut(u8, u64, Hash)) {
        let last = &mut self.last;
        self.frontier.append(leaf_hash, |id, h| {
            if let Some(slot) = last.get_mut(usize::from(id.level)) {
                *slot = Some((id.index, h));
            }
            if id.level % TILE_HEIGHT == 0 {
                on_tile_hash(id.level / TILE_HEIGHT, id.index, h);
            }
        });
    }

    /// The hashes of the right edge, to save.
    ///
    /// # Errors
    /// Only if the builder is inconsistent (a bug).
    pub fn saved_edge(&self) -> Result<Vec<(NodeId, Hash)>, tlog::Error> {
        let reader = LastReader {
            last: &self.last,
            read: RefCell::new(Vec::new()),
        };
        let reloaded = Frontier::from_reader(self.size(), &reader)?;
        if reloaded.root() != self.root() {
            return Err(tlog::Error::Storage {
                reason: "saved right edge does not give the same root".into(),
            });
        }
        Ok(reader.read.into_inner())
    }
}

struct MapReader<'a>(&'a HashMap<NodeId, Hash>);

impl HashReader for MapReader<'_> {
    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, tlog::Error> {
        ids.iter()
            .map(|id| {
                self.0.get(id).copied().ok_or(tlog::Error::HashUnavailable {
                    level: id.level,
                    index: id.index,
                })
            })
            .collect()
    }
}

/// Answers only for the last hash produced at each level, and records what it answered.
struct LastReader<'a> {
    last: &'a [Option<(u64, Hash)>; 64],
    read: RefCell<Vec<(NodeId, Hash)>>,
}

impl HashReader for LastReader<'_> {
    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, tlog::Error> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            match self.last.get(usize::from(id.level)).copied().flatten() {
                Some((index, h)) if index == id.index => {
                    self.read.borrow_mut().push((*id, h));
                    out.push(h);
                }
                _ => {
                    return Err(tlog::Error::HashUnavailable {
                        level: id.level,
                        index: id.index,
                    });
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_and_restore_anywhere() {
        let mut store = tlog::MemoryHashStore::new();
        let mut b = TreeBuilder::new();
        for i in 0..700u64 {
            let leaf = tlog::leaf_hash(&i.to_be_bytes());
            store.append(leaf);
            b.append(leaf, |_, _, _| {});
            let edge = b.saved_edge().unwrap();
            let r = TreeBuilder::restore(b.size(), &edge).unwrap();
            assert_eq!(r.root(), store.root());
            assert_eq!(r.saved_edge().unwrap(), edge);
        }
        // Going on from a restored edge gives the same tree.
        let mut r = TreeBuilder::restore(b.size(), &b.saved_edge().unwrap()).unwrap();
        let mut tile_hashes = 0;
        for i in 700..1000u64 {
            let leaf = tlog::leaf_hash(&i.to_be_bytes());
            store.append(leaf);
            r.append(leaf, |level, index, h| {
                tile_hashes += 1;
                assert_eq!(store.get(NodeId::new(level * 8, index)), Some(h));
            });
        }
        assert_eq!(r.root(), store.root());
        assert_eq!(tile_hashes, 300 + 1); // 300 leaves, and level-8 node 2 (leaves 512..768)
    }

    #[test]
    fn restore_rejects_a_wrong_edge() {
        assert!(TreeBuilder::restore(3, &[]).is_err());
    }
}
