//! The command line: flags, help with examples, and the commands.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use gate::report::{self, Format};
use gate::{Compat, Config, Date, Limits, Severity, catalogue};

use crate::check;
use crate::input;
use crate::output::emit;

const DIFF_EXAMPLE: &str = "Example:\n  stateanchor-gate diff git:origin/main:openapi.yaml openapi.yaml --format github-actions --fail-on ERR";
const RULES_EXAMPLE: &str =
    "Example:\n  stateanchor-gate rules --format json | jq '.[] | select(.level == \"ERR\")'";
const CHANGELOG_EXAMPLE: &str =
    "Example:\n  stateanchor-gate changelog git:v1.2.0:openapi.yaml openapi.yaml --format markdown";
const CHECK_EXAMPLE: &str = "Exit status: 0 not blocked, 1 blocked (an ERR with no ACTIVE exception), 2 error.\n\nExample (a pull-request job; the key of a `ci` principal in STATEANCHOR_API_KEY):\n  stateanchor-gate check --log https://log.example.com --project prj_AbCdEfGhIjKl \\\n    --base git:origin/main:openapi.yaml --revision openapi.yaml --summary \"Adds paging to GET /users\"";
const MAIN_EXAMPLE: &str = "Exit status: 0 no finding at or above --fail-on, 1 some, 2 error.\n\nExample:\n  stateanchor-gate diff git:origin/main:openapi.yaml openapi.yaml";

/// Classify OpenAPI 3.0/3.1 changes as ERR, WARN or INFO (oasdiff's rule catalogue).
#[derive(Parser, Debug)]
#[command(name = "stateanchor-gate", version, after_help = MAIN_EXAMPLE)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Classify the changes from BASE to REVISION.
    #[command(after_help = DIFF_EXAMPLE)]
    Diff(DiffArgs),
    /// List the rule catalogue with levels and whether the engine covers each rule.
    #[command(after_help = RULES_EXAMPLE)]
    Rules {
        /// Output format.
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
    },
    /// Have a StateAnchor log classify the change, record the decision and
    /// answer with its verdict against the project's exceptions.
    #[command(after_help = CHECK_EXAMPLE)]
    Check(check::CheckArgs),
    /// Print the changes from BASE to REVISION grouped by endpoint.
    #[command(after_help = CHANGELOG_EXAMPLE)]
    Changelog {
        #[command(flatten)]
        common: Common,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ChangelogFormat::Markdown)]
        format: ChangelogFormat,
    },
}

#[derive(clap::Args, Debug)]
struct Common {
    /// The base document: a file, or git:REV:PATH (read with `git show REV:PATH`).
    base: String,
    /// The revised document: a file, or git:REV:PATH.
    revision: String,
    /// A file of severity overrides: one `RULE LEVEL` per line (level: err, warn, info, none).
    #[arg(long, value_name = "FILE")]
    severity_overrides: Option<String>,
    /// One severity override, RULE=LEVEL (repeatable), e.g. request-parameter-removed=err.
    #[arg(long = "override", value_name = "RULE=LEVEL")]
    overrides: Vec<String>,
    /// Minimum days from deprecation to x-sunset for stable endpoints (0: no sunset policy).
    #[arg(long, default_value_t = 0, hide_short_help = true)]
    deprecation_days_stable: u32,
    /// The same for beta endpoints.
    #[arg(long, default_value_t = 0, hide_short_help = true)]
    deprecation_days_beta: u32,
    /// Whose meaning to follow where StateAnchor differs from oasdiff on
    /// purpose: `oasdiff` answers exactly as oasdiff's default would.
    #[arg(long, value_name = "MODE", value_parser = parse_compat)]
    compat: Option<Compat>,
    /// The day to compare x-sunset dates with (YYYY-MM-DD; default: today, UTC).
    #[arg(long, value_name = "DATE", hide_short_help = true)]
    today: Option<String>,
}

#[derive(clap::Args, Debug)]
struct DiffArgs {
    #[command(flatten)]
    common: Common,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    format: DiffFormat,
    /// Exit 1 when a finding is at or above this level.
    #[arg(long, value_name = "LEVEL", default_value = "ERR", value_parser = parse_fail_on)]
    fail_on: Severity,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum DiffFormat {
    Text,
    Json,
    Markdown,
    Junit,
    GithubActions,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum ListFormat {
    Text,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum ChangelogFormat {
    Markdown,
    Json,
}

fn parse_compat(s: &str) -> std::result::Result<Compat, String> {
    Compat::parse(s).ok_or_else(|| "expected oasdiff or stateanchor".to_owned())
}

fn parse_fail_on(s: &str) -> std::result::Result<Severity, String> {
    match Severity::parse(s) {
        Some(Severity::Info) | None => Err("expected ERR or WARN".to_owned()),
        Some(x) => Ok(x),
    }
}

fn today() -> Date {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Date::from_days_since_epoch(i64::try_from(secs / 86_400).unwrap_or(0))
}

fn config(c: &Common) -> Result<Config> {
    let mut config = Config {
        deprecation_days_stable: c.deprecation_days_stable,
        deprecation_days_beta: c.deprecation_days_beta,
        compat: c.compat.unwrap_or_default(),
        ..Config::default()
    };
    if let Some(f) = &c.severity_overrides {
        config
            .add_override_lines(&input::read_text(f)?)
            .with_context(|| format!("in {f}"))?;
    }
    for o in &c.overrides {
        config.add_override(o)?;
    }
    Ok(config)
}

fn classify(c: &Common) -> Result<gate::Report> {
    let config = config(c)?;
    let today = match &c.today {
        Some(d) => Date::parse(d)?,
        None => today(),
    };
    let limits = Limits::default();
    let base = input::open(&c.base, &limits).context("base document")?;
    let revision = input::open(&c.revision, &limits).context("revision document")?;
    Ok(gate::diff(&base, &revision, &config, today))
}

/// Runs the command line; returns the exit status.
pub fn run() -> Result<u8> {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return Ok(code);
        }
    };
    match cli.command {
        Command::Diff(a) => {
            let report = classify(&a.common)?;
            let format = match a.format {
                DiffFormat::Text => Format::Text,
                DiffFormat::Json => Format::Json,
                DiffFormat::Markdown => Format::Markdown,
                DiffFormat::Junit => Format::Junit,
                DiffFormat::GithubActions => Format::GithubActions,
            };
            emit(&report::render(&report, format))?;
            Ok(u8::from(report.fails(a.fail_on)))
        }
        Command::Rules { format } => {
            let rows: Vec<serde_json::Value> = catalogue::RULES
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "id": r.id, "kind": gate::kind_of(r.id), "level": r.level.as_str(),
                        "direction": r.direction, "area": r.area, "description": r.description,
                        "covered": !gate::NOT_COVERED.contains(&r.id),
                        "never_emitted": gate::NEVER_EMITTED.contains(&r.id),
                    })
                })
                .collect();
            match format {
                ListFormat::Json => emit(&format!("{}\n", serde_json::to_string_pretty(&rows)?))?,
                ListFormat::Text => {
                    let mut s = String::new();
                    for r in catalogue::RULES {
                        // Rules oasdiff can never emit are never emitted here
                        // either (spec/gate-conformance.md says why).
                        let cov = if gate::NEVER_EMITTED.contains(&r.id) {
                            "never"
                        } else if gate::NOT_COVERED.contains(&r.id) {
                            "not covered"
                        } else {
                            "covered"
                        };
                        s.push_str(&format!(
                            "{:<4} {:<62} {cov:<11} {}\n",
                            r.level.as_str(),
                            r.id,
                            r.description
                        ));
                    }
                    emit(&s)?;
                }
            }
            Ok(0)
        }
        Command::Check(a) => check::run(&a),
        Command::Changelog { common, format } => {
            let report = classify(&common)?;
            let c = gate::changelog(&report);
            match format {
                ChangelogFormat::Markdown => emit(&report::changelog_markdown(&c))?,
                ChangelogFormat::Json => emit(&report::changelog_json(&c))?,
            }
            Ok(0)
        }
    }
}
