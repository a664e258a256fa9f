//! `stateanchor-log migrate`: copies a RocksDB log (entries, records, projects,
//! profiles, API keys, kept OpenAPI documents, alert settings) into
//! PostgreSQL and object storage, integrates it, and proves that the copy's
//! root at the original's size is the original's root (both are printed).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use compliance::record::Record;

use super::data_dir;
use crate::storage::cluster::{Cluster, ClusterConfig};
use crate::storage::rocksdb::RocksDb;
use crate::storage::{KeyStore, LogStore, NewEntry, NewRecord, RecordStore, Sequenced, SharedLog};

/// Entries copied per transaction.
const BATCH: u64 = 4_096;

/// Settings of `migrate`.
#[derive(Clone, Debug, clap::Args)]
pub struct MigrateArgs {
    /// Data directory of the RocksDB log (its `db` and `log-signing-key`).
    /// The server must be stopped.
    #[arg(long, env = "STATEANCHOR_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// The PostgreSQL database to copy into (its log must be empty).
    #[arg(long, env = "STATEANCHOR_DATABASE", hide_env_values = true)]
    pub database: String,
    /// The bucket to copy into: `s3://BUCKET[/PREFIX]` (`AWS_*` variables).
    #[arg(long, env = "STATEANCHOR_OBJECTS")]
    pub objects: String,
    /// A PEM file of CA certificates to trust for TLS to the database,
    /// besides the system's (as `serve --database-ca`).
    #[arg(long, env = "STATEANCHOR_DATABASE_CA", value_name = "FILE")]
    pub database_ca: Option<PathBuf>,
}

/// Runs `migrate`.
///
/// # Errors
/// A missing data directory or key, a non-empty target, storage failures,
/// and roots that differ.
pub fn run(args: &MigrateArgs) -> Result<()> {
    if !args.data_dir.join("db").is_dir() {
        bail!(
            "{} holds no RocksDB log (no db directory)",
            args.data_dir.display()
        );
    }
    let (signer, created) = data_dir::load_or_create_signing_key(&args.data_dir, None)?;
    if created {
        bail!(
            "{} had no signing key; this is not a log's data directory",
            args.data_dir.display()
        );
    }
    let src = RocksDb::open(&args.data_dir.join("db"))?;
    let dst = Cluster::open(
        &args.database,
        &args.objects,
        ClusterConfig {
            lease_ttl: Duration::from_secs(30),
            database_ca: args.database_ca.clone(),
            ..ClusterConfig::default()
        },
    )
    .context("opening the PostgreSQL and object storage backend")?;
    let coord = dst.pg.coordinator()?;
    if coord.next_index != 0 {
        bail!(
            "the database already holds a log ({} entries); migrate copies into an empty one",
            coord.next_index
        );
    }
    let size = src.tree_size()?;
    let src_root = tlog::tree_hash(size, &src)?;

    for (hash, key) in src.keys()? {
        dst.put_key(&hash, &key)?;
        if let Some(project) = &key.project
            && let Some(p) = src.profile(project, &key.id)?
        {
            dst.put_profile(project, &key.id, &p)?;
        }
    }
    let projects = src.projects()?;
    for p in &projects {
        dst.put_project(p)?;
    }
    let mut start = 0;
    while start < size {
        let end = size.min(start + BATCH);
        let data = src.entries(start, end)?;
        let entries: Vec<NewEntry<'_>> = data
            .iter()
            .map(|d| NewEntry {
                index: 0,
                data: d,
                leaf_hash: tlog::leaf_hash(d),
                record: None,
            })
            .collect();
        let sequenced = dst.sequence(&entries)?;
        let first = sequenced.first().copied();
        if first != Some(Sequenced::At(start)) {
            bail!(
                "entries were appended to the target while copying (got {first:?}, expected index {start})"
            );
        }
        start = end;
    }
    let mut records = 0u64;
    for p in &projects {
        let Some((last, _)) = src.last_record(&p.id)? else {
            continue;
        };
        let mut copy = Vec::new();
        src.for_each_record(&p.id, 1..last + 1, &mut |r| {
            copy.push(r.to_owned());
            Ok(true)
        })?;
        for (seq, r) in (1..).zip(copy) {
            let rec = Record::from_slice(&r.record)
                .with_context(|| format!("record {seq} of {}", p.id))?;
            let time_ms = compliance::time::parse_time(&rec.time)
                .with_context(|| format!("the time of record {seq} of {}", p.id))?;
            dst.pg.put_record(
                &NewRecord {
                    project: p.id.clone(),
                    seq,
                    time_ms,
                    id: rec.id.clone(),
                    kind: r.kind,
                    exception: rec.index_key().map(str::to_owned),
                    record: r.record.clone(),
                    follows: None,
                    project_row: None,
                },
                &r.envelope,
            )?;
            records += 1;
        }
    }
    // The documents decisions were classified from: content-addressed, so
    // each one is checked against its name on the way.
    let mut documents = 0u64;
    src.for_each_spec(|project, sha256, bytes| {
        let digest = compliance::record::sha256_hex(bytes);
        if digest != sha256 {
            return Err(crate::Error::Corrupt(format!(
                "the kept document {sha256} of {project} has SHA-256 {digest}"
            )));
        }
        dst.put_spec(project, sha256, bytes)?;
        documents += 1;
        Ok(())
    })?;
    let alerts = src.all_alerts()?;
    for (project, settings) in &alerts {
        dst.put_alerts(project, settings)?;
    }
    let mut integrated = dst.integrate(&signer)?;
    while integrated.size < size {
        integrated = dst.integrate(&signer)?;
    }
    dst.release()?;
    let dst_root = tlog::tree_hash(size, &dst)?;
    println!("entries: {size}");
    println!("records: {records}");
    println!("projects: {}", projects.len());
    println!("documents: {documents}");
    println!("alert settings: {}", alerts.len());
    println!("rocksdb root: {}", src_root.to_base64());
    println!("copy root:    {}", dst_root.to_base64());
    if src_root != dst_root {
        bail!("the roots differ: the copy is not the log");
    }
    println!("roots match at size {size}");
    Ok(())
}
