//! A log, over HTTP(S) or in a directory laid out as tlog-tiles: its
//! checkpoint, tiles (with the fallback to wider ones), entry bundles and
//! StateAnchor proof API, and a `tlog::TileReader` over it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context as _, anyhow, bail};
use reqwest::Url;
use serde_json::Value;
use tlog::{BundleId, HASH_SIZE, TileId, TileReader};

use super::file::read_file_limited;
use super::http::{Http, error_text};
use super::{MAX_CHECKPOINT, MAX_JSON};
use crate::report::hinted;

/// Largest tile: 256 hashes.
const MAX_TILE: usize = 256 * HASH_SIZE;
/// Largest entry bundle: 256 entries of at most 65,535 bytes plus their lengths.
const MAX_BUNDLE: usize = 256 * (2 + 65_535);

/// An entry bundle as read.
pub struct Bundle {
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Where it came from.
    pub source: String,
    /// Whether the partial bundle was gone and this is a wider one.
    pub from_wider: bool,
}

/// Bytes from the log, or its word that it has none.
pub enum Fetched {
    /// The resource, and where it came from.
    Found(Vec<u8>, String),
    /// 404, or no such file.
    NotFound(String),
}

/// A log: a base URL or a directory laid out as tlog-tiles.
#[derive(Clone)]
pub enum Log {
    /// Over HTTP(S); `base` ends in `/`.
    Http {
        /// Base URL.
        base: Url,
        /// Client.
        http: Http,
    },
    /// A local directory.
    Dir {
        /// Its root.
        root: PathBuf,
    },
}

impl Log {
    /// Parses `--log`: an `http(s)://` URL or an existing directory.
    ///
    /// # Errors
    /// Malformed URLs, unsupported schemes, missing directories.
    pub fn parse(text: &str, http: &Http) -> anyhow::Result<Self> {
        if text.starts_with("http://") || text.starts_with("https://") {
            let mut base = Url::parse(text).map_err(|e| {
                hinted(
                    format!("--log {text:?} is not a valid URL: {e}"),
                    "give the log's base URL, e.g. https://log.example.com",
                )
            })?;
            if base.query().is_some() || base.fragment().is_some() {
                return Err(hinted(
                    format!("--log {text:?} has a query or fragment"),
                    "give the log's base URL, e.g. https://log.example.com",
                ));
            }
            if !base.path().ends_with('/') {
                let p = format!("{}/", base.path());
                base.set_path(&p);
            }
            return Ok(Log::Http {
                base,
                http: http.clone(),
            });
        }
        if text.contains("://") {
            return Err(hinted(
                format!("--log {text:?}: only http:// and https:// URLs are supported"),
                "give an http(s) URL or a directory",
            ));
        }
        let root = PathBuf::from(text);
        if !root.is_dir() {
            return Err(hinted(
                format!("--log {text:?} is neither an http(s) URL nor a directory"),
                "give the log's base URL (https://...) or a tlog-tiles directory",
            ));
        }
        Ok(Log::Dir { root })
    }

    /// Where `rel` is, as a URL or path.
    pub fn locate(&self, rel: &str) -> String {
        match self {
            Log::Http { base, .. } => base
                .join(rel)
                .map_or_else(|_| rel.to_owned(), |u| u.to_string()),
            Log::Dir { root } => root.join(rel).display().to_string(),
        }
    }

    /// Whether the log is served over HTTP.
    pub fn is_http(&self) -> bool {
        matches!(self, Log::Http { .. })
    }

    /// Reads `rel` (a tlog-tiles path), at most `limit` bytes.
    ///
    /// # Errors
    /// Network and I/O errors, and HTTP statuses other than 200 and 404.
    pub fn fetch(&self, rel: &str, limit: usize) -> anyhow::Result<Fetched> {
        let source = self.locate(rel);
        match self {
            Log::Http { base, http } => {
                let url = base
                    .join(rel)
                    .with_context(|| format!("joining {rel} to {base}"))?;
                let resp = http.get(&url, limit, &[])?;
                match resp.status {
                    200 => Ok(Fetched::Found(resp.body, source)),
                    404 | 410 => Ok(Fetched::NotFound(source)),
                    s => bail!("GET {url}: HTTP {s}: {}", error_text(&resp.body)),
                }
            }
            Log::Dir { root } => read_file_limited(&root.join(rel), limit).map(|r| {
                r.map_or(Fetched::NotFound(source.clone()), |b| {
                    Fetched::Found(b, source)
                })
            }),
        }
    }

    /// Reads the log's checkpoint (`/checkpoint`).
    ///
    /// # Errors
    /// As [`Log::fetch`]; a missing checkpoint is an error with a hint.
    pub fn checkpoint(&self) -> anyhow::Result<(Vec<u8>, String)> {
        match self.fetch("checkpoint", MAX_CHECKPOINT)? {
            Fetched::Found(b, s) => Ok((b, s)),
            Fetched::NotFound(s) => Err(hinted(
                format!("the log has no checkpoint at {s}"),
                "--log must be the log's base URL or tlog-tiles directory (the one that holds `checkpoint`)",
            )),
        }
    }

    /// The tree size of the log's current checkpoint, read without verifying
    /// it: only a hint of which partial tiles exist. Whatever is read with
    /// it is verified against a checkpoint verified with the user's key.
    fn size_hint(&self) -> Option<u64> {
        let Ok(Fetched::Found(bytes, _)) = self.fetch("checkpoint", MAX_CHECKPOINT) else {
            return None;
        };
        let note = tlog::Note::from_bytes(&bytes).ok()?;
        Some(tlog::Checkpoint::from_body(note.text()).ok()?.tree_size)
    }

    /// The wider versions of a partial tile or bundle at `level`/`index` of
    /// `width`, to try when the partial one is gone: the full one, then the
    /// one of the log's current size.
    fn wider_widths(&self, level: u8, index: u64, width: u16) -> Vec<u16> {
        let mut out = vec![256];
        if let Some(n) = self.size_hint()
            && let Some(t) = TileId::for_size(level, index, n)
            && t.width > width
            && t.width < 256
        {
            out.push(t.width);
        }
        out
    }

    /// Reads a tile. A partial tile that is gone is read from a wider one
    /// (C2SP tlog-tiles lets logs delete partial tiles once a wider one
    /// exists): the full tile or the partial tile of the current size,
    /// truncated to `id.width` hashes.
    ///
    /// # Errors
    /// As [`Log::fetch`].
    pub fn tile(&self, id: TileId) -> anyhow::Result<Fetched> {
        let first = self.fetch(&id.path(), MAX_TILE)?;
        let Fetched::NotFound(src) = first else {
            return Ok(first);
        };
        if id.is_full() {
            return Ok(Fetched::NotFound(src));
        }
        let want = usize::from(id.width) * HASH_SIZE;
        for width in self.wider_widths(id.level, id.index, id.width) {
            let wider = TileId { width, ..id };
            if let Fetched::Found(mut b, s) = self.fetch(&wider.path(), MAX_TILE)? {
                if b.len() == usize::from(width) * HASH_SIZE {
                    b.truncate(want);
                    return Ok(Fetched::Found(
                        b,
                        format!("{s} (first {} hashes)", id.width),
                    ));
                }
                return Ok(Fetched::Found(b, s));
            }
        }
        Ok(Fetched::NotFound(src))
    }

    /// Reads an entry bundle, falling back to a wider one (full, or of the
    /// current size) when a partial one is gone; `None` if none exists.
    ///
    /// # Errors
    /// As [`Log::fetch`].
    pub fn bundle(&self, id: BundleId) -> anyhow::Result<Option<Bundle>> {
        match self.fetch(&id.path(), MAX_BUNDLE)? {
            Fetched::Found(bytes, source) => {
                return Ok(Some(Bundle {
                    bytes,
                    source,
                    from_wider: false,
                }));
            }
            Fetched::NotFound(_) if id.is_full() => return Ok(None),
            Fetched::NotFound(_) => {}
        }
        for width in self.wider_widths(0, id.index, id.width) {
            let wider = BundleId { width, ..id };
            if let Fetched::Found(bytes, source) = self.fetch(&wider.path(), MAX_BUNDLE)? {
                return Ok(Some(Bundle {
                    bytes,
                    source: format!("{source} (first {} entries)", id.width),
                    from_wider: true,
                }));
            }
        }
        Ok(None)
    }

    /// GETs a StateAnchor API path (`v1/...`), returning the status and JSON body.
    ///
    /// # Errors
    /// Network errors; a body that is not JSON.
    pub fn api(&self, path_and_query: &str) -> anyhow::Result<(u16, Value)> {
        let Log::Http { base, http } = self else {
            bail!("a directory has no API");
        };
        let url = base
            .join(path_and_query)
            .with_context(|| format!("joining {path_and_query} to {base}"))?;
        let resp = http.get(&url, MAX_JSON, &[("accept", "application/json".into())])?;
        let v = serde_json::from_slice(&resp.body).map_err(|e| {
            anyhow!(
                "GET {url}: HTTP {}: response is not JSON ({e}): {}",
                resp.status,
                error_text(&resp.body)
            )
        })?;
        Ok((resp.status, v))
    }
}

/// The log did not serve data that its checkpoint commits to.
#[derive(Debug)]
pub struct MissingData {
    /// What is missing, and where it was looked for.
    pub what: String,
}

impl std::fmt::Display for MissingData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the log does not serve {}", self.what)
    }
}

impl std::error::Error for MissingData {}

/// A [`TileReader`] over a [`Log`] that remembers every tile it read (for
/// evidence) and the I/O error behind a failed read (which `tlog` can only
/// carry as text).
pub struct LogTiles<'a> {
    log: &'a Log,
    cache: RefCell<HashMap<TileId, (Vec<u8>, String)>>,
    error: RefCell<Option<anyhow::Error>>,
}

impl<'a> LogTiles<'a> {
    /// Reads tiles from `log`.
    pub fn new(log: &'a Log) -> Self {
        LogTiles {
            log,
            cache: RefCell::new(HashMap::new()),
            error: RefCell::new(None),
        }
    }

    /// The error behind the last failed read, if any.
    pub fn take_error(&self) -> Option<anyhow::Error> {
        self.error.borrow_mut().take()
    }

    /// Every tile read so far: (source, bytes), in tile order.
    pub fn tiles_read(&self) -> Vec<(String, Vec<u8>)> {
        let cache = self.cache.borrow();
        let mut ids: Vec<&TileId> = cache.keys().collect();
        ids.sort_unstable();
        ids.into_iter()
            .filter_map(|id| cache.get(id).map(|(b, s)| (s.clone(), b.clone())))
            .collect()
    }
}

impl TileReader for LogTiles<'_> {
    fn read_tiles(&self, tiles: &[TileId]) -> Result<Vec<Vec<u8>>, tlog::Error> {
        let mut out = Vec::with_capacity(tiles.len());
        for &id in tiles {
            if let Some((b, _)) = self.cache.borrow().get(&id) {
                out.push(b.clone());
                continue;
            }
            let fail = |e: anyhow::Error| {
                let reason = format!("{e:#}");
                *self.error.borrow_mut() = Some(e);
                tlog::Error::Storage { reason }
            };
            match self.log.tile(id) {
                Ok(Fetched::Found(b, s)) => {
                    self.cache.borrow_mut().insert(id, (b.clone(), s));
                    out.push(b);
                }
                Ok(Fetched::NotFound(s)) => {
                    return Err(fail(anyhow::Error::new(MissingData {
                        what: format!("tile {s}"),
                    })));
                }
                Err(e) => return Err(fail(e)),
            }
        }
        Ok(out)
    }
}

impl Bundle {
    /// The bundle's entries, decoded strictly: exactly `id.width` of them (or
    /// more when this is a wider bundle read in place of a partial one, of
    /// which the first `id.width` are returned).
    ///
    /// # Errors
    /// Why the bundle is malformed.
    pub fn entries(&self, id: BundleId) -> Result<Vec<&[u8]>, String> {
        let width = usize::from(id.width);
        let mut entries = tlog::decode_bundle(&self.bytes).map_err(|e| e.to_string())?;
        if entries.len() == width || (self.from_wider && entries.len() > width) {
            entries.truncate(width);
            Ok(entries)
        } else {
            Err(format!(
                "the entry bundle holds {} entries; the checkpoint's tree needs {width}",
                entries.len()
            ))
        }
    }
}
