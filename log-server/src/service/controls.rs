//! Controls that cannot be quietly weakened (`spec/compliance.md`, §2
//! "Controls that cannot be quietly weakened"): a change of a project's
//! controls that weakens them raises a `controls_weakened` anomaly at
//! once and, while the project's `second_admin_for_weakening` is on, is
//! held as a pending change (`settings_change_proposed`) until another
//! admin principal of the project approves it (`settings_change_approved`,
//! queued with the `project_settings_changed` record that applies it). A
//! held change can be withdrawn (`settings_change_withdrawn`) and lapses
//! after [`HELD_FOR_MS`].

use compliance::ledger::ProjectRow;
use compliance::monitor::{Anomaly, rule};
use compliance::principal::{Access, KeyRecord, Role};
use compliance::record::{
    AnomalyDetected, ProjectSettings, ProjectSettingsChanged, Record, RecordBody,
    SettingsChangeApproved, SettingsChangeProposed, SettingsChangeWithdrawn,
};
use compliance::settings::weakening;
use compliance::time::{DAY_MS, format_date, format_time};
use serde_json::{Value, json};

use super::{Compliance, ProjectState, Staged, conflict, forbidden, settle_all};
use crate::keys::random_id;
use crate::{Error, Result};

/// The record of a change of a project's controls (at creation: no
/// previous controls).
pub(crate) fn settings_record(
    caller: &KeyRecord,
    changed: Vec<String>,
    settings: &ProjectSettings,
    previous: Option<&ProjectSettings>,
) -> ProjectSettingsChanged {
    ProjectSettingsChanged {
        changed_by: caller.id.clone(),
        changed_by_name: caller.name.clone(),
        changed,
        settings: settings.clone(),
        weakening: previous.map_or_else(Vec::new, |p| weakening(p, settings)),
        previous: previous.cloned(),
        change_id: None,
        approved_by: None,
        approved_by_name: None,
    }
}

pub(crate) fn project_json(row: &ProjectRow) -> Value {
    json!({
        "project_id": row.id,
        "name": row.name,
        "created_at": row.created_at,
        "settings": row.settings,
    })
}

/// How long a held change waits for its approval: 7 days.
pub const HELD_FOR_MS: i64 = 7 * DAY_MS;

/// A held change of a project's controls, folded from its records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingChange {
    /// `chg_…`: the proposal's record ID.
    pub id: String,
    /// Who proposed it (key ID) and their name.
    pub proposed_by: (String, String),
    /// When (ms since the epoch).
    pub proposed_at: i64,
    /// When it lapses unapproved.
    pub expires_at: i64,
    /// The proposal's fields.
    pub proposal: SettingsChangeProposed,
}

impl PendingChange {
    /// The pending change a `settings_change_proposed` record opens.
    #[must_use]
    pub fn from_record(record: &Record) -> Option<PendingChange> {
        let RecordBody::SettingsChangeProposed(p) = &record.body else {
            return None;
        };
        Some(PendingChange {
            id: record.id.clone(),
            proposed_by: (p.proposed_by.clone(), p.proposed_by_name.clone()),
            proposed_at: compliance::time::parse_time(&record.time).unwrap_or(0),
            expires_at: compliance::time::parse_time(&p.expires_at).unwrap_or(0),
            proposal: p.clone(),
        })
    }

    fn view(&self, now: i64) -> Value {
        json!({
            "change_id": self.id,
            "status": if now >= self.expires_at { "EXPIRED" } else { "PENDING" },
            "proposed_by": self.proposed_by.0,
            "proposed_by_name": self.proposed_by.1,
            "proposed_at": format_time(self.proposed_at),
            "expires_at": self.proposal.expires_at,
            "changed": self.proposal.changed,
            "weakening": self.proposal.weakening,
            "settings": self.proposal.settings,
        })
    }
}

/// Folds one record of the ledger index into the pending changes: a
/// proposal opens one, an approval or a withdrawal closes it.
pub fn fold(pending: &mut std::collections::BTreeMap<String, PendingChange>, record: &Record) {
    match &record.body {
        RecordBody::SettingsChangeApproved(a) => {
            pending.remove(&a.change_id);
        }
        RecordBody::SettingsChangeWithdrawn(w) => {
            pending.remove(&w.change_id);
        }
        _ => {
            if let Some(p) = PendingChange::from_record(record) {
                pending.insert(p.id.clone(), p);
            }
        }
    }
}

/// The `controls_weakened` anomaly of a change (`subject`: the record that
/// applies it, or the held change's ID), found at `now`.
pub(crate) fn weakened_anomaly(
    caller: &KeyRecord,
    subject: &str,
    weakened: &[String],
    held: bool,
    now: i64,
) -> Anomaly {
    let what = if held {
        "held for a second admin's approval"
    } else {
        "in effect"
    };
    Anomaly::new(
        None,
        AnomalyDetected {
            rule: rule::CONTROLS_WEAKENED.to_owned(),
            day: format_date(now.div_euclid(DAY_MS)),
            subject: subject.to_owned(),
            observed: weakened.len() as u64,
            threshold: 0,
            detail: format!(
                "{} weakened the project's controls ({what}): {}",
                caller.name,
                weakened.join("; ")
            ),
        },
    )
}

/// Whether two principals are the same person: the same key, or names
/// equal once trimmed and case-folded.
fn same_person(a: (&str, &str), b: (&str, &str)) -> bool {
    a.0 == b.0 || a.1.trim().to_lowercase() == b.1.trim().to_lowercase()
}

fn no_change(project: &str, change: &str) -> Error {
    Error::NotFound(format!(
        "no pending change {change:?} of the controls of project {project:?}"
    ))
}

impl Compliance {
    /// Holds a weakening change (under the project's lock): its proposal
    /// and its anomaly are queued together. Returns them, the anomaly and
    /// the held change's view.
    pub(crate) fn hold_change(
        &self,
        ps: &mut ProjectState,
        caller: &KeyRecord,
        changed: Vec<String>,
        weakened: Vec<String>,
        settings: ProjectSettings,
        now: i64,
    ) -> Result<(Vec<Staged>, Option<Anomaly>, Value)> {
        let id = random_id("chg");
        let anomaly = weakened_anomaly(caller, &id, &weakened, true, now);
        let proposal = SettingsChangeProposed {
            proposed_by: caller.id.clone(),
            proposed_by_name: caller.name.clone(),
            changed,
            weakening: weakened,
            previous: ps.row.settings.clone(),
            settings,
            expires_at: format_time(now + HELD_FOR_MS),
        };
        let items = vec![
            (id.clone(), RecordBody::SettingsChangeProposed(proposal)),
            (
                anomaly.id.clone(),
                RecordBody::AnomalyDetected(anomaly.finding.clone()),
            ),
        ];
        let staged = self.stage_all(ps, items, now)?;
        let pending = PendingChange::from_record(&staged[0].record).ok_or(Error::Stopped)?;
        let mut view = pending.view(now);
        view["message"] = json!(
            "this change weakens the project's controls and second_admin_for_weakening is on: it takes effect when another admin of the project approves it"
        );
        ps.pending.insert(id, pending);
        Ok((staged, Some(anomaly), view))
    }

    /// The held changes of a project's controls (an admin of the project,
    /// or a log admin), with those that lapsed unapproved.
    ///
    /// # Errors
    /// Refusals; storage failures.
    pub async fn settings_changes(&self, caller: &KeyRecord, project: &str) -> Result<Value> {
        let p = self.project_for(caller, project, Access::Control).await?;
        let ps = p.lock().await;
        let now = self.now();
        let list: Vec<Value> = ps.pending.values().map(|c| c.view(now)).collect();
        Ok(json!({ "changes": list }))
    }

    /// Approves a held change: another admin principal of the project (not
    /// a log admin key, not a bot, not the proposer by key or by name).
    /// The approval and the `project_settings_changed` record that applies
    /// the change are queued together, with the project's row.
    ///
    /// # Errors
    /// 403 for the proposer or a caller who is not a second admin; 404 for
    /// an unknown change; 409 for a lapsed change or controls changed since
    /// it was proposed; pushback.
    pub async fn approve_settings_change(
        &self,
        caller: &KeyRecord,
        project: &str,
        change: &str,
    ) -> Result<Value> {
        let p = self.project_for(caller, project, Access::Control).await?;
        if caller.project.as_deref() != Some(project) || !caller.roles.contains(&Role::Admin) {
            return Err(forbidden(
                "a held change of the controls is approved by a second admin principal of the project, not a log admin key",
            ));
        }
        let (staged, row) = {
            let mut ps = self.write_lock(&p).await?;
            let now = ps.clock(self.now());
            let c = ps
                .pending
                .get(change)
                .cloned()
                .ok_or_else(|| no_change(project, change))?;
            if ps.settings().is_bot(caller) {
                return Err(forbidden(format!(
                    "{} is a bot; bots cannot approve changes of the controls",
                    caller.name
                )));
            }
            if same_person(
                (&caller.id, &caller.name),
                (&c.proposed_by.0, &c.proposed_by.1),
            ) {
                return Err(forbidden(format!(
                    "{} proposed change {change}; another admin of the project must approve it",
                    caller.name
                )));
            }
            if now >= c.expires_at {
                return Err(conflict(format!(
                    "change {change} lapsed unapproved at {}; propose it again",
                    c.proposal.expires_at
                )));
            }
            if ps.row.settings != c.proposal.previous {
                return Err(conflict(format!(
                    "the controls changed since change {change} was proposed; withdraw it and propose it again"
                )));
            }
            let proposer = KeyRecord {
                id: c.proposed_by.0.clone(),
                name: c.proposed_by.1.clone(),
                ..caller.clone()
            };
            let mut applied = settings_record(
                &proposer,
                c.proposal.changed.clone(),
                &c.proposal.settings,
                Some(&c.proposal.previous),
            );
            applied.change_id = Some(change.to_owned());
            applied.approved_by = Some(caller.id.clone());
            applied.approved_by_name = Some(caller.name.clone());
            let approval = SettingsChangeApproved {
                change_id: change.to_owned(),
                proposed_by: c.proposed_by.0.clone(),
                proposed_by_name: c.proposed_by.1.clone(),
                approved_by: caller.id.clone(),
                approved_by_name: caller.name.clone(),
            };
            let mut row = ps.row.clone();
            row.settings = c.proposal.settings.clone();
            let items = vec![
                (
                    random_id("evt"),
                    RecordBody::SettingsChangeApproved(approval),
                ),
                (
                    random_id("evt"),
                    RecordBody::ProjectSettingsChanged(applied),
                ),
            ];
            let staged = self.stage_all_with_row(&mut ps, items, now, Some(row.clone()))?;
            ps.row = row.clone();
            ps.pending.remove(change);
            (staged, row)
        };
        settle_all(staged).await?;
        let mut v = project_json(&row);
        v["change_id"] = json!(change);
        v["status"] = json!("APPLIED");
        v["approved_by"] = json!(caller.id);
        Ok(v)
    }

    /// Withdraws a held change (an admin of the project, or a log admin).
    ///
    /// # Errors
    /// 404 for an unknown change; 409 for one that lapsed; pushback.
    pub async fn withdraw_settings_change(
        &self,
        caller: &KeyRecord,
        project: &str,
        change: &str,
    ) -> Result<Value> {
        let p = self.project_for(caller, project, Access::Control).await?;
        let staged = {
            let mut ps = self.write_lock(&p).await?;
            let now = ps.clock(self.now());
            let c = ps
                .pending
                .get(change)
                .cloned()
                .ok_or_else(|| no_change(project, change))?;
            if now >= c.expires_at {
                return Err(conflict(format!(
                    "change {change} already lapsed unapproved at {}",
                    c.proposal.expires_at
                )));
            }
            let body = RecordBody::SettingsChangeWithdrawn(SettingsChangeWithdrawn {
                change_id: change.to_owned(),
                withdrawn_by: caller.id.clone(),
                withdrawn_by_name: caller.name.clone(),
            });
            let staged = self.stage(&mut ps, random_id("evt"), body, now)?;
            ps.pending.remove(change);
            staged
        };
        let (record, index, _) = staged.wait().await?;
        Ok(json!({
            "change_id": change,
            "status": "WITHDRAWN",
            "withdrawn_at": record.time,
            "withdrawn_by": caller.id,
            "log_index": index,
        }))
    }
}
