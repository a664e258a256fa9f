//! Entry bundle decoding: never panics, and a decoded bundle encodes back
//! to the same bytes. Tile data parsing never panics either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlog::{TileId, decode_bundle, encode_bundle, parse_tile};

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = decode_bundle(data) {
        assert!(!entries.is_empty() && entries.len() <= 256);
        assert_eq!(encode_bundle(&entries).unwrap(), data);
    }
    if let Some(&w) = data.first() {
        let tile = TileId {
            level: 0,
            index: 0,
            width: u16::from(w) + 1,
        };
        if let Ok(hashes) = parse_tile(tile, &data[1..]) {
            assert_eq!(hashes.len(), usize::from(tile.width));
        }
    }
});
