//! The SOC 2 CC8.1 evidence export of a period (see `spec/compliance.md`),
//! prepared here and rendered by `compliance::export` while the HTTP layer
//! streams it.
//!
//! 1. Record due expiries, and wait until every record queued so far for
//!    the project is committed.
//! 2. Find the period's records: a contiguous range of sequence numbers,
//!    because a project's record times never go backwards; and the earlier
//!    events of the exceptions filed before the period and open or changed
//!    during it, which head section B. Where the range lies in the
//!    project's chain (first and last `seq`, the head and its digest) goes
//!    into the header.
//! 3. First pass over the range: section C's summary and, per section, the
//!    count and digest of the records' leaf hashes; the records of no
//!    section are noted.
//! 4. Log a `compliance_export` record holding the digests of the header
//!    and of both sections, and wait for the first checkpoint that covers
//!    it: every proof in the export leads to that checkpoint. Section D
//!    gets the chain's boundaries (the records just before and just after
//!    the range) and the period's records of no section, proven too.
//! 5. Second pass (and for Markdown a third), in [`PreparedExport::render`]:
//!    render while reading, so memory does not grow with the period.

use std::io::{self, Write};
use std::ops::Range;
use std::sync::Arc;

use compliance::export::{
    ChainClaim, ChainHead, ChainProof, ExportFormat, ExportHeader, ExportParts, Integrity,
    ProvenEnvelope, ProvenRecord, RecordSource, Section, SectionHasher, Summary, SummaryBuilder,
    export_file_name, render,
};
use compliance::principal::{Access, KeyRecord};
use compliance::record::{
    ComplianceExport, PRINCIPALS_INDEX, Record, RecordBody, canonical, sha256_digest,
};
use compliance::time::{DAY_MS, format_date, format_time};
use tlog::Hash;

use super::{Compliance, blocking};
use crate::keys::random_id;
use crate::log::Prover;
use crate::storage::{RecordRef, RecordStore};
use crate::{Error, Result};

pub use compliance::export::{DEFAULT_PERIOD_DAYS, ExportRequest};

/// The records of an export, read from the store.
#[derive(Clone)]
struct PeriodRecords {
    records: Arc<dyn RecordStore>,
    project: String,
    /// The period's records: a contiguous range of sequence numbers.
    range: Range<u64>,
    /// Earlier ledger events of the exceptions filed before the period and
    /// open or changed during it, in log order: the head of section B.
    earlier: Arc<Vec<u64>>,
}

/// The records of an export with proofs to one checkpoint.
struct StoredRecords {
    rows: PeriodRecords,
    prover: Prover,
}

impl PeriodRecords {
    /// Calls `f` with every record of `only` (every section if `None`), each
    /// section's in export order; the sequence numbers of the period's
    /// records of no section go to `others`, if given.
    fn each(
        &self,
        only: Option<Section>,
        f: &mut dyn FnMut(Section, RecordRef<'_>) -> Result<()>,
        mut others: Option<&mut Vec<u64>>,
    ) -> Result<()> {
        if only.is_none_or(|s| s == Section::B) {
            for &seq in self.earlier.iter() {
                let row = self.records.record(&self.project, seq)?.ok_or_else(|| {
                    Error::Corrupt(format!("exception index names a missing record {seq}"))
                })?;
                f(Section::B, row.as_ref())?;
            }
        }
        let mut seq = self.range.start;
        self.records
            .for_each_record(&self.project, self.range.clone(), &mut |row| {
                let section = Section::ALL
                    .into_iter()
                    .find(|s| s.holds(row.kind.as_str()));
                match section {
                    Some(s) if only.is_none_or(|o| o == s) => f(s, row)?,
                    Some(_) => {}
                    None => {
                        if let Some(o) = others.as_deref_mut() {
                            o.push(seq);
                        }
                    }
                }
                seq += 1;
                Ok(true)
            })?;
        if seq != self.range.end {
            return Err(Error::Corrupt(format!(
                "records {seq} to {} of {} are missing",
                self.range.end - 1,
                self.project
            )));
        }
        Ok(())
    }
}

/// A record as an export holds it, with its inclusion proof (or none).
fn proven(prover: &Prover, row: RecordRef<'_>, with_proof: bool) -> Result<ProvenRecord> {
    let leaf = tlog::leaf_hash(row.envelope);
    let index = prover.index_of(&leaf)?.ok_or_else(|| {
        Error::Corrupt(format!(
            "a record's envelope is not in the tree of size {}",
            prover.tree_size()
        ))
    })?;
    let proof = if with_proof {
        prover.prove_inclusion(index)?
    } else {
        Vec::new()
    };
    Ok(ProvenRecord {
        record: row.value()?,
        envelope: String::from_utf8(row.envelope.to_vec())
            .map_err(|_| Error::Corrupt("envelope is not UTF-8".into()))?,
        log_index: index,
        leaf_hash: leaf.to_base64(),
        inclusion_proof: proof.iter().map(Hash::to_base64).collect(),
    })
}

/// A record's envelope with its inclusion proof, without the record.
fn proven_envelope(prover: &Prover, row: RecordRef<'_>) -> Result<ProvenEnvelope> {
    let r = proven(prover, row, true)?;
    Ok(ProvenEnvelope {
        envelope: r.envelope,
        log_index: r.log_index,
        leaf_hash: r.leaf_hash,
        inclusion_proof: r.inclusion_proof,
    })
}

impl RecordSource for StoredRecords {
    fn for_each(
        &mut self,
        section: Section,
        with_proofs: bool,
        f: &mut dyn FnMut(&ProvenRecord) -> io::Result<()>,
    ) -> io::Result<()> {
        let prover = &self.prover;
        self.rows
            .each(
                Some(section),
                &mut |_, row| {
                    let r = proven(prover, row, with_proofs)?;
                    f(&r).map_err(|e| Error::Storage(Box::new(e)))
                },
                None,
            )
            .map_err(|e| match e {
                Error::Storage(inner) => match inner.downcast::<io::Error>() {
                    Ok(io) => *io,
                    Err(other) => io::Error::other(other),
                },
                other => io::Error::other(other),
            })
    }
}

/// An export ready to render: the header, summary and integrity section
/// are computed and its own record is in the log.
pub struct PreparedExport {
    /// The file name, `stateanchor-soc2-evidence-{projectId}-{from}-{to}.{json|md}`.
    pub file_name: String,
    /// JSON or Markdown.
    pub format: ExportFormat,
    header: ExportHeader,
    summary: Summary,
    integrity: Integrity,
    source: StoredRecords,
}

impl PreparedExport {
    /// Renders the export to `out`, reading the records as it goes. Blocks:
    /// run it off the async workers.
    ///
    /// # Errors
    /// Storage failures and those of `out`.
    pub fn render(mut self, out: &mut dyn Write) -> io::Result<()> {
        let parts = ExportParts {
            header: &self.header,
            summary: &self.summary,
            integrity: &self.integrity,
        };
        render(self.format, &parts, &mut self.source, out)?;
        out.flush()
    }
}

/// An export's period after its first pass.
pub(crate) struct Period {
    rows: PeriodRecords,
    /// Section C's summary.
    pub summary: Summary,
    digests: [compliance::export::SectionDigest; 3],
    principals: Vec<compliance::export::PrincipalSummary>,
    settings: compliance::ledger::ProjectSettings,
    project_created_at: String,
    /// Where the period lies in the project's chain (the header's).
    pub chain: ChainClaim,
    /// The sequence numbers of the period's records of no section.
    others: Vec<u64>,
    /// The sequence numbers of the project's principal records outside
    /// the period, committed before `as_of` (section D's `principals`).
    principal_seqs: Vec<u64>,
}

/// The controls in force at the end of a period whose records end before
/// `end` (a sequence number): `current` (those in force after record
/// `upto`) unless a change of them was recorded in `end..=upto`; then the
/// last change recorded before `end` (a scan, only in that case).
fn settings_at(
    records: &dyn RecordStore,
    project: &str,
    end: u64,
    upto: u64,
    current: compliance::ledger::ProjectSettings,
) -> Result<compliance::ledger::ProjectSettings> {
    use compliance::record::RecordKind;
    let is_change = |kind: RecordKind| kind == RecordKind::ProjectSettingsChanged;
    let mut changed_after = false;
    records.for_each_record(project, end..upto.saturating_add(1), &mut |row| {
        changed_after = is_change(row.kind);
        Ok(!changed_after)
    })?;
    if !changed_after {
        return Ok(current);
    }
    let mut last: Option<Vec<u8>> = None;
    records.for_each_record(project, 1..end, &mut |row| {
        if is_change(row.kind) {
            last = Some(row.record.to_vec());
        }
        Ok(true)
    })?;
    let Some(bytes) = last else {
        // No change recorded before the period's end (a project whose
        // creation record could not be committed): nothing better known.
        return Ok(current);
    };
    let record = compliance::record::Record::from_slice(&bytes)
        .map_err(|e| Error::Corrupt(format!("a change of the controls of {project}: {e}")))?;
    match record.body {
        RecordBody::ProjectSettingsChanged(c) => Ok(c.settings),
        _ => Err(Error::Corrupt(format!(
            "a record of {project} stored as a change of its controls is not one"
        ))),
    }
}

/// Where the log is reached and published, for an export's header.
#[derive(Clone, Debug, Default)]
pub struct Site {
    /// The log's public URL.
    pub public_url: String,
    /// The origin cockpit forms must come from (`scheme://host[:port]` of
    /// a configured public URL); `None` for a log started without one,
    /// whose forms must name the host they were sent to.
    pub form_origin: Option<String>,
    /// Where checkpoints are published, if configured.
    pub publication: Option<String>,
}

impl Compliance {
    /// Steps 1 to 3 of an export (and the whole of a digest): records due
    /// expiries, waits for what is queued, finds the period's records and
    /// makes the first pass over them.
    pub(crate) async fn period(
        &self,
        p: &super::Project,
        project: &str,
        (start, end): (i64, i64),
    ) -> Result<Period> {
        // 1. Expiries, then everything queued so far committed. The
        //    exceptions filed before the period and not revoked before it
        //    may belong in section B.
        //    The records made after this point are dated `as_of` or later.
        let (upto, settled, candidates, as_of, chain_start, current) = self
            .under_lock(p, |ps, now| {
                ps.last_time = ps.last_time.max(now);
                let candidates: Vec<(String, i64)> = ps
                    .exceptions
                    .values()
                    .filter(|e| e.created_at < start && e.revoked_at.is_none_or(|r| r >= start))
                    .map(|e| (e.id.clone(), e.expires_at))
                    .collect();
                Ok((
                    ps.last_seq,
                    ps.settled(),
                    candidates,
                    now,
                    ps.chain_start(),
                    ps.settings().clone(),
                ))
            })
            .await?;
        settled.await;

        // 2. The period's range of sequence numbers, and the earlier events
        //    of the exceptions open during the period (not expired before
        //    it) or changed during it (an expiry recorded in it).
        let (range, earlier, chain, settings) = {
            let (records, id) = (self.records.clone(), project.to_owned());
            blocking(move || {
                let first = records.first_seq_at(&id, start)?.unwrap_or(u64::MAX);
                let after = records.first_seq_at(&id, end)?.unwrap_or(u64::MAX);
                let range = first.min(upto + 1)..after.min(upto + 1);
                let mut earlier = Vec::new();
                for (exception, expires_at) in candidates {
                    let seqs = records.exception_seqs(&id, &exception)?;
                    let changed = seqs.last().is_some_and(|&s| s >= range.start);
                    if expires_at >= start || changed {
                        earlier.extend(seqs.into_iter().filter(|&s| s < range.start));
                    }
                }
                earlier.sort_unstable();
                // The chain: the range's chained part (from the chain's
                // start), and the head at the period's end (the record
                // before the range's end, if chained).
                let chained_from = range.start.max(chain_start);
                let (first_seq, last_seq) = if chained_from < range.end {
                    (Some(chained_from), Some(range.end - 1))
                } else {
                    (None, None)
                };
                let head = match range.end.checked_sub(1) {
                    Some(seq) if seq >= 1 && seq >= chain_start => {
                        let row = records.record(&id, seq)?.ok_or_else(|| {
                            Error::Corrupt(format!("record {seq} of {id} is missing"))
                        })?;
                        Some(ChainHead {
                            seq,
                            digest: sha256_digest(&row.record),
                        })
                    }
                    _ => None,
                };
                let claim = ChainClaim {
                    first_seq,
                    last_seq,
                    head,
                    legacy_records: range.end.min(chain_start).saturating_sub(range.start),
                    as_of: format_time(as_of),
                };
                let settings = settings_at(&*records, &id, range.end, upto, current)?;
                Ok((range, earlier, claim, settings))
            })
            .await?
        };

        // 3. First pass: summary and, per section, the count and digest.
        let project_created_at = p.lock().await.row.created_at.clone();
        // The principals, from the project's principal records committed
        // before `as_of` (not from the key store): those of the period are
        // among its records of no section, the others go to section D.
        let (principals, principal_seqs) = {
            let (records, id, range) = (self.records.clone(), project.to_owned(), range.clone());
            let settings = settings.clone();
            blocking(move || {
                let mut people = compliance::people::People::default();
                let mut outside = Vec::new();
                for seq in records.exception_seqs(&id, PRINCIPALS_INDEX)? {
                    if seq > upto {
                        break;
                    }
                    let row = records.record(&id, seq)?.ok_or_else(|| {
                        Error::Corrupt(format!("principal index names a missing record {seq}"))
                    })?;
                    let record = Record::from_slice(&row.record)
                        .map_err(|e| Error::Corrupt(format!("record {seq} of {id}: {e}")))?;
                    people
                        .add(&record, seq)
                        .map_err(|e| Error::Corrupt(format!("record {seq} of {id}: {e}")))?;
                    if !range.contains(&seq) {
                        outside.push(seq);
                    }
                }
                Ok((people.summaries(&settings), outside))
            })
            .await?
        };
        let rows = PeriodRecords {
            records: self.records.clone(),
            project: project.to_owned(),
            range,
            earlier: Arc::new(earlier),
        };
        let (summary, digests, others) = {
            let first = rows.clone();
            let principals = principals.clone();
            blocking(move || {
                let mut summary = SummaryBuilder::new(&principals, start..end);
                let mut hashers: [SectionHasher; 3] = Default::default();
                let mut others = Vec::new();
                first.each(
                    None,
                    &mut |section, row| {
                        hashers[section as usize].add(&tlog::leaf_hash(row.envelope).0);
                        summary.add(&row.value()?);
                        Ok(())
                    },
                    Some(&mut others),
                )?;
                Ok((summary.finish(), hashers.map(SectionHasher::finish), others))
            })
            .await?
        };
        Ok(Period {
            rows,
            summary,
            digests,
            principals,
            settings,
            project_created_at,
            chain,
            others,
            principal_seqs,
        })
    }

    /// Prepares the export of `req`'s period (roles `auditor` or `admin`).
    ///
    /// # Errors
    /// Refusals; pushback; storage failures.
    pub async fn export(
        &self,
        caller: &KeyRecord,
        project: &str,
        req: ExportRequest,
        site: &Site,
    ) -> Result<PreparedExport> {
        let p = self.project_for(caller, project, Access::Export).await?;
        let (from, to) = (format_date(req.from), format_date(req.to));

        let (start, end) = (req.from * DAY_MS, (req.to + 1) * DAY_MS);
        let Period {
            rows,
            summary,
            digests,
            principals,
            settings,
            project_created_at,
            chain,
            others,
            principal_seqs,
        } = self.period(&p, project, (start, end)).await?;
        let range = rows.range.clone();
        let [digest_a, digest_b, digest_c] = digests;

        // 4. The export's own record, and the checkpoint that covers it.
        let (header, staged) = {
            let mut ps = self.write_lock(&p).await?;
            let now = ps.clock(self.now());
            let header = ExportHeader {
                project_id: project.to_owned(),
                project_name: ps.row.name.clone(),
                period_from: from.clone(),
                period_to: to.clone(),
                generated_at: format_time(now),
                generated_by: caller.id.clone(),
                log_origin: self.log.origin().to_owned(),
                log_url: site.public_url.clone(),
                publication: site.publication.clone(),
                project_created_at,
                settings,
                principals,
                chain,
            };
            let header_digest = sha256_digest(&canonical(&header)?);
            let body = RecordBody::ComplianceExport(ComplianceExport {
                requested_by: caller.id.clone(),
                requested_by_name: caller.name.clone(),
                period_from: from.clone(),
                period_to: to.clone(),
                header_digest,
                section_a: digest_a,
                section_b: digest_b,
                section_c: digest_c,
            });
            (header, self.stage(&mut ps, random_id("exp"), body, now)?)
        };
        let export_seq = staged.seq;
        let (_, index, _) = staged.wait().await?;
        let (cp, _) = self.log.inclusion_at_checkpoint(index).await?;
        let (records, log, id) = (self.records.clone(), self.log.clone(), project.to_owned());
        let tree_size = cp.tree_size;
        let (prover, export_record, chain, principals) = blocking(move || {
            let read = |seq: u64| {
                records
                    .record(&id, seq)?
                    .ok_or_else(|| Error::Corrupt(format!("record {seq} of {id} is missing")))
            };
            let row = read(export_seq)?;
            let prover = log.prover(tree_size)?;
            let export_record = proven(&prover, row.as_ref(), true)?;
            // The chain's boundaries: the record before the range, and the
            // one after it (committed before the export record, or it).
            let before = match range.start.checked_sub(1) {
                Some(seq) if seq >= 1 => Some(proven_envelope(&prover, read(seq)?.as_ref())?),
                _ => None,
            };
            let after = Some(proven_envelope(&prover, read(range.end)?.as_ref())?);
            let mut unsectioned = Vec::with_capacity(others.len());
            for seq in others {
                unsectioned.push(proven(&prover, read(seq)?.as_ref(), true)?);
            }
            let chain = ChainProof {
                before,
                after,
                records: unsectioned,
            };
            let mut principals = Vec::with_capacity(principal_seqs.len());
            for seq in principal_seqs {
                principals.push(proven(&prover, read(seq)?.as_ref(), true)?);
            }
            Ok((prover, export_record, chain, principals))
        })
        .await?;
        let integrity = Integrity {
            checkpoint: cp.note.clone(),
            tree_size: cp.tree_size,
            root_hash: cp.root_hash.to_base64(),
            publication: site.publication.clone(),
            export_record,
            chain,
            principals,
        };
        Ok(PreparedExport {
            file_name: export_file_name(project, &from, &to, req.format),
            format: req.format,
            header,
            summary,
            integrity,
            source: StoredRecords { rows, prover },
        })
    }
}
