//! Lifecycle: `deprecated`, `x-sunset` and `x-stability-level` of operations
//! (and the shared helpers the parameter and property families use).

use serde_json::Value;

use super::{Cx, Op, as_bool};
use crate::config::Date;
use crate::document::At;

/// `x-stability-level`: draft < alpha < beta < stable; missing = stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stability {
    Draft,
    Alpha,
    Beta,
    Stable,
}

impl Stability {
    pub fn name(self) -> &'static str {
        match self {
            Stability::Draft => "draft",
            Stability::Alpha => "alpha",
            Stability::Beta => "beta",
            Stability::Stable => "stable",
        }
    }
}

/// The stability of a node: `Ok(Stable)` when missing, `Err(text)` when invalid.
pub(crate) fn stability(v: &Value) -> Result<Stability, String> {
    match v.get("x-stability-level") {
        None | Some(Value::Null) => Ok(Stability::Stable),
        Some(Value::String(s)) => match s.as_str() {
            "draft" => Ok(Stability::Draft),
            "alpha" => Ok(Stability::Alpha),
            "beta" => Ok(Stability::Beta),
            "stable" => Ok(Stability::Stable),
            other => Err(other.to_owned()),
        },
        Some(other) => Err(other.to_string()),
    }
}

/// `x-sunset` of a node: `None` when absent, `Some(Err(text))` when unparsable.
pub(crate) fn sunset(v: &Value) -> Option<Result<Date, String>> {
    match v.get("x-sunset")? {
        Value::String(s) => Some(Date::parse(s).map_err(|_| s.clone())),
        other => Some(Err(other.to_string())),
    }
}

/// The deprecation policy's minimum days for a stability level (0 = off).
pub(crate) fn policy_days(cx: &Cx<'_>, s: Stability) -> i64 {
    match s {
        Stability::Beta => i64::from(cx.config.deprecation_days_beta),
        Stability::Stable => i64::from(cx.config.deprecation_days_stable),
        _ => 0,
    }
}

/// Does oasdiff's default stability threshold (beta) include this level?
/// Draft and alpha operations and properties are out of scope.
pub(crate) fn in_scope(s: Stability) -> bool {
    s >= Stability::Beta
}

/// Reports an operation's stability changes (oasdiff's stability policy,
/// `checker/check_api_stability_level.go`, run before every other check).
/// Returns whether the operation's other changes are to be checked: not when
/// the revision is draft or alpha (below the default threshold, beta); an
/// invalid level is reported and does not filter.
pub(crate) fn operation(cx: &mut Cx<'_>, b: &Op<'_>, r: &Op<'_>, ep: &str) -> bool {
    let bs = stability(b.op.v);
    let rs = stability(r.op.v);
    // oasdiff's checks visit modified operations only: an operation the
    // same in both documents (references included) reports nothing, not
    // even an invalid level.
    let modified = !cx.same.subtree(cx.b, &b.op, cx.r, &r.op);
    for (level, at, in_base) in [(&bs, &b.op, true), (&rs, &r.op, false)] {
        if let Err(bad) = level
            && modified
        {
            cx.emit(
                "api-invalid-stability-level",
                ep,
                if in_base {
                    "x-stability-level (base)"
                } else {
                    "x-stability-level"
                },
                format!(
                    "the stability level {bad:?} is not one of draft, alpha, beta, stable{}",
                    if in_base { " (in the base)" } else { "" }
                ),
                in_base.then_some(at),
                (!in_base).then_some(at),
            );
        }
    }
    if let (Ok(bl), Ok(rl)) = (&bs, &rs)
        && bl != rl
        && in_scope(*bl)
    {
        let (id, how) = if rl < bl {
            ("api-stability-decreased", "decreased")
        } else {
            ("api-stability-increased", "increased")
        };
        cx.emit(
            id,
            ep,
            "x-stability-level",
            format!(
                "the endpoint's stability level {how} from {} to {}",
                bl.name(),
                rl.name()
            ),
            Some(&b.op),
            Some(&r.op),
        );
    }
    !matches!(rs, Ok(Stability::Draft | Stability::Alpha))
}

/// What is being deprecated: picks the rule ids.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind<'s> {
    Endpoint,
    /// A parameter: its location and name.
    Parameter(&'s str),
}

/// `deprecated` and `x-sunset` changes of an operation or a parameter
/// (`check_api_deprecation.go`, `check_api_sunset_changed.go`,
/// `check_request_parameter_deprecation.go`,
/// `check_request_parameter_sunset_changed.go`). `level` is the stability of
/// the revision's operation, which picks the policy's days; `Err` when it is
/// invalid (then only a reactivation is reported).
pub(crate) fn deprecation(
    cx: &mut Cx<'_>,
    ep: &str,
    b: &At<'_>,
    r: &At<'_>,
    kind: Kind<'_>,
    subject: &str,
    level: Result<Stability, String>,
) {
    let bd = as_bool(b.v.get("deprecated"));
    let rd = as_bool(r.v.get("deprecated"));
    let (reactivated, deprecated, with_sunset, missing, parse, too_small, deleted, earlier) =
        match kind {
            Kind::Endpoint => (
                "endpoint-reactivated",
                "endpoint-deprecated",
                "endpoint-deprecated-with-sunset",
                "api-deprecated-sunset-missing",
                "api-deprecated-sunset-parse",
                "api-sunset-date-too-small",
                "sunset-deleted",
                "api-sunset-date-changed-too-small",
            ),
            Kind::Parameter(_) => (
                "request-parameter-reactivated",
                "request-parameter-deprecated",
                "request-parameter-deprecated",
                "request-parameter-deprecated-sunset-missing",
                "request-parameter-sunset-parse",
                "request-parameter-sunset-date-too-small",
                "request-parameter-sunset-deleted",
                "request-parameter-sunset-date-changed-too-small",
            ),
        };
    let what = match kind {
        Kind::Endpoint => "the endpoint".to_owned(),
        Kind::Parameter(p) => format!("the {p}"),
    };
    if bd && !rd {
        cx.emit(
            reactivated,
            ep,
            subject,
            format!("{what} is no longer deprecated"),
            Some(b),
            Some(r),
        );
        return;
    }
    let Ok(level) = level else {
        return; // an invalid stability level is reported on its own
    };
    let days = policy_days(cx, level);
    let too_soon = |cx: &Cx<'_>, d: Date| d.days_since_epoch() - cx.today.days_since_epoch() < days;
    if !bd && rd {
        match sunset(r.v) {
            None if days > 0 => {
                cx.emit(missing, ep, subject, format!("{what} was deprecated without an x-sunset date; the policy asks for {days} days"), Some(b), Some(r));
            }
            None => {
                cx.emit(
                    deprecated,
                    ep,
                    subject,
                    format!("{what} was deprecated"),
                    Some(b),
                    Some(r),
                );
            }
            Some(Err(s)) => {
                cx.emit(
                    parse,
                    ep,
                    subject,
                    format!("{what} was deprecated with an x-sunset that is not a date: {s}"),
                    Some(b),
                    Some(r),
                );
            }
            Some(Ok(d)) => {
                if too_soon(cx, d) {
                    cx.emit(
                        too_small,
                        ep,
                        subject,
                        format!("{what}'s sunset date {d} is less than {days} days away"),
                        Some(b),
                        Some(r),
                    );
                } else {
                    cx.emit(
                        with_sunset,
                        ep,
                        subject,
                        format!("{what} was deprecated with sunset date {d}"),
                        Some(b),
                        Some(r),
                    );
                }
            }
        }
    }
    if !rd {
        return;
    }
    // The x-sunset of an element deprecated in the revision.
    let (bv, rv) = (b.v.get("x-sunset"), r.v.get("x-sunset"));
    match (bv, rv) {
        (Some(_), None) => {
            cx.emit(
                deleted,
                ep,
                subject,
                format!("{what}'s sunset date was deleted while it stays deprecated"),
                Some(b),
                Some(r),
            );
        }
        (Some(x), Some(y)) if x != y => match (sunset(b.v), sunset(r.v)) {
            (Some(Ok(bs)), Some(Ok(rs))) => {
                // oasdiff: only when the new date falls inside the
                // deprecation policy's days; StateAnchor: whenever it moves
                // earlier (clients planned for the old date).
                let any_earlier = cx.config.differences().sunset_moved_earlier;
                if bs > rs && (any_earlier || too_soon(cx, rs)) {
                    cx.emit(
                        earlier,
                        ep,
                        subject,
                        format!("{what}'s sunset date moved from {bs} to {rs}"),
                        Some(b),
                        Some(r),
                    );
                }
            }
            (bs, rs) => {
                let id = if kind == Kind::Endpoint {
                    "api-path-sunset-parse"
                } else {
                    parse
                };
                let s = match (bs, rs) {
                    (_, Some(Err(s))) | (Some(Err(s)), _) => s,
                    _ => String::new(),
                };
                cx.emit(
                    id,
                    ep,
                    subject,
                    format!("{what}'s x-sunset {s:?} is not a date"),
                    Some(b),
                    Some(r),
                );
            }
        },
        _ => {}
    }
}
