//! C2SP tlog-tiles (<https://c2sp.org/tlog-tiles>): tile paths, tile data,
//! entry bundles, and a [`HashReader`] over tiles so that proofs can be built
//! from tiles alone.
//!
//! Tiles have height 8: a tile at tile level `L` holds up to 256 consecutive
//! stored hashes of tree level `8 * L`. A full tile has 256 hashes; the
//! rightmost tile of a level may be partial (`.p/<W>`, `1 <= W < 256`).

use crate::Error;
use crate::hash::{HASH_SIZE, Hash, node_hash};
use crate::tree::{HashReader, NodeId};

/// Tile height: each tile spans this many tree levels.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes (or entries) in a full tile (or entry bundle).
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;
/// Largest entry an entry bundle can carry (its length is a big-endian u16).
pub const MAX_ENTRY_SIZE: usize = u16::MAX as usize;
/// Highest tile level accepted: level 7 covers tree levels 56..63, enough for 2^64 leaves.
pub const MAX_TILE_LEVEL: u8 = 7;

/// A tile of hashes: tile level, tile index and width (1..=256).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    /// Tile level (tree level `8 * level`).
    pub level: u8,
    /// Index of the tile within its level.
    pub index: u64,
    /// Number of hashes in the tile; 256 for a full tile.
    pub width: u16,
}

/// An entry bundle: index and width (1..=256).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BundleId {
    /// Index of the bundle; it holds entries `256 * index ..`.
    pub index: u64,
    /// Number of entries in the bundle; 256 for a full bundle.
    pub width: u16,
}

/// A parsed tlog-tiles resource path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TilePath {
    /// `tile/<L>/<N>[.p/<W>]`
    Tile(TileId),
    /// `tile/entries/<N>[.p/<W>]`
    Bundle(BundleId),
}

/// Encodes a tile index as 3-digit path elements, all but the last prefixed
/// with `x` (`1234067` → `x001/x234/067`).
#[must_use]
pub fn encode_index(index: u64) -> String {
    let mut groups = vec![index % 1000];
    let mut n = index / 1000;
    while n > 0 {
        groups.push(n % 1000);
        n /= 1000;
    }
    let mut s = String::with_capacity(groups.len() * 5);
    for (i, g) in groups.iter().rev().enumerate() {
        if i > 0 {
            s.push('/');
        }
        if i + 1 < groups.len() {
            s.push('x');
        }
        s.push_str(&format!("{g:03}"));
    }
    s
}

fn width_suffix(width: u16) -> String {
    if u64::from(width) == TILE_WIDTH {
        String::new()
    } else {
        format!(".p/{width}")
    }
}

impl TileId {
    /// The tile's path, without a leading slash.
    #[must_use]
    pub fn path(&self) -> String {
        format!(
            "tile/{}/{}{}",
            self.level,
            encode_index(self.index),
            width_suffix(self.width)
        )
    }

    /// Whether the tile is full (256 hashes) and thus immutable.
    #[must_use]
    pub fn is_full(&self) -> bool {
        u64::from(self.width) == TILE_WIDTH
    }

    /// The stored hashes the tile holds, in order.
    #[must_use]
    pub fn node_ids(&self) -> Vec<NodeId> {
        let base = self.index * TILE_WIDTH;
        (0..u64::from(self.width))
            .map(|i| NodeId::new(self.level * TILE_HEIGHT, base + i))
            .collect()
    }

    /// The tile at `level` and `index` as it is in a tree of `tree_size`
    /// leaves, or `None` if that tree has no hash in it yet.
    #[must_use]
    pub fn for_size(level: u8, index: u64, tree_size: u64) -> Option<TileId> {
        let count = hashes_at_level(tree_size, level)?;
        let start = index.checked_mul(TILE_WIDTH)?;
        let width = count.checked_sub(start)?.min(TILE_WIDTH);
        // width <= 256, so it fits.
        let width = u16::try_from(width).ok()?;
        (width > 0).then_some(TileId {
            level,
            index,
            width,
        })
    }
}

impl BundleId {
    /// The bundle's path, without a leading slash.
    #[must_use]
    pub fn path(&self) -> String {
        format!(
            "tile/entries/{}{}",
            encode_index(self.index),
            width_suffix(self.width)
        )
    }

    /// Whether the bundle is full (256 entries) and thus immutable.
    #[must_use]
    pub fn is_full(&self) -> bool {
        u64::from(self.width) == TILE_WIDTH
    }

    /// Index of the first entry in the bundle.
    #[must_use]
    pub fn first_entry(&self) -> u64 {
        self.index * TILE_WIDTH
    }

    /// The bundle `index` as it is in a tree of `tree_size` leaves, if any.
    #[must_use]
    pub fn for_size(index: u64, tree_size: u64) -> Option<BundleId> {
        TileId::for_size(0, index, tree_size).map(|t| BundleId {
            index,
            width: t.width,
        })
    }
}

/// Number of stored hashes at tree level `8 * tile_level` in a tree of `tree_size` leaves.
fn hashes_at_level(tree_size: u64, tile_level: u8) -> Option<u64> {
    tree_size.checked_shr(u32::from(tile_level) * u32::from(TILE_HEIGHT))
}

/// Every tile a tree of `tree_size` leaves has, level by level, full tiles
/// then the partial one. Empty tiles are not included.
#[must_use]
pub fn tiles_for_size(tree_size: u64) -> Vec<TileId> {
    let mut out = Vec::new();
    for level in 0..=MAX_TILE_LEVEL {
        let Some(count) = hashes_at_level(tree_size, level) else {
            break;
        };
        if count == 0 {
            break;
        }
        for index in 0..count.div_ceil(TILE_WIDTH) {
            if let Some(t) = TileId::for_size(level, index, tree_size) {
                out.push(t);
            }
        }
    }
    out
}

/// Every entry bundle of a tree of `tree_size` leaves.
#[must_use]
pub fn bundles_for_size(tree_size: u64) -> Vec<BundleId> {
    (0..tree_size.div_ceil(TILE_WIDTH))
        .filter_map(|i| BundleId::for_size(i, tree_size))
        .collect()
}

fn parse_index(elems: &[&str]) -> Option<u64> {
    let (last, init) = elems.split_last()?;
    if init.first().is_some_and(|f| *f == "x000") {
        return None; // not canonical: leading zero group
    }
    let mut n: u64 = 0;
    for e in init {
        let d = e.strip_prefix('x')?;
        n = n.checked_mul(1000)?.checked_add(parse_group(d)?)?;
    }
    n.checked_mul(1000)?.checked_add(parse_group(last)?)
}

fn parse_group(s: &str) -> Option<u64> {
    (s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Parses a tile or entry bundle path (with or without a leading slash),
/// strictly: canonical index encoding, level 0..=7, partial width 1..=255.
///
/// # Errors
/// [`Error::MalformedTilePath`].
pub fn parse_tile_path(path: &str) -> Result<TilePath, Error> {
    let bad = |reason| Error::MalformedTilePath { reason };
    let path = path.strip_prefix('/').unwrap_or(path);
    let rest = path
        .strip_prefix("tile/")
        .ok_or(bad("does not start with tile/"))?;
    let mut elems: Vec<&str> = rest.split('/').collect();
    if elems.len() < 2 {
        return Err(bad("too few path elements"));
    }
    let level = elems.remove(0);
    // Optional partial suffix: the index's last element ends in ".p", followed by the width.
    let mut width = TILE_WIDTH;
    if let Some(last_idx) = elems.len().checked_sub(2)
        && let Some(stripped) = elems[last_idx].strip_suffix(".p")
    {
        let w = elems[last_idx + 1];
        if w.is_empty() || !w.bytes().all(|b| b.is_ascii_digit()) || w.starts_with('0') {
            return Err(bad("partial width is not a canonical decimal"));
        }
        width = w.parse().map_err(|_| bad("partial width is too large"))?;
        if width == 0 || width >= TILE_WIDTH {
            return Err(bad("partial width is not between 1 and 255"));
        }
        elems[last_idx] = stripped;
        elems.pop();
    }
    let index = parse_index(&elems).ok_or(bad("index is not canonically encoded"))?;
    // width <= 256 was checked above.
    let width = u16::try_from(width).map_err(|_| bad("partial width is too large"))?;
    if level == "entries" {
        return Ok(TilePath::Bundle(BundleId { index, width }));
    }
    if level.len() != 1 || !level.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("level is not a digit"));
    }
    let level: u8 = level.parse().map_err(|_| bad("level is not a digit"))?;
    if level > MAX_TILE_LEVEL {
        return Err(bad("level is too high"));
    }
    Ok(TilePath::Tile(TileId {
        level,
        index,
        width,
    }))
}

/// The bytes of a tile: its hashes concatenated, read from `reader`.
///
/// # Errors
/// Whatever the reader returns.
pub fn tile_bytes(tile: TileId, reader: &impl HashReader) -> Result<Vec<u8>, Error> {
    let hashes = reader.read_hashes(&tile.node_ids())?;
    if hashes.len() != usize::from(tile.width) {
        return Err(Error::ShortRead {
            got: hashes.len(),
            want: usize::from(tile.width),
        });
    }
    Ok(hashes.iter().flat_map(|h| h.0).collect())
}

/// Splits tile bytes into hashes, checking the length matches the tile's width.
///
/// # Errors
/// [`Error::MalformedTile`].
pub fn parse_tile(tile: TileId, data: &[u8]) -> Result<Vec<Hash>, Error> {
    let want = usize::from(tile.width) * HASH_SIZE;
    if data.len() != want {
        return Err(Error::MalformedTile {
            got: data.len(),
            want,
        });
    }
    data.chunks_exact(HASH_SIZE).map(Hash::from_slice).collect()
}

/// Encodes entries as an entry bundle: each a big-endian u16 length, then the bytes.
///
/// # Errors
/// [`Error::EntryTooLarge`] for an entry over 65,535 bytes;
/// [`Error::MalformedBundle`] for more than 256 entries.
pub fn encode_bundle<E: AsRef<[u8]>>(entries: &[E]) -> Result<Vec<u8>, Error> {
    if entries.len() as u64 > TILE_WIDTH {
        return Err(Error::MalformedBundle {
            reason: "more than 256 entries",
        });
    }
    let total: usize = entries.iter().map(|e| e.as_ref().len() + 2).sum();
    let mut out = Vec::with_capacity(total);
    for e in entries {
        let e = e.as_ref();
        let len = u16::try_from(e.len()).map_err(|_| Error::EntryTooLarge { size: e.len() })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Decodes an entry bundle strictly: no truncated entry, no trailing bytes,
/// 1 to 256 entries.
///
/// # Errors
/// [`Error::MalformedBundle`].
pub fn decode_bundle(mut data: &[u8]) -> Result<Vec<&[u8]>, Error> {
    let mut out = Vec::new();
    while !data.is_empty() {
        if out.len() as u64 == TILE_WIDTH {
            return Err(Error::MalformedBundle {
                reason: "more than 256 entries",
            });
        }
        let Some((len, rest)) = data.split_first_chunk::<2>() else {
            return Err(Error::MalformedBundle {
                reason: "truncated entry length",
            });
        };
        let len = usize::from(u16::from_be_bytes(*len));
        if rest.len() < len {
            return Err(Error::MalformedBundle {
                reason: "truncated entry",
            });
        }
        let (entry, rest) = rest.split_at(len);
        out.push(entry);
        data = rest;
    }
    if out.is_empty() {
        return Err(Error::MalformedBundle {
            reason: "bundle is empty",
        });
    }
    Ok(out)
}

/// Where a [`TileHashReader`] gets tile bytes from. The caller does the I/O.
///
/// Implementations MUST return the bytes of each requested tile, in order,
/// and an error (never made-up bytes) for a tile they cannot get.
pub trait TileReader {
    /// Returns the bytes of `tiles`, in order.
    ///
    /// # Errors
    /// The implementation's own failure.
    fn read_tiles(&self, tiles: &[TileId]) -> Result<Vec<Vec<u8>>, Error>;
}

/// A [`HashReader`] that computes stored hashes from the tiles of a tree of
/// a given size, so that [`prove_inclusion`](crate::prove_inclusion) and
/// [`prove_consistency`](crate::prove_consistency) work on a tile-only log.
///
/// The hashes it returns are only as good as the tiles: verify every proof
/// built with it against a root hash from a verified checkpoint.
pub struct TileHashReader<'a, R: TileReader> {
    tree_size: u64,
    tiles: &'a R,
}

impl<'a, R: TileReader> TileHashReader<'a, R> {
    /// A reader over the tiles of the tree of `tree_size` leaves.
    #[must_use]
    pub fn new(tree_size: u64, tiles: &'a R) -> Self {
        TileHashReader { tree_size, tiles }
    }

    /// The tile that holds the base hashes of `id`, and the range of those
    /// hashes within it.
    fn locate(&self, id: NodeId) -> Result<(TileId, usize, usize), Error> {
        let unavailable = Error::HashUnavailable {
            level: id.level,
            index: id.index,
        };
        let tile_level = id.level / TILE_HEIGHT;
        let sub = u32::from(id.level % TILE_HEIGHT);
        // `checked_shl` only checks the shift amount; the index must not lose
        // bits either, or a far-away node would alias a real one.
        let first = (id.index.leading_zeros() >= sub)
            .then(|| id.index << sub)
            .ok_or(unavailable.clone())?;
        let span = 1u64 << sub;
        let tile_index = first / TILE_WIDTH;
        let tile =
            TileId::for_size(tile_level, tile_index, self.tree_size).ok_or(unavailable.clone())?;
        let start = first % TILE_WIDTH;
        if start + span > u64::from(tile.width) {
            return Err(unavailable);
        }
        // start + span <= 256, so both fit in usize.
        let (start, span) = (
            usize::try_from(start).map_err(|_| unavailable.clone())?,
            usize::try_from(span).map_err(|_| unavailable)?,
        );
        Ok((tile, start, span))
    }
}

/// Hashes `2^k` consecutive base hashes up to their subtree root.
fn subtree_root(hashes: &[Hash]) -> Hash {
    let mut level: Vec<Hash> = hashes.to_vec();
    while level.len() > 1 {
        level = level
            .chunks_exact(2)
            .map(|p| node_hash(&p[0], &p[1]))
            .collect();
    }
    level.first().copied().unwrap_or(Hash::EMPTY)
}

impl<R: TileReader> HashReader for TileHashReader<'_, R> {
    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, Error> {
        let located: Vec<(TileId, usize, usize)> = ids
            .iter()
            .map(|&id| self.locate(id))
            .collect::<Result<_, _>>()?;
        let mut tiles: Vec<TileId> = located.iter().map(|l| l.0).collect();
        tiles.sort_unstable();
        tiles.dedup();
        let data = self.tiles.read_tiles(&tiles)?;
        if data.len() != tiles.len() {
            return Err(Error::ShortRead {
                got: data.len(),
                want: tiles.len(),
            });
        }
        let parsed: Vec<Vec<Hash>> = tiles
            .iter()
            .zip(&data)
            .map(|(t, d)| parse_tile(*t, d))
            .collect::<Result<_, _>>()?;
        located
            .iter()
            .map(|(tile, start, span)| {
                let i = tiles.binary_search(tile).map_err(|_| Error::ShortRead {
                    got: data.len(),
                    want: tiles.len(),
                })?;
                Ok(subtree_root(&parsed[i][*start..*start + *span]))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip() {
        for (t, path) in [
            (
                TilePath::Tile(TileId {
                    level: 0,
                    index: 1_234_067,
                    width: 256,
                }),
                "tile/0/x001/x234/067",
            ),
            (
                TilePath::Tile(TileId {
                    level: 1,
                    index: 0,
                    width: 17,
                }),
                "tile/1/000.p/17",
            ),
            (
                TilePath::Bundle(BundleId {
                    index: 1000,
                    width: 256,
                }),
                "tile/entries/x001/000",
            ),
            (
                TilePath::Bundle(BundleId { index: 5, width: 1 }),
                "tile/entries/005.p/1",
            ),
        ] {
            assert_eq!(parse_tile_path(path), Ok(t), "{path}");
            let back = match t {
                TilePath::Tile(t) => t.path(),
                TilePath::Bundle(b) => b.path(),
            };
            assert_eq!(back, path);
        }
    }

    #[test]
    fn paths_reject_non_canonical() {
        for bad in [
            "tile/0/1",
            "tile/0/0001",
            "tile/0/x000/001",
            "tile/0/001/002",
            "tile/0/x001",
            "tile/0/001.p/0",
            "tile/0/001.p/256",
            "tile/0/001.p/017",
            "tile/0/001.p/",
            "tile/0/001.p",
            "tile/8/001",
            "tile/00/001",
            "tile/a/001",
            "tile/entries",
            "tile/0/x18446744073709551/615",
            "tiles/0/000",
            "tile/0/000/",
            "tile/0/-01",
        ] {
            assert!(parse_tile_path(bad).is_err(), "{bad}");
        }
    }

    struct Tiles(Vec<Hash>);

    impl TileReader for Tiles {
        fn read_tiles(&self, tiles: &[TileId]) -> Result<Vec<Vec<u8>>, Error> {
            Ok(tiles
                .iter()
                .map(|t| {
                    assert_eq!((t.level, t.index), (0, 0));
                    self.0[..usize::from(t.width)]
                        .iter()
                        .flat_map(|h| h.0)
                        .collect()
                })
                .collect())
        }
    }

    #[test]
    fn tile_reader_does_not_alias_huge_indexes() {
        let leaves: Vec<Hash> = (0u8..4).map(|i| Hash([i; 32])).collect();
        let tiles = Tiles(leaves.clone());
        let reader = TileHashReader::new(4, &tiles);
        assert_eq!(
            reader.read_hashes(&[NodeId::new(1, 0)]),
            Ok(vec![node_hash(&leaves[0], &leaves[1])])
        );
        // Index 2^63 at level 1 shifted to level 0 would wrap around to 0.
        for id in [
            NodeId::new(1, 1 << 63),
            NodeId::new(2, 1 << 62),
            NodeId::new(7, u64::MAX),
            NodeId::new(1, 2),
            NodeId::new(0, 4),
            NodeId::new(200, 0),
        ] {
            assert_eq!(
                reader.read_hashes(&[id]),
                Err(Error::HashUnavailable {
                    level: id.level,
                    index: id.index
                }),
                "{id:?}"
            );
        }
    }

    #[test]
    fn bundles() {
        let entries: Vec<&[u8]> = vec![b"one", b"", b"three"];
        let enc = encode_bundle(&entries).unwrap();
        assert_eq!(decode_bundle(&enc).unwrap(), entries);
        assert!(decode_bundle(&enc[..enc.len() - 1]).is_err());
        let mut trailing = enc.clone();
        trailing.push(0);
        assert!(decode_bundle(&trailing).is_err());
        assert!(decode_bundle(&[]).is_err());
        assert_eq!(
            encode_bundle(&[vec![0u8; 65_536]]),
            Err(Error::EntryTooLarge { size: 65_536 })
        );
        assert!(encode_bundle(&[vec![0u8; 65_535]]).is_ok());
    }
}
