//! Projects and their principals: the admin API (`/v1/admin/projects...`,
//! log admin keys only), the project rows, and the `stateanchor-log
//! project` commands that call the API.
//!
//! A principal is an API key bound to one project, with project roles
//! (`ci`, `codeowner`, `auditor`, `admin`), a bot flag and, for GitHub
//! review signals, a GitHub login. Project IDs are random and opaque: they
//! are public in every envelope, names never are.

use std::time::Duration;

use anyhow::Result;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::{AppState, Caller, json_body};
use crate::compliance::format::PrincipalSummary;
use crate::compliance::no_project;
use crate::error::ApiError;
use crate::keys::{self, KeyRecord, Role};
use crate::ledger::{ProjectSettings, check_text};
use crate::storage::{CF_RECORDS, Store};

/// Longest maximum exception lifetime a project may set: one year.
pub const MAX_LIFETIME_LIMIT_SECONDS: u64 = 365 * 86_400;

/// A project.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRow {
    /// Opaque ID (`prj_...`).
    pub id: String,
    /// Name (private: never in the log).
    pub name: String,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Settings.
    pub settings: ProjectSettings,
}

/// A principal's profile beside its key record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// GitHub login, for `github_review` signals.
    #[serde(default)]
    pub github_login: Option<String>,
}

/// A principal: its key record and profile.
#[derive(Clone, Debug)]
pub struct Principal {
    /// The key record (roles, bot flag, revocation).
    pub key: KeyRecord,
    /// The profile.
    pub profile: Profile,
}

fn project_key(id: &str) -> Vec<u8> {
    let mut k = vec![b'P'];
    k.extend_from_slice(id.as_bytes());
    k
}

fn profile_key(project: &str, principal: &str) -> Vec<u8> {
    format!("U{project}/{principal}").into_bytes()
}

/// Reads a project row.
///
/// # Errors
/// Storage errors and corrupt rows.
pub fn load_project(store: &Store, id: &str) -> Result<Option<ProjectRow>> {
    store
        .get(CF_RECORDS, &project_key(id))?
        .map(|v| Ok(serde_json::from_slice(&v)?))
        .transpose()
}

/// Writes a project row (fsync'd).
///
/// # Errors
/// Storage errors.
pub fn save_project(store: &Store, row: &ProjectRow) -> Result<()> {
    store.put_synced(CF_RECORDS, &project_key(&row.id), &serde_json::to_vec(row)?)
}

/// Every principal of a project, revoked ones included, oldest first.
///
/// # Errors
/// Storage errors.
pub fn principals(store: &Store, project: &str) -> Result<Vec<Principal>> {
    let mut out = Vec::new();
    for key in keys::list_keys(store)? {
        if key.project.as_deref() != Some(project) {
            continue;
        }
        let profile = store
            .get(CF_RECORDS, &profile_key(project, &key.id))?
            .map(|v| serde_json::from_slice(&v))
            .transpose()?
            .unwrap_or_default();
        out.push(Principal { key, profile });
    }
    out.sort_by(|a, b| (&a.key.created_at, &a.key.id).cmp(&(&b.key.created_at, &b.key.id)));
    Ok(out)
}

fn role_name(r: Role) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A principal as listed in exports and by the admin API.
pub fn summary(p: &Principal, settings: &ProjectSettings) -> PrincipalSummary {
    PrincipalSummary {
        id: p.key.id.clone(),
        name: p.key.name.clone(),
        roles: p.key.roles.iter().copied().map(role_name).collect(),
        bot: settings.is_bot(&p.key),
        github_login: p.profile.github_login.clone(),
        created_at: p.key.created_at.clone(),
        revoked_at: p.key.revoked_at.clone(),
    }
}

/// Every principal of a project as listed in exports and by the admin API.
///
/// # Errors
/// Storage errors.
pub fn summaries(
    store: &Store,
    project: &str,
    settings: &ProjectSettings,
) -> Result<Vec<PrincipalSummary>> {
    Ok(principals(store, project)?
        .iter()
        .map(|p| summary(p, settings))
        .collect())
}

/// Fails with 403 unless the caller is a log admin (not a project principal).
///
/// # Errors
/// 403.
pub fn require_log_admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.0.project.is_none() && caller.0.has(Role::Admin) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "project administration needs a log admin key".into(),
        ))
    }
}

/// Body of `POST /v1/admin/projects`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    name: String,
    #[serde(default)]
    bot_deny_list: Option<Vec<String>>,
    #[serde(default)]
    max_exception_lifetime_seconds: Option<u64>,
}

/// Body of `PATCH /v1/admin/projects/{id}/settings`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    #[serde(default)]
    bot_deny_list: Option<Vec<String>>,
    #[serde(default)]
    max_exception_lifetime_seconds: Option<u64>,
}

fn apply_patch(
    settings: &mut ProjectSettings,
    deny: Option<Vec<String>>,
    lifetime: Option<u64>,
) -> Result<(), ApiError> {
    if let Some(secs) = lifetime {
        if !(1..=MAX_LIFETIME_LIMIT_SECONDS).contains(&secs) {
            return Err(ApiError::bad(format!(
                "max_exception_lifetime_seconds must be 1 to {MAX_LIFETIME_LIMIT_SECONDS} (365 days)"
            )));
        }
        settings.max_exception_lifetime_seconds = secs;
    }
    if let Some(mut deny) = deny {
        for d in &deny {
            check_text("bot_deny_list entry", d, 200, false)?;
        }
        deny.sort();
        deny.dedup();
        settings.bot_deny_list = deny;
    }
    Ok(())
}

fn project_json(row: &ProjectRow) -> serde_json::Value {
    json!({
        "project_id": row.id,
        "name": row.name,
        "created_at": row.created_at,
        "settings": row.settings,
    })
}

/// `POST /v1/admin/projects` `{"name"[, "bot_deny_list", "max_exception_lifetime_seconds"]}`
pub async fn create_project(
    State(s): State<AppState>,
    caller: Caller,
    body: Result<Json<NewProject>, JsonRejection>,
) -> Result<Response, ApiError> {
    require_log_admin(&caller)?;
    let req = json_body(body)?;
    check_text("name", &req.name, 200, false)?;
    let mut settings = ProjectSettings::default();
    apply_patch(
        &mut settings,
        req.bot_deny_list,
        req.max_exception_lifetime_seconds,
    )?;
    let row = ProjectRow {
        id: keys::random_id("prj"),
        name: req.name,
        created_at: keys::now_rfc3339(),
        settings,
    };
    save_project(&s.log.store, &row)?;
    Ok((StatusCode::CREATED, Json(project_json(&row))).into_response())
}

/// `GET /v1/admin/projects`
pub async fn list_projects(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    require_log_admin(&caller)?;
    let rows: Vec<serde_json::Value> = s
        .log
        .store
        .scan_prefix(CF_RECORDS, b"P")?
        .into_iter()
        .filter_map(|(_, v)| serde_json::from_slice::<ProjectRow>(&v).ok())
        .map(|r| project_json(&r))
        .collect();
    Ok(Json(json!({"projects": rows})).into_response())
}

fn existing(store: &Store, id: &str) -> Result<ProjectRow, ApiError> {
    load_project(store, id)?.ok_or_else(|| no_project(id))
}

/// `GET /v1/admin/projects/{projectId}`: the project and its principals.
pub async fn get_project(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require_log_admin(&caller)?;
    let row = existing(&s.log.store, &id)?;
    let list = summaries(&s.log.store, &id, &row.settings)?;
    let mut v = project_json(&row);
    v["principals"] = json!(list);
    Ok(Json(v).into_response())
}

/// `PATCH /v1/admin/projects/{projectId}/settings`
pub async fn patch_settings(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<SettingsPatch>, JsonRejection>,
) -> Result<Response, ApiError> {
    require_log_admin(&caller)?;
    let req = json_body(body)?;
    existing(&s.log.store, &id)?;
    // Validate first, so that a bad patch changes nothing.
    let mut probe = ProjectSettings::default();
    apply_patch(
        &mut probe,
        req.bot_deny_list.clone(),
        req.max_exception_lifetime_seconds,
    )?;
    let row = s
        .compliance
        .update_settings(&id, |st| {
            let _ = apply_patch(st, req.bot_deny_list, req.max_exception_lifetime_seconds);
        })
        .await?;
    Ok(Json(project_json(&row)).into_response())
}

/// Body of `POST /v1/admin/projects/{projectId}/principals`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPrincipal {
    name: String,
    roles: Vec<Role>,
    #[serde(default)]
    bot: bool,
    #[serde(default)]
    github_login: Option<String>,
}

fn valid_github_login(l: &str) -> bool {
    (1..=39).contains(&l.len())
        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !l.starts_with('-')
}

/// `POST /v1/admin/projects/{projectId}/principals` `{"name", "roles", "bot"[, "github_login"]}`
/// -> `{"principal_id", "api_key", ...}` (the key is shown once).
pub async fn create_principal(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<NewPrincipal>, JsonRejection>,
) -> Result<Response, ApiError> {
    require_log_admin(&caller)?;
    let req = json_body(body)?;
    let row = existing(&s.log.store, &id)?;
    check_text("name", &req.name, 200, false)?;
    let mut roles = req.roles;
    roles.sort();
    roles.dedup();
    if roles.is_empty() {
        return Err(ApiError::bad(
            "roles must name at least one of ci, codeowner, auditor, admin",
        ));
    }
    if roles.contains(&Role::Submitter) {
        return Err(ApiError::bad(
            "project roles are ci, codeowner, auditor and admin; submitter is a log key role",
        ));
    }
    if let Some(l) = &req.github_login {
        if !valid_github_login(l) {
            return Err(ApiError::bad(format!("{l:?} is not a GitHub login")));
        }
        let taken = principals(&s.log.store, &id)?.into_iter().any(|p| {
            p.key.revoked_at.is_none()
                && p.profile
                    .github_login
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(l))
        });
        if taken {
            return Err(ApiError::Conflict(format!(
                "another principal of the project has the GitHub login {l:?}"
            )));
        }
    }
    let (secret, record) = keys::create_key(
        &s.log.store,
        KeyRecord {
            id: String::new(),
            name: req.name,
            roles,
            project: Some(id.clone()),
            bot: req.bot,
            created_at: String::new(),
            revoked_at: None,
        },
    )?;
    let profile = Profile {
        github_login: req.github_login,
    };
    s.log.store.put_synced(
        CF_RECORDS,
        &profile_key(&id, &record.id),
        &serde_json::to_vec(&profile).map_err(anyhow::Error::from)?,
    )?;
    let sum = summary(
        &Principal {
            key: record,
            profile,
        },
        &row.settings,
    );
    let mut v = json!(sum);
    v["principal_id"] = json!(sum.id);
    v["api_key"] = json!(secret);
    v["project_id"] = json!(id);
    Ok((
        StatusCode::CREATED,
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(v),
    )
        .into_response())
}

/// `GET /v1/admin/projects/{projectId}/principals`
pub async fn list_principals(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require_log_admin(&caller)?;
    let row = existing(&s.log.store, &id)?;
    let list = summaries(&s.log.store, &id, &row.settings)?;
    Ok(Json(json!({"principals": list})).into_response())
}

// ---------------------------------------------------------------- CLI

/// `stateanchor-log project ...`: manage projects through the admin API.
#[derive(clap::Subcommand)]
pub enum ProjectCmd {
    /// Create a project; prints its ID.
    ///
    /// Example:
    ///   stateanchor-log project create --name payments-api --max-exception-lifetime 30d
    Create {
        /// The project's name (private; the log shows only its ID).
        #[arg(long)]
        name: String,
        /// Longest exception lifetime (e.g. 30d, 12h) [default: 90d].
        #[arg(long, value_parser = humantime::parse_duration)]
        max_exception_lifetime: Option<Duration>,
        /// Principals (names or IDs) and GitHub logins treated as bots, comma-separated.
        #[arg(long, value_delimiter = ',')]
        bot_deny_list: Option<Vec<String>>,
        #[command(flatten)]
        admin: crate::cli::AdminArgs,
    },
    /// List projects.
    ///
    /// Example:
    ///   stateanchor-log project list
    List {
        #[command(flatten)]
        admin: crate::cli::AdminArgs,
    },
    /// Show a project, its settings and its principals.
    ///
    /// Example:
    ///   stateanchor-log project show prj_AbCdEfGhIjKl
    Show {
        /// Project ID.
        project: String,
        #[command(flatten)]
        admin: crate::cli::AdminArgs,
    },
    /// Change a project's settings.
    ///
    /// Example:
    ///   stateanchor-log project settings prj_AbCdEfGhIjKl --bot-deny-list dependabot,renovate
    Settings {
        /// Project ID.
        project: String,
        /// Longest exception lifetime (e.g. 30d, 12h).
        #[arg(long, value_parser = humantime::parse_duration)]
        max_exception_lifetime: Option<Duration>,
        /// The whole bot deny-list, comma-separated (an empty string clears it).
        #[arg(long, value_delimiter = ',')]
        bot_deny_list: Option<Vec<String>>,
        #[command(flatten)]
        admin: crate::cli::AdminArgs,
    },
    /// Add a principal (an API key bound to the project); prints the key once.
    ///
    /// Example:
    ///   stateanchor-log project add-principal prj_AbCdEfGhIjKl --name alice --role codeowner --github-login alice
    AddPrincipal {
        /// Project ID.
        project: String,
        /// Who holds the key.
        #[arg(long)]
        name: String,
        /// ci, codeowner, auditor or admin (repeat for several).
        #[arg(long = "role", required = true)]
        roles: Vec<Role>,
        /// The holder is a bot: it can neither request nor approve exceptions.
        #[arg(long)]
        bot: bool,
        /// GitHub login, so that this principal's reviews count as `github_review` signals.
        #[arg(long)]
        github_login: Option<String>,
        #[command(flatten)]
        admin: crate::cli::AdminArgs,
    },
}

fn settings_body(lifetime: Option<Duration>, deny: Option<Vec<String>>) -> serde_json::Value {
    let mut v = json!({});
    if let Some(d) = lifetime {
        v["max_exception_lifetime_seconds"] = json!(d.as_secs());
    }
    if let Some(list) = deny {
        let list: Vec<String> = list.into_iter().filter(|s| !s.trim().is_empty()).collect();
        v["bot_deny_list"] = json!(list);
    }
    v
}

fn print_json(v: &serde_json::Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Runs a `project` command.
///
/// # Errors
/// HTTP and server errors.
pub fn run(cmd: ProjectCmd) -> Result<()> {
    use crate::cli::call;
    use reqwest::Method;
    match cmd {
        ProjectCmd::Create {
            name,
            max_exception_lifetime,
            bot_deny_list,
            admin,
        } => {
            let mut body = settings_body(max_exception_lifetime, bot_deny_list);
            body["name"] = json!(name);
            let v = call(&admin, Method::POST, "/v1/admin/projects", Some(body))?;
            println!(
                "project id: {}",
                v["project_id"].as_str().unwrap_or_default()
            );
        }
        ProjectCmd::List { admin } => {
            let v = call(&admin, Method::GET, "/v1/admin/projects", None)?;
            for p in v["projects"].as_array().into_iter().flatten() {
                println!(
                    "{}\t{}\t{}",
                    p["project_id"].as_str().unwrap_or_default(),
                    p["name"].as_str().unwrap_or_default(),
                    p["created_at"].as_str().unwrap_or_default()
                );
            }
        }
        ProjectCmd::Show { project, admin } => {
            print_json(&call(
                &admin,
                Method::GET,
                &format!("/v1/admin/projects/{project}"),
                None,
            )?)?;
        }
        ProjectCmd::Settings {
            project,
            max_exception_lifetime,
            bot_deny_list,
            admin,
        } => {
            let body = settings_body(max_exception_lifetime, bot_deny_list);
            let v = call(
                &admin,
                Method::PATCH,
                &format!("/v1/admin/projects/{project}/settings"),
                Some(body),
            )?;
            print_json(&v["settings"])?;
        }
        ProjectCmd::AddPrincipal {
            project,
            name,
            roles,
            bot,
            github_login,
            admin,
        } => {
            let body =
                json!({"name": name, "roles": roles, "bot": bot, "github_login": github_login});
            let v = call(
                &admin,
                Method::POST,
                &format!("/v1/admin/projects/{project}/principals"),
                Some(body),
            )?;
            println!(
                "principal id: {}",
                v["principal_id"].as_str().unwrap_or_default()
            );
            println!("api key: {}", v["api_key"].as_str().unwrap_or_default());
            eprintln!("stateanchor-log: the API key is shown only once; store it now");
        }
    }
    Ok(())
}
