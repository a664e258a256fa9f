//! Getting proofs: from the log's proof API, or built here from its tiles
//! with `tlog::TileHashReader`. Either way they are only data until verified
//! with `tlog::verify_inclusion` / `tlog::verify_consistency` against a
//! checkpoint verified with the user's key.

use anyhow::anyhow;
use serde_json::Value;
use tlog::{BundleId, Hash, TILE_WIDTH, TileHashReader};

use crate::cli::ProofSourceArg;
use crate::report::{Failure, ProofEvidence, hinted};
use crate::sources::{Bundle, Fetched, Log, LogTiles, MAX_JSON, MissingData};

/// Where a proof came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The log's `/v1/proof/...` API.
    Api,
    /// Built here from the log's tlog-tiles.
    Tiles,
}

impl Source {
    /// Short name, as in JSON output and evidence: `api` or `tiles`.
    pub fn name(self) -> &'static str {
        match self {
            Source::Api => "api",
            Source::Tiles => "tiles",
        }
    }

    /// In words, for plain output.
    pub fn describe(self) -> &'static str {
        match self {
            Source::Api => "the log's proof API",
            Source::Tiles => "built here from the log's tiles",
        }
    }
}

/// Refuses `--proof-source api` for a directory, before anything is read.
///
/// # Errors
/// As described.
pub fn check_usage(log: &Log, pref: ProofSourceArg) -> anyhow::Result<()> {
    if pref == ProofSourceArg::Api && !log.is_http() {
        return Err(hinted(
            "--proof-source api: a directory has no proof API",
            "use --proof-source auto or tiles with a directory",
        ));
    }
    Ok(())
}

/// Picks the proof source: `auto` asks `GET /v1/log` whether the log has the
/// StateAnchor API, and uses tiles if it does not (404).
///
/// # Errors
/// Network errors; `--proof-source api` on a directory.
pub fn choose(log: &Log, pref: ProofSourceArg) -> anyhow::Result<Source> {
    match (pref, log.is_http()) {
        (ProofSourceArg::Tiles, _) => Ok(Source::Tiles),
        (ProofSourceArg::Api, true) => Ok(Source::Api),
        (ProofSourceArg::Api, false) => Err(hinted(
            "--proof-source api: a directory has no proof API",
            "use --proof-source auto or tiles with a directory",
        )),
        (ProofSourceArg::Auto, false) => Ok(Source::Tiles),
        (ProofSourceArg::Auto, true) => match log.fetch("v1/log", MAX_JSON)? {
            Fetched::Found(body, src) => match serde_json::from_slice::<Value>(&body) {
                Ok(v) if v.get("tree_size").is_some() => Ok(Source::Api),
                _ => Err(anyhow!(
                    "{src} is not the StateAnchor log API (no JSON with tree_size)"
                )),
            },
            Fetched::NotFound(_) => Ok(Source::Tiles),
        },
    }
}

/// A proof as received (not yet verified).
pub struct Proof {
    /// Its hashes.
    pub hashes: Vec<Hash>,
    /// Where it came from.
    pub source: Source,
    /// What to keep as evidence: the API response, or the tiles it was built from.
    pub raw: Vec<(String, Vec<u8>)>,
}

impl Proof {
    /// Adds what the proof came from (API responses or tiles) to a failure's evidence.
    pub fn attach_raw(&self, mut f: Failure) -> Failure {
        let role = match self.source {
            Source::Api => "log response",
            Source::Tiles => "tile",
        };
        for (src, bytes) in &self.raw {
            f = f.data(role, src, bytes);
        }
        f
    }

    /// The proof as evidence.
    pub fn evidence(&self, kind: &'static str, first: u64, second: Option<u64>) -> ProofEvidence {
        ProofEvidence {
            kind,
            source: self.source.name(),
            leaf_index: None,
            leaf_hash: None,
            first,
            second,
            hashes: self.hashes.iter().map(Hash::to_base64).collect(),
        }
    }
}

/// The log could not or would not give a usable proof: a verification
/// failure, not an I/O error. Carries what the log answered.
#[derive(Debug)]
pub struct ProofProblem {
    /// What went wrong.
    pub message: String,
    /// The log's answer (source, bytes), if any.
    pub raw: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Display for ProofProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ProofProblem {}

fn problem(message: String, raw: Vec<(String, Vec<u8>)>) -> anyhow::Error {
    anyhow::Error::new(ProofProblem { message, raw })
}

/// Percent-encodes standard base64 for a query parameter.
fn query_b64(b64: &str) -> String {
    b64.replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

/// GETs an API path; 200 gives the JSON, 400/404/410 a [`ProofProblem`]
/// (the log refuses), anything else an error.
fn api_call(log: &Log, path: &str, what: &str) -> anyhow::Result<Value> {
    let (status, v) = log.api(path)?;
    let raw = vec![(log.locate(path), v.to_string().into_bytes())];
    match status {
        200 => Ok(v),
        400 | 404 | 410 | 422 => {
            let err = v.get("error").and_then(Value::as_str).unwrap_or("");
            Err(problem(
                format!("the log refused {what}: HTTP {status}: {err}"),
                raw,
            ))
        }
        _ => Err(anyhow!("GET {}: HTTP {status}: {v}", log.locate(path))),
    }
}

fn u64_field(v: &Value, name: &str) -> Option<u64> {
    v.get(name).and_then(Value::as_u64)
}

fn hashes_field(v: &Value, raw: &[(String, Vec<u8>)]) -> anyhow::Result<Vec<Hash>> {
    let bad = |m: &str| problem(format!("the log's proof is malformed: {m}"), raw.to_vec());
    let arr = v
        .get("proof")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no proof array"))?;
    arr.iter()
        .map(|h| {
            h.as_str()
                .ok_or_else(|| bad("a proof hash is not a string"))
                .and_then(|s| Hash::from_base64(s).map_err(|e| bad(&e.to_string())))
        })
        .collect()
}

/// Turns a failed tile read into the I/O error or [`ProofProblem`] behind it.
fn tile_error(tiles: &LogTiles<'_>, e: tlog::Error, what: &str) -> anyhow::Error {
    match tiles.take_error() {
        Some(io) => match io.downcast::<MissingData>() {
            Ok(missing) => problem(
                format!("cannot build {what}: {missing}"),
                tiles.tiles_read(),
            ),
            Err(io) => io.context(format!("building {what} from tiles")),
        },
        None => problem(
            format!("cannot build {what} from the log's tiles: {e}"),
            tiles.tiles_read(),
        ),
    }
}

/// A proof from the log's API at `path`; `check` validates the answer's echo fields.
fn from_api(
    log: &Log,
    path: &str,
    what: &str,
    check: impl FnOnce(&Value, &[(String, Vec<u8>)]) -> anyhow::Result<()>,
) -> anyhow::Result<Proof> {
    let v = api_call(log, path, what)?;
    let raw = vec![(log.locate(path), v.to_string().into_bytes())];
    check(&v, &raw)?;
    let hashes = hashes_field(&v, &raw)?;
    Ok(Proof {
        hashes,
        source: Source::Api,
        raw,
    })
}

/// A proof built with `prove` from the tiles of the tree of `tree_size` leaves.
fn from_tiles(
    log: &Log,
    tree_size: u64,
    what: &str,
    prove: impl FnOnce(&TileHashReader<'_, LogTiles<'_>>) -> Result<Vec<Hash>, tlog::Error>,
) -> anyhow::Result<Proof> {
    let tiles = LogTiles::new(log);
    let reader = TileHashReader::new(tree_size, &tiles);
    let hashes = prove(&reader).map_err(|e| tile_error(&tiles, e, what))?;
    Ok(Proof {
        hashes,
        source: Source::Tiles,
        raw: tiles.tiles_read(),
    })
}

/// The consistency proof from the tree of `first` leaves to the tree of `second`.
///
/// # Errors
/// [`ProofProblem`] if the log cannot give one; network and I/O errors.
pub fn consistency(log: &Log, source: Source, first: u64, second: u64) -> anyhow::Result<Proof> {
    let what = format!("a consistency proof from tree size {first} to {second}");
    match source {
        Source::Api => {
            let path = format!("v1/proof/consistency?first={first}&second={second}");
            from_api(log, &path, &what, |v, raw| {
                if u64_field(v, "first") != Some(first) || u64_field(v, "second") != Some(second) {
                    return Err(problem(
                        format!(
                            "the log answered with a proof for other sizes than {first} and {second}"
                        ),
                        raw.to_vec(),
                    ));
                }
                Ok(())
            })
        }
        Source::Tiles => from_tiles(log, second, &what, |r| {
            tlog::prove_consistency(first, second, r)
        }),
    }
}

/// The inclusion proof of leaf `index` in the tree of `tree_size` leaves.
///
/// # Errors
/// [`ProofProblem`] if the log cannot give one; network and I/O errors.
pub fn inclusion(log: &Log, source: Source, index: u64, tree_size: u64) -> anyhow::Result<Proof> {
    let what = format!("an inclusion proof for leaf {index} in tree size {tree_size}");
    match source {
        Source::Api => {
            let path = format!("v1/proof/inclusion?index={index}&tree_size={tree_size}");
            from_api(log, &path, &what, |v, raw| {
                check_inclusion_echo(v, Some(index), tree_size, raw).map(|_| ())
            })
        }
        Source::Tiles => from_tiles(log, tree_size, &what, |r| {
            tlog::prove_inclusion(index, tree_size, r)
        }),
    }
}

fn check_inclusion_echo(
    v: &Value,
    index: Option<u64>,
    tree_size: u64,
    raw: &[(String, Vec<u8>)],
) -> anyhow::Result<u64> {
    let got_index = u64_field(v, "leaf_index");
    let ok_index = match (index, got_index) {
        (Some(want), Some(got)) => want == got,
        (None, Some(_)) => true,
        _ => false,
    };
    if !ok_index || u64_field(v, "tree_size") != Some(tree_size) {
        return Err(problem(
            format!(
                "the log answered with a proof for another leaf or tree size than asked (tree size {tree_size})"
            ),
            raw.to_vec(),
        ));
    }
    got_index.ok_or_else(|| anyhow!("unreachable: leaf_index checked above"))
}

/// Asks the log's API for the index and inclusion proof of the leaf with hash `leaf`.
///
/// # Errors
/// [`ProofProblem`] if the log does not know the leaf; network errors.
pub fn inclusion_by_hash(log: &Log, leaf: &Hash, tree_size: u64) -> anyhow::Result<(u64, Proof)> {
    let what = format!("an inclusion proof for leaf hash {leaf} in tree size {tree_size}");
    let path = format!(
        "v1/proof/inclusion?leaf_hash={}&tree_size={tree_size}",
        query_b64(&leaf.to_base64())
    );
    let mut index = 0;
    let proof = from_api(log, &path, &what, |v, raw| {
        index = check_inclusion_echo(v, None, tree_size, raw)?;
        Ok(())
    })?;
    Ok((index, proof))
}

/// An entry read from the log, with the leaf hash computed here.
pub struct Entry {
    /// The entry's bytes.
    pub bytes: Vec<u8>,
    /// Its leaf hash, computed here.
    pub leaf_hash: Hash,
    /// Where it came from.
    pub source: String,
}

/// Reads entry `index` of the tree of `tree_size` leaves: from
/// `/v1/entries/<index>` or from its entry bundle.
///
/// # Errors
/// [`ProofProblem`] if the log does not serve it; network and I/O errors.
pub fn entry(log: &Log, source: Source, index: u64, tree_size: u64) -> anyhow::Result<Entry> {
    match source {
        Source::Api => {
            let path = format!("v1/entries/{index}");
            let v = api_call(log, &path, &format!("entry {index}"))?;
            let raw = vec![(log.locate(&path), v.to_string().into_bytes())];
            if u64_field(&v, "index") != Some(index) {
                return Err(problem(
                    format!("the log answered with another entry than {index}"),
                    raw,
                ));
            }
            let bytes = v
                .get("entry")
                .and_then(Value::as_str)
                .and_then(|s| {
                    use base64::Engine as _;
                    base64::engine::general_purpose::STANDARD.decode(s).ok()
                })
                .ok_or_else(|| {
                    problem(
                        format!("entry {index} from the log is not base64"),
                        raw.clone(),
                    )
                })?;
            Ok(Entry {
                leaf_hash: tlog::leaf_hash(&bytes),
                bytes,
                source: log.locate(&path),
            })
        }
        Source::Tiles => {
            let id = BundleId::for_size(index / TILE_WIDTH, tree_size).ok_or_else(|| {
                anyhow!("unreachable: leaf {index} is below tree size {tree_size}")
            })?;
            let bundle = read_bundle(log, id)?;
            let entries = bundle_entries(&bundle, id)?;
            let pos = usize::try_from(index % TILE_WIDTH).unwrap_or(usize::MAX);
            let bytes = entries
                .get(pos)
                .map(|e| e.to_vec())
                .ok_or_else(|| anyhow!("unreachable: bundle width covers leaf {index}"))?;
            Ok(Entry {
                leaf_hash: tlog::leaf_hash(&bytes),
                bytes,
                source: format!("{} (entry {})", bundle.source, index % TILE_WIDTH),
            })
        }
    }
}

/// Finds the first leaf with hash `leaf` by reading the entry bundles of the
/// tree of `tree_size` leaves (for logs without an index by hash). `None` if
/// no entry has that hash.
///
/// # Errors
/// [`ProofProblem`] if a bundle is missing or malformed; network and I/O errors.
pub fn find_leaf_in_bundles(log: &Log, leaf: &Hash, tree_size: u64) -> anyhow::Result<Option<u64>> {
    for id in tlog::bundles_for_size(tree_size) {
        let bundle = read_bundle(log, id)?;
        let entries = bundle_entries(&bundle, id)?;
        if let Some(pos) = entries.iter().position(|e| tlog::leaf_hash(e) == *leaf) {
            return Ok(Some(id.first_entry() + pos as u64));
        }
    }
    Ok(None)
}

/// Reads entry bundle `id`; a [`ProofProblem`] if the log does not serve it.
fn read_bundle(log: &Log, id: BundleId) -> anyhow::Result<Bundle> {
    log.bundle(id)?.ok_or_else(|| {
        problem(
            format!(
                "the log does not serve entry bundle {}",
                log.locate(&id.path())
            ),
            Vec::new(),
        )
    })
}

/// The entries of `bundle`; a [`ProofProblem`] if it is malformed.
fn bundle_entries(bundle: &Bundle, id: BundleId) -> anyhow::Result<Vec<&[u8]>> {
    bundle.entries(id).map_err(|e| {
        problem(
            format!("entry bundle {} is malformed: {e}", bundle.source),
            vec![(bundle.source.clone(), bundle.bytes.clone())],
        )
    })
}
