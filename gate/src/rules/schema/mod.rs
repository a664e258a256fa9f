//! Schemas: one walk over a pair of schemas (request or response body, a
//! parameter, a header) that reports type, nullability, enum, constraint,
//! composition, property and JSON Schema 2020-12 keyword changes.
//!
//! Rule ids are composed from the scope and the change: at the root of a
//! request body `request-body-max-decreased`, below it
//! `request-property-max-decreased`; for a parameter
//! `request-parameter-max-decreased` and `request-parameter-property-…`.
//! [`Cx::emit`] drops ids the catalogue does not have, which is how a change
//! that oasdiff does not classify in some scope is left out.
//!
//! 3.0 and 3.1 spellings are compared after normalization: `nullable: true`
//! equals `type: [.., "null"]`, a boolean `exclusiveMinimum` with `minimum`
//! equals a numeric `exclusiveMinimum`.

mod composition;
pub(crate) mod effective;
mod keywords;
pub(crate) mod normalize;
mod properties;
mod types;
mod values;

use std::collections::HashSet;

use super::{Cx, as_bool};
use crate::document::{At, Document};
use normalize::unwrap_nullable;

/// Request or response: which way a value travels decides what breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    Request,
    Response,
}

/// What the schema belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    /// A request or response body (media type schema).
    Body,
    /// A request parameter; `header` for header parameters, `form` for one
    /// serialized in the form style with explode (query and cookie by default).
    Parameter { header: bool, form: bool },
    /// A response header.
    Header,
}

/// Where a schema pair sits.
pub(crate) struct Scope<'s> {
    pub dir: Dir,
    pub owner: Owner,
    pub endpoint: &'s str,
    /// Human context: `media type application/json`, `query parameter q`, ….
    pub context: String,
}

const MAX_DEPTH: usize = 48;
/// Up to this many schema pairs are compared per schema diff with a `$ref`
/// shared at many places compared (and reported) at each; past it, each
/// pair is compared once.
const MAX_VISITS: usize = 20_000;

/// Changes that oasdiff's response checks do not report on a property that
/// is writeOnly in the revision (`checker/check_response_property_max_increased.go`,
/// `_min_decreased`, `_max_length_increased`, `_max_length_unset`,
/// `_min_length_decreased`, `_min_items_decreased`, `_min_items_unset`).
const WRITE_ONLY_SKIPPED: &[&str] = &[
    "max-increased",
    "min-decreased",
    "exclusive-max-increased",
    "exclusive-min-decreased",
    "max-length-increased",
    "max-length-unset",
    "min-length-decreased",
    "min-items-decreased",
    "min-items-unset",
];

/// Compares two schemas.
pub(crate) fn diff(cx: &mut Cx<'_>, scope: &Scope<'_>, b: &At<'_>, r: &At<'_>) {
    let (bd, rd) = (cx.b, cx.r);
    let (eb, er) = (cx.eff_b, cx.eff_r);
    let mut w = Walk {
        cx,
        scope,
        bd,
        rd,
        eb,
        er,
        seen: HashSet::new(),
        visits: 0,
        done: HashSet::new(),
    };
    w.node(b, r, "", 0);
}

struct Walk<'c, 'a, 's, 'd> {
    cx: &'c mut Cx<'a>,
    scope: &'s Scope<'s>,
    bd: &'d Document,
    rd: &'d Document,
    eb: &'d effective::Effective<'d>,
    er: &'d effective::Effective<'d>,
    /// The pairs being compared on the current path (cycle guard).
    seen: HashSet<(usize, String, usize, String)>,
    /// Pairs compared so far; past [`MAX_VISITS`], each pair is compared
    /// once only.
    visits: usize,
    /// The pairs compared at least once.
    done: HashSet<(usize, String, usize, String)>,
}

impl<'d> Walk<'_, '_, '_, 'd> {
    fn prefix(&self, path: &str) -> &'static str {
        match (self.scope.owner, self.scope.dir, path.is_empty()) {
            (Owner::Body, Dir::Request, true) => "request-body",
            (Owner::Body, Dir::Request, false) => "request-property",
            (Owner::Body, Dir::Response, true) => "response-body",
            (Owner::Body, Dir::Response, false) => "response-property",
            (Owner::Parameter { .. }, _, true) => "request-parameter",
            (Owner::Parameter { .. }, _, false) => "request-parameter-property",
            (Owner::Header, _, true) => "response-header",
            (Owner::Header, _, false) => "response-header-property",
        }
    }

    fn subject(&self, path: &str) -> String {
        if path.is_empty() {
            self.scope.context.clone()
        } else {
            format!("{} {}", self.scope.context, path)
        }
    }

    fn what(&self, path: &str) -> String {
        if path.is_empty() {
            match self.scope.owner {
                Owner::Body => format!(
                    "the {} body ({})",
                    if self.scope.dir == Dir::Request {
                        "request"
                    } else {
                        "response"
                    },
                    self.scope.context
                ),
                _ => format!("the {}", self.scope.context),
            }
        } else {
            format!("the property {path} ({})", self.scope.context)
        }
    }

    /// Emits `{prefix}-{change}`, preferring the read-only / write-only
    /// variant of the id where the property is one and the catalogue has it.
    fn emit(&mut self, change: &str, path: &str, detail: String, b: &At<'_>, r: &At<'_>) -> bool {
        let prefix = self.prefix(path);
        let mut variant = None;
        if !path.is_empty() && self.scope.owner == Owner::Body {
            // oasdiff's read-only variants look at the revision's readOnly,
            // and its write-only ones at the revision's writeOnly
            // (check_response_property_enum_value_updated.go).
            let ro = as_bool(r.v.get("readOnly"));
            let wo = as_bool(r.v.get("writeOnly"));
            match self.scope.dir {
                // oasdiff's request property checks for a bound set and for
                // a type change skip a readOnly property (it is not sent).
                Dir::Request if ro && (change.ends_with("-set") || change.starts_with("type-")) => {
                    return false;
                }
                // Its response checks of loosened bounds skip a property
                // that is writeOnly in the revision (it is never returned).
                Dir::Response if wo && WRITE_ONLY_SKIPPED.contains(&change) => return false,
                Dir::Request if ro => {
                    variant = Some(format!("request-read-only-property-{change}"));
                }
                Dir::Response if wo => {
                    variant = Some(format!("response-write-only-property-{change}"));
                }
                _ => {}
            }
        }
        if let Some(id) = variant.filter(|id| crate::catalogue::find(id).is_some()) {
            let subject = self.subject(path);
            return self
                .cx
                .emit(&id, self.scope.endpoint, &subject, detail, Some(b), Some(r));
        }
        let id = format!("{prefix}-{change}");
        let subject = self.subject(path);
        self.cx
            .emit(&id, self.scope.endpoint, &subject, detail, Some(b), Some(r))
    }

    fn emit_id(
        &mut self,
        id: &str,
        path: &str,
        detail: String,
        b: Option<&At<'_>>,
        r: Option<&At<'_>>,
    ) {
        let subject = self.subject(path);
        self.cx
            .emit(id, self.scope.endpoint, &subject, detail, b, r);
    }

    /// Compares a pair of schemas at `path`. A pair is skipped only while it
    /// is being compared further up (a cycle): a `$ref` used at two places is
    /// compared, and reported, at each (oasdiff reports per property path).
    fn node(&mut self, b: &At<'d>, r: &At<'d>, path: &str, depth: usize) {
        let key = (b.file, b.ptr.clone(), r.file, r.ptr.clone());
        // Past the budget, a pair already compared at another place is not
        // compared again (its findings are reported once, not at every
        // place); a pair never compared still is, so nothing goes unseen.
        if depth > MAX_DEPTH
            || (self.visits > MAX_VISITS && self.done.contains(&key))
            || !self.seen.insert(key.clone())
        {
            return;
        }
        self.visits += 1;
        self.node_inner(b, r, path, depth);
        self.seen.remove(&key);
        self.done.insert(key);
    }

    fn node_inner(&mut self, b: &At<'d>, r: &At<'d>, path: &str, depth: usize) {
        if self.cx.same.subtree(self.bd, b, self.rd, r) {
            return; // the same all the way down: no finding
        }
        // The effective schemas (allOf merged, unless compat: oasdiff).
        let (eb, er) = (self.eb, self.er);
        let (b, bnull) = unwrap_nullable(self.bd, &eb.effective(b, r.v));
        let (r, rnull) = unwrap_nullable(self.rd, &er.effective(r, b.v));
        let (b, r) = (eb.effective(&b, r.v), er.effective(&r, b.v));
        let (b, r) = (&b, &r);
        if self.scope.owner == Owner::Body && self.wrapped_in_one_of(b, r, path) {
            return;
        }
        self.types(b, r, path);
        self.nullable(b, r, path, bnull, rnull);
        self.enums(b, r, path);
        self.bounds(b, r, path);
        self.pattern(b, r, path);
        self.values(b, r, path);
        self.discriminator(b, r, path);
        self.json_schema_2020(b, r, path, depth);
        self.composition(b, r, path, depth);
        if let (Some(bi), Some(ri)) = (self.bd.get(b, "items"), self.rd.get(r, "items"))
            && bi.v.is_object()
            && ri.v.is_object()
        {
            let p = join(path, "items");
            self.node(&bi, &ri, &p, depth + 1);
        }
        if let (Some(ba), Some(ra)) = (
            self.bd.get(b, "additionalProperties"),
            self.rd.get(r, "additionalProperties"),
        ) && ba.v.is_object()
            && ra.v.is_object()
        {
            let p = join(path, "additionalProperties");
            self.node(&ba, &ra, &p, depth + 1);
        }
        if let (Some(bn), Some(rn)) = (self.bd.get(b, "not"), self.rd.get(r, "not")) {
            self.node(&bn, &rn, path, depth + 1);
        }
        self.properties(b, r, path, depth);
    }
}

pub(super) fn join(path: &str, seg: &str) -> String {
    if path.is_empty() {
        seg.to_owned()
    } else {
        format!("{path}/{seg}")
    }
}

pub(super) fn join_list<T: std::fmt::Display>(v: &[T]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
