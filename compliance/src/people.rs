//! People, not names: a project's principals as its log records state them
//! (`principal_added`, `principal_changed`, `principal_revoked`), and the
//! checks an export's verifier and monitoring make with them
//! (`spec/compliance.md` §2.5).
//!
//! A principal acts at a point of the log (its record's log index and
//! time). It may act there if a `principal_added` record of it comes
//! earlier in the log, or is a migration record (`migrated_from`) whose
//! key was created no later than the act; and if no `principal_revoked`
//! record of it comes earlier (or, for a migration record, was revoked
//! before the act). Two principals are one person if they share a name
//! or login once folded ([`crate::principal::fold`]), a GitHub ID or an
//! identity provider subject.

use std::collections::BTreeMap;

use crate::Error;
use crate::export::PrincipalSummary;
use crate::ledger::ProjectSettings;
use crate::principal::{KeyRecord, Person, Profile};
use crate::record::{PrincipalFacts, Record, RecordBody};
use crate::time::parse_time;

/// When a principal record takes effect: its place in the log, or, for a
/// migration record, the time the key store gave.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Effect {
    log_index: u64,
    time_ms: i64,
    /// `migrated_from`, parsed: the record vouches from that time.
    migrated_ms: Option<i64>,
    /// The time as written (RFC 3339), for summaries.
    at: String,
}

impl Effect {
    /// Whether this took effect before an act at `log_index`, `time_ms`.
    fn before(&self, log_index: u64, time_ms: i64, strict_time: bool) -> bool {
        match self.migrated_ms {
            Some(t) if strict_time => t < time_ms,
            Some(t) => t <= time_ms,
            None => self.log_index < log_index,
        }
    }
}

/// One principal's history in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History {
    added: Option<Effect>,
    /// Its facts after each record, in log order.
    facts: Vec<(Effect, PrincipalFacts)>,
    revoked: Option<Effect>,
}

/// A project's principals, from its principal records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct People {
    by_id: BTreeMap<String, History>,
}

fn people_err(msg: String) -> Error {
    Error::People(msg)
}

impl People {
    /// Adds a principal record at `log_index`; other records are ignored.
    /// Call in any order: each principal's history is kept in log order.
    ///
    /// # Errors
    /// [`Error::People`] if its time or `migrated_from` is not RFC 3339 UTC,
    /// or a principal is added twice.
    pub fn add(&mut self, record: &Record, log_index: u64) -> Result<(), Error> {
        let time_ms = parse_time(&record.time).ok_or_else(|| Error::BadTime(record.time.clone()))?;
        let effect = |migrated: &Option<String>| -> Result<Effect, Error> {
            let migrated_ms = migrated
                .as_deref()
                .map(|m| parse_time(m).ok_or_else(|| Error::BadTime(m.to_owned())))
                .transpose()?;
            Ok(Effect {
                log_index,
                time_ms,
                migrated_ms,
                at: migrated.clone().unwrap_or_else(|| record.time.clone()),
            })
        };
        let blank = || History {
            added: None,
            facts: Vec::new(),
            revoked: None,
        };
        match &record.body {
            RecordBody::PrincipalAdded(r) => {
                let h = self
                    .by_id
                    .entry(r.principal.principal_id.clone())
                    .or_insert_with(blank);
                if h.added.is_some() {
                    return Err(people_err(format!(
                        "principal {} is added twice (record {})",
                        r.principal.principal_id, record.id
                    )));
                }
                let e = effect(&r.migrated_from)?;
                h.added = Some(e.clone());
                h.facts.push((e, r.principal.clone()));
                h.facts.sort_by_key(|(e, _)| e.log_index);
            }
            RecordBody::PrincipalChanged(r) => {
                let h = self
                    .by_id
                    .entry(r.principal.principal_id.clone())
                    .or_insert_with(blank);
                h.facts.push((effect(&None)?, r.principal.clone()));
                h.facts.sort_by_key(|(e, _)| e.log_index);
            }
            RecordBody::PrincipalRevoked(r) => {
                let h = self
                    .by_id
                    .entry(r.principal_id.clone())
                    .or_insert_with(blank);
                let e = effect(&r.migrated_from)?;
                if h.revoked.as_ref().is_none_or(|x| e.log_index < x.log_index) {
                    h.revoked = Some(e);
                }
            }
            _ => return Ok(()),
        }
        Ok(())
    }

    /// Whether no principal record was added.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The facts of `principal` as they stood at an act at `log_index`
    /// (the latest record before it; a migration record counts from its
    /// `migrated_from`).
    #[must_use]
    pub fn facts_at(&self, principal: &str, log_index: u64, time_ms: i64) -> Option<&PrincipalFacts> {
        let h = self.by_id.get(principal)?;
        h.facts
            .iter()
            .rev()
            .find(|(e, _)| e.before(log_index, time_ms, false))
            .map(|(_, f)| f)
    }

    /// Checks that `principal`, named as `role` (`"the approver"`) of the
    /// record `what` at `log_index` and `time_ms`, was a principal of the
    /// project then: added by an earlier record and not revoked before.
    ///
    /// # Errors
    /// [`Error::People`] naming the principal, the record and what is wrong.
    pub fn check_actor(
        &self,
        role: &str,
        principal: &str,
        what: &str,
        log_index: u64,
        time_ms: i64,
    ) -> Result<(), Error> {
        let Some(h) = self.by_id.get(principal) else {
            return Err(people_err(format!(
                "{what} names {principal} as {role}, who is not among the project's principals (no principal_added record in the export)"
            )));
        };
        match &h.added {
            Some(a) if a.before(log_index, time_ms, false) => {}
            Some(a) => {
                return Err(people_err(format!(
                    "{what} (log index {log_index}) names {principal} as {role}, who was added only later (log index {}, {})",
                    a.log_index, a.at
                )));
            }
            None => {
                return Err(people_err(format!(
                    "{what} names {principal} as {role}, whose principal_added record is not in the export"
                )));
            }
        }
        if let Some(r) = &h.revoked
            && r.before(log_index, time_ms, true)
        {
            return Err(people_err(format!(
                "{what} (log index {log_index}) names {principal} as {role}, who was revoked before it (log index {}, {})",
                r.log_index, r.at
            )));
        }
        Ok(())
    }

    /// Checks that the approver of an exception is not its requester, by
    /// identity: not the same principal, nor one sharing a folded name,
    /// GitHub login, GitHub ID or identity provider subject with it (as
    /// both stood at the approval).
    ///
    /// # Errors
    /// [`Error::People`] saying what they share.
    pub fn check_not_requester(
        &self,
        approver: &str,
        requester: &str,
        what: &str,
        log_index: u64,
        time_ms: i64,
    ) -> Result<(), Error> {
        let blank = Profile::default();
        let a = self.facts_at(approver, log_index, time_ms);
        let r = self.facts_at(requester, log_index, time_ms);
        let (a_profile, r_profile) = (
            a.map(PrincipalFacts::profile).unwrap_or_else(|| blank.clone()),
            r.map(PrincipalFacts::profile).unwrap_or(blank),
        );
        let ap = Person {
            id: approver,
            name: a.map_or(approver, |f| f.name.as_str()),
            profile: &a_profile,
        };
        let rp = Person {
            id: requester,
            name: r.map_or(requester, |f| f.name.as_str()),
            profile: &r_profile,
        };
        if let Some(shared) = ap.shared_with(&rp) {
            return Err(people_err(format!(
                "{what}: the approver {approver} is the requester {requester} (they share {shared}): one person cannot approve their own exception"
            )));
        }
        Ok(())
    }

    /// The principals as an export's header lists them: each one's facts
    /// after its last record, when it was added and revoked; oldest first.
    #[must_use]
    pub fn summaries(&self, settings: &ProjectSettings) -> Vec<PrincipalSummary> {
        let mut out: Vec<PrincipalSummary> = self
            .by_id
            .iter()
            .filter_map(|(id, h)| {
                let (_, f) = h.facts.last()?;
                let key = KeyRecord {
                    id: id.clone(),
                    name: f.name.clone(),
                    roles: f.roles.clone(),
                    project: None,
                    bot: f.bot,
                    created_at: String::new(),
                    revoked_at: None,
                };
                Some(PrincipalSummary {
                    id: id.clone(),
                    name: f.name.clone(),
                    roles: f.roles.iter().map(|r| r.as_str().to_owned()).collect(),
                    bot: settings.is_bot_principal(&key, &f.profile()),
                    github_login: f.github_login.clone(),
                    created_at: h.added.as_ref().map(|a| a.at.clone()).unwrap_or_default(),
                    revoked_at: h.revoked.as_ref().map(|r| r.at.clone()),
                    github_id: f.github_id,
                    idp: f.idp.clone(),
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.created_at, &a.id).cmp(&(&b.created_at, &b.id)));
        out
    }

    /// Pairs of principals that share an identity (GitHub login, GitHub
    /// ID, identity provider subject) or a folded name, as their latest
    /// records state them: `(first, second, what they share)`, each pair
    /// once. Revoked principals count too: one person holds one principal,
    /// ever.
    #[must_use]
    pub fn shared_identities(&self) -> Vec<(String, String, String)> {
        let latest: Vec<(&String, Profile, &PrincipalFacts)> = self
            .by_id
            .iter()
            .filter_map(|(id, h)| h.facts.last().map(|(_, f)| (id, f.profile(), f)))
            .collect();
        let mut out = Vec::new();
        for (i, (a_id, a_profile, a)) in latest.iter().enumerate() {
            for (b_id, b_profile, b) in &latest[i + 1..] {
                let pa = Person {
                    id: a_id,
                    name: &a.name,
                    profile: a_profile,
                };
                let pb = Person {
                    id: b_id,
                    name: &b.name,
                    profile: b_profile,
                };
                if let Some(what) = pa.shared_with(&pb) {
                    out.push(((*a_id).clone(), (*b_id).clone(), what));
                }
            }
        }
        out
    }

    /// When `principal` was added (ms since the epoch: the record's time,
    /// or for a migration record the key's creation), if it was.
    #[must_use]
    pub fn added_at(&self, principal: &str) -> Option<i64> {
        let a = self.by_id.get(principal)?.added.as_ref()?;
        Some(a.migrated_ms.unwrap_or(a.time_ms))
    }
}
