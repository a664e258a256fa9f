//! The API changelog of a period: the runs that passed the gate, newest
//! first (`compliance::changelog`), read from the project's records.

use std::collections::VecDeque;

use compliance::changelog::{Changelog, ChangelogEntry};
use compliance::principal::{Access, KeyRecord};
use compliance::record::{Record, RecordKind};
use compliance::time::{DAY_MS, format_date};
use serde::Deserialize;

use super::{Compliance, blocking};
use crate::storage::StoredRecord;
use crate::{Error, Result};

/// Runs a changelog holds unless asked otherwise.
pub const DEFAULT_CHANGELOG_RUNS: usize = 500;
/// Most runs a changelog holds.
pub const MAX_CHANGELOG_RUNS: usize = 10_000;

#[derive(Deserialize)]
struct Outcome {
    blocked: bool,
}

impl Compliance {
    /// The runs of days `from..=to` (days since the epoch) that passed the
    /// gate, newest first, at most `limit` (any role of the project).
    /// Memory grows with `limit`, not with the period.
    ///
    /// # Errors
    /// Refusals; storage failures.
    pub async fn changelog(
        &self,
        caller: &KeyRecord,
        project: &str,
        (from, to): (i64, i64),
        limit: usize,
        log_url: &str,
    ) -> Result<Changelog> {
        self.project_for(caller, project, Access::Read).await?;
        let (records, log, id) = (self.records.clone(), self.log.clone(), project.to_owned());
        let log_url = log_url.to_owned();
        let (runs, truncated) = blocking(move || {
            let first = records
                .first_seq_at(&id, from * DAY_MS)?
                .unwrap_or(u64::MAX);
            let after = records
                .first_seq_at(&id, (to + 1) * DAY_MS)?
                .unwrap_or(u64::MAX);
            let mut newest: VecDeque<StoredRecord> = VecDeque::with_capacity(limit.min(1024));
            let mut truncated = false;
            records.for_each_record(&id, first..after, &mut |row| {
                if row.kind != RecordKind::GateDecision {
                    return Ok(true);
                }
                let o: Outcome = serde_json::from_slice(row.record)
                    .map_err(|e| Error::Corrupt(format!("a decision of {id}: {e}")))?;
                if !o.blocked {
                    if newest.len() == limit {
                        newest.pop_front();
                        truncated = true;
                    }
                    newest.push_back(row.to_owned());
                }
                Ok(true)
            })?;
            let mut runs = Vec::with_capacity(newest.len());
            for row in newest.iter().rev() {
                let record = Record::from_slice(&row.record)
                    .map_err(|e| Error::Corrupt(format!("a decision of {id}: {e}")))?;
                let index = log
                    .index_of(&tlog::leaf_hash(&row.envelope), u64::MAX)?
                    .ok_or_else(|| {
                        Error::Corrupt(format!("decision {} of {id} has no log entry", record.id))
                    })?;
                runs.extend(ChangelogEntry::of(&record, index, &log_url));
            }
            Ok((runs, truncated))
        })
        .await?;
        Ok(Changelog {
            project_id: project.to_owned(),
            from: format_date(from),
            to: format_date(to),
            runs,
            truncated,
        })
    }
}
