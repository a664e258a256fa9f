//! Properties added, removed, required, read-only/write-only, deprecated.

use std::collections::BTreeMap;

use super::normalize::*;
use super::{Dir, Owner, Walk, join};
use crate::document::At;
use crate::rules::as_bool;
use crate::rules::lifecycle::{Stability, stability, sunset};

impl<'d> Walk<'_, '_, '_, 'd> {
    pub(super) fn properties(&mut self, b: &At<'d>, r: &At<'d>, path: &str, depth: usize) {
        // A schema that became an `allOf` of members (or stopped being one)
        // still has its members' properties: an instance matches every member.
        // When both sides have an `allOf`, the members are paired instead.
        let (b_all, r_all) = (has_all_of(b.v), has_all_of(r.v));
        let (bprops, breq) = properties_of(self.bd, b, b_all && !r_all);
        let (rprops, rreq) = properties_of(self.rd, r, r_all && !b_all);
        if bprops.is_empty() && rprops.is_empty() {
            return;
        }
        let rmap: BTreeMap<&str, &At<'d>> = rprops.iter().map(|(k, v)| (*k, v)).collect();
        let bmap: BTreeMap<&str, &At<'d>> = bprops.iter().map(|(k, v)| (*k, v)).collect();
        let body = self.scope.owner == Owner::Body;
        let header_param = matches!(self.scope.owner, Owner::Parameter { header: true, .. });
        for (name, bp) in &bprops {
            let p = join(path, name);
            match rmap.get(name) {
                None => {
                    if !body {
                        continue;
                    }
                    let wo = as_bool(bp.v.get("writeOnly"));
                    let id = match (self.scope.dir, breq.contains(*name), wo) {
                        // A readOnly property is not sent: not in the request's contract.
                        (Dir::Request, _, _) if as_bool(bp.v.get("readOnly")) => continue,
                        (Dir::Request, _, _) => "request-property-removed",
                        (Dir::Response, true, false) => "response-required-property-removed",
                        (Dir::Response, true, true) => {
                            "response-required-write-only-property-removed"
                        }
                        (Dir::Response, false, false) => "response-optional-property-removed",
                        (Dir::Response, false, true) => {
                            "response-optional-write-only-property-removed"
                        }
                    };
                    let d = format!("the property {p} was removed ({})", self.scope.context);
                    self.emit_id(id, &p, d, Some(bp), Some(r));
                }
                Some(rp) => {
                    self.property_changes(
                        bp,
                        rp,
                        &p,
                        breq.contains(*name),
                        rreq.contains(*name),
                        header_param,
                    );
                    self.node(bp, rp, &p, depth + 1);
                }
            }
        }
        for (name, rp) in &rprops {
            if bmap.contains_key(name) {
                continue;
            }
            let p = join(path, name);
            let req = rreq.contains(*name);
            let d = format!(
                "the {} property {p} was added ({})",
                if req { "required" } else { "optional" },
                self.scope.context
            );
            if header_param {
                if req {
                    self.emit_id(
                        "new-required-request-header-property",
                        &p,
                        d,
                        Some(b),
                        Some(rp),
                    );
                }
                continue;
            }
            if !body {
                continue;
            }
            let ro = as_bool(rp.v.get("readOnly"));
            let wo = as_bool(rp.v.get("writeOnly"));
            let id = match (self.scope.dir, req) {
                (Dir::Request, _) if ro => continue,
                (Dir::Request, true) if rp.v.get("default").is_some() => {
                    "new-required-request-property-with-default"
                }
                (Dir::Request, true) => "new-required-request-property",
                (Dir::Request, false) => "new-optional-request-property",
                (Dir::Response, true) if wo => "response-required-write-only-property-added",
                (Dir::Response, true) => "response-required-property-added",
                (Dir::Response, false) if wo => "response-optional-write-only-property-added",
                (Dir::Response, false) => "response-optional-property-added",
            };
            self.emit_id(id, &p, d, Some(b), Some(rp));
        }
        // Required without a property definition here (e.g. defined in allOf): requiredness only.
        if body && self.cx.config.differences().effective_schemas {
            for name in rreq.difference(&breq) {
                if bmap.contains_key(name.as_str()) || rmap.contains_key(name.as_str()) {
                    continue;
                }
                if self.scope.dir == Dir::Request && !bprops.is_empty() {
                    let p = join(path, name);
                    self.emit_id(
                        "request-property-became-required",
                        &p,
                        format!("the property {p} became required ({})", self.scope.context),
                        Some(b),
                        Some(r),
                    );
                }
            }
        }
    }

    /// Requiredness, access mode, deprecation and stability of a property present on both sides.
    pub(super) fn property_changes(
        &mut self,
        bp: &At<'d>,
        rp: &At<'d>,
        p: &str,
        breq: bool,
        rreq: bool,
        header_param: bool,
    ) {
        let ctx = self.scope.context.clone();
        if header_param {
            if !breq && rreq {
                self.emit_id(
                    "request-header-property-became-required",
                    p,
                    format!("the header property {p} became required ({ctx})"),
                    Some(bp),
                    Some(rp),
                );
            }
            if bp.v.get("enum").is_none() && rp.v.get("enum").is_some() {
                self.emit_id(
                    "request-header-property-became-enum",
                    p,
                    format!(
                        "the header property {p} was restricted to a list of enum values ({ctx})"
                    ),
                    Some(bp),
                    Some(rp),
                );
            }
            return;
        }
        if self.scope.owner != Owner::Body {
            return;
        }
        // oasdiff's response became-optional/-required checks read writeOnly
        // off the revision for a property of the body root and off the base
        // below it (check_response_property_became_optional.go, _required.go).
        let wo = if p.contains('/') {
            as_bool(bp.v.get("writeOnly"))
        } else {
            as_bool(rp.v.get("writeOnly"))
        };
        match self.scope.dir {
            Dir::Request => {
                // oasdiff's changedRequiredPropertyRelevant: a property that is
                // readOnly in the revision is not sent, either way.
                let ro = as_bool(rp.v.get("readOnly"));
                if !breq && rreq && !ro {
                    let id = if rp.v.get("default").is_some() {
                        "request-property-became-required-with-default"
                    } else {
                        "request-property-became-required"
                    };
                    self.emit_id(
                        id,
                        p,
                        format!("the property {p} became required ({ctx})"),
                        Some(bp),
                        Some(rp),
                    );
                }
                if breq && !rreq && !ro {
                    self.emit_id(
                        "request-property-became-optional",
                        p,
                        format!("the property {p} became optional ({ctx})"),
                        Some(bp),
                        Some(rp),
                    );
                }
            }
            Dir::Response => {
                if breq && !rreq {
                    let id = if wo {
                        "response-write-only-property-became-optional"
                    } else {
                        "response-property-became-optional"
                    };
                    self.emit_id(
                        id,
                        p,
                        format!("the property {p} became optional ({ctx})"),
                        Some(bp),
                        Some(rp),
                    );
                }
                if !breq && rreq {
                    let id = if wo {
                        "response-write-only-property-became-required"
                    } else {
                        "response-property-became-required"
                    };
                    self.emit_id(
                        id,
                        p,
                        format!("the property {p} became required ({ctx})"),
                        Some(bp),
                        Some(rp),
                    );
                }
            }
        }
        // Access mode.
        let dir = if self.scope.dir == Dir::Request {
            "request"
        } else {
            "response"
        };
        // Both oasdiff checks name the property by its base requiredness
        // (check_request_property_write_only_read_only.go,
        // check_response_required_property_write_only_read_only.go).
        let req = if breq { "required" } else { "optional" };
        for (kw, name) in [("writeOnly", "write-only"), ("readOnly", "read-only")] {
            let (x, y) = (as_bool(bp.v.get(kw)), as_bool(rp.v.get(kw)));
            if x != y {
                let id = if y {
                    format!("{dir}-{req}-property-became-{name}")
                } else {
                    format!("{dir}-{req}-property-became-not-{name}")
                };
                let d = format!(
                    "the {req} property {p} became {}{name} ({ctx})",
                    if y { "" } else { "not " }
                );
                self.emit_id(&id, p, d, Some(bp), Some(rp));
            }
        }
        // Deprecation.
        let (bd, rd) = (
            as_bool(bp.v.get("deprecated")),
            as_bool(rp.v.get("deprecated")),
        );
        // The operation's stability picks the policy (oasdiff's
        // check_request_property_deprecation.go); an invalid one is reported
        // on its own.
        if !bd
            && rd
            && let Ok(level) = self.cx.op_stability.clone()
        {
            let days = crate::rules::lifecycle::policy_days(self.cx, level);
            match sunset(rp.v) {
                None if days > 0 => self.emit_id(
                    &format!("{dir}-property-deprecated-sunset-missing"),
                    p,
                    format!("the property {p} was deprecated without a sunset date ({ctx})"),
                    Some(bp),
                    Some(rp),
                ),
                None => self.emit_id(
                    &format!("{dir}-property-deprecated"),
                    p,
                    format!("the property {p} was deprecated ({ctx})"),
                    Some(bp),
                    Some(rp),
                ),
                Some(Err(s)) => self.emit_id(
                    &format!("{dir}-property-deprecated-sunset-invalid"),
                    p,
                    format!(
                        "the property {p} was deprecated with an invalid sunset date {s:?} ({ctx})"
                    ),
                    Some(bp),
                    Some(rp),
                ),
                Some(Ok(d)) => {
                    if d.days_since_epoch() - self.cx.today.days_since_epoch() < days {
                        self.emit_id(&format!("{dir}-property-sunset-date-too-small"), p, format!("the property {p}'s sunset date {d} is less than {days} days away ({ctx})"), Some(bp), Some(rp));
                    } else {
                        self.emit_id(
                            &format!("{dir}-property-deprecated-with-sunset"),
                            p,
                            format!("the property {p} was deprecated with sunset date {d} ({ctx})"),
                            Some(bp),
                            Some(rp),
                        );
                    }
                }
            }
        } else if bd && !rd {
            self.emit_id(
                &format!("{dir}-property-reactivated"),
                p,
                format!("the property {p} is no longer deprecated ({ctx})"),
                Some(bp),
                Some(rp),
            );
        }
        // Stability (an invalid level is reported when the property's
        // extensions changed: oasdiff's check_property_stability_level.go).
        fn ext(v: &serde_json::Value) -> Vec<(&String, &serde_json::Value)> {
            v.as_object()
                .map(|m| m.iter().filter(|(k, _)| k.starts_with("x-")).collect())
                .unwrap_or_default()
        }
        if ext(bp.v) != ext(rp.v) {
            let bad = match (stability(bp.v), stability(rp.v)) {
                (Err(bad), _) | (Ok(_), Err(bad)) => Some(bad),
                _ => None,
            };
            if let Some(bad) = bad {
                self.emit_id(
                    "api-invalid-stability-level",
                    p,
                    format!("the property {p}'s stability level {bad:?} is not one of draft, alpha, beta, stable ({ctx})"),
                    Some(bp),
                    Some(rp),
                );
            }
        }
        if let (Ok(x), Ok(y)) = (stability(bp.v), stability(rp.v)) {
            if y < x && x >= Stability::Beta {
                self.emit_id(
                    &format!("{dir}-property-stability-decreased"),
                    p,
                    format!(
                        "the property {p}'s stability decreased from {} to {} ({ctx})",
                        x.name(),
                        y.name()
                    ),
                    Some(bp),
                    Some(rp),
                );
            } else if y > x && x >= Stability::Beta {
                self.emit_id(
                    &format!("{dir}-property-stability-increased"),
                    p,
                    format!(
                        "the property {p}'s stability increased from {} to {} ({ctx})",
                        x.name(),
                        y.name()
                    ),
                    Some(bp),
                    Some(rp),
                );
            }
        }
    }
}
