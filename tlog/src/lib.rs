//! Transparency-log math and formats for StateAnchor, with no I/O.
//!
//! This crate implements:
//! - RFC 6962 / RFC 9162 Merkle trees: [leaf](leaf_hash) and [node](node_hash)
//!   hashes, [tree hashes](tree_hash), an append-friendly stored-hash layout
//!   ([`NodeId`], [`Frontier`]), and [inclusion](prove_inclusion) and
//!   [consistency](prove_consistency) proofs, generated through the
//!   [`HashReader`] trait and verified by pure, panic-free functions
//!   ([`verify_inclusion`], [`verify_consistency`]);
//! - C2SP [signed notes](https://c2sp.org/signed-note) with Ed25519 keys
//!   ([`Note`], [`SignerKey`], [`VerifierKey`]);
//! - C2SP [checkpoints](https://c2sp.org/tlog-checkpoint) ([`Checkpoint`],
//!   [`open_checkpoint`]), and whether a newer verified checkpoint extends
//!   an older one ([`verify_extends`]: consistent, a rollback, or an
//!   [`Inconsistency`] with its evidence);
//! - C2SP [tlog-tiles](https://c2sp.org/tlog-tiles): paths, tile data, entry
//!   bundles, and proofs from tiles alone ([`TileHashReader`]);
//! - witnessing: C2SP [tlog-cosignature](https://c2sp.org/tlog-cosignature)
//!   (`cosignature/v1`: [`CosignerKey`], [`CosignerVerifier`], any vkey as
//!   [`Vkey`]), [tlog-policy](https://c2sp.org/tlog-policy) ([`Policy`]:
//!   trusted logs and witnesses, the quorum, [`Policy::verify_checkpoint`]),
//!   the pure parts of [tlog-witness](https://c2sp.org/tlog-witness)
//!   ([`AddCheckpointRequest`], the witness's decision
//!   [`check_add_checkpoint`]), and [tlog-proof](https://c2sp.org/tlog-proof)
//!   files ([`ProofFile`]).
//!
//! It does not do I/O, read the clock or spawn tasks: storage is reached
//! through [`HashReader`] and [`TileReader`], which the caller implements,
//! and the current time is a parameter (`now`, POSIX seconds). A witness's
//! state is the caller's to read and write atomically around
//! [`check_add_checkpoint`].
//! The log server (`log-server`), the verifier (`verifier-cli`) and the
//! publisher (`publisher`) are built on it.
//!
//! # Example
//!
//! Build a tree, sign a checkpoint, and let a verifier check an inclusion
//! proof and a consistency proof against it:
//!
//! ```
//! use tlog::{Checkpoint, MemoryHashStore, SignerKey, leaf_hash, open_checkpoint};
//!
//! let key = SignerKey::from_seed("example.com/log", &[42; 32])?;
//! let mut store = MemoryHashStore::new();
//! for entry in ["one", "two", "three"] {
//!     store.append(leaf_hash(entry.as_bytes()));
//! }
//! let old_root = tlog::tree_hash(2, &store)?;
//! let note = Checkpoint::new("example.com/log", store.size(), store.root()).sign(&key)?;
//!
//! // The verifier holds only the log's verifier key.
//! let vkey = tlog::VerifierKey::from_text(&key.verifier_key().to_text())?;
//! let cp = open_checkpoint(&note.to_bytes(), &vkey)?.checkpoint;
//! assert_eq!(cp.tree_size, 3);
//!
//! let proof = tlog::prove_inclusion(1, cp.tree_size, &store)?;
//! tlog::verify_inclusion(1, cp.tree_size, &leaf_hash(b"two"), &proof, &cp.root_hash)?;
//! assert!(tlog::verify_inclusion(1, cp.tree_size, &leaf_hash(b"2"), &proof, &cp.root_hash).is_err());
//!
//! let proof = tlog::prove_consistency(2, 3, &store)?;
//! tlog::verify_consistency(2, 3, &old_root, &cp.root_hash, &proof)?;
//! # Ok::<(), tlog::Error>(())
//! ```

mod checkpoint;
mod cosignature;
mod error;
mod hash;
mod note;
mod policy;
mod proof;
mod proof_file;
mod tile;
mod tree;
mod witness;

pub use checkpoint::{
    Checkpoint, Inconsistency, SignedCheckpoint, consistency_proof_needed, open_checkpoint,
    verify_extends,
};
pub use cosignature::{
    ALG_COSIGNATURE_V1, COSIGNATURE_V1_SIZE, CosignerKey, CosignerVerifier,
    MAX_COSIGNATURE_TIMESTAMP, Vkey, cosigned_message, cosigner_key_id,
};
pub use error::Error;
pub use hash::{HASH_SIZE, Hash, leaf_hash, node_hash};
pub use note::{
    ALG_ED25519, MAX_SIGNATURES, Note, NoteSignature, SignerKey, VerifierKey, is_valid_key_name,
    key_id,
};
pub use policy::{
    Cosigner, MAX_COSIGNATURE_CLOCK_SKEW, MAX_POLICY_GROUPS, MAX_POLICY_LOGS, MAX_POLICY_WITNESSES,
    Policy, PolicyGroup, PolicyLog, PolicyProblem, PolicyWitness, WitnessedCheckpoint,
};
pub use proof::{root_from_inclusion_proof, verify_consistency, verify_inclusion};
pub use proof_file::{MAX_PROOF_FILE_HASHES, PROOF_FILE_HEADER, ProofFile};
pub use tile::{
    BundleId, MAX_ENTRY_SIZE, MAX_TILE_LEVEL, TILE_HEIGHT, TILE_WIDTH, TileHashReader, TileId,
    TilePath, TileReader, bundles_for_size, decode_bundle, encode_bundle, encode_index, parse_tile,
    parse_tile_path, tile_bytes, tiles_for_size,
};
pub use tree::{
    Frontier, HashReader, MemoryHashStore, NodeId, prove_consistency, prove_inclusion,
    stored_hash_count, stored_hash_index, stored_hashes_for_append, tree_hash,
};
pub use witness::{
    AddCheckpointError, AddCheckpointRequest, MAX_CONSISTENCY_PROOF_LINES, WitnessState,
    check_add_checkpoint, cosignature_response, parse_cosignature_response,
};
