//! The gate's decisions and the exception ledger's operations: each checks
//! the rules of the `compliance` crate under the project's lock, stages its
//! records for the log and answers with the API's JSON body once they are
//! durable (see `spec/compliance.md` and `spec/http-api.md`).

use compliance::ledger::{self, Exception, NewException, SignalKind, Status};
use compliance::principal::Role;
use compliance::principal::{Access, KeyRecord};
use compliance::record::{
    BlockedRun, CLASSIFIED_BY_CI, CLASSIFIED_BY_SERVER, ExceptionActivated, ExceptionRequested,
    ExceptionRevoked, ExceptionSignal, GateDecision, Record, RecordBody, RecordKind, canonical,
    sha256_digest,
};
use compliance::signals;
use compliance::time::{format_date, format_time};
use compliance::verdict::{self, Artifact, Changes, Classified, DecisionInput};
use serde::Deserialize;
use serde_json::{Value, json};
use tlog::Hash;

use super::{Compliance, Project, ProjectState, invalid, settle_all};
use crate::keys::random_id;
use crate::log::Log;
use crate::storage::RecordStore;
use crate::{Error, Result};

impl Compliance {
    /// Adds `checkpoint`, `tree_size` and `inclusion_proof` (waiting for the
    /// first checkpoint that covers `index`).
    async fn add_proof(&self, index: u64, v: &mut Value) -> Result<()> {
        let (cp, proof) = match self.log.inclusion_at_checkpoint(index).await {
            Ok(found) => found,
            // Recorded, but no witnessed checkpoint covers it yet: the
            // answer says so instead of failing a write that happened.
            Err(Error::NotWitnessed) => {
                v["proof_pending"] = json!(Error::NotWitnessed.to_string());
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        v["checkpoint"] = json!(cp.note);
        v["tree_size"] = json!(cp.tree_size);
        v["inclusion_proof"] = json!(proof.iter().map(Hash::to_base64).collect::<Vec<_>>());
        Ok(())
    }

    /// A gate decision (role `ci`): the verdict of the findings (CI's, or
    /// the gate engine's on the two documents CI sent) against the ledger
    /// now, recorded; with `wait`, also its inclusion proof.
    ///
    /// # Errors
    /// Refusals of the rules; documents that are not OpenAPI 3.x; pushback;
    /// storage failures.
    pub async fn decide(
        &self,
        caller: &KeyRecord,
        project: &str,
        mut d: DecisionInput,
        wait: bool,
    ) -> Result<Value> {
        let p = self.project_for(caller, project, Access::Decide).await?;
        verdict::validate(&d)?;
        let from_ci = match d.changes()? {
            Changes::Findings(f) => Some(f.to_vec()),
            Changes::Specs { .. } => None,
        };
        let (findings, classifier) = match from_ci {
            Some(f) => (f, None),
            None => {
                // Moved, not copied: the documents are most of the request's
                // memory (the intake's reservation counts them once).
                let specs = (
                    d.base_spec.take().unwrap_or_default(),
                    d.revision_spec.take().unwrap_or_default(),
                );
                let c = self.classify(&p, project, &d, specs).await?;
                (c.findings, Some(c.classifier))
            }
        };
        let mut artifacts = d.artifacts.clone();
        if let Some(c) = &classifier {
            for (role, spec) in [("base", &c.base), ("revision", &c.revision)] {
                artifacts.push(Artifact {
                    name: format!("{role}/{}", spec.name),
                    sha256: spec.sha256.clone(),
                });
            }
        }
        let run_id = random_id("run");
        let staged = self
            .under_lock(&p, |ps, now| {
                let v = verdict::evaluate(&findings, ps.exceptions.values(), now);
                let body = RecordBody::GateDecision(GateDecision {
                    submitted_by: caller.id.clone(),
                    submitted_by_name: caller.name.clone(),
                    commit_sha: d.commit_sha.clone(),
                    branch: d.branch.clone(),
                    author: d.author.clone(),
                    findings: findings.clone(),
                    artifacts,
                    verdict: v.verdict.to_owned(),
                    blocked: v.blocked,
                    blocked_reasons: v.blocked_reasons,
                    exceptions_applied: v.exceptions_applied,
                    classified_by: if classifier.is_some() {
                        CLASSIFIED_BY_SERVER
                    } else {
                        CLASSIFIED_BY_CI
                    }
                    .to_owned(),
                    classifier: classifier.map(Box::new),
                    summary: d.summary.clone(),
                });
                self.stage(ps, run_id.clone(), body, now)
            })
            .await?;
        let (record, index, leaf) = staged.wait().await?;
        let RecordBody::GateDecision(decision) = &record.body else {
            return Err(Error::Corrupt("a decision staged as another record".into()));
        };
        let mut out = json!({
            "run_id": run_id,
            "time": record.time,
            "verdict": decision.verdict,
            "blocked": decision.blocked,
            "blocked_reasons": decision.blocked_reasons,
            "exceptions_applied": decision.exceptions_applied,
            "classified_by": decision.classified_by,
            "findings": decision.findings,
            "log_index": index,
            "leaf_hash": leaf.to_base64(),
        });
        if let Some(c) = &decision.classifier {
            out["classifier"] = json!(c);
        }
        if wait {
            self.add_proof(index, &mut out).await?;
        }
        Ok(out)
    }

    /// Classifies the two documents of `d` with the project's rule
    /// configuration, off the async workers and a few at a time (it is CPU
    /// work that grows with the documents), and keeps both documents.
    async fn classify(
        &self,
        p: &Project,
        project: &str,
        d: &DecisionInput,
        (base_spec, revision_spec): (String, String),
    ) -> Result<Classified> {
        let config = p.lock().await.settings().gate.clone();
        let today = format_date(self.today());
        let name =
            |n: &Option<String>, default: &str| n.clone().unwrap_or_else(|| default.to_owned());
        let base = (name(&d.base_name, "base.yaml"), base_spec);
        let revision = (name(&d.revision_name, "revision.yaml"), revision_spec);
        let _slot = self
            .classify_slots
            .acquire()
            .await
            .map_err(|_| Error::Stopped)?;
        let (records, project) = (self.records.clone(), project.to_owned());
        super::blocking(move || {
            let c = verdict::classify(
                (&base.0, &base.1),
                (&revision.0, &revision.1),
                &config,
                &today,
            )?;
            records.put_spec(&project, &c.classifier.base.sha256, base.1.as_bytes())?;
            records.put_spec(
                &project,
                &c.classifier.revision.sha256,
                revision.1.as_bytes(),
            )?;
            Ok(c)
        })
        .await
    }

    /// An OpenAPI document a decision of the project was classified from,
    /// by its SHA-256 (any role of the project).
    ///
    /// # Errors
    /// [`Error::NotFound`]; access refusals; storage failures.
    pub async fn spec(&self, caller: &KeyRecord, project: &str, sha256: &str) -> Result<Vec<u8>> {
        self.project_for(caller, project, Access::Read).await?;
        let not_found = || {
            Error::NotFound(format!(
                "no document with SHA-256 {sha256:?} in project {project:?}"
            ))
        };
        if sha256.len() != 64
            || !sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(not_found());
        }
        let (records, project_id, sha) =
            (self.records.clone(), project.to_owned(), sha256.to_owned());
        super::blocking(move || records.spec(&project_id, &sha))
            .await?
            .ok_or_else(not_found)
    }

    /// A decision's record, envelope, log index, inclusion proof and checkpoint.
    ///
    /// # Errors
    /// [`Error::NotFound`]; access refusals; storage failures.
    pub async fn decision(&self, caller: &KeyRecord, project: &str, run_id: &str) -> Result<Value> {
        self.project_for(caller, project, Access::Read).await?;
        let not_found =
            || Error::NotFound(format!("no decision {run_id:?} in project {project:?}"));
        let seq = self
            .records
            .seq_of(project, run_id)?
            .ok_or_else(not_found)?;
        let (record, envelope, index, leaf) = self.stored(project, seq)?;
        if record["type"] != RecordKind::GateDecision.as_str() {
            return Err(not_found());
        }
        let mut out = json!({
            "record": record,
            "envelope": envelope,
            "log_index": index,
            "leaf_hash": leaf.to_base64(),
        });
        self.add_proof(index, &mut out).await?;
        Ok(out)
    }

    /// Files an exception (a codeowner): `ANERGIC` until a second signal.
    ///
    /// # Errors
    /// Refusals of the rules; pushback; storage failures.
    pub async fn file_exception(
        &self,
        caller: &KeyRecord,
        project: &str,
        req: NewException,
    ) -> Result<Value> {
        let p = self.project_for(caller, project, Access::Ledger).await?;
        // A decision never changes: read before taking the lock (one record).
        let run = match req.run_id.as_deref() {
            Some(run_id) => Some(self.blocked_run(project, run_id)?),
            None => None,
        };
        let id = random_id("exc");
        // The caller's identities, for the deny-list (one point read).
        let profile = self
            .records
            .profile(project, &caller.id)?
            .unwrap_or_default();
        let staged = self
            .under_lock(&p, |ps, now| {
                compliance::people::check_not_bot(ps.settings(), caller, &profile)?;
                let filing = ledger::check_filing(
                    ps.settings(),
                    caller,
                    &req,
                    run.as_ref().map(|(r, d)| (r, d)),
                    now,
                )?;
                let body = RecordBody::ExceptionRequested(ExceptionRequested {
                    requested_by: caller.id.clone(),
                    requested_by_name: caller.name.clone(),
                    kind: filing.kind,
                    endpoint: filing.endpoint,
                    reason: req.reason.clone(),
                    expires_at: format_time(filing.expires_at),
                    repository: filing.pull_request.as_ref().map(|(r, _)| r.clone()),
                    pull_request: filing.pull_request.as_ref().map(|(_, n)| *n),
                    blocked_run: Some(filing.blocked_run),
                });
                let staged = self.stage(ps, id.clone(), body, now)?;
                if let Some(e) = Exception::from_requested(&staged.record) {
                    ps.exceptions.insert(id.clone(), e);
                }
                Ok(staged)
            })
            .await?;
        let (record, index, leaf) = staged.wait().await?;
        let RecordBody::ExceptionRequested(filed) = &record.body else {
            return Err(Error::Corrupt("a filing staged as another record".into()));
        };
        Ok(json!({
            "exception_id": id,
            "status": Status::Anergic,
            "kind": filed.kind,
            "endpoint": filed.endpoint,
            "reason": filed.reason,
            "requested_by": filed.requested_by,
            "created_at": record.time,
            "expires_at": filed.expires_at,
            "repository": filed.repository,
            "pull_request": filed.pull_request,
            "blocked_run": filed.blocked_run,
            "log_index": index,
            "leaf_hash": leaf.to_base64(),
        }))
    }

    /// The gate decision `run_id` of the project, as an exception names it:
    /// what identifies the record (ID, seq, digest, commit) and the decision.
    ///
    /// # Errors
    /// A refusal (400) when the project has no such decision.
    fn blocked_run(&self, project: &str, run_id: &str) -> Result<(BlockedRun, GateDecision)> {
        let unknown = || {
            invalid(format!(
                "run_id {run_id:?} names no gate decision of this project"
            ))
        };
        let seq = self.records.seq_of(project, run_id)?.ok_or_else(unknown)?;
        let (value, _, _, _) = self.stored(project, seq)?;
        if value["type"] != RecordKind::GateDecision.as_str() {
            return Err(unknown());
        }
        let record = Record::from_slice(&canonical(&value)?)?;
        let RecordBody::GateDecision(decision) = record.body else {
            return Err(unknown());
        };
        let run = BlockedRun {
            run_id: record.id,
            seq: record.seq,
            digest: sha256_digest(&canonical(&value)?),
            commit_sha: decision.commit_sha.clone(),
        };
        Ok((run, decision))
    }

    /// The pull request a `github_review` or `consumer_test` signal of `exc`
    /// is read from: the exception's, of the project's connected
    /// repository, holding the blocked run's commit. Returns it with its
    /// head, its author's GitHub id and its commits from the run's on.
    /// Nothing is asked of GitHub about a repository the project is not
    /// connected to, and the refusal is the same whatever it names.
    async fn bound_pull(
        &self,
        exc: &Exception,
        settings: &ledger::ProjectSettings,
        kind: SignalKind,
    ) -> Result<BoundPull> {
        let run = exc.blocked_run.clone().ok_or_else(|| {
            invalid(format!(
                "exception {} was filed without naming its blocked run; a {} signal needs an exception filed with run_id",
                exc.id,
                kind.as_str()
            ))
        })?;
        let connected = settings.github.as_ref().ok_or_else(|| {
            invalid(format!(
                "this project is not connected to a GitHub repository; a {} signal of an exception with a pull request needs the project's GitHub connection",
                kind.as_str()
            ))
        })?;
        let (repository, number) = exc
            .pull_request
            .clone()
            .filter(|(r, _)| r.eq_ignore_ascii_case(&connected.repository))
            .ok_or_else(|| {
                invalid(format!(
                    "exception {} names no pull request of the project's connected GitHub repository",
                    exc.id
                ))
            })?;
        let (owner, name) = connected
            .repository
            .split_once('/')
            .ok_or_else(|| invalid("the connected repository is not owner/name"))?;
        let (head, author_id) = self.github.pull(owner, name, number).await?;
        let commits = self.github.commits(owner, name, number).await?;
        let since = signals::commits_since(
            &commits,
            &head,
            &run,
            &format!("pull request {number} of {repository}"),
        )?
        .to_vec();
        Ok(BoundPull {
            owner: owner.to_owned(),
            name: name.to_owned(),
            repository,
            number,
            head,
            author_id,
            since,
            run,
        })
    }

    /// The `github_review` signal of `exc`: reads the pull request the
    /// exception names (on the project's connection), its commits and
    /// reviews from GitHub, and returns the approving principal and the
    /// evidence (see [`ledger::github_approval`] for what counts).
    async fn github_approver(
        &self,
        project: &str,
        exc: &Exception,
        settings: &ledger::ProjectSettings,
    ) -> Result<(KeyRecord, Value)> {
        if exc.pull_request.is_none() {
            return Err(invalid(format!(
                "exception {} names no pull request; a github_review signal needs an exception filed with pull_request",
                exc.id
            )));
        }
        let pr = self
            .bound_pull(exc, settings, SignalKind::GithubReview)
            .await?;
        let reviews = self.github.reviews(&pr.owner, &pr.name, pr.number).await?;
        let members = {
            let (records, keys, project) =
                (self.records.clone(), self.keys.clone(), project.to_owned());
            super::blocking(move || super::principals(&*records, &*keys, &project)).await?
        };
        // The requester's GitHub ID: the one recorded with the principal
        // (spec/compliance.md §2.5), else GitHub's answer for its login.
        let requester = members.iter().find(|m| m.key.id == exc.requested_by);
        let requester_id = match requester.map(|m| (m.profile.github_id, &m.profile.github_login)) {
            Some((Some(id), _)) => Some(id),
            Some((None, Some(login))) => self.github.user_id(login).await?,
            _ => None,
        };
        let reviewers: Vec<ledger::Reviewer<'_>> = members
            .iter()
            .filter_map(|p| {
                p.profile
                    .github_login
                    .as_deref()
                    .map(|login| ledger::Reviewer { login, key: &p.key })
            })
            .collect();
        let facts = ledger::PullFacts {
            head_sha: pr.head.clone(),
            author_id: pr.author_id,
            requester_id,
        };
        let (review, key) = ledger::github_approval(settings, exc, &reviews, &facts, &reviewers)?;
        let evidence = json!({
            "repository": pr.repository,
            "pull_request": pr.number,
            "review_id": review.id,
            "reviewer_login": review.login,
            "reviewer_id": review.user_id,
            "review_state": review.state,
            "review_commit": review.commit_id,
            "review_submitted_at": review.submitted_at.map(format_time),
            "head_commit": pr.head,
            "pr_author_id": pr.author_id,
            "run_id": pr.run.run_id,
            "run_commit": pr.run.commit_sha,
            "commits": pr.since,
        });
        Ok((key, evidence))
    }

    /// A second signal: activates the exception when the rules allow it.
    ///
    /// # Errors
    /// Refusals of the rules; GitHub failures; pushback; storage failures.
    pub async fn signal(
        &self,
        caller: &KeyRecord,
        project: &str,
        exc_id: &str,
        req: SignalRequest,
    ) -> Result<Value> {
        let p = self.project_for(caller, project, Access::Ledger).await?;
        let (kind, mut evidence) = match &req {
            SignalRequest::CodeownerApproval { comment } => {
                ledger::check_text("comment", comment, ledger::MAX_TEXT, true)?;
                (SignalKind::CodeownerApproval, json!({"comment": comment}))
            }
            SignalRequest::ConsumerTest {
                test_name,
                run_url,
                commit_sha,
                kind,
                endpoint,
            } => {
                ledger::check_text("test_name", test_name, 500, false)?;
                if !valid_url(run_url) {
                    return Err(invalid("run_url must be an http(s) URL"));
                }
                verdict::check_commit_sha(commit_sha)?;
                ledger::check_text("kind", kind, 200, false)?;
                compliance::endpoint::Endpoint::parse(endpoint)?;
                (
                    SignalKind::ConsumerTest,
                    json!({"test_name": test_name, "run_url": run_url, "commit_sha": commit_sha,
                           "kind": kind, "endpoint": endpoint}),
                )
            }
            SignalRequest::GithubReview { .. } => (SignalKind::GithubReview, Value::Null),
        };
        // The GitHub checks are I/O: done before taking the lock, against a
        // snapshot; the rules are checked again under the lock.
        let mut approver = caller.clone();
        if let SignalRequest::ConsumerTest {
            commit_sha,
            kind: tested_kind,
            endpoint,
            ..
        } = &req
        {
            let (exc, settings) = {
                let ps = p.lock().await;
                (
                    exception_of(&ps, exc_id, project)?.clone(),
                    ps.settings().clone(),
                )
            };
            // Refuse early what the rules would refuse anyway (no GitHub call).
            ledger::check_submitter(&settings, kind, caller)?;
            ledger::check_open(&exc, self.now())?;
            ledger::check_consumer_test(&exc, tested_kind, endpoint)?;
            let Some(run) = &exc.blocked_run else {
                return Err(invalid(format!(
                    "exception {} was filed without naming its blocked run; a consumer_test signal needs an exception filed with run_id",
                    exc.id
                )));
            };
            evidence["run_id"] = json!(run.run_id);
            evidence["run_commit"] = json!(run.commit_sha);
            if exc.pull_request.is_some() {
                let pr = self.bound_pull(&exc, &settings, kind).await?;
                if !pr.since.iter().any(|c| signals::same_commit(c, commit_sha)) {
                    return Err(super::forbidden(format!(
                        "the consumer test ran on commit {commit_sha}, which is not a commit of pull request {} of {} at or after the blocked run's commit {}",
                        pr.number, pr.repository, run.commit_sha
                    )));
                }
                evidence["repository"] = json!(pr.repository);
                evidence["pull_request"] = json!(pr.number);
                evidence["commits"] = json!(pr.since);
            }
        }
        if let SignalRequest::GithubReview {
            repository,
            pull_request,
        } = &req
        {
            let (exc, settings) = {
                let ps = p.lock().await;
                (
                    exception_of(&ps, exc_id, project)?.clone(),
                    ps.settings().clone(),
                )
            };
            // Refuse early what the rules would refuse anyway (no GitHub call).
            ledger::check_submitter(&settings, kind, caller)?;
            ledger::check_open(&exc, self.now())?;
            // A body may name the pull request; it must be the exception's.
            if repository.is_some() || pull_request.is_some() {
                let named = repository.clone().zip(*pull_request);
                if named.is_none() || named != exc.pull_request {
                    return Err(invalid(format!(
                        "exception {} is for {}; a github_review signal is read from that pull request",
                        exc.id,
                        exc.pull_request
                            .as_ref()
                            .map_or("no pull request".to_owned(), |(r, n)| format!(
                                "{r} pull request {n}"
                            ))
                    )));
                }
            }
            let (who, ev) = self.github_approver(project, &exc, &settings).await?;
            approver = who;
            evidence = ev;
        }
        // The identities of the caller and the approver (point reads): the
        // deny-list matches GitHub IDs, and the approver may not be the
        // requester by identity either (spec/compliance.md §2.5).
        let caller_profile = self
            .records
            .profile(project, &caller.id)?
            .unwrap_or_default();
        let approver_profile = self
            .records
            .profile(project, &approver.id)?
            .unwrap_or_default();
        let staged = self
            .under_lock(&p, |ps, now| {
                let exc = exception_of(ps, exc_id, project)?.clone();
                ledger::check_signal(ps.settings(), &exc, kind, caller, &approver, now)?;
                compliance::people::check_not_bot(ps.settings(), caller, &caller_profile)?;
                let requester_profile = self
                    .records
                    .profile(project, &exc.requested_by)?
                    .unwrap_or_default();
                compliance::people::check_approver(
                    ps.settings(),
                    &approver,
                    &approver_profile,
                    &compliance::principal::Person {
                        id: &exc.requested_by,
                        name: &exc.requested_by_name,
                        profile: &requester_profile,
                    },
                )?;
                if let SignalRequest::ConsumerTest { kind, endpoint, .. } = &req {
                    ledger::check_consumer_test(&exc, kind, endpoint)?;
                }
                let signal_id = random_id("evt");
                let signal = ExceptionSignal {
                    exception_id: exc.id.clone(),
                    signal: kind,
                    submitted_by: caller.id.clone(),
                    submitted_by_name: caller.name.clone(),
                    approver: approver.id.clone(),
                    approver_name: approver.name.clone(),
                    evidence: evidence.clone(),
                };
                // What is recorded is what a verifier checks, offline.
                signals::check_binding(&exc.bound(), &signal, |id| {
                    (id == caller.id).then(|| caller.roles.contains(&Role::Consumer))
                })
                .map_err(|e| super::forbidden(e.to_string()))?;
                let signal = RecordBody::ExceptionSignal(signal);
                let activation = RecordBody::ExceptionActivated(ExceptionActivated {
                    exception_id: exc.id.clone(),
                    signal_id: signal_id.clone(),
                    approver: approver.id.clone(),
                    approval_latency_ms: exc.approval_latency_ms(now),
                });
                // Both or neither: a signal is never logged without the
                // activation it causes.
                let staged = self.stage_all(
                    ps,
                    vec![(signal_id, signal), (random_id("evt"), activation)],
                    now,
                )?;
                if let Some(e) = ps.exceptions.get_mut(&exc.id) {
                    e.activated_at = Some(now);
                }
                Ok(staged)
            })
            .await?;
        let done = settle_all(staged).await?;
        let [(signal, signal_index, _), (activation, activation_index, _)] = &done[..] else {
            return Err(Error::Corrupt(
                "a signal staged without its activation".into(),
            ));
        };
        let (RecordBody::ExceptionSignal(sig), RecordBody::ExceptionActivated(act)) =
            (&signal.body, &activation.body)
        else {
            return Err(Error::Corrupt("a signal staged as another record".into()));
        };
        Ok(json!({
            "exception_id": exc_id,
            "status": Status::Active,
            "signal_id": signal.id,
            "signal": sig.signal,
            "approver": sig.approver,
            "activated_at": activation.time,
            "approval_latency_ms": act.approval_latency_ms,
            "log_indexes": [signal_index, activation_index],
        }))
    }

    /// Revokes an exception (a codeowner, with a reason).
    ///
    /// # Errors
    /// Refusals of the rules; pushback; storage failures.
    pub async fn revoke(
        &self,
        caller: &KeyRecord,
        project: &str,
        exc_id: &str,
        reason: &str,
    ) -> Result<Value> {
        let p = self.project_for(caller, project, Access::Ledger).await?;
        let staged = self
            .under_lock(&p, |ps, now| {
                let exc = exception_of(ps, exc_id, project)?;
                ledger::check_revoke(ps.settings(), exc, caller, reason, now)?;
                let body = RecordBody::ExceptionRevoked(ExceptionRevoked {
                    exception_id: exc_id.to_owned(),
                    revoked_by: caller.id.clone(),
                    revoked_by_name: caller.name.clone(),
                    reason: reason.to_owned(),
                });
                let staged = self.stage(ps, random_id("evt"), body, now)?;
                if let Some(e) = ps.exceptions.get_mut(exc_id) {
                    e.revoked_at = Some(now);
                }
                Ok(staged)
            })
            .await?;
        let (record, index, leaf) = staged.wait().await?;
        Ok(json!({
            "exception_id": exc_id,
            "status": Status::Revoked,
            "revoked_at": record.time,
            "reason": reason,
            "log_index": index,
            "leaf_hash": leaf.to_base64(),
        }))
    }

    /// A page of the project's exceptions, of one status or all, newest
    /// filed first: at most `limit`, after exception `after` (the previous
    /// page's `next`). Only the page's exceptions are read from storage.
    ///
    /// # Errors
    /// Access refusals; an unknown `after` (400); storage failures.
    pub async fn exceptions(
        &self,
        caller: &KeyRecord,
        project: &str,
        status: Option<Status>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Value> {
        let p = self.project_for(caller, project, Access::Read).await?;
        let (now, mut exceptions) = self
            .under_lock(&p, |ps, now| {
                let list: Vec<Exception> = ps
                    .exceptions
                    .values()
                    .filter(|e| status.is_none_or(|w| e.status_at(now) == w))
                    .cloned()
                    .collect();
                Ok((now, list))
            })
            .await?;
        exceptions.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        let page = super::cockpit::page_after(exceptions, |e| e.id.as_str(), after, limit)?;
        // Reads that grow with the page: off the async workers.
        let (records, log, id) = (self.records.clone(), self.log.clone(), project.to_owned());
        super::blocking(move || {
            let list = page
                .items
                .iter()
                .map(|e| exception_view(&*records, &log, &id, e, now, false))
                .collect::<Result<Vec<_>>>()?;
            Ok(json!({ "exceptions": list, "next": page.next }))
        })
        .await
    }

    /// One exception: its state and every event with its log index.
    ///
    /// # Errors
    /// [`Error::NotFound`]; access refusals; storage failures.
    pub async fn exception(
        &self,
        caller: &KeyRecord,
        project: &str,
        exc_id: &str,
    ) -> Result<Value> {
        let p = self.project_for(caller, project, Access::Read).await?;
        let (now, exc) = self
            .under_lock(&p, |ps, now| {
                Ok((now, exception_of(ps, exc_id, project)?.clone()))
            })
            .await?;
        exception_view(&*self.records, &self.log, project, &exc, now, true)
    }
}

/// An exception's current view and, with `events`, every event with
/// its log index.
fn exception_view(
    records: &dyn RecordStore,
    log: &Log,
    project: &str,
    e: &Exception,
    now: i64,
    events: bool,
) -> Result<Value> {
    let seqs = records.exception_seqs(project, &e.id)?;
    let mut list = Vec::new();
    let mut requested = Value::Null;
    for seq in seqs {
        let (record, envelope, index, leaf) = super::stored(records, log, project, seq)?;
        if record["type"] == RecordKind::ExceptionRequested.as_str() {
            requested = record.clone();
        }
        if events {
            list.push(json!({
                "type": record["type"],
                "id": record["id"],
                "time": record["time"],
                "log_index": index,
                "leaf_hash": leaf.to_base64(),
                "envelope": envelope,
                "record": record,
            }));
        }
    }
    let mut v = json!({
        "exception_id": e.id,
        "status": e.status_at(now),
        "kind": e.kind,
        "endpoint": e.endpoint,
        "reason": requested["reason"],
        "requested_by": e.requested_by,
        "created_at": format_time(e.created_at),
        "expires_at": format_time(e.expires_at),
        "activated_at": e.activated_at.map(format_time),
        "approval_latency_ms": e.activated_at.map(|t| e.approval_latency_ms(t)),
        "revoked_at": e.revoked_at.map(format_time),
        "repository": e.pull_request.as_ref().map(|(r, _)| r),
        "pull_request": e.pull_request.as_ref().map(|(_, n)| n),
    });
    if events {
        v["events"] = json!(list);
    }
    Ok(v)
}

fn exception_of<'a>(ps: &'a ProjectState, id: &str, project: &str) -> Result<&'a Exception> {
    ps.exceptions
        .get(id)
        .ok_or_else(|| Error::NotFound(format!("no exception {id:?} in project {project:?}")))
}

/// A pull request an exception's signal is read from, bound to its
/// blocked run (see `Compliance::bound_pull`).
struct BoundPull {
    owner: String,
    name: String,
    repository: String,
    number: u64,
    head: String,
    author_id: u64,
    since: Vec<String>,
    run: BlockedRun,
}

/// Body of `POST .../exceptions/{exceptionId}/signals`.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SignalRequest {
    /// A second codeowner approves (the caller).
    CodeownerApproval {
        /// Optional comment.
        #[serde(default)]
        comment: String,
    },
    /// CI reports that a consumer test of the changed endpoint passed.
    ConsumerTest {
        /// The test's name.
        test_name: String,
        /// URL of the CI run.
        run_url: String,
        /// The commit the test ran on.
        commit_sha: String,
        /// The change kind the test validates: the exception's.
        kind: String,
        /// The endpoint the test validates: the exception's.
        endpoint: String,
    },
    /// A codeowner approved, on GitHub, the pull request the exception
    /// names.
    GithubReview {
        /// `owner/name`; if given, the exception's.
        #[serde(default)]
        repository: Option<String>,
        /// Pull request number; if given, the exception's.
        #[serde(default)]
        pull_request: Option<u64>,
    },
}

fn valid_url(u: &str) -> bool {
    (u.starts_with("https://") || u.starts_with("http://"))
        && u.len() <= 2_000
        && !u.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Body of `POST .../exceptions/{exceptionId}/revoke`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// Why.
    pub reason: String,
}
