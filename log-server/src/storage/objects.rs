//! S3-compatible object storage: the tiles, entry bundles and checkpoint of
//! a log run on PostgreSQL and object storage (issue 13), laid out as
//! tlog-tiles so that the bucket itself is a log a CDN or
//! `stateanchor-verify audit` reads directly. The only file that names
//! `object_store`.
//!
//! - Tiles and bundles are written **create-only** (`If-None-Match: *`)
//!   with `Cache-Control: public, max-age=31536000, immutable`. A write that
//!   finds the object already there (HTTP 412) reads it back: identical
//!   bytes are success (a retry, or a takeover repeating its predecessor's
//!   work); different bytes are [`Error::Corrupt`].
//! - `checkpoint` is written with `Cache-Control: no-cache`, conditionally
//!   on the version read (`If-Match`), and never replaced by a smaller tree.
//! - Reads of immutable objects go through a bounded in-memory cache.
//!
//! Endpoint, region and credentials come from the standard `AWS_*`
//! environment variables (`AWS_ENDPOINT_URL`, `AWS_REGION`,
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, ...).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, ObjectStore, PutMode, PutOptions, PutPayload, UpdateVersion,
};

use super::bridge::Bridge;
use crate::{Error, Result};

/// `Cache-Control` of tiles and bundles.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of the checkpoint.
pub const NO_CACHE: &str = "no-cache";

/// Counters of object-store requests, for the benchmarks.
#[derive(Debug, Default)]
pub struct Requests {
    /// GETs sent to the store.
    pub gets: std::sync::atomic::AtomicU64,
    /// PUTs sent to the store.
    pub puts: std::sync::atomic::AtomicU64,
    /// Reads answered by the cache.
    pub cache_hits: std::sync::atomic::AtomicU64,
}

/// A bounded cache of immutable objects, evicting the oldest insert.
struct Cache {
    max_bytes: usize,
    bytes: usize,
    map: HashMap<String, Bytes>,
    order: VecDeque<String>,
}

impl Cache {
    fn get(&self, key: &str) -> Option<Bytes> {
        self.map.get(key).cloned()
    }

    fn insert(&mut self, key: String, value: Bytes) {
        if value.len() > self.max_bytes || self.map.contains_key(&key) {
            return;
        }
        self.bytes += value.len();
        self.order.push_back(key.clone());
        self.map.insert(key, value);
        while self.bytes > self.max_bytes {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(v) = self.map.remove(&old) {
                self.bytes -= v.len();
            }
        }
    }
}

/// A prefix of an S3-compatible bucket holding a tlog-tiles log.
pub struct Objects {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    /// `s3://BUCKET[/PREFIX]`, for messages.
    url: String,
    bridge: Bridge,
    cache: Mutex<Cache>,
    /// Requests sent and cache hits.
    pub requests: Arc<Requests>,
}

fn os(context: impl std::fmt::Display) -> impl Fn(object_store::Error) -> Error {
    move |e| Error::storage(&context, e)
}

fn attributes(cache_control: &str, content_type: &str) -> Attributes {
    let mut a = Attributes::new();
    a.insert(Attribute::CacheControl, cache_control.to_owned().into());
    a.insert(Attribute::ContentType, content_type.to_owned().into());
    a
}

impl Objects {
    /// Opens `url` (`s3://BUCKET[/PREFIX]`), with the endpoint and
    /// credentials of the `AWS_*` environment variables, and checks that
    /// the bucket can be listed. Immutable objects are cached up to
    /// `cache_bytes`.
    ///
    /// # Errors
    /// A URL that is not `s3://BUCKET[/PREFIX]`; a bucket that is missing
    /// or cannot be read (within `timeout`).
    pub fn open(url: &str, cache_bytes: usize, timeout: Duration) -> Result<Self> {
        let rest = url.strip_prefix("s3://").ok_or_else(|| {
            Error::storage(
                format!("the object storage URL {url:?}"),
                "expected s3://BUCKET[/PREFIX]",
            )
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(Error::storage(
                format!("the object storage URL {url:?}"),
                "no bucket (expected s3://BUCKET[/PREFIX])",
            ));
        }
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if std::env::var("AWS_ENDPOINT_URL")
            .or_else(|_| std::env::var("AWS_ENDPOINT"))
            .is_ok_and(|e| e.starts_with("http://"))
        {
            builder = builder.with_allow_http(true);
        }
        let store = builder
            .build()
            .map_err(os(format!("configuring object storage for {url}")))?;
        let prefix = prefix.trim_matches('/').to_owned();
        let objects = Objects {
            store: Arc::new(store),
            url: format!(
                "s3://{bucket}{}{prefix}",
                if prefix.is_empty() { "" } else { "/" }
            ),
            prefix,
            bridge: Bridge::new("sa-objects", timeout)?,
            cache: Mutex::new(Cache {
                max_bytes: cache_bytes,
                bytes: 0,
                map: HashMap::new(),
                order: VecDeque::new(),
            }),
            requests: Arc::new(Requests::default()),
        };
        let (store, path) = (objects.store.clone(), objects.path(""));
        let what = format!("listing the bucket {bucket:?} (is it there, and may we read it?)");
        objects.bridge.run("checking the bucket", async move {
            store
                .list_with_delimiter(Some(&path))
                .await
                .map(drop)
                .map_err(os(what))
        })?;
        Ok(objects)
    }

    fn path(&self, rel: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(rel)
        } else if rel.is_empty() {
            Path::from(self.prefix.as_str())
        } else {
            Path::from(format!("{}/{rel}", self.prefix))
        }
    }

    /// Writes immutable objects (tiles, bundles), create-only, all at once;
    /// an object already there with the same bytes is success.
    ///
    /// # Errors
    /// Storage failures; [`Error::Corrupt`] if an object is there with
    /// other bytes.
    pub fn put_immutable(&self, objects: Vec<(String, Vec<u8>)>) -> Result<()> {
        let store = self.store.clone();
        let paths: Vec<(String, Path, Bytes)> = objects
            .into_iter()
            .map(|(rel, b)| (rel.clone(), self.path(&rel), Bytes::from(b)))
            .collect();
        let requests = self.requests.clone();
        self.bridge.run("writing tiles and bundles", async move {
            let mut set = tokio::task::JoinSet::new();
            for (rel, path, bytes) in paths {
                let (store, requests) = (store.clone(), requests.clone());
                set.spawn(async move { put_create(&*store, &requests, &rel, &path, bytes).await });
            }
            while let Some(r) = set.join_next().await {
                r.map_err(|e| Error::storage("a write task", e))??;
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Writes `checkpoint` (of a tree of `size`) unless the stored one is of
    /// a tree at least as large; conditional on the version read, so two
    /// writers never replace a larger tree's checkpoint by a smaller one.
    ///
    /// # Errors
    /// Storage failures.
    pub fn put_checkpoint(&self, size: u64, note: &[u8]) -> Result<()> {
        let store = self.store.clone();
        let path = self.path("checkpoint");
        let note = Bytes::copy_from_slice(note);
        let requests = self.requests.clone();
        self.bridge.run("writing the checkpoint", async move {
            for _ in 0..5 {
                requests
                    .gets
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let mode = match store.get(&path).await {
                    Ok(got) => {
                        let version = UpdateVersion {
                            e_tag: got.meta.e_tag.clone(),
                            version: got.meta.version.clone(),
                        };
                        let body = got.bytes().await.map_err(os("reading the checkpoint"))?;
                        if checkpoint_size(&body).is_some_and(|s| s >= size) {
                            return Ok(());
                        }
                        PutMode::Update(version)
                    }
                    Err(object_store::Error::NotFound { .. }) => PutMode::Create,
                    Err(e) => return Err(os("reading the checkpoint")(e)),
                };
                let opts = PutOptions {
                    mode,
                    attributes: attributes(NO_CACHE, "text/plain; charset=utf-8"),
                    ..PutOptions::default()
                };
                requests
                    .puts
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                match store
                    .put_opts(&path, PutPayload::from(note.clone()), opts)
                    .await
                {
                    Ok(_) => return Ok(()),
                    Err(
                        object_store::Error::Precondition { .. }
                        | object_store::Error::AlreadyExists { .. },
                    ) => {}
                    Err(e) => return Err(os("writing the checkpoint")(e)),
                }
            }
            Err(Error::storage(
                "writing the checkpoint",
                "it kept changing under us (another integrator?)",
            ))
        })
    }

    /// The `s3://` URL of the object `rel`, for messages.
    #[must_use]
    pub fn url(&self, rel: &str) -> String {
        format!("{}/{rel}", self.url)
    }

    /// Writes `checkpoint` whatever the stored one is, or removes it
    /// (`None`): only after an accepted rollback, when a smaller tree's
    /// checkpoint replaces the lost one's.
    ///
    /// # Errors
    /// Storage failures.
    pub fn replace_checkpoint(&self, note: Option<&[u8]>) -> Result<()> {
        let (store, path) = (self.store.clone(), self.path("checkpoint"));
        let note = note.map(Bytes::copy_from_slice);
        self.bridge.run("replacing the checkpoint", async move {
            match note {
                Some(note) => {
                    let opts = PutOptions {
                        attributes: attributes(NO_CACHE, "text/plain; charset=utf-8"),
                        ..PutOptions::default()
                    };
                    store
                        .put_opts(&path, PutPayload::from(note), opts)
                        .await
                        .map(drop)
                        .map_err(os("replacing the checkpoint"))
                }
                None => match store.delete(&path).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(os("removing the checkpoint")(e)),
                },
            }
        })
    }

    /// Moves every object under `tile/` whose path `lost` selects to
    /// `to/<its path>` (copied, then deleted); returns how many. Only after
    /// an accepted rollback: the tiles and bundles of the lost entries.
    ///
    /// # Errors
    /// Storage failures (the objects not moved yet are where they were;
    /// running it again finishes the move).
    pub fn move_aside(&self, lost: &(dyn Fn(&str) -> bool + Sync), to: &str) -> Result<u64> {
        use futures_util::StreamExt as _;
        let store = self.store.clone();
        let tiles = self.path("tile");
        let listed: Vec<String> = self.bridge.run("listing the bucket's tiles", async move {
            let mut out = Vec::new();
            let mut list = store.list(Some(&tiles));
            while let Some(meta) = list.next().await {
                out.push(
                    meta.map_err(os("listing the bucket's tiles"))?
                        .location
                        .to_string(),
                );
            }
            Ok(out)
        })?;
        let skip = if self.prefix.is_empty() {
            0
        } else {
            self.prefix.len() + 1
        };
        let moves: Vec<(Path, Path)> = listed
            .iter()
            .filter_map(|key| key.get(skip..))
            .filter(|rel| lost(rel))
            .map(|rel| (self.path(rel), self.path(&format!("{to}/{rel}"))))
            .collect();
        let n = moves.len() as u64;
        let store = self.store.clone();
        self.bridge.run("moving the lost tiles aside", async move {
            for (from, dest) in moves {
                store
                    .copy(&from, &dest)
                    .await
                    .map_err(os(format!("copying {from} to {dest}")))?;
                store
                    .delete(&from)
                    .await
                    .map_err(os(format!("removing {from}")))?;
            }
            Ok(())
        })?;
        self.clear_cache();
        Ok(n)
    }

    /// An object, read from the store (not cached): `None` if missing.
    ///
    /// # Errors
    /// Storage failures.
    pub fn get(&self, rel: &str) -> Result<Option<Bytes>> {
        let (store, path) = (self.store.clone(), self.path(rel));
        self.requests
            .gets
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let what = format!("reading {rel}");
        self.bridge.run("reading an object", async move {
            match store.get(&path).await {
                Ok(got) => got.bytes().await.map(Some).map_err(os(what)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(os(what)(e)),
            }
        })
    }

    /// An immutable object, through the cache: `None` if missing.
    ///
    /// # Errors
    /// Storage failures.
    pub fn get_immutable(&self, rel: &str) -> Result<Option<Bytes>> {
        if let Some(b) = self.lock().get(rel) {
            self.requests
                .cache_hits
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Ok(Some(b));
        }
        let got = self.get(rel)?;
        if let Some(b) = &got {
            self.lock().insert(rel.to_owned(), b.clone());
        }
        Ok(got)
    }

    /// Empties the cache (benchmarks of cold reads).
    pub fn clear_cache(&self) {
        let mut c = self.lock();
        c.map.clear();
        c.order.clear();
        c.bytes = 0;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The tree size of a checkpoint note's body (second line), unverified:
/// only used to never replace a larger tree's checkpoint.
fn checkpoint_size(note: &[u8]) -> Option<u64> {
    std::str::from_utf8(note).ok()?.lines().nth(1)?.parse().ok()
}

async fn put_create(
    store: &dyn ObjectStore,
    requests: &Requests,
    rel: &str,
    path: &Path,
    bytes: Bytes,
) -> Result<()> {
    let opts = PutOptions {
        mode: PutMode::Create,
        attributes: attributes(IMMUTABLE, "application/octet-stream"),
        ..PutOptions::default()
    };
    requests
        .puts
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    match store
        .put_opts(path, PutPayload::from(bytes.clone()), opts)
        .await
    {
        Ok(_) => Ok(()),
        Err(
            object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. },
        ) => {
            // 412: someone wrote it first. Identical bytes are success.
            requests
                .gets
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let there = store
                .get(path)
                .await
                .map_err(os(format!("reading back {rel}")))?
                .bytes()
                .await
                .map_err(os(format!("reading back {rel}")))?;
            if there == bytes {
                Ok(())
            } else {
                Err(Error::Corrupt(format!(
                    "{rel} is already in the bucket with other bytes"
                )))
            }
        }
        Err(e) => Err(os(format!("writing {rel}"))(e)),
    }
}
