//! `export`: verify a compliance export (JSON or Markdown) offline.
//!
//! 1. Read the export's header and section D (the checkpoint, the export's
//!    own `compliance_export` record and the chain's boundaries), and
//!    verify the checkpoint's signature with the user's key.
//! 2. For every record of sections A, B and C, in order: recompute the
//!    digest of the record (RFC 8785 JCS, SHA-256), rebuild its envelope,
//!    compare it with the envelope given, hash it as an RFC 6962 leaf, and
//!    verify its inclusion at its log index under the checkpoint. Check that
//!    it belongs to the project, the period and its section. The same for
//!    the period's records of no section (section D), and the envelopes of
//!    the records just before and after the period.
//! 3. The chain (`compliance::chain`): the period's records are contiguous
//!    in the project's chain, from the one after the record before the
//!    period (dated before it) to the head, whose next record is dated
//!    after the period or after the export fixed its records; each one's
//!    `prev` is the digest of the one before. A gap is named by its
//!    sequence numbers.
//! 4. Every exception a decision of section A applied is in section B,
//!    active at the decision's time.
//! 5. Verify the export record like any other, and that it holds the
//!    digest of the header (project, period, principals, chain, log) and,
//!    per section, the count and digest of its records.
//! 6. Render the whole export again from what was verified (the format is
//!    shared with the server) and compare every byte: tables, summaries and
//!    layout cannot change unseen either.
//! 7. Optionally (`--specs`), classify every server-classified run of
//!    section A again from its documents (`specs`): each run that is not
//!    reproduced is named, and fails the verification unless its documents
//!    are only absent and `--allow-missing-specs` was given.
//! 8. Optionally (`--log`), prove that the export's checkpoint is
//!    consistent with the log's current one and (`--repo`) that the
//!    published checkpoints are too.
//!
//! Memory does not grow with the records' size: records are read one line
//! at a time, twice; the chain check keeps 128 bytes per record.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufRead as _, BufReader, Read as _, Write};
use std::path::Path;
use std::rc::Rc;

use anyhow::Context as _;
use compliance::chain::{
    AppliedExceptions, ChainCheck, ChainOutcome, Link, Place, Prev, check_applied,
};
use compliance::export::{
    EXPORT_FORMAT, EXPORT_FORMAT_V1, ExportFormat, ExportHeader, ExportParts, Integrity,
    ProvenEnvelope, ProvenRecord, RecordSource, Section, SectionDigest, SectionHasher,
    SummaryBuilder,
};
use compliance::people::People;
use compliance::record::{
    CHAIN_STARTED, COMPLIANCE_EXPORT, Envelope, PRINCIPAL_ADDED, PRINCIPAL_CHANGED,
    PRINCIPAL_REVOKED, Record, RecordBody, RecordMeta, Sealed, canonical, parse_digest,
    seal_record, sha256_digest,
};
use compliance::time::{DAY_MS, parse_date, parse_time};
use serde_json::{Map, Value, json};
use tlog::Hash;

mod specs;

use crate::cli::{ExportArgs, LogArgs, ProofSourceArg};
use crate::context::Ctx;
use crate::proofs;
use crate::report::{Failure, Report, hinted};
use crate::sources::Log;
use crate::term::escape;
use crate::trust::{
    VerifiedCheckpoint, current_checkpoint, describe_checkpoint, load_trust, open_verified,
    prove_extends,
};

const CMD: &str = "export";

/// Where the machine-readable parts of the export are.
struct Layout {
    format: ExportFormat,
    header: (usize, String),
    integrity: (usize, String),
    /// Line ranges (first, end exclusive) of the record lines of A, B and C.
    sections: [(usize, usize); 3],
    /// Section C's summary line (JSON exports).
    summary: Option<(usize, String)>,
}

fn section_index(s: Section) -> usize {
    s as usize
}

fn section_name(s: Section) -> &'static str {
    s.letter()
}

/// A line of a JSON export's records: the object, without its comma.
fn json_record_line(line: &str) -> &str {
    line.strip_suffix(',').unwrap_or(line)
}

fn structure_failure(file: &Path, msg: String) -> anyhow::Error {
    Failure::new(
        CMD,
        "structure",
        format!(
            "{} is not a well-formed compliance export: {msg}",
            file.display()
        ),
    )
    .into()
}

fn read_lines(file: &Path) -> anyhow::Result<impl Iterator<Item = io::Result<String>>> {
    let f = File::open(file).with_context(|| format!("opening {}", file.display()))?;
    Ok(BufReader::new(f).lines())
}

/// Finds the parts of the export (one pass, one line in memory at a time).
fn layout(file: &Path) -> anyhow::Result<Layout> {
    let mut lines = read_lines(file)?.enumerate();
    let first = match lines.next() {
        Some((_, Ok(l))) => l,
        Some((_, Err(e))) => {
            return Err(anyhow::Error::new(e).context(hinted(
                format!("{} is not a text file", file.display()),
                "give the .json or .md file the compliance-export endpoint returned",
            )));
        }
        None => {
            return Err(hinted(
                format!("{} is empty", file.display()),
                "give the .json or .md file the compliance-export endpoint returned",
            ));
        }
    };
    let format = if first.starts_with("{\"format\":") {
        ExportFormat::Json
    } else if first.starts_with("# ") {
        ExportFormat::Markdown
    } else {
        return Err(hinted(
            format!("{} is not a StateAnchor compliance export", file.display()),
            "give the .json or .md file the compliance-export endpoint returned",
        ));
    };
    if format == ExportFormat::Json && first == format!("{{\"format\":\"{EXPORT_FORMAT_V1}\",") {
        return Err(structure_failure(
            file,
            format!(
                "it is of format {EXPORT_FORMAT_V1}, made before records were chained: it cannot prove that it holds every record of its period; export the period again from the log (the export then says which records were written before the chain started)"
            ),
        ));
    }
    if format == ExportFormat::Json && first != format!("{{\"format\":\"{}\",", EXPORT_FORMAT) {
        return Err(structure_failure(
            file,
            format!("unknown format line {:?}", escape(&first)),
        ));
    }
    let (mut header, mut integrity) = (None, None);
    let mut sections = [(0, 0); 3];
    let mut summary = None;
    let mut open: Option<(Section, usize)> = None;
    let mut want_next: Option<&str> = None;
    for (n, line) in lines {
        let line = line.with_context(|| format!("reading {}", file.display()))?;
        if let Some((s, start)) = open {
            let end = match format {
                ExportFormat::Json => line == "],",
                ExportFormat::Markdown => line == "```",
            };
            if end {
                sections[section_index(s)] = (start, n);
                open = None;
            }
            continue;
        }
        match format {
            ExportFormat::Json => {
                if let Some(h) = line.strip_prefix("\"header\":") {
                    header = Some((n, h.strip_suffix(',').unwrap_or(h).to_owned()));
                } else if let Some(d) = line.strip_prefix("\"section_d_audit_trail_integrity\":") {
                    integrity = Some((n, d.strip_suffix('}').unwrap_or(d).to_owned()));
                } else if let Some(c) = line.strip_prefix("\"section_c_access_and_authorization\":")
                {
                    summary = Some((n, c.strip_suffix(',').unwrap_or(c).to_owned()));
                } else {
                    for s in Section::ALL {
                        if line == format!("\"{}\":[", s.json_key()) {
                            open = Some((s, n + 1));
                        }
                    }
                }
            }
            ExportFormat::Markdown => {
                match want_next.take() {
                    Some("header") => header = Some((n, line.clone())),
                    Some(_) => integrity = Some((n, line.clone())),
                    None => {}
                }
                if line == "```stateanchor-export-header" {
                    want_next = Some("header");
                } else if line == "```stateanchor-integrity" {
                    want_next = Some("integrity");
                } else {
                    for s in Section::ALL {
                        if line == format!("```{}", s.md_block()) {
                            open = Some((s, n + 1));
                        }
                    }
                }
            }
        }
    }
    let header = header.ok_or_else(|| structure_failure(file, "it has no header".into()))?;
    let integrity = integrity.ok_or_else(|| {
        structure_failure(file, "it has no section D (checkpoint and proofs)".into())
    })?;
    for s in Section::ALL {
        if sections[section_index(s)] == (0, 0) {
            return Err(structure_failure(
                file,
                format!("section {} is missing or not closed", section_name(s)),
            ));
        }
    }
    Ok(Layout {
        format,
        header,
        integrity,
        sections,
        summary,
    })
}

/// What the verification of one record needs.
struct Checker<'a> {
    file: &'a Path,
    cp: &'a VerifiedCheckpoint,
    key: &'a tlog::VerifierKey,
    project: &'a str,
    period: std::ops::Range<i64>,
}

impl Checker<'_> {
    fn fail(
        &self,
        check: &'static str,
        line: usize,
        what: &str,
        msg: String,
        raw: &str,
    ) -> anyhow::Error {
        Failure::new(CMD, check, format!("{what} (line {}): {msg}", line + 1))
            .checkpoint("export checkpoint", &self.cp.source, &self.cp.bytes)
            .data(
                what,
                format!("{}:{}", self.file.display(), line + 1),
                raw.as_bytes(),
            )
            .detail("verifier_key", self.key.to_text())
            .into()
    }

    /// Parses one record line.
    fn parse(&self, line: usize, raw: &str, what: &str) -> anyhow::Result<ProvenRecord> {
        serde_json::from_str(raw).map_err(|e| {
            self.fail(
                "record",
                line,
                what,
                format!("not a proven record: {e}"),
                raw,
            )
        })
    }

    /// Step 2 for one record: digest, envelope, leaf hash, inclusion;
    /// returns its leaf hash and what sealing it gave.
    fn verify(
        &self,
        line: usize,
        raw: &str,
        r: &ProvenRecord,
        what: &str,
    ) -> anyhow::Result<(Hash, Sealed)> {
        let fail = |check, msg: String| self.fail(check, line, what, msg, raw);
        let meta = RecordMeta::of(&r.record).map_err(|e| fail("record", e.to_string()))?;
        let what_id = format!("{what} {}", meta.id);
        let fail = |check, msg: String| self.fail(check, line, &what_id, msg, raw);
        if meta.project != self.project {
            return Err(fail(
                "record",
                format!(
                    "it belongs to project {:?}, not {:?}",
                    meta.project, self.project
                ),
            ));
        }
        let sealed = seal_record(&r.record).map_err(|e| fail("digest", e.to_string()))?;
        if sealed.envelope != r.envelope.as_bytes() {
            return Err(fail(
                "digest",
                format!(
                    "the record does not match its envelope: recomputed {}, the export gives {}",
                    escape(&String::from_utf8_lossy(&sealed.envelope)),
                    escape(&r.envelope)
                ),
            ));
        }
        let leaf = self.included(
            sealed.envelope.as_slice(),
            r.log_index,
            &r.leaf_hash,
            &r.inclusion_proof,
            &fail,
        )?;
        Ok((leaf, sealed))
    }

    /// The leaf hash of `entry`, compared with the one given, and its
    /// inclusion at `index` under the checkpoint.
    fn included(
        &self,
        entry: &[u8],
        index: u64,
        leaf_hash: &str,
        proof: &[String],
        fail: &dyn Fn(&'static str, String) -> anyhow::Error,
    ) -> anyhow::Result<Hash> {
        let leaf = tlog::leaf_hash(entry);
        if leaf.to_base64() != leaf_hash {
            return Err(fail(
                "leaf_hash",
                format!("its leaf hash is {leaf}, the export gives {leaf_hash}"),
            ));
        }
        let proof = proof
            .iter()
            .map(|h| Hash::from_base64(h))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| fail("inclusion", format!("malformed proof: {e}")))?;
        let n = self.cp.tree_size();
        if index >= n {
            return Err(fail(
                "inclusion",
                format!("log index {index} is beyond the checkpoint's tree size {n}"),
            ));
        }
        tlog::verify_inclusion(index, n, &leaf, &proof, &self.cp.root_hash()).map_err(|e| {
            fail(
                "inclusion",
                format!("not included at log index {index} in tree size {n}: {e}"),
            )
        })?;
        Ok(leaf)
    }

    /// Step 2 for an envelope given without its record (the chain's
    /// boundaries): it is a record's envelope of the project, included at
    /// its index under the checkpoint.
    fn verify_envelope(
        &self,
        line: usize,
        raw: &str,
        e: &ProvenEnvelope,
        what: &'static str,
    ) -> anyhow::Result<Link> {
        let fail = |check, msg: String| self.fail(check, line, what, msg, raw);
        let env = Envelope::from_bytes(e.envelope.as_bytes())
            .map_err(|err| fail("record", err.to_string()))?;
        if env.project != self.project {
            return Err(fail(
                "record",
                format!(
                    "it belongs to project {:?}, not {:?}",
                    env.project, self.project
                ),
            ));
        }
        self.included(
            e.envelope.as_bytes(),
            e.log_index,
            &e.leaf_hash,
            &e.inclusion_proof,
            &fail,
        )?;
        Ok(Link {
            seq: env.seq,
            digest: parse_digest(&env.digest).unwrap_or_default(),
            prev: Prev::Unknown,
            chain_started: env.kind == CHAIN_STARTED,
            time_ms: parse_time(&env.time).unwrap_or(i64::MIN),
            log_index: e.log_index,
            place: Place {
                part: what,
                line: line + 1,
            },
        })
    }

    /// Step 2 for a record of a section: also its type and time. Section B
    /// opens with the earlier events of the exceptions filed before the
    /// period (`earlier_allowed` until its first record of the period).
    fn verify_in_section(
        &self,
        section: Section,
        line: usize,
        raw: &str,
        earlier_allowed: bool,
    ) -> anyhow::Result<(ProvenRecord, Hash, Link, bool)> {
        let what = format!("section {} record", section_name(section));
        let r = self.parse(line, raw, &what)?;
        let (leaf, sealed) = self.verify(line, raw, &r, &what)?;
        let meta = RecordMeta::of(&r.record)
            .map_err(|e| self.fail("record", line, &what, e.to_string(), raw))?;
        let what = format!("{what} {}", meta.id);
        if !section.holds(&meta.kind) {
            return Err(self.fail(
                "record",
                line,
                &what,
                format!("a {} record does not belong in this section", meta.kind),
                raw,
            ));
        }
        let t = parse_time(&meta.time).unwrap_or(i64::MIN);
        let earlier = earlier_allowed && t < self.period.start;
        if !earlier && !self.period.contains(&t) {
            let why = if section == Section::B && t < self.period.start {
                "; earlier events of the exceptions filed before the period come first in section B"
            } else {
                ""
            };
            return Err(self.fail(
                "record",
                line,
                &what,
                format!("its time {} is outside the export's period{why}", meta.time),
                raw,
            ));
        }
        let link = link_of(&sealed, &meta, t, r.log_index, section_part(section), line);
        Ok((r, leaf, link, earlier))
    }

    /// Step 2 for a record of the period of no section (section D).
    fn verify_unsectioned(&self, line: usize, raw: &str, r: &ProvenRecord) -> anyhow::Result<Link> {
        let what = UNSECTIONED;
        let (_, sealed) = self.verify(line, raw, r, what)?;
        let meta = RecordMeta::of(&r.record)
            .map_err(|e| self.fail("record", line, what, e.to_string(), raw))?;
        let what = format!("{what} {}", meta.id);
        if let Some(s) = Section::ALL.into_iter().find(|s| s.holds(&meta.kind)) {
            return Err(self.fail(
                "record",
                line,
                &what,
                format!(
                    "a {} record belongs in section {}, with the others of its kind",
                    meta.kind,
                    section_name(s)
                ),
                raw,
            ));
        }
        let t = parse_time(&meta.time).unwrap_or(i64::MIN);
        if !self.period.contains(&t) {
            return Err(self.fail(
                "record",
                line,
                &what,
                format!("its time {} is outside the export's period", meta.time),
                raw,
            ));
        }
        Ok(link_of(&sealed, &meta, t, r.log_index, UNSECTIONED, line))
    }
}

/// What a record of section D's `chain.records` is called in messages.
const UNSECTIONED: &str = "section D record of no section";

/// What a record of `section` is called in messages.
fn section_part(section: Section) -> &'static str {
    match section {
        Section::A => "section A record",
        Section::B => "section B record",
        Section::C => "section C record",
    }
}

/// A verified record as the chain check sees it.
fn link_of(
    sealed: &Sealed,
    meta: &RecordMeta,
    time_ms: i64,
    log_index: u64,
    part: &'static str,
    line: usize,
) -> Link {
    Link {
        seq: sealed.seq,
        digest: sealed.digest,
        prev: sealed.prev.map_or(Prev::First, Prev::Digest),
        chain_started: meta.kind == CHAIN_STARTED,
        time_ms,
        log_index,
        place: Place {
            part,
            line: line + 1,
        },
    }
}

/// The records of the export file, read again for rendering.
struct FileRecords<'a> {
    file: &'a Path,
    layout: &'a Layout,
    current: Rc<RefCell<String>>,
}

impl RecordSource for FileRecords<'_> {
    fn for_each(
        &mut self,
        section: Section,
        _with_proofs: bool,
        f: &mut dyn FnMut(&ProvenRecord) -> io::Result<()>,
    ) -> io::Result<()> {
        let (start, end) = self.layout.sections[section_index(section)];
        let lines = read_lines(self.file).map_err(io::Error::other)?;
        for (n, line) in lines.enumerate().skip(start).take(end - start) {
            let line = line?;
            let raw = match self.layout.format {
                ExportFormat::Json => json_record_line(&line),
                ExportFormat::Markdown => &line,
            };
            let r: ProvenRecord = serde_json::from_str(raw).map_err(io::Error::other)?;
            *self.current.borrow_mut() = format!(
                "section {} record {} (line {})",
                section_name(section),
                r.record.get("id").and_then(Value::as_str).unwrap_or("?"),
                n + 1
            );
            f(&r)?;
        }
        self.current.borrow_mut().clear();
        Ok(())
    }
}

/// Compares what is written with the file, byte by byte.
struct CompareWriter {
    file: BufReader<File>,
    offset: u64,
    line: usize,
    current: Rc<RefCell<String>>,
    mismatch: Option<(usize, String)>,
}

impl Write for CompareWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut have = vec![0u8; data.len()];
        let mut got = 0;
        while got < data.len() {
            match self.file.read(&mut have[got..])? {
                0 => break,
                k => got += k,
            }
        }
        for (i, (a, b)) in data.iter().zip(&have[..got]).enumerate() {
            if a != b {
                self.line += data[..i].iter().filter(|&&c| c == b'\n').count();
                self.mismatch = Some((self.line, self.current.borrow().clone()));
                return Err(io::Error::other("mismatch"));
            }
        }
        if got < data.len() {
            self.line += have[..got].iter().filter(|&&c| c == b'\n').count();
            self.mismatch = Some((self.line, "the file ends early".into()));
            return Err(io::Error::other("mismatch"));
        }
        self.line += data.iter().filter(|&&c| c == b'\n').count();
        self.offset += data.len() as u64;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The first place where `got` differs from `want`, as `where.path: what`.
fn first_difference(want: &Value, got: &Value, at: &str) -> Option<String> {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                let path = format!("{at}.{k}");
                match g.get(k) {
                    None => return Some(format!("{path} is missing")),
                    Some(gv) => {
                        if let Some(d) = first_difference(wv, gv, &path) {
                            return Some(d);
                        }
                    }
                }
            }
            g.keys()
                .find(|k| !w.contains_key(*k))
                .map(|k| format!("{at}.{k} is not part of the format"))
        }
        (Value::Array(w), Value::Array(g)) => {
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                if let Some(d) = first_difference(wv, gv, &format!("{at}[{i}]")) {
                    return Some(d);
                }
            }
            (w.len() != g.len()).then(|| {
                format!(
                    "{at} has {} items, the verified records give {}",
                    g.len(),
                    w.len()
                )
            })
        }
        _ => (want != got).then(|| {
            format!(
                "{at} is {}, the verified records give {}",
                escape(&got.to_string()),
                escape(&want.to_string())
            )
        }),
    }
}

/// The last Markdown heading (`## ...`) at or before line `line` (0-based).
fn heading_of(file: &Path, line: usize) -> Option<String> {
    let mut heading = None;
    for l in read_lines(file).ok()?.take(line + 1) {
        let l = l.ok()?;
        if l.starts_with("## ") {
            heading = Some(l.trim_start_matches('#').trim().to_owned());
        }
    }
    heading
}

fn digest_matches(got: &SectionDigest, record: &Value, key: &str) -> bool {
    serde_json::from_value::<SectionDigest>(record[key].clone()).is_ok_and(|want| want == *got)
}

/// The lines of the report about `--specs`: how many runs were reproduced,
/// and each that was not, with why.
fn reproduction_text(o: &specs::Outcome, dir: &str, allow_missing: bool) -> String {
    let mut text = format!(
        "reproduced: {} of {} server-classified runs classified again from their documents in {dir}, same findings\n",
        o.reproduced, o.runs
    );
    if !o.not_reproduced.is_empty() {
        let all_absent = o
            .not_reproduced
            .iter()
            .all(|n| n.reason == specs::Reason::Absent);
        let _ = writeln!(
            text,
            "not reproduced: {} of {} server-classified runs{}",
            o.not_reproduced.len(),
            o.runs,
            if all_absent && allow_missing {
                ", their documents absent (allowed by --allow-missing-specs)"
            } else {
                ""
            }
        );
        for n in &o.not_reproduced {
            let _ = writeln!(text, "  {}", n.describe());
        }
    }
    text
}

/// The report's line on the chain: which records it proves complete.
fn chain_text(c: &ChainOutcome, as_of: &str) -> String {
    let mut text = String::from("chain: ");
    match c.range {
        Some((first, last)) => {
            let _ = write!(
                text,
                "the period's records are seq {first} to {last} of the project's chain, with no gap"
            );
        }
        None => text.push_str("the period has no record of the project's chain"),
    }
    match c.head {
        Some(h) if c.closed => {
            let _ = write!(
                text,
                "; the head is seq {h}, and the record after it is dated after the period"
            );
        }
        Some(h) => {
            let _ = write!(
                text,
                "; the head is seq {h}; the period was not over when the export fixed its records ({}), and they are complete up to then",
                escape(as_of)
            );
        }
        None => text.push_str("; the chain had not started by the end of the period"),
    }
    text.push('\n');
    if c.legacy > 0 {
        let _ = writeln!(
            text,
            "legacy: {} records of the period were written before the project's chain started: each is proven, but the chain does not prove that none is missing",
            c.legacy
        );
    }
    text
}

/// Step 2a: the principals of the export's project as its principal
/// records give them, each record verified (digest, envelope, inclusion,
/// project); section D's `principals` are the ones outside the period.
/// The header's list MUST be what they give.
fn principals_of(
    checker: &Checker<'_>,
    layout: &Layout,
    header: &ExportHeader,
    integrity: &Integrity,
) -> anyhow::Result<People> {
    let (line, raw) = (layout.integrity.0, layout.integrity.1.as_str());
    let mut people = People::default();
    let mut add = |r: &ProvenRecord, what: &str| -> anyhow::Result<()> {
        let record: Record = serde_json::from_value(r.record.clone())
            .map_err(|e| checker.fail("record", line, what, e.to_string(), raw))?;
        people
            .add(&record, r.log_index)
            .map_err(|e| checker.fail("principals", line, what, e.to_string(), raw))
    };
    for r in &integrity.principals {
        let what = "a section D principal record";
        checker.verify(line, raw, r, what)?;
        let kind = r.record.get("type").and_then(Value::as_str).unwrap_or("");
        if !matches!(
            kind,
            PRINCIPAL_ADDED | PRINCIPAL_CHANGED | PRINCIPAL_REVOKED
        ) {
            return Err(checker.fail(
                "record",
                line,
                what,
                format!("a {} record is not a principal record", escape(kind)),
                raw,
            ));
        }
        let t = r
            .record
            .get("time")
            .and_then(Value::as_str)
            .and_then(parse_time);
        if t.is_none_or(|t| checker.period.contains(&t)) {
            return Err(checker.fail(
                "record",
                line,
                what,
                "it is dated in the period (or not at all): the period's principal records are among its records of no section".into(),
                raw,
            ));
        }
        add(r, what)?;
    }
    for r in &integrity.chain.records {
        let kind = r.record.get("type").and_then(Value::as_str).unwrap_or("");
        if matches!(
            kind,
            PRINCIPAL_ADDED | PRINCIPAL_CHANGED | PRINCIPAL_REVOKED
        ) {
            add(r, UNSECTIONED)?;
        }
    }
    let want = people.summaries(&header.settings);
    if want != header.principals {
        return Err(Failure::new(
            CMD,
            "principals",
            format!(
                "the header lists {} principals, but the export's principal records give {}{}: the header's principals must be the log's",
                header.principals.len(),
                want.len(),
                want.iter()
                    .zip(&header.principals)
                    .find(|(w, g)| w != g)
                    .map_or_else(String::new, |(w, _)| format!(" (first difference: {})", escape(&w.id)))
            ),
        )
        .checkpoint("export checkpoint", &checker.cp.source, &checker.cp.bytes)
        .into());
    }
    Ok(people)
}

/// Runs `export`.
///
/// # Errors
/// A [`Failure`] naming the record or part that does not verify; I/O errors.
pub fn run(ctx: &Ctx, args: &ExportArgs) -> anyhow::Result<Report> {
    let trust = load_trust(&args.key, ctx.policy.as_deref())?;
    let key = trust.key()?.clone();
    let file = args.file.as_path();
    let layout = layout(file)?;
    // Step 1: header, section D, checkpoint.
    let header: ExportHeader = serde_json::from_str(&layout.header.1).map_err(|e| {
        structure_failure(
            file,
            format!(
                "the header (line {}) is malformed: {e}",
                layout.header.0 + 1
            ),
        )
    })?;
    let integrity: Integrity = serde_json::from_str(&layout.integrity.1).map_err(|e| {
        structure_failure(
            file,
            format!(
                "section D (line {}) is malformed: {e}",
                layout.integrity.0 + 1
            ),
        )
    })?;
    let source = format!("{} (section D)", file.display());
    let cp = open_verified(
        CMD,
        "export's",
        integrity.checkpoint.clone().into_bytes(),
        source,
        &trust,
        None,
    )?;
    let base = |check: &'static str, msg: String| {
        Failure::new(CMD, check, msg)
            .checkpoint("export checkpoint", &cp.source, &cp.bytes)
            .detail("verifier_key", key.to_text())
    };
    if integrity.tree_size != cp.tree_size() || integrity.root_hash != cp.root_hash().to_base64() {
        return Err(base(
            "checkpoint",
            format!(
                "section D says tree size {} and root hash {}, but its checkpoint says {} and {}",
                integrity.tree_size,
                integrity.root_hash,
                cp.tree_size(),
                cp.root_hash()
            ),
        )
        .into());
    }
    let (from, to) = match (
        parse_date(&header.period_from),
        parse_date(&header.period_to),
    ) {
        (Some(f), Some(t)) if f <= t => (f, t),
        _ => {
            return Err(structure_failure(
                file,
                format!(
                    "the period {:?} to {:?} is not a pair of dates",
                    header.period_from, header.period_to
                ),
            ));
        }
    };
    let checker = Checker {
        file,
        cp: &cp,
        key: &key,
        project: &header.project_id,
        period: from * DAY_MS..(to + 1) * DAY_MS,
    };
    // Step 2a: the project's principals, from its principal records (those
    // of the period among the records of no section, the others in
    // section D's `principals`), verified like any record; the header
    // MUST list exactly them.
    let people = principals_of(&checker, &layout, &header, &integrity)?;
    let mut requesters = std::collections::BTreeMap::new();
    // Step 2: every record, with the sections' counts and digests (compared
    // in step 5), and what the chain needs.
    let period = checker.period.clone();
    let mut reproducer = args.specs.as_deref().map(specs::Specs::open).transpose()?;
    let mut summary = SummaryBuilder::new(&header.principals, period.clone());
    let mut digests = Vec::new();
    let records: usize = layout.sections.iter().map(|(s, e)| e - s).sum();
    let mut chain =
        ChainCheck::with_capacity(period.clone(), records + integrity.chain.records.len());
    let mut applied: Vec<AppliedExceptions> = Vec::new();
    // Exceptions with ledger events in the period.
    let mut changed_in_period = std::collections::BTreeSet::new();
    // Section B's filings and signals, for the signals' binding (step 6).
    let mut filings: std::collections::BTreeMap<String, compliance::record::ExceptionRequested> =
        std::collections::BTreeMap::new();
    let mut signals: std::collections::BTreeMap<
        String,
        (compliance::record::ExceptionSignal, usize),
    > = std::collections::BTreeMap::new();
    // The history of the project's controls (section C).
    let mut controls = compliance::ledger::ControlHistory::default();
    for section in Section::ALL {
        let (start, end) = layout.sections[section_index(section)];
        let mut hasher = SectionHasher::default();
        let mut earlier_allowed = section == Section::B;
        for (n, l) in read_lines(file)?.enumerate().skip(start).take(end - start) {
            let l = l?;
            let raw = match layout.format {
                ExportFormat::Json => json_record_line(&l),
                ExportFormat::Markdown => &l,
            };
            let (r, leaf, link, earlier) =
                checker.verify_in_section(section, n, raw, earlier_allowed)?;
            earlier_allowed &= earlier;
            let rec = &r.record;
            let id = rec.get("id").and_then(Value::as_str).unwrap_or("?");
            let what = format!("section {} record {}", section_name(section), escape(id));
            people
                .check_acts(rec, r.log_index, &what, &mut requesters)
                .map_err(|e| checker.fail("principals", n, &what, e.to_string(), raw))?;
            if section == Section::B && !earlier {
                let exc = rec
                    .get("exception_id")
                    .or_else(|| rec.get("id"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                changed_in_period.insert(exc.to_owned());
            }
            if section == Section::B {
                match serde_json::from_value::<compliance::record::Record>(rec.clone())
                    .map(|r| (r.id, r.body))
                {
                    Ok((id, RecordBody::ExceptionRequested(f))) => {
                        filings.insert(id, f);
                    }
                    Ok((id, RecordBody::ExceptionSignal(sig))) => {
                        signals.insert(id, (sig, n));
                    }
                    _ => {}
                }
            }
            if section == Section::A {
                let used: Vec<String> = rec
                    .get("exceptions_applied")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect();
                if !used.is_empty() {
                    applied.push(AppliedExceptions {
                        run: escape(rec.get("id").and_then(Value::as_str).unwrap_or("?"))
                            .into_owned(),
                        place: format!("section A, line {}", n + 1),
                        time_ms: link.time_ms,
                        exceptions: used,
                    });
                }
            }
            if section == Section::C {
                controls.add(rec).map_err(|e| {
                    checker.fail(
                        "controls",
                        n,
                        &format!(
                            "section C record {}",
                            escape(rec.get("id").and_then(Value::as_str).unwrap_or("?"))
                        ),
                        e.to_string(),
                        raw,
                    )
                })?;
            }
            if earlier {
                chain.add_earlier(link);
            } else {
                chain.add(link);
            }
            hasher.add(&leaf.0);
            summary.add(&r.record);
            if section == Section::A
                && let Some(reproducer) = &mut reproducer
            {
                reproducer.reproduce(n, raw, &r.record);
            }
        }
        digests.push(hasher.finish());
    }
    // The period's records of no section, and the chain's boundaries.
    let (line, raw) = (layout.integrity.0, layout.integrity.1.as_str());
    for r in &integrity.chain.records {
        chain.add(checker.verify_unsectioned(line, raw, r)?);
    }
    let before = integrity
        .chain
        .before
        .as_ref()
        .map(|e| checker.verify_envelope(line, raw, e, "the record before the period"))
        .transpose()?;
    let after = integrity
        .chain
        .after
        .as_ref()
        .map(|e| checker.verify_envelope(line, raw, e, "the record after the period"))
        .transpose()?;
    // The controls the header shows are those in force at the period's
    // end: the last change of the period, if it had one.
    if let Some(last) = controls.last()
        && *last != header.settings
    {
        return Err(base(
            "controls",
            "the header's controls (settings) are not those the period's last change of the controls left in force".to_owned(),
        )
        .into());
    }
    // The export record as the chain sees it (it is verified in step 5).
    let er = &integrity.export_record.record;
    let export_link = {
        let meta = RecordMeta::of(er)
            .map_err(|e| checker.fail("record", line, "the export record", e.to_string(), raw))?;
        let sealed = seal_record(er)
            .map_err(|e| checker.fail("digest", line, "the export record", e.to_string(), raw))?;
        link_of(
            &sealed,
            &meta,
            parse_time(&meta.time).unwrap_or(i64::MIN),
            integrity.export_record.log_index,
            "the export record",
            line,
        )
    };
    // Step 3: the chain holds every record of the period.
    let chained: ChainOutcome = chain
        .finish(&header.chain, before, after, &export_link)
        .map_err(|e| {
            base(
                "chain",
                format!(
                    "{e}: the export does not hold every record of its period (or not as the log has them)"
                ),
            )
            .detail("chain", json!(header.chain))
        })?;
    // Step 4: the exceptions the decisions applied are in section B.
    let summary = summary.finish();
    check_applied(&applied, &summary.exceptions)
        .map_err(|e| base("completeness", format!("{e}: section B is incomplete")))?;

    // Step 5: the export's own record, the header's digest in it, and the
    // sections' counts and digests.
    checker.verify(line, raw, &integrity.export_record, "the export record")?;
    let header_digest = sha256_digest(&canonical(&header).map_err(anyhow::Error::new)?);
    let expect = [
        ("type", COMPLIANCE_EXPORT, "its type"),
        (
            "header_digest",
            header_digest.as_str(),
            "the header's digest (project, period, principals, chain, log)",
        ),
        (
            "period_from",
            header.period_from.as_str(),
            "the period's first day",
        ),
        (
            "period_to",
            header.period_to.as_str(),
            "the period's last day",
        ),
        ("time", header.generated_at.as_str(), "the export's time"),
        ("requested_by", header.generated_by.as_str(), "who exported"),
    ];
    for (field, want, what) in expect {
        if er.get(field).and_then(Value::as_str) != Some(want) {
            return Err(checker.fail(
                "header",
                line,
                "the export record",
                format!("{what} in the header does not match the logged export record ({field})"),
                raw,
            ));
        }
    }
    for (section, got) in Section::ALL.into_iter().zip(&digests) {
        let key_name = section.digest_field();
        if !digest_matches(got, er, key_name) {
            return Err(base(
                "completeness",
                format!(
                    "section {} holds {} records whose digest is {}, but the logged export record says {}: a record was removed, added or reordered",
                    section_name(section),
                    got.count,
                    got.digest,
                    er[key_name]
                ),
            )
            .into());
        }
    }
    // The status of each exception is as of the end of the period.
    // Section B holds each exception's whole history, and only exceptions
    // that were open or changed during the period.
    for e in summary.exceptions.values() {
        let incomplete = |msg: String| -> anyhow::Error {
            base(
                "completeness",
                format!("section B, exception {}: {msg}", escape(&e.id)),
            )
            .into()
        };
        if e.filed_at.is_empty() {
            return Err(incomplete(
                "it has events but not its exception_requested record (requester, justification, expiry)".into(),
            ));
        }
        if let Some(a) = &e.activation
            && a.signal.is_empty()
        {
            return Err(incomplete(format!(
                "its activation names signal {} which is not in the section (who approved, and how)",
                escape(&a.signal_id)
            )));
        }
        // The activating signal is bound to the exception's blocked run:
        // a review of its pull request's commits, a consumer test from a
        // consumer principal (compliance::signals::check_binding).
        if let Some(a) = &e.activation
            && let (Some(filed), Some((sig, line))) =
                (filings.get(&e.id), signals.get(&a.signal_id))
        {
            let bound = compliance::signals::Bound::of_requested(&e.id, filed);
            let is_consumer = |id: &str| {
                header
                    .principals
                    .iter()
                    .find(|p| p.id == id)
                    .map(|p| p.roles.iter().any(|r| r == "consumer"))
            };
            compliance::signals::check_binding(&bound, sig, is_consumer).map_err(|err| {
                base(
                    "binding",
                    format!(
                        "section B, line {}: {}: the signal is not bound to the blocked change",
                        line + 1,
                        escape(&err.to_string())
                    ),
                )
            })?;
        }
        let ended_before = e
            .revocation
            .as_ref()
            .and_then(|r| parse_time(&r.at))
            .into_iter()
            .chain(parse_time(&e.expires_at))
            .any(|t| t < period.start);
        if e.filed_before_period && ended_before && !changed_in_period.contains(&e.id) {
            return Err(incomplete(
                "it was filed before the period and ended before it, with no event in the period: it does not belong in the export".into(),
            ));
        }
    }
    // Section C as the file gives it (JSON): a changed or missing figure is
    // named by its path before the byte comparison below.
    if let Some((line, raw)) = &layout.summary {
        let given: Value = serde_json::from_str(raw).map_err(|e| {
            structure_failure(
                file,
                format!("section C (line {}) is malformed: {e}", line + 1),
            )
        })?;
        let want = serde_json::to_value(&summary).context("section C")?;
        if let Some(diff) = first_difference(&want, &given, "section C") {
            return Err(base(
                "summary",
                format!(
                    "{diff} (line {}): the summary does not match the verified records",
                    line + 1
                ),
            )
            .into());
        }
    }
    // Step 5: render again and compare every byte.
    let current = Rc::new(RefCell::new(String::new()));
    let mut out = CompareWriter {
        file: BufReader::new(File::open(file)?),
        offset: 0,
        line: 0,
        current: current.clone(),
        mismatch: None,
    };
    let mut records = FileRecords {
        file,
        layout: &layout,
        current,
    };
    let parts = ExportParts {
        header: &header,
        summary: &summary,
        integrity: &integrity,
    };
    let rendered = compliance::export::render(layout.format, &parts, &mut records, &mut out);
    let trailing = out.file.fill_buf().map(|b| !b.is_empty()).unwrap_or(false);
    if let Some((line, context)) = out.mismatch.take() {
        let whose = if context.is_empty() {
            heading_of(file, line).map_or_else(String::new, |h| format!(", under {h:?}"))
        } else {
            format!(", in {context}")
        };
        return Err(base(
            "rendering",
            format!(
                "line {} differs from the export rendered again from its verified records{whose}: the tables, summary or layout were changed",
                line + 1
            ),
        )
        .into());
    }
    rendered.context("rendering the export again")?;
    if trailing {
        return Err(base(
            "rendering",
            format!("{} has bytes after the end of the export", file.display()),
        )
        .into());
    }
    // Step 6 (--specs): every server-classified run was classified again with
    // the recorded findings, or the runs that were not are named (all of
    // them). Absent documents pass only with --allow-missing-specs.
    let specs_dir = args.specs.as_deref().map_or_else(String::new, |d| {
        escape(&d.display().to_string()).into_owned()
    });
    let reproduction = reproducer.map(specs::Specs::finish);
    if let Some(o) = &reproduction {
        let failing: Vec<&specs::NotReproduced> = o
            .not_reproduced
            .iter()
            .filter(|n| !(args.allow_missing_specs && n.reason == specs::Reason::Absent))
            .collect();
        if !failing.is_empty() {
            let allowed = o.not_reproduced.len() - failing.len();
            let mut msg = format!(
                "{} of {} server-classified runs were not reproduced from the documents in {specs_dir}",
                failing.len(),
                o.runs
            );
            if allowed > 0 {
                let _ = write!(
                    msg,
                    " (besides {allowed} whose documents are absent, allowed by --allow-missing-specs)"
                );
            }
            let _ = write!(
                msg,
                ": {}",
                failing
                    .iter()
                    .map(|n| n.describe())
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            if failing.iter().any(|n| n.reason == specs::Reason::Absent) {
                msg.push_str(
                    "; put the documents in the directory (GET /api/projects/{project}/specs/{sha256} serves them) or pass --allow-missing-specs to check only the runs whose documents are there",
                );
            }
            let mut failure = base("reproduction", msg).detail(
                "not_reproduced",
                o.not_reproduced
                    .iter()
                    .map(specs::NotReproduced::json)
                    .collect::<Vec<_>>(),
            );
            for n in &failing {
                failure = failure.data(
                    "section A record",
                    format!("{}:{}", file.display(), n.line + 1),
                    n.raw.as_bytes(),
                );
            }
            failure.partial_text = reproduction_text(o, &specs_dir, args.allow_missing_specs);
            return Err(failure.into());
        }
    }
    // Step 7: the log and the publication repository.
    let mut text = format!(
        "verified: compliance export of project {} ({}), {} to {}\n",
        escape(&header.project_id),
        escape(&header.project_name),
        header.period_from,
        header.period_to
    );
    let _ = writeln!(
        text,
        "section A: {} gate decisions, each proven",
        digests[0].count
    );
    let _ = writeln!(
        text,
        "section B: {} exception ledger events of {} exceptions ({} filed before the period), each proven, each exception's history complete",
        digests[1].count,
        summary.exceptions.len(),
        summary.exception_counts.carried_in
    );
    let _ = writeln!(
        text,
        "section C: {} changes of the project's controls, each proven; summary recomputed",
        digests[2].count
    );
    text.push_str(&chain_text(&chained, &header.chain.as_of));
    if let Some(o) = &reproduction {
        text.push_str(&reproduction_text(o, &specs_dir, args.allow_missing_specs));
    }
    let _ = writeln!(
        text,
        "export record: {} at log index {}",
        escape(er["id"].as_str().unwrap_or("?")),
        integrity.export_record.log_index
    );
    describe_checkpoint(&mut text, "checkpoint (signature verified)", &cp);
    let mut json = Map::new();
    json.insert("file".into(), json!(file.display().to_string()));
    json.insert("project".into(), json!(header.project_id));
    json.insert("period_from".into(), json!(header.period_from));
    json.insert("period_to".into(), json!(header.period_to));
    json.insert("decisions".into(), json!(digests[0].count));
    json.insert("exception_events".into(), json!(digests[1].count));
    json.insert("control_changes".into(), json!(digests[2].count));
    json.insert(
        "chain".into(),
        json!({
            "first_seq": chained.range.map(|r| r.0),
            "last_seq": chained.range.map(|r| r.1),
            "head_seq": chained.head,
            "period_over": chained.closed,
            "as_of": header.chain.as_of,
            "legacy_records": chained.legacy,
        }),
    );
    if let Some(o) = &reproduction {
        json.insert("server_classified_runs".into(), json!(o.runs));
        json.insert("reproduced".into(), json!(o.reproduced));
        json.insert(
            "not_reproduced".into(),
            Value::Array(
                o.not_reproduced
                    .iter()
                    .map(specs::NotReproduced::json)
                    .collect(),
            ),
        );
        json.insert(
            "not_reproduced_missing_documents".into(),
            json!(
                o.not_reproduced
                    .iter()
                    .filter(|n| n.reason == specs::Reason::Absent)
                    .count()
            ),
        );
    }
    json.insert("checkpoint".into(), cp.json());
    if let Some(log_text) = &args.log {
        let log = Log::parse(log_text, &ctx.http)?;
        let current = current_checkpoint(CMD, &log, log_text, &trust)?;
        let source = if tlog::consistency_proof_needed(cp.tree_size(), current.tree_size()) {
            proofs::choose(&log, ProofSourceArg::Auto)?
        } else {
            proofs::Source::Tiles
        };
        prove_extends(CMD, &log, log_text, &key, source, &cp, &current)?;
        let _ = writeln!(
            text,
            "consistent: the log's current checkpoint (tree size {}) extends the export's",
            current.tree_size()
        );
        json.insert("log_checkpoint".into(), current.json());
        if let Some(repo) = &args.repo {
            let log_args = LogArgs {
                log: log_text.clone(),
                proof_source: ProofSourceArg::Auto,
            };
            let published = super::published::run(
                ctx,
                &args.key,
                &log_args,
                repo,
                &args.github_api,
                args.github_ref.as_deref(),
            )?;
            text.push_str(&published.text);
            json.insert("published".into(), Value::Object(published.json));
        }
    }
    Ok(Report {
        command: CMD,
        text,
        json,
    })
}
