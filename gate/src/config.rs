//! The per-project rule configuration and its digest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::catalogue;

/// A rule's level after an override; `none` turns the rule off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Breaking.
    Err,
    /// Potentially breaking.
    Warn,
    /// Non-breaking.
    Info,
    /// Not reported.
    None,
}

impl Level {
    /// Parses `err|warn|info|none` (any case; `error`, `warning` too).
    #[must_use]
    pub fn parse(s: &str) -> Option<Level> {
        match s.trim().to_ascii_lowercase().as_str() {
            "err" | "error" => Some(Level::Err),
            "warn" | "warning" => Some(Level::Warn),
            "info" => Some(Level::Info),
            "none" | "off" => Some(Level::None),
            _ => None,
        }
    }
}

/// How a project classifies changes. Serialized with serde; [`Config::digest`]
/// hashes its canonical form (RFC 8785 JSON of the normalized config), so two
/// configs that classify alike digest alike.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Rule id (oasdiff's kebab-case id; snake_case accepted) → level.
    #[serde(default)]
    pub severity_overrides: BTreeMap<String, Level>,
    /// Minimum days between deprecating a stable endpoint, parameter or
    /// property and its `x-sunset` date; 0 turns the sunset policy off
    /// (oasdiff's `--deprecation-days-stable`).
    #[serde(default)]
    pub deprecation_days_stable: u32,
    /// The same for `x-stability-level: beta` (oasdiff's `--deprecation-days-beta`).
    #[serde(default)]
    pub deprecation_days_beta: u32,
    /// `oasdiff`: answer exactly as oasdiff's default would, with every
    /// deliberate difference of [`Differences`] off. Left out of the
    /// canonical form when it is the default, so existing digests stay.
    #[serde(default, skip_serializing_if = "Compat::is_native")]
    pub compat: Compat,
    /// The deliberate differences from oasdiff, each on by default
    /// (`spec/gate.md`, "Where we differ from oasdiff, and why"). Left out of
    /// the canonical form when all are on.
    #[serde(default, skip_serializing_if = "Differences::is_default")]
    pub differences: Differences,
}

/// Whose meaning the engine follows where StateAnchor differs on purpose.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compat {
    /// StateAnchor's: oasdiff's rules plus the differences in [`Differences`].
    #[default]
    Stateanchor,
    /// oasdiff's default, exactly: every difference off.
    Oasdiff,
}

impl Compat {
    fn is_native(&self) -> bool {
        *self == Compat::Stateanchor
    }

    /// Parses `oasdiff` or `stateanchor` (any case).
    #[must_use]
    pub fn parse(s: &str) -> Option<Compat> {
        match s.trim().to_ascii_lowercase().as_str() {
            "oasdiff" => Some(Compat::Oasdiff),
            "stateanchor" | "native" => Some(Compat::Stateanchor),
            _ => None,
        }
    }
}

/// Where StateAnchor's gate differs from oasdiff's default on purpose. Each
/// is on by default; [`Compat::Oasdiff`] turns every one off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Differences {
    /// Compare effective schemas: `allOf` members of objects merged, so a
    /// schema split into `allOf` (or merged back), or a property moved
    /// between an `allOf` member and its base, changes nothing. oasdiff
    /// reports the `allOf` list itself (`*-all-of-added`/`-removed`) and the
    /// properties as removed and added.
    pub effective_schemas: bool,
    /// Compare the parameters an operation inherits from its path item as
    /// its own (the operation's override), so a change to a path-level
    /// parameter is reported on every operation of the path, and moving a
    /// parameter between the two levels changes nothing. oasdiff's default
    /// (without `--flatten-params`) compares only an operation's own
    /// parameters and, of the path item's, reports only the added ones.
    pub path_level_parameters: bool,
    /// Report an `x-sunset` moved earlier on an endpoint or parameter that
    /// stays deprecated, whatever the deprecation policy's days. oasdiff
    /// reports it only when the new date is within the policy's days
    /// (`--deprecation-days-*`, 0 by default: only a date already past).
    pub sunset_moved_earlier: bool,
    /// Report a removed or added response whose status is a range (`2XX`)
    /// or `default` (`2XX` as a success status, the others as non-success).
    /// oasdiff's `response-*-status-*` checks skip every status that is not
    /// an integer, so dropping a `2XX` or `default` response goes unreported.
    pub status_ranges: bool,
    /// Compare every OAuth flow of a security scheme (authorization code,
    /// password, client credentials, implicit) for URL and scope changes.
    /// oasdiff compares the implicit flow only.
    pub oauth_all_flows: bool,
    /// Compare numeric bounds by meaning: a 3.0 `exclusiveMinimum: true`
    /// with `minimum: 5` is the 3.1 `exclusiveMinimum: 5`, so moving between
    /// the spellings changes nothing. oasdiff compares the keywords as
    /// written (a boolean `exclusiveMinimum` added is `…-exclusive-min-set`).
    pub normalized_bounds: bool,
}

impl Default for Differences {
    fn default() -> Self {
        Differences {
            effective_schemas: true,
            path_level_parameters: true,
            sunset_moved_earlier: true,
            status_ranges: true,
            oauth_all_flows: true,
            normalized_bounds: true,
        }
    }
}

impl Differences {
    fn is_default(&self) -> bool {
        *self == Differences::default()
    }

    /// Every difference off: oasdiff's default.
    #[must_use]
    pub fn none() -> Differences {
        Differences {
            effective_schemas: false,
            path_level_parameters: false,
            sunset_moved_earlier: false,
            status_ranges: false,
            oauth_all_flows: false,
            normalized_bounds: false,
        }
    }
}

impl Config {
    /// The differences in force: none in [`Compat::Oasdiff`] mode, else the
    /// configured ones.
    #[must_use]
    pub fn differences(&self) -> Differences {
        match self.compat {
            Compat::Oasdiff => Differences::none(),
            Compat::Stateanchor => self.differences,
        }
    }

    /// Checks every override names a catalogue rule, and turns snake_case
    /// ids into kebab-case.
    ///
    /// # Errors
    /// [`Error::InvalidOverride`] for an unknown rule id.
    pub fn normalized(&self) -> Result<Config, Error> {
        let mut out = self.clone();
        out.severity_overrides = BTreeMap::new();
        for (k, v) in &self.severity_overrides {
            let id = k.trim().to_ascii_lowercase().replace('_', "-");
            if catalogue::find(&id).is_none() {
                return Err(Error::InvalidOverride {
                    entry: k.clone(),
                    reason: "unknown rule id (see `stateanchor-gate rules`)".to_owned(),
                });
            }
            out.severity_overrides.insert(id, *v);
        }
        Ok(out)
    }

    /// Adds one `rule=level` (or `rule level`) override.
    ///
    /// # Errors
    /// [`Error::InvalidOverride`] for a malformed entry, an unknown rule or level.
    pub fn add_override(&mut self, entry: &str) -> Result<(), Error> {
        let bad = |reason: &str| Error::InvalidOverride {
            entry: entry.to_owned(),
            reason: reason.to_owned(),
        };
        let (rule, level) = entry
            .split_once('=')
            .or_else(|| entry.trim().split_once(char::is_whitespace))
            .ok_or_else(|| bad("expected RULE=LEVEL"))?;
        let level =
            Level::parse(level).ok_or_else(|| bad("the level must be err, warn, info or none"))?;
        let id = rule.trim().to_ascii_lowercase().replace('_', "-");
        if catalogue::find(&id).is_none() {
            return Err(bad("unknown rule id (see `stateanchor-gate rules`)"));
        }
        self.severity_overrides.insert(id, level);
        Ok(())
    }

    /// Reads overrides in oasdiff's `--severity-levels` file format: one
    /// `RULE LEVEL` (or `RULE=LEVEL`) per line, `#` comments.
    ///
    /// # Errors
    /// [`Error::InvalidOverride`] for the first bad line.
    pub fn add_override_lines(&mut self, text: &str) -> Result<(), Error> {
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            if !line.is_empty() {
                self.add_override(line)?;
            }
        }
        Ok(())
    }

    /// The canonical bytes: RFC 8785 JSON of the normalized config.
    ///
    /// # Errors
    /// [`Error::InvalidOverride`] for an unknown rule id.
    pub fn canonical_json(&self) -> Result<String, Error> {
        let n = self.normalized()?;
        serde_json_canonicalizer::to_string(&n)
            .map_err(|_| Error::Unreachable("config serialization"))
    }

    /// `sha256:<hex>` of [`Config::canonical_json`]: the "rule configuration
    /// digest" a decision records.
    ///
    /// # Errors
    /// [`Error::InvalidOverride`] for an unknown rule id.
    pub fn digest(&self) -> Result<String, Error> {
        let c = self.canonical_json()?;
        let d = Sha256::digest(c.as_bytes());
        Ok(format!(
            "sha256:{}",
            d.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ))
    }
}

/// A calendar date (UTC), the day a diff is made: sunset dates are compared with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// Year.
    pub year: i32,
    /// Month, 1–12.
    pub month: u32,
    /// Day, 1–31.
    pub day: u32,
}

impl Date {
    /// Parses `YYYY-MM-DD`, or the date part of an RFC 3339 timestamp.
    ///
    /// # Errors
    /// [`Error::InvalidDate`].
    pub fn parse(s: &str) -> Result<Date, Error> {
        let bad = || Error::InvalidDate(s.to_owned());
        let d = s.trim();
        let d = d.get(..10).ok_or_else(bad)?;
        if d.as_bytes().get(4) != Some(&b'-') || d.as_bytes().get(7) != Some(&b'-') {
            return Err(bad());
        }
        let year: i32 = d[..4].parse().map_err(|_| bad())?;
        let month: u32 = d[5..7].parse().map_err(|_| bad())?;
        let day: u32 = d[8..10].parse().map_err(|_| bad())?;
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return Err(bad());
        }
        if s.trim().len() > 10 && !matches!(s.trim().as_bytes()[10], b'T' | b't' | b' ') {
            return Err(bad());
        }
        Ok(Date { year, month, day })
    }

    /// The date `days_since_epoch` days after 1970-01-01.
    #[must_use]
    pub fn from_days_since_epoch(days: i64) -> Date {
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = if m <= 2 { y + 1 } else { y };
        Date {
            year: i32::try_from(y).unwrap_or(1970),
            month: u32::try_from(m).unwrap_or(1),
            day: u32::try_from(d).unwrap_or(1),
        }
    }

    /// Days since 1970-01-01.
    #[must_use]
    pub fn days_since_epoch(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        let d = Date::parse("2024-02-29").unwrap();
        assert_eq!(Date::from_days_since_epoch(d.days_since_epoch()), d);
        assert_eq!(Date::parse("1970-01-01").unwrap().days_since_epoch(), 0);
        assert!(Date::parse("2023-02-29").is_err());
        assert!(Date::parse("soon").is_err());
        assert_eq!(
            Date::parse("2025-01-02T10:00:00Z").unwrap().to_string(),
            "2025-01-02"
        );
    }

    #[test]
    fn digest_is_canonical() {
        let mut a = Config::default();
        a.add_override("request_parameter_removed=err").unwrap();
        let mut b = Config::default();
        b.add_override_lines("# comment\nrequest-parameter-removed err\n")
            .unwrap();
        assert_eq!(a.digest().unwrap(), b.digest().unwrap());
        assert_ne!(a.digest().unwrap(), Config::default().digest().unwrap());
        assert!(a.add_override("no-such-rule=err").is_err());
        assert!(a.add_override("request-parameter-removed=loud").is_err());
    }

    #[test]
    fn defaults_stay_out_of_the_digest() {
        // A config written before `compat` and `differences` existed digests
        // as it did then.
        assert_eq!(
            Config::default().canonical_json().unwrap(),
            r#"{"deprecation_days_beta":0,"deprecation_days_stable":0,"severity_overrides":{}}"#
        );
        let oasdiff = Config {
            compat: Compat::Oasdiff,
            ..Config::default()
        };
        assert_ne!(
            oasdiff.digest().unwrap(),
            Config::default().digest().unwrap()
        );
        assert_eq!(oasdiff.differences(), Differences::none());
        assert_eq!(Config::default().differences(), Differences::default());
        let parsed: Config = serde_json::from_str(r#"{"compat":"oasdiff"}"#).unwrap();
        assert_eq!(parsed.compat, Compat::Oasdiff);
        assert!(serde_json::from_str::<Config>(r#"{"differences":{"nope":true}}"#).is_err());
    }
}
