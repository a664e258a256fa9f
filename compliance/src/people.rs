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
        let time_ms =
            parse_time(&record.time).ok_or_else(|| Error::BadTime(record.time.clone()))?;
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
    pub fn facts_at(
        &self,
        principal: &str,
        log_index: u64,
        time_ms: i64,
    ) -> Option<&PrincipalFacts> {
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
            a.map(PrincipalFacts::profile)
                .unwrap_or_else(|| blank.clone()),
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
                    email: f.email.clone(),
                    roles_from_idp_groups: f.roles_from_idp_groups,
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

/// Refuses a principal on the project's deny-list by its identities
/// ([`ProjectSettings::is_bot_principal`]: folded name or login, ID,
/// GitHub numeric ID).
///
/// # Errors
/// [`Error::Forbidden`].
pub fn check_not_bot(
    settings: &ProjectSettings,
    key: &KeyRecord,
    profile: &Profile,
) -> Result<(), Error> {
    if settings.is_bot_principal(key, profile) {
        return Err(Error::Forbidden(format!(
            "{} is a bot (the project's deny-list names it or its GitHub account); bots can neither request nor approve exceptions",
            key.name
        )));
    }
    Ok(())
}

/// The approver of an exception at approval time: not a bot by its
/// identities, and not the requester by identity (another principal of
/// the same person: same folded name or GitHub login, same GitHub ID or
/// identity provider subject).
///
/// # Errors
/// [`Error::Forbidden`] saying what they share.
pub fn check_approver(
    settings: &ProjectSettings,
    approver: &KeyRecord,
    profile: &Profile,
    requester: &Person<'_>,
) -> Result<(), Error> {
    check_not_bot(settings, approver, profile)?;
    let person = Person {
        id: &approver.id,
        name: &approver.name,
        profile,
    };
    if let Some(shared) = person.shared_with(requester) {
        return Err(Error::Forbidden(format!(
            "{} and the requester {} are one person (they share {shared}); the second signal must come from someone else",
            approver.name, requester.name
        )));
    }
    Ok(())
}

impl People {
    /// Checks who acted in one record of an export (`record`, at
    /// `log_index`; `what` names it in messages): the submitter of a
    /// decision or signal, the requester of an exception, its approver,
    /// who revoked it. Each MUST have been a principal then
    /// ([`People::check_actor`]), and an approver MUST NOT be the
    /// exception's requester by identity ([`People::check_not_requester`]).
    /// `requesters` maps the exceptions seen so far (in log order) to their
    /// requester; records of other types, and legacy records (no `seq`),
    /// are skipped.
    ///
    /// # Errors
    /// [`Error::People`]; [`Error::BadTime`].
    pub fn check_acts(
        &self,
        record: &serde_json::Value,
        log_index: u64,
        what: &str,
        requesters: &mut BTreeMap<String, String>,
    ) -> Result<(), Error> {
        let field = |name: &str| record.get(name).and_then(serde_json::Value::as_str);
        // A legacy record (written before chains, no `seq`) rests on the
        // trust the log had then, as its completeness does: its actors may
        // predate every principal record.
        if record.get("seq").is_none() {
            return Ok(());
        }
        let kind = field("type").unwrap_or_default();
        let actors: &[(&str, &str)] = match kind {
            crate::record::GATE_DECISION => &[("submitted_by", "its submitter")],
            crate::record::EXCEPTION_REQUESTED => &[("requested_by", "its requester")],
            crate::record::EXCEPTION_SIGNAL => &[
                ("submitted_by", "its submitter"),
                ("approver", "its approver"),
            ],
            crate::record::EXCEPTION_ACTIVATED => &[("approver", "its approver")],
            crate::record::EXCEPTION_REVOKED => &[("revoked_by", "who revoked it")],
            _ => return Ok(()),
        };
        let time = field("time").unwrap_or_default();
        let time_ms = parse_time(time).ok_or_else(|| Error::BadTime(time.to_owned()))?;
        for (name, role) in actors {
            let principal = field(name).ok_or(Error::MissingField(match *name {
                "submitted_by" => "submitted_by",
                "requested_by" => "requested_by",
                "approver" => "approver",
                _ => "revoked_by",
            }))?;
            self.check_actor(role, principal, what, log_index, time_ms)?;
        }
        if kind == crate::record::EXCEPTION_REQUESTED {
            if let (Some(id), Some(by)) = (field("id"), field("requested_by")) {
                requesters.insert(id.to_owned(), by.to_owned());
            }
        } else if let (Some(approver), Some(requester)) = (
            field("approver"),
            field("exception_id").and_then(|e| requesters.get(e)),
        ) {
            self.check_not_requester(approver, requester, what, log_index, time_ms)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::{IdpSubject, Principal, Role, duplicate, fold};
    use crate::record::{PrincipalAdded, PrincipalRevoked};

    fn principal(id: &str, name: &str, github_id: Option<u64>) -> Principal {
        Principal {
            key: KeyRecord {
                id: id.into(),
                name: name.into(),
                roles: vec![Role::Codeowner],
                project: Some("prj_a".into()),
                bot: false,
                created_at: "2026-03-01T00:00:00Z".into(),
                revoked_at: None,
            },
            profile: Profile {
                github_login: None,
                github_id,
                idp: None,
                email: None,
                roles_from_idp_groups: false,
            },
        }
    }

    fn record(id: &str, time: &str, body: RecordBody) -> Record {
        Record {
            id: id.into(),
            project: "prj_a".into(),
            time: time.into(),
            salt: "00".repeat(16),
            seq: None,
            prev: None,
            body,
        }
    }

    fn added(p: &Principal, time: &str, migrated_from: Option<&str>) -> Record {
        record(
            "evt_a",
            time,
            RecordBody::PrincipalAdded(PrincipalAdded {
                principal: PrincipalFacts::of(p),
                added_by: "key_admin".into(),
                added_by_name: "admin".into(),
                migrated_from: migrated_from.map(str::to_owned),
            }),
        )
    }

    fn revoked(id: &str, time: &str) -> Record {
        record(
            "evt_r",
            time,
            RecordBody::PrincipalRevoked(PrincipalRevoked {
                principal_id: id.into(),
                name: "x".into(),
                revoked_by: "key_admin".into(),
                revoked_by_name: "admin".into(),
                migrated_from: None,
            }),
        )
    }

    #[test]
    fn folding_is_full_unicode_case_folding() {
        assert_eq!(fold("  STRASSE "), fold("straße"));
        assert_eq!(fold("ALİCE"), fold("alice"));
        assert_eq!(fold("ÅLICE"), fold("ålice"));
        assert_eq!(fold("Ａｌｉｃｅ"), "alice", "full width (NFKC)");
        assert_eq!(fold("\u{212A}elvin"), fold("kelvin"), "the Kelvin sign");
        assert_eq!(fold("Å"), fold("A\u{30A}"), "composed or not");
        assert_ne!(fold("alice"), fold("alicia"));
        assert_ne!(fold("ılk"), fold("ilk"), "the dotless i is another letter");
    }

    #[test]
    fn a_second_principal_of_one_person_is_a_duplicate() {
        let alice = principal("key_1", "alice", Some(583_231));
        let mut laptop = principal("key_2", "alice-laptop", Some(583_231));
        let existing = [alice.clone()];
        let (held, what) =
            duplicate(existing.iter().map(Person::of), &Person::of(&laptop)).unwrap();
        assert_eq!((held.id, what.as_str()), ("key_1", "the GitHub ID 583231"));
        laptop.profile.github_id = Some(1);
        assert!(duplicate(existing.iter().map(Person::of), &Person::of(&laptop)).is_none());
        laptop.profile.idp = Some(IdpSubject {
            issuer: "https://idp".into(),
            subject: "Alice".into(),
        });
        let mut with_idp = alice.clone();
        with_idp.profile.idp = Some(IdpSubject {
            issuer: "https://idp".into(),
            subject: "alice".into(),
        });
        let (_, what) = duplicate([Person::of(&with_idp)], &Person::of(&laptop)).unwrap();
        assert!(what.contains("identity provider subject"), "{what}");
        let shouty = principal("key_3", "ALİCE", None);
        assert!(duplicate([Person::of(&alice)], &Person::of(&shouty)).is_some());
    }

    #[test]
    fn actors_must_be_principals_added_before_and_not_revoked() {
        let alice = principal("key_1", "alice", Some(7));
        let bob = principal("key_2", "bob", None);
        let mut people = People::default();
        people
            .add(&added(&alice, "2026-03-01T00:00:00.000Z", None), 10)
            .unwrap();
        people
            .add(&added(&bob, "2026-03-01T00:00:00.000Z", None), 12)
            .unwrap();
        people
            .add(&revoked("key_2", "2026-03-05T00:00:00.000Z"), 20)
            .unwrap();
        let t = parse_time("2026-03-03T00:00:00.000Z").unwrap();
        assert_eq!(
            people.check_actor("its approver", "key_1", "r", 11, t),
            Ok(())
        );
        for (who, index, why) in [
            ("key_2", 11, "added only later"),
            ("key_2", 21, "revoked before it"),
            ("key_9", 11, "not among the project's principals"),
        ] {
            let e = people
                .check_actor("its approver", who, "r", index, t)
                .unwrap_err();
            assert!(e.to_string().contains(why), "{e}");
        }
        // A migration record vouches from the key's creation time.
        let mut legacy = People::default();
        legacy
            .add(
                &added(
                    &alice,
                    "2026-04-01T00:00:00.000Z",
                    Some("2026-02-01T00:00:00Z"),
                ),
                50,
            )
            .unwrap();
        assert_eq!(
            legacy.check_actor("its approver", "key_1", "r", 11, t),
            Ok(())
        );
        let early = parse_time("2026-01-01T00:00:00.000Z").unwrap();
        assert!(
            legacy
                .check_actor("its approver", "key_1", "r", 11, early)
                .is_err()
        );
        assert!(
            people
                .add(&added(&alice, "2026-03-01T00:00:00.000Z", None), 30)
                .is_err()
        );
    }

    #[test]
    fn an_approver_who_is_the_requester_by_identity_fails() {
        let alice = principal("key_1", "alice", Some(7));
        let laptop = principal("key_2", "alice-laptop", Some(7));
        let mut people = People::default();
        people
            .add(&added(&alice, "2026-03-01T00:00:00.000Z", None), 1)
            .unwrap();
        people
            .add(&added(&laptop, "2026-03-01T00:00:00.000Z", None), 2)
            .unwrap();
        let mut requesters = BTreeMap::new();
        let filed = serde_json::json!({"type": "exception_requested", "id": "exc_1", "seq": 3,
            "time": "2026-03-02T00:00:00.000Z", "requested_by": "key_1"});
        people
            .check_acts(&filed, 3, "exc_1", &mut requesters)
            .unwrap();
        let signal = serde_json::json!({"type": "exception_signal", "id": "evt_s", "seq": 4,
            "exception_id": "exc_1", "time": "2026-03-02T00:00:00.000Z",
            "submitted_by": "key_2", "approver": "key_2"});
        let e = people
            .check_acts(&signal, 4, "evt_s", &mut requesters)
            .unwrap_err();
        assert!(e.to_string().contains("the GitHub ID 7"), "{e}");
        assert_eq!(people.shared_identities().len(), 1);
        assert_eq!(people.summaries(&ProjectSettings::default()).len(), 2);
    }

    #[test]
    fn the_deny_list_matches_folded_names_and_github_ids() {
        let settings = ProjectSettings {
            bot_deny_list: vec!["RENOVATE".into(), "49699333".into()],
            ..ProjectSettings::default()
        };
        let renovate = principal("key_1", "renovate", None);
        assert!(check_not_bot(&settings, &renovate.key, &renovate.profile).is_err());
        let dependabot = principal("key_2", "deps", Some(49_699_333));
        assert!(check_not_bot(&settings, &dependabot.key, &dependabot.profile).is_err());
        let alice = principal("key_3", "alice", Some(1));
        assert!(check_not_bot(&settings, &alice.key, &alice.profile).is_ok());
        assert!(settings.is_bot_login("Renovate"));
        assert!(settings.is_bot_login("Some-App[BOT]"));
    }
}
