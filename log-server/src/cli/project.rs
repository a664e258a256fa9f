//! `stateanchor-log project ...`: manage projects through the admin API.

use std::time::Duration;

use anyhow::Result;
use compliance::principal::Role;
use serde_json::json;

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
        #[command(flatten)]
        controls: Controls,
        #[command(flatten)]
        admin: super::AdminArgs,
    },
    /// List projects.
    ///
    /// Example:
    ///   stateanchor-log project list
    List {
        #[command(flatten)]
        admin: super::AdminArgs,
    },
    /// Show a project, its settings and its principals.
    ///
    /// Example:
    ///   stateanchor-log project show prj_AbCdEfGhIjKl
    Show {
        /// Project ID.
        project: String,
        #[command(flatten)]
        admin: super::AdminArgs,
    },
    /// Change a project's settings.
    ///
    /// Example:
    ///   stateanchor-log project settings prj_AbCdEfGhIjKl --bot-deny-list dependabot,renovate --accepted-signals codeowner_approval,consumer_test
    Settings {
        /// Project ID.
        project: String,
        #[command(flatten)]
        controls: Controls,
        #[command(flatten)]
        admin: super::AdminArgs,
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
        admin: super::AdminArgs,
    },
}

/// A project's controls; absent flags leave a setting as it is.
#[derive(clap::Args)]
pub struct Controls {
    /// Longest exception lifetime (e.g. 30d, 12h) [default: 90d].
    #[arg(long, value_parser = humantime::parse_duration)]
    max_exception_lifetime: Option<Duration>,
    /// The whole bot deny-list: principals (names or IDs) and GitHub logins
    /// treated as bots, comma-separated (an empty string clears it).
    #[arg(long, value_delimiter = ',')]
    bot_deny_list: Option<Vec<String>>,
    /// The second signals the project accepts, comma-separated:
    /// codeowner_approval, github_review, consumer_test
    /// [default: codeowner_approval,github_review].
    #[arg(long, value_delimiter = ',')]
    accepted_signals: Option<Vec<String>>,
    /// Connect the project to a GitHub repository (owner/name): its
    /// exceptions then name pull requests of that repository. An empty
    /// string disconnects it.
    #[arg(long)]
    github_repository: Option<String>,
}

fn settings_body(c: &Controls) -> serde_json::Value {
    let mut v = json!({});
    if let Some(d) = c.max_exception_lifetime {
        v["max_exception_lifetime_seconds"] = json!(d.as_secs());
    }
    if let Some(list) = &c.bot_deny_list {
        let list: Vec<&String> = list.iter().filter(|s| !s.trim().is_empty()).collect();
        v["bot_deny_list"] = json!(list);
    }
    if let Some(kinds) = &c.accepted_signals {
        v["accepted_signals"] = json!(kinds);
    }
    if let Some(repo) = &c.github_repository {
        v["github_repository"] = if repo.is_empty() {
            serde_json::Value::Null
        } else {
            json!(repo)
        };
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
    use super::call;
    use reqwest::Method;
    match cmd {
        ProjectCmd::Create {
            name,
            controls,
            admin,
        } => {
            let mut body = settings_body(&controls);
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
            controls,
            admin,
        } => {
            let body = settings_body(&controls);
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
