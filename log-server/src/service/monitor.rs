//! Monitoring (`spec/monitoring.md`): each complete UTC day of each
//! project is run once through the rules of `compliance::monitor`; the
//! anomalies and a `monitor_run` marker are logged together, so the
//! monitoring is itself auditable, re-running a day records nothing new, and
//! days missed while the server was down are caught up (up to the baseline).
//! New anomalies are then sent to the project's webhooks
//! ([`super::alerts`]); a failing webhook never blocks anything.

use compliance::monitor::{self, Anomaly, History};
use compliance::principal::{Access, KeyRecord};
use compliance::record::{
    ANOMALY_DETECTED, AnomalyAcknowledged, MonitorRun, Record, RecordBody, RecordKind,
};
use compliance::time::{DAY_MS, format_date, parse_time};
use serde::Serialize;
use serde_json::{Value, json};

use super::{Compliance, blocking, conflict, invalid, settle_all};
use crate::{Error, Result};

/// Days a catch-up goes back at most.
pub const MAX_CATCH_UP_DAYS: i64 = 28;

/// The record ID of the marker of a monitored day.
fn marker_id(day: i64) -> String {
    format!("mon_{}", format_date(day))
}

/// The record ID of an anomaly's acknowledgement (one per anomaly).
fn ack_id(anomaly: &str) -> String {
    format!("ack_{anomaly}")
}

/// What monitoring one day of one project did.
#[derive(Clone, Debug, Serialize)]
pub struct DayOutcome {
    /// The project.
    pub project: String,
    /// The day.
    pub day: String,
    /// Whether the day had been monitored before (then nothing is recorded).
    pub already_monitored: bool,
    /// Anomalies found.
    pub found: usize,
    /// Anomalies recorded now (those found on an earlier day are not again).
    pub recorded: Vec<String>,
}

impl Compliance {
    /// Monitors every project (see [`Compliance::monitor_project`]).
    ///
    /// # Errors
    /// Storage failures; pushback.
    pub async fn monitor_all(&self, day: Option<i64>) -> Result<Vec<DayOutcome>> {
        let records = self.records.clone();
        let projects = blocking(move || records.projects()).await?;
        let mut out = Vec::new();
        for p in projects {
            out.extend(self.monitor_project(&p.id, day).await?);
        }
        Ok(out)
    }

    /// Monitors `day` of `project`, or (`None`) every complete day since the
    /// last one monitored (at most [`MAX_CATCH_UP_DAYS`] back, not before
    /// the project was created), oldest first.
    ///
    /// # Errors
    /// A day that is not over yet; unknown project; storage failures; pushback.
    pub async fn monitor_project(
        &self,
        project: &str,
        day: Option<i64>,
    ) -> Result<Vec<DayOutcome>> {
        // One monitoring run at a time: a day's marker is checked and
        // written without another run in between.
        let _running = self.monitor_lock.lock().await;
        let p = self.project(project).await?;
        let today = self.today();
        let (created, config) = {
            let ps = p.lock().await;
            let created = parse_time(&ps.row.created_at)
                .unwrap_or(0)
                .div_euclid(DAY_MS);
            (created, ps.settings().monitoring.clone())
        };
        let days: Vec<i64> = match day {
            Some(d) if d >= today => {
                return Err(invalid(format!(
                    "{} is not over yet (UTC); monitoring looks at complete days",
                    format_date(d)
                )));
            }
            Some(d) => vec![d],
            None => {
                let yesterday = today - 1;
                let floor = created.max(yesterday - MAX_CATCH_UP_DAYS + 1);
                let mut start = floor;
                for d in (floor..=yesterday).rev() {
                    if self.records.seq_of(project, &marker_id(d))?.is_some() {
                        start = d + 1;
                        break;
                    }
                }
                (start..=yesterday).collect()
            }
        };
        let (Some(&first), Some(&last)) = (days.first(), days.last()) else {
            return Ok(Vec::new());
        };

        // The project's records from the look-back before the first day to
        // the end of the last, folded day by day.
        let (records, id) = (self.records.clone(), project.to_owned());
        let lookback = config.lookback_days();
        let cfg = config.clone();
        let days_in = days.clone();
        let found: Vec<(i64, Vec<Anomaly>)> = blocking(move || {
            let from = records
                .first_seq_at(&id, (first - lookback) * DAY_MS)?
                .unwrap_or(u64::MAX);
            let to = records
                .first_seq_at(&id, (last + 1) * DAY_MS)?
                .unwrap_or(u64::MAX);
            let mut rows: Vec<(Record, i64)> = Vec::new();
            records.for_each_record(&id, from..to, &mut |row| {
                if matches!(
                    row.kind,
                    RecordKind::GateDecision
                        | RecordKind::ExceptionRequested
                        | RecordKind::ExceptionActivated
                        | RecordKind::ExceptionRevoked
                        | RecordKind::ExceptionExpired
                        | RecordKind::ExceptionSignal
                        | RecordKind::PrincipalAdded
                        | RecordKind::PrincipalChanged
                        | RecordKind::PrincipalRevoked
                ) {
                    let r = Record::from_slice(row.record)
                        .map_err(|e| Error::Corrupt(format!("a record of {id}: {e}")))?;
                    let t = parse_time(&r.time).unwrap_or(0);
                    rows.push((r, t));
                }
                Ok(true)
            })?;
            let mut history = History::default();
            let mut next = rows.into_iter().peekable();
            let mut out = Vec::with_capacity(days_in.len());
            for d in days_in {
                while let Some((r, t)) = next.next_if(|(_, t)| *t < (d + 1) * DAY_MS) {
                    history.add(&r, t);
                }
                out.push((d, monitor::detect(&history, d, &cfg)));
            }
            Ok(out)
        })
        .await?;

        let mut outcomes = Vec::with_capacity(found.len());
        for (d, anomalies) in found {
            outcomes.push(self.record_day(&p, project, d, anomalies).await?);
        }
        Ok(outcomes)
    }

    /// Logs a day's new anomalies and its marker, all or none, then alerts.
    async fn record_day(
        &self,
        p: &super::Project,
        project: &str,
        day: i64,
        anomalies: Vec<Anomaly>,
    ) -> Result<DayOutcome> {
        let mut outcome = DayOutcome {
            project: project.to_owned(),
            day: format_date(day),
            already_monitored: false,
            found: anomalies.len(),
            recorded: Vec::new(),
        };
        let new: Vec<Anomaly>;
        let staged = {
            // Under the project's lock (and, with several frontends, its
            // writer claim): another run cannot record the day meanwhile.
            let mut ps = self.write_lock(p).await?;
            let (records, id, ids) = (
                self.records.clone(),
                project.to_owned(),
                anomalies.iter().map(|a| a.id.clone()).collect::<Vec<_>>(),
            );
            let seen = blocking(move || {
                if records.seq_of(&id, &marker_id(day))?.is_some() {
                    return Ok(None);
                }
                ids.iter()
                    .map(|a| Ok(records.seq_of(&id, a)?.is_some()))
                    .collect::<Result<Vec<bool>>>()
                    .map(Some)
            })
            .await?;
            let Some(seen) = seen else {
                outcome.already_monitored = true;
                return Ok(outcome);
            };
            new = anomalies
                .into_iter()
                .zip(seen)
                .filter_map(|(a, seen)| (!seen).then_some(a))
                .collect();
            let mut items: Vec<(String, RecordBody)> = new
                .iter()
                .map(|a| (a.id.clone(), RecordBody::AnomalyDetected(a.finding.clone())))
                .collect();
            items.push((
                marker_id(day),
                RecordBody::MonitorRun(MonitorRun {
                    day: format_date(day),
                    rules: monitor::rule::ALL.iter().map(|r| (*r).to_owned()).collect(),
                    anomalies: new.iter().map(|a| a.id.clone()).collect(),
                }),
            ));
            let now = ps.clock(self.now());
            self.stage_all(&mut ps, items, now)?
        };
        settle_all(staged).await?;
        outcome.recorded = new.iter().map(|a| a.id.clone()).collect();
        if !new.is_empty() {
            self.alert(project, &new).await;
        }
        Ok(outcome)
    }

    /// The anomalies recorded in days `from..=to` (days since the epoch),
    /// with their acknowledgement, newest first (any role of the project).
    ///
    /// # Errors
    /// Refusals; storage failures.
    pub async fn anomalies(
        &self,
        caller: &KeyRecord,
        project: &str,
        (from, to): (i64, i64),
        open_only: Option<bool>,
    ) -> Result<Value> {
        self.project_for(caller, project, Access::Read).await?;
        let (records, log, id) = (self.records.clone(), self.log.clone(), project.to_owned());
        blocking(move || {
            let first = records
                .first_seq_at(&id, from * DAY_MS)?
                .unwrap_or(u64::MAX);
            let after = records
                .first_seq_at(&id, (to + 1) * DAY_MS)?
                .unwrap_or(u64::MAX);
            let mut found: Vec<(Value, String)> = Vec::new();
            records.for_each_record(&id, first..after, &mut |row| {
                if row.kind == RecordKind::AnomalyDetected {
                    found.push((
                        row.value()?,
                        String::from_utf8_lossy(row.envelope).into_owned(),
                    ));
                }
                Ok(true)
            })?;
            let mut out = Vec::with_capacity(found.len());
            for (mut a, envelope) in found.into_iter().rev() {
                let anomaly = a["id"].as_str().unwrap_or_default().to_owned();
                let ack = match records.seq_of(&id, &ack_id(&anomaly))? {
                    Some(seq) => records
                        .record(&id, seq)?
                        .map(|r| r.as_ref().value())
                        .transpose()?,
                    None => None,
                };
                if open_only.is_some_and(|open| open == ack.is_some()) {
                    continue;
                }
                let index = log.index_of(&tlog::leaf_hash(envelope.as_bytes()), u64::MAX)?;
                a["log_index"] = json!(index);
                a["acknowledged"] = ack.map_or(Value::Null, |k| {
                    json!({"at": k["time"], "by": k["acknowledged_by"],
                        "by_name": k["acknowledged_by_name"], "note": k["note"]})
                });
                out.push(a);
            }
            Ok(json!({ "anomalies": out }))
        })
        .await
    }

    /// Acknowledges an anomaly with a note (a codeowner or admin of the
    /// project, not a bot): an `anomaly_acknowledged` record.
    ///
    /// # Errors
    /// Refusals (unknown anomaly, already acknowledged, empty note); pushback.
    pub async fn acknowledge(
        &self,
        caller: &KeyRecord,
        project: &str,
        anomaly: &str,
        note: &str,
    ) -> Result<Value> {
        let p = self
            .project_for(caller, project, Access::Acknowledge)
            .await?;
        compliance::ledger::check_text("note", note, compliance::ledger::MAX_TEXT, false)?;
        let not_found =
            || Error::NotFound(format!("no anomaly {anomaly:?} in project {project:?}"));
        let seq = self
            .records
            .seq_of(project, anomaly)?
            .ok_or_else(not_found)?;
        let row = self.records.record(project, seq)?.ok_or_else(not_found)?;
        if row.as_ref().value()?["type"] != ANOMALY_DETECTED {
            return Err(not_found());
        }
        let staged = self
            .under_lock(&p, |ps, now| {
                if ps.settings().is_bot(caller) {
                    return Err(super::forbidden(format!(
                        "{} is a bot; bots cannot acknowledge anomalies",
                        caller.name
                    )));
                }
                if self.records.seq_of(project, &ack_id(anomaly))?.is_some()
                    || ps.acknowledging.contains(anomaly)
                {
                    return Err(conflict(format!(
                        "anomaly {anomaly} is already acknowledged"
                    )));
                }
                let body = RecordBody::AnomalyAcknowledged(AnomalyAcknowledged {
                    anomaly_id: anomaly.to_owned(),
                    acknowledged_by: caller.id.clone(),
                    acknowledged_by_name: caller.name.clone(),
                    note: note.to_owned(),
                });
                let staged = self.stage(ps, ack_id(anomaly), body, now)?;
                ps.acknowledging.insert(anomaly.to_owned());
                Ok(staged)
            })
            .await?;
        let (record, index, _) = staged.wait().await?;
        Ok(json!({
            "anomaly_id": anomaly,
            "acknowledged_at": record.time,
            "acknowledged_by": caller.id,
            "note": note,
            "log_index": index,
        }))
    }
}
