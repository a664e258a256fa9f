//! A project's chain of records, as an export proves it
//! (`spec/compliance.md` §1 and §5, "Verifying"): every record carries its
//! sequence number in the project (`seq`, from 1, without gaps) and the
//! digest of the project's previous record (`prev`), and its envelope, in
//! the log, carries the `seq`. So an export can prove that it holds every
//! record of its period: the records it gives are contiguous from the
//! period's first to the head, the record before the first is dated before
//! the period and the one after the head after it, and each `prev` is the
//! digest of the record before.
//!
//! [`ChainCheck`] is the check, pure: the caller (the verifier) has already
//! verified each record's digest, envelope and inclusion in the log, and
//! hands over what the chain needs ([`Link`]). Memory grows with the number
//! of records (128 bytes each), not with their size.
//!
//! ```
//! use compliance::chain::{ChainCheck, Link, Place, Prev};
//! use compliance::export::{ChainClaim, ChainHead};
//!
//! let link = |seq: u64, prev: Prev| Link {
//!     seq: Some(seq), digest: [seq as u8; 32], prev, chain_started: false,
//!     time_ms: 1_000 + seq as i64, log_index: 10 + seq,
//!     place: Place { part: "record", line: seq as usize },
//! };
//! let claim = ChainClaim {
//!     first_seq: Some(1), last_seq: Some(3),
//!     head: Some(ChainHead { seq: 3, digest: format!("sha256:{}", "03".repeat(32)) }),
//!     legacy_records: 0, as_of: "1970-01-01T00:00:01.500Z".into(),
//! };
//! let mut check = ChainCheck::new(1_000..2_000);
//! check.add(link(1, Prev::First));
//! check.add(link(3, Prev::Digest([2; 32])));
//! let after = Link { time_ms: 2_000, ..link(4, Prev::Unknown) };
//! let err = check.finish(&claim, None, Some(after.clone()), &after).unwrap_err();
//! assert_eq!(err.to_string(), "record seq 2 of the project's chain is missing from the export \
//!     (it goes from seq 1, record (line 1), to seq 3, record (line 3))");
//! ```

use std::fmt;
use std::ops::Range;

use crate::Error;
use crate::export::ChainClaim;
use crate::record::{digest_string, parse_digest};
use crate::time::{format_time, parse_time};

/// What a record says of the record before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prev {
    /// Nothing: it is the first record of its chain (seq 1), or a legacy record.
    First,
    /// The digest of the record before it.
    Digest([u8; 32]),
    /// Not known: only its envelope is given (the boundaries of section D).
    Unknown,
}

/// One record of an export, verified (digest, envelope, inclusion), as the
/// chain sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// Its sequence number; `None` for a record written before chains.
    pub seq: Option<u64>,
    /// Its digest (the SHA-256 of its JCS form).
    pub digest: [u8; 32],
    /// Its `prev`.
    pub prev: Prev,
    /// Whether it is the project's `chain_started` record.
    pub chain_started: bool,
    /// Its time, ms since the epoch.
    pub time_ms: i64,
    /// Its index in the log.
    pub log_index: u64,
    /// Where it is in the export, for messages.
    pub place: Place,
}

/// Where a record is in an export, for messages: `section A record (line
/// 12)`. Small and without a heap allocation: the check keeps one per
/// record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    /// What it is (`section A record`, `the record before the period`).
    pub part: &'static str,
    /// Its line in the export file (from 1).
    pub line: usize,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (line {})", self.part, self.line)
    }
}

/// What the chain check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainOutcome {
    /// The period's chained records: first and last sequence numbers.
    pub range: Option<(u64, u64)>,
    /// The chain head at the period's end: its sequence number.
    pub head: Option<u64>,
    /// Whether the period was over when the export fixed its records (the
    /// record after the head is dated after the period); if not, the
    /// records are complete up to `as_of`.
    pub closed: bool,
    /// Records of the period written before the chain started: their
    /// completeness is not proven.
    pub legacy: u64,
}

/// The chain check of an export's period: add every record of the period
/// ([`ChainCheck::add`]) and the earlier events of section B
/// ([`ChainCheck::add_earlier`]), then [`ChainCheck::finish`].
pub struct ChainCheck {
    period: Range<i64>,
    links: Vec<Link>,
    earlier: Vec<Link>,
}

fn digest_text(d: &[u8; 32]) -> String {
    digest_string(d)
}

fn chain_err(msg: String) -> Error {
    Error::Chain(msg)
}

impl ChainCheck {
    /// A check of the period `period` (ms since the epoch, end exclusive).
    #[must_use]
    pub fn new(period: Range<i64>) -> Self {
        Self::with_capacity(period, 0)
    }

    /// A check of the period `period`, with room for `records` records.
    #[must_use]
    pub fn with_capacity(period: Range<i64>, records: usize) -> Self {
        ChainCheck {
            period,
            links: Vec::with_capacity(records),
            earlier: Vec::new(),
        }
    }

    /// Adds a record of the period (of any section, or of none).
    pub fn add(&mut self, link: Link) {
        self.links.push(link);
    }

    /// Adds an earlier event of an exception filed before the period (the
    /// head of section B): it must come before the period's records.
    pub fn add_earlier(&mut self, link: Link) {
        self.earlier.push(link);
    }

    /// The check, once every record is added: `claim` is what the header
    /// states, `before` and `after` the boundary records of section D,
    /// `export` the export's own record.
    ///
    /// 1. No sequence number twice; legacy records (no `seq`) only before
    ///    the chain, which then starts in the period with `chain_started`.
    /// 2. The period's chained records are exactly `first_seq` to
    ///    `last_seq`, without a gap; each one's `prev` is the digest of the
    ///    one before.
    /// 3. `before` is the record at `first_seq - 1`, dated before the
    ///    period, and the first record's `prev` is its digest; none when
    ///    the period starts the chain at seq 1.
    /// 4. The head is the last record (or `before` for a period without
    ///    records), with the digest the header states.
    /// 5. `after` is the record at head + 1, dated after the period or at
    ///    or after `as_of` (the period was not over); if it is the export
    ///    record, its `prev` is the head's digest.
    /// 6. The earlier events of section B come before the period's records.
    ///
    /// # Errors
    /// [`Error::MissingRecords`] naming the first missing range (and how
    /// many ranges are missing), [`Error::Chain`] for the rest.
    pub fn finish(
        mut self,
        claim: &ChainClaim,
        before: Option<Link>,
        after: Option<Link>,
        export: &Link,
    ) -> Result<ChainOutcome, Error> {
        let as_of = parse_time(&claim.as_of).ok_or_else(|| {
            chain_err(format!(
                "the header's chain.as_of {:?} is not an RFC 3339 UTC time",
                claim.as_of
            ))
        })?;
        // 1. Sequence numbers once; legacy records first.
        // In place (no copy): the legacy records (no seq) sort first.
        let mut links = std::mem::take(&mut self.links);
        links.sort_unstable_by_key(|l| l.seq);
        let split = links.partition_point(|l| l.seq.is_none());
        let (legacy, chained) = links.split_at(split);
        for w in chained.windows(2) {
            if w[0].seq == w[1].seq {
                return Err(chain_err(format!(
                    "seq {} appears twice: {} and {} (a record given twice, or a fork of the chain)",
                    w[0].seq.unwrap_or_default(),
                    w[0].place,
                    w[1].place
                )));
            }
        }
        if export.seq.is_none() {
            return Err(chain_err(format!(
                "{} has no seq: an export's record is always chained",
                export.place
            )));
        }
        if !legacy.is_empty() {
            let first_chained = chained
                .iter()
                .chain(after.iter())
                .chain(std::iter::once(export))
                .filter(|l| l.seq.is_some())
                .min_by_key(|l| l.log_index);
            if let Some(c) = first_chained
                && let Some(l) = legacy.iter().find(|l| l.log_index > c.log_index)
            {
                return Err(chain_err(format!(
                    "{} has no seq (written before chains) but comes after {} in the log (index {} > {}): a record without seq is accepted only before its project's chain",
                    l.place, c.place, l.log_index, c.log_index
                )));
            }
            if let Some(first) = chained.first()
                && !first.chain_started
            {
                return Err(chain_err(format!(
                    "the period has records written before chains, so its first chained record must be the chain's start (chain_started), not {}",
                    first.place
                )));
            }
            if claim.legacy_records != legacy.len() as u64 {
                return Err(chain_err(format!(
                    "the header says the period has {} records written before chains, the export gives {}",
                    claim.legacy_records,
                    legacy.len()
                )));
            }
        } else if claim.legacy_records != 0 {
            return Err(chain_err(format!(
                "the header says the period has {} records written before chains, the export gives none",
                claim.legacy_records
            )));
        }

        // 2. Contiguous, each linked to the one before.
        let range = match (claim.first_seq, claim.last_seq) {
            (Some(f), Some(l)) if f <= l => Some((f, l)),
            (None, None) => None,
            (f, l) => {
                return Err(chain_err(format!(
                    "the header's chain range {f:?} to {l:?} is not a range"
                )));
            }
        };
        match range {
            None => {
                if let Some(c) = chained.first() {
                    return Err(chain_err(format!(
                        "the header says the period has no chained record, but the export gives {}",
                        c.place
                    )));
                }
            }
            Some((f, l)) => check_contiguous(chained, f, l)?,
        }
        for w in chained.windows(2) {
            if let Prev::Digest(p) = w[1].prev
                && p != w[0].digest
            {
                return Err(chain_err(format!(
                    "the chain is broken at seq {}: {} names {} as the previous record's digest, but {} (seq {}) has digest {}",
                    w[1].seq.unwrap_or_default(),
                    w[1].place,
                    digest_text(&p),
                    w[0].place,
                    w[0].seq.unwrap_or_default(),
                    digest_text(&w[0].digest)
                )));
            }
        }

        // 3. The record before the period.
        let first = if legacy.is_empty() {
            chained.first()
        } else {
            None
        };
        if let Some(first) = first {
            let seq = first.seq.unwrap_or_default();
            if seq == 1 {
                if let Some(b) = &before {
                    return Err(chain_err(format!(
                        "the period starts with the chain's first record (seq 1), yet section D gives a record before it ({})",
                        b.place
                    )));
                }
            } else {
                let b = before.as_ref().ok_or_else(|| {
                    chain_err(format!(
                        "section D does not give the record before the period's first (seq {}): nothing shows the records before seq {seq} are outside the period",
                        seq - 1
                    ))
                })?;
                let adjacent = match b.seq {
                    Some(s) => s + 1 == seq,
                    // The last legacy record, before the chain's start.
                    None => first.chain_started,
                };
                if !adjacent {
                    return Err(chain_err(format!(
                        "the record before the period ({}, seq {}) is not the one before its first record (seq {seq})",
                        b.place,
                        b.seq.map_or_else(|| "none".to_owned(), |s| s.to_string())
                    )));
                }
                if b.time_ms >= self.period.start {
                    return Err(Error::MissingRecords {
                        first: b.seq.unwrap_or(seq - 1),
                        last: b.seq.unwrap_or(seq - 1),
                        context: format!(
                            ": the record before the period's first ({}) is dated {}, in the period",
                            b.place,
                            format_time(b.time_ms)
                        ),
                    });
                }
                if let Prev::Digest(p) = first.prev
                    && p != b.digest
                {
                    return Err(chain_err(format!(
                        "the chain is broken at seq {seq}: {} names {} as the previous record's digest, but the record before the period ({}) has digest {}",
                        first.place,
                        digest_text(&p),
                        b.place,
                        digest_text(&b.digest)
                    )));
                }
            }
        }

        // 4. The head.
        let head: Option<&Link> = match chained.last() {
            Some(last) => Some(last),
            None if legacy.is_empty() => before.as_ref().filter(|b| b.seq.is_some()),
            None => None,
        };
        match (&claim.head, head) {
            (Some(h), Some(link)) => {
                if Some(h.seq) != link.seq || parse_digest(&h.digest) != Some(link.digest) {
                    return Err(chain_err(format!(
                        "the header's chain head (seq {}, {}) is not the last record of the period ({}, seq {}, {})",
                        h.seq,
                        h.digest,
                        link.place,
                        link.seq.unwrap_or_default(),
                        digest_text(&link.digest)
                    )));
                }
                if range.is_none() && link.time_ms >= self.period.start {
                    return Err(Error::MissingRecords {
                        first: h.seq,
                        last: h.seq,
                        context: format!(
                            ": the period has no record, but the chain head ({}) is dated {}, in the period",
                            link.place,
                            format_time(link.time_ms)
                        ),
                    });
                }
            }
            (None, None) => {}
            (Some(h), None) => {
                return Err(chain_err(format!(
                    "the header names seq {} as the chain head, but the export does not give it",
                    h.seq
                )));
            }
            (None, Some(link)) => {
                return Err(chain_err(format!(
                    "the header says the chain had not started by the end of the period, but {} is chained",
                    link.place
                )));
            }
        }

        // 5. The record after the head.
        let a = after.as_ref().ok_or_else(|| {
            chain_err(
                "section D does not give the record after the period's last: nothing shows the period's records end there"
                    .into(),
            )
        })?;
        let head_seq = head.and_then(|h| h.seq);
        let want = head_seq.map(|s| s + 1);
        let fits = match want {
            Some(w) => a.seq == Some(w),
            // No chain by the period's end: a legacy record, or the
            // chain's first record (its start, or seq 1 of a new project).
            None => a.seq.is_none() || a.chain_started || a.seq == Some(1),
        };
        if !fits {
            return Err(chain_err(format!(
                "the record after the period ({}) has seq {}, not {}",
                a.place,
                a.seq.map_or_else(|| "none".to_owned(), |s| s.to_string()),
                want.map_or_else(|| "the chain's first".to_owned(), |s| s.to_string())
            )));
        }
        let closed = a.time_ms >= self.period.end;
        if !closed && a.time_ms < as_of {
            let seq = a.seq.unwrap_or_default();
            return Err(Error::MissingRecords {
                first: seq,
                last: seq,
                context: format!(
                    ": the record after the head ({}) is dated {}, in the period and before the export fixed its records ({})",
                    a.place,
                    format_time(a.time_ms),
                    claim.as_of
                ),
            });
        }
        let after_prev = if a.log_index == export.log_index {
            export.prev
        } else {
            a.prev
        };
        if let (Some(h), Prev::Digest(p)) = (head, after_prev)
            && p != h.digest
        {
            return Err(chain_err(format!(
                "the chain is broken after the head: {} names {} as the previous record's digest, but the head ({}) has digest {}",
                a.place,
                digest_text(&p),
                h.place,
                digest_text(&h.digest)
            )));
        }
        if let (Some(e), Some(s)) = (export.seq, a.seq)
            && e < s
        {
            return Err(chain_err(format!(
                "{} has seq {e}, before the record after the period (seq {s})",
                export.place
            )));
        }

        // 6. The earlier events of section B come before the period.
        let start_seq = range.map(|(f, _)| f).or(want);
        let first_index = chained
            .iter()
            .chain(legacy.iter())
            .map(|l| l.log_index)
            .min();
        for e in &self.earlier {
            let late = match (e.seq, start_seq) {
                (Some(s), Some(f)) => s >= f,
                _ => first_index.is_some_and(|i| e.log_index > i),
            };
            if late {
                return Err(chain_err(format!(
                    "{} is an earlier event of an exception filed before the period, but it comes after the period's first record",
                    e.place
                )));
            }
        }
        Ok(ChainOutcome {
            range,
            head: head_seq,
            closed,
            legacy: legacy.len() as u64,
        })
    }
}

/// Step 2: the chained records are exactly `first..=last`.
fn check_contiguous(chained: &[Link], first: u64, last: u64) -> Result<(), Error> {
    if let Some(out) = chained
        .iter()
        .find(|l| l.seq.is_some_and(|s| s < first || s > last))
    {
        return Err(chain_err(format!(
            "{} has seq {}, outside the period's chain range {first} to {last} that the header states",
            out.place,
            out.seq.unwrap_or_default()
        )));
    }
    // Gaps: before the first given, between two given, after the last.
    let mut gaps: Vec<(u64, u64, String)> = Vec::new();
    let mut expect = first;
    let mut prev: Option<&Link> = None;
    for l in chained {
        let s = l.seq.unwrap_or_default();
        if s > expect {
            let context = match prev {
                Some(p) => format!(
                    " (it goes from seq {}, {}, to seq {s}, {})",
                    p.seq.unwrap_or_default(),
                    p.place,
                    l.place
                ),
                None => format!(
                    " (the period's chain starts at seq {first} by the header, but the first record given is seq {s}, {})",
                    l.place
                ),
            };
            gaps.push((expect, s - 1, context));
        }
        expect = s + 1;
        prev = Some(l);
    }
    if expect <= last {
        let context = match prev {
            Some(p) => format!(
                " (the last record given is seq {}, {}; the header says the period ends at seq {last})",
                p.seq.unwrap_or_default(),
                p.place
            ),
            None => format!(
                " (the export gives none of the period's records, seq {first} to {last} by the header)"
            ),
        };
        gaps.push((expect, last, context));
    }
    match gaps.first() {
        None => Ok(()),
        Some((f, l, context)) => {
            let more = if gaps.len() > 1 {
                let missing: u64 = gaps.iter().map(|(f, l, _)| l - f + 1).sum();
                format!(
                    "; {} ranges are missing in all ({missing} records): {}",
                    gaps.len(),
                    gaps.iter()
                        .map(|(f, l, _)| if f == l {
                            f.to_string()
                        } else {
                            format!("{f}-{l}")
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                String::new()
            };
            Err(Error::MissingRecords {
                first: *f,
                last: *l,
                context: format!("{context}{more}"),
            })
        }
    }
}

/// A decision of section A that applied exceptions: checked against the
/// exceptions of section B with [`check_applied`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedExceptions {
    /// The decision's run ID.
    pub run: String,
    /// Where it is in the export.
    pub place: String,
    /// Its time, ms since the epoch.
    pub time_ms: i64,
    /// The IDs of the exceptions it applied.
    pub exceptions: Vec<String>,
}

/// Every exception a decision of section A applied must be in section B,
/// filed and activated (by its section B history) no later than the
/// decision.
///
/// # Errors
/// [`Error::ExceptionNotShown`] naming the first exception that is not.
pub fn check_applied(
    decisions: &[AppliedExceptions],
    exceptions: &std::collections::BTreeMap<String, crate::export::ExceptionSummary>,
) -> Result<(), Error> {
    for d in decisions {
        for id in &d.exceptions {
            let not_shown = |why: &str| Error::ExceptionNotShown {
                exception: id.clone(),
                run: d.run.clone(),
                place: d.place.clone(),
                why: why.to_owned(),
            };
            let e = exceptions
                .get(id)
                .ok_or_else(|| not_shown("is not in section B"))?;
            if e.filed_at.is_empty() {
                return Err(not_shown(
                    "section B gives without its exception_requested record",
                ));
            }
            let activated = e
                .activation
                .as_ref()
                .and_then(|a| parse_time(&a.at))
                .is_some_and(|t| t <= d.time_ms);
            if !activated {
                return Err(not_shown(
                    "section B does not show activated before the decision",
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::{ActivationSummary, ChainHead, ExceptionSummary};

    const START: i64 = 1_000_000;
    const END: i64 = 2_000_000;

    fn d(seq: u64) -> [u8; 32] {
        let mut out = [0u8; 32];
        out[..8].copy_from_slice(&seq.to_be_bytes());
        out[31] = 0xaa;
        out
    }

    /// Record `seq` of a well-formed chain, dated `time`.
    fn link(seq: u64, time: i64) -> Link {
        Link {
            seq: Some(seq),
            digest: d(seq),
            prev: if seq == 1 {
                Prev::First
            } else {
                Prev::Digest(d(seq - 1))
            },
            chain_started: false,
            time_ms: time,
            log_index: 100 + seq,
            place: Place {
                part: "record",
                line: usize::try_from(seq).unwrap(),
            },
        }
    }

    fn envelope_only(mut l: Link) -> Link {
        l.prev = Prev::Unknown;
        l
    }

    fn claim(range: Option<(u64, u64)>, head: Option<u64>) -> ChainClaim {
        ChainClaim {
            first_seq: range.map(|r| r.0),
            last_seq: range.map(|r| r.1),
            head: head.map(|seq| ChainHead {
                seq,
                digest: digest_text(&d(seq)),
            }),
            legacy_records: 0,
            as_of: format_time(END + 5_000),
        }
    }

    /// Records 1..=9 at START - 10 + seq: 1..=10 before, the period holds
    /// seq 11..=20 (START + seq), 21 after it, the export is 22.
    fn full() -> (ChainCheck, Option<Link>, Option<Link>, Link) {
        let mut c = ChainCheck::new(START..END);
        for seq in 11..=20 {
            c.add(link(seq, START + i64::try_from(seq).unwrap()));
        }
        let before = envelope_only(link(10, START - 1));
        let after = envelope_only(link(21, END));
        let export = link(22, END + 10_000);
        (c, Some(before), Some(after), export)
    }

    #[test]
    fn a_complete_period_verifies() {
        let (c, before, after, export) = full();
        let out = c
            .finish(&claim(Some((11, 20)), Some(20)), before, after, &export)
            .unwrap();
        assert_eq!(
            out,
            ChainOutcome {
                range: Some((11, 20)),
                head: Some(20),
                closed: true,
                legacy: 0
            }
        );
    }

    /// Pinned: dropping records (one exception's events, say) is named by
    /// the missing seq range, whichever of them is dropped.
    #[test]
    fn a_gap_is_named_by_its_seq_range() {
        let (mut c, before, after, export) = full();
        c.links.retain(|l| !matches!(l.seq, Some(14..=16)));
        let err = c
            .finish(&claim(Some((11, 20)), Some(20)), before, after, &export)
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::MissingRecords {
                    first: 14,
                    last: 16,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "records seq 14 to 16 of the project's chain are missing from the export (it goes from seq 13, record (line 13), to seq 17, record (line 17))"
        );
        // Two gaps: both counted.
        let (mut c, before, after, export) = full();
        c.links.retain(|l| !matches!(l.seq, Some(12 | 18 | 19)));
        let err = c
            .finish(&claim(Some((11, 20)), Some(20)), before, after, &export)
            .unwrap_err();
        assert!(
            err.to_string()
                .ends_with("; 2 ranges are missing in all (3 records): 12, 18-19"),
            "{err}"
        );
    }

    /// Pinned: records dropped at either end are caught by the boundary
    /// records, whatever the header claims.
    #[test]
    fn dropping_the_ends_is_caught_by_the_boundaries() {
        // The first two dropped, the header edited to start at 13: the
        // record before would be seq 12, dated in the period.
        let (mut c, _, after, export) = full();
        c.links.retain(|l| l.seq > Some(12));
        let before = envelope_only(link(12, START + 12));
        let err = c
            .finish(
                &claim(Some((13, 20)), Some(20)),
                Some(before),
                after,
                &export,
            )
            .unwrap_err();
        assert!(
            matches!(err, Error::MissingRecords { first: 12, .. }),
            "{err}"
        );
        // ... or with the old `before` kept: not adjacent.
        let (mut c, before, after, export) = full();
        c.links.retain(|l| l.seq > Some(12));
        let err = c
            .finish(&claim(Some((13, 20)), Some(20)), before, after, &export)
            .unwrap_err();
        assert!(matches!(err, Error::Chain(_)), "{err}");
        // The last two dropped: the record after the head is dated in the
        // period, before the export fixed its records.
        let (mut c, before, _, export) = full();
        c.links.retain(|l| l.seq < Some(19));
        let after = envelope_only(link(19, START + 19));
        let err = c
            .finish(
                &claim(Some((11, 18)), Some(18)),
                before,
                Some(after),
                &export,
            )
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::MissingRecords {
                    first: 19,
                    last: 19,
                    ..
                }
            ),
            "{err}"
        );
        // No boundary at all: fails closed.
        let (c, _, after, export) = full();
        assert!(
            c.finish(&claim(Some((11, 20)), Some(20)), None, after, &export)
                .is_err()
        );
        let (c, before, _, export) = full();
        assert!(
            c.finish(&claim(Some((11, 20)), Some(20)), before, None, &export)
                .is_err()
        );
    }

    #[test]
    fn a_broken_link_or_a_duplicate_fails() {
        let (mut c, before, after, export) = full();
        c.links[4].prev = Prev::Digest([9; 32]);
        let err = c
            .finish(&claim(Some((11, 20)), Some(20)), before, after, &export)
            .unwrap_err();
        assert!(
            err.to_string().starts_with("the chain is broken at seq 15"),
            "{err}"
        );
        let (mut c, before, after, export) = full();
        let mut twin = link(15, START + 15);
        twin.digest = [7; 32];
        twin.place.part = "twin";
        c.add(twin);
        let err = c
            .finish(&claim(Some((11, 20)), Some(20)), before, after, &export)
            .unwrap_err();
        assert!(err.to_string().starts_with("seq 15 appears twice"), "{err}");
        // The head the header states must be the last record.
        let (c, before, after, export) = full();
        let mut wrong = claim(Some((11, 20)), Some(20));
        wrong.head = Some(ChainHead {
            seq: 20,
            digest: digest_text(&[1; 32]),
        });
        assert!(c.finish(&wrong, before, after, &export).is_err());
    }

    /// A period not over when the export was made: complete up to `as_of`.
    #[test]
    fn an_open_period_is_complete_up_to_as_of() {
        let (c, before, _, _) = full();
        let mut export = link(21, START + 500_000);
        export.place.part = "the export record";
        let mut open = claim(Some((11, 20)), Some(20));
        open.as_of = format_time(START + 400_000);
        let out = c
            .finish(&open, before, Some(envelope_only(export.clone())), &export)
            .unwrap();
        assert!(!out.closed);
        // The export record after the head names it as its prev.
        let (c, before, _, _) = full();
        let mut forged = export.clone();
        forged.prev = Prev::Digest([3; 32]);
        assert!(
            c.finish(&open, before, Some(envelope_only(forged.clone())), &forged)
                .is_err()
        );
    }

    /// A period without records: its head is the record before it.
    #[test]
    fn an_empty_period_is_proven_by_its_neighbours() {
        let c = ChainCheck::new(START..END);
        let before = envelope_only(link(10, START - 1));
        let after = envelope_only(link(11, END + 1));
        let export = link(12, END + 2);
        let out = c
            .finish(
                &claim(None, Some(10)),
                Some(before.clone()),
                Some(after),
                &export,
            )
            .unwrap();
        assert_eq!((out.range, out.head), (None, Some(10)));
        // The record after it dated in the period: a record left out.
        let c = ChainCheck::new(START..END);
        let after = envelope_only(link(11, START + 1));
        let err = c
            .finish(&claim(None, Some(10)), Some(before), Some(after), &export)
            .unwrap_err();
        assert!(
            matches!(err, Error::MissingRecords { first: 11, .. }),
            "{err}"
        );
    }

    /// Legacy records: only before the chain, which then starts in the
    /// period with `chain_started`; their count is reported.
    #[test]
    fn legacy_records_are_accepted_only_before_the_chain() {
        let legacy = |i: u64, time: i64| Link {
            seq: None,
            digest: [i as u8; 32],
            prev: Prev::First,
            chain_started: false,
            time_ms: time,
            log_index: i,
            place: Place {
                part: "legacy",
                line: usize::try_from(i).unwrap(),
            },
        };
        let mut start = link(4, START + 10);
        start.chain_started = true;
        start.prev = Prev::Digest([3; 32]);
        let mut claim = claim(Some((4, 5)), Some(5));
        claim.legacy_records = 2;
        let mut c = ChainCheck::new(START..END);
        c.add(legacy(2, START + 1));
        c.add(legacy(3, START + 2));
        c.add(start.clone());
        c.add(link(5, START + 11));
        let after = envelope_only(link(6, END));
        let export = link(7, END + 1);
        let out = c
            .finish(&claim, None, Some(after.clone()), &export)
            .unwrap();
        assert_eq!((out.legacy, out.range), (2, Some((4, 5))));
        // A legacy record after the chain's start: refused.
        let mut c = ChainCheck::new(START..END);
        c.add(legacy(2, START + 1));
        c.add(legacy(500, START + 12));
        c.add(start.clone());
        c.add(link(5, START + 11));
        let err = c
            .finish(&claim, None, Some(after.clone()), &export)
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("accepted only before its project's chain"),
            "{err}"
        );
        // Legacy records, then a chained record that is not the start.
        let mut c = ChainCheck::new(START..END);
        c.add(legacy(2, START + 1));
        c.add(legacy(3, START + 2));
        let mut plain = start;
        plain.chain_started = false;
        c.add(plain);
        c.add(link(5, START + 11));
        assert!(c.finish(&claim, None, Some(after), &export).is_err());
    }

    #[test]
    fn earlier_events_come_before_the_period() {
        let (mut c, before, after, export) = full();
        c.add_earlier(link(3, START - 100));
        assert!(
            c.finish(&claim(Some((11, 20)), Some(20)), before, after, &export)
                .is_ok()
        );
        let (mut c, before, after, export) = full();
        let mut late = link(30, START - 100);
        late.place.part = "late";
        c.add_earlier(late);
        assert!(
            c.finish(&claim(Some((11, 20)), Some(20)), before, after, &export)
                .is_err()
        );
    }

    #[test]
    fn applied_exceptions_must_be_in_section_b_and_active() {
        let mut exceptions = std::collections::BTreeMap::new();
        exceptions.insert(
            "exc_1".to_owned(),
            ExceptionSummary {
                id: "exc_1".into(),
                filed_at: format_time(START),
                activation: Some(ActivationSummary {
                    at: format_time(START + 10),
                    ..ActivationSummary::default()
                }),
                ..ExceptionSummary::default()
            },
        );
        let run = |time: i64, id: &str| AppliedExceptions {
            run: "run_1".into(),
            place: "section A line 3".into(),
            time_ms: time,
            exceptions: vec![id.to_owned()],
        };
        assert!(check_applied(&[run(START + 10, "exc_1")], &exceptions).is_ok());
        let err = check_applied(&[run(START + 10, "exc_2")], &exceptions).unwrap_err();
        assert_eq!(
            err.to_string(),
            "run_1 (section A line 3) applied exception exc_2, which is not in section B"
        );
        let err = check_applied(&[run(START + 9, "exc_1")], &exceptions).unwrap_err();
        assert!(matches!(err, Error::ExceptionNotShown { .. }), "{err}");
    }
}
