//! Security: global and operation security requirements, and the security
//! schemes under `components`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{Cx, Op};
use crate::document::{At, Document};

/// One security requirement (an alternative of the list): scheme → scopes.
type Req = BTreeMap<String, BTreeSet<String>>;

fn requirements(v: Option<&Value>) -> Vec<Req> {
    let mut out = Vec::new();
    for req in v.and_then(Value::as_array).into_iter().flatten() {
        let Some(m) = req.as_object() else { continue };
        out.push(
            m.iter()
                .map(|(k, s)| {
                    (
                        k.clone(),
                        s.as_array()
                            .map(|a| {
                                a.iter()
                                    .filter_map(|x| x.as_str().map(str::to_owned))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    )
                })
                .collect(),
        );
    }
    out
}

/// A requirement's name: its schemes joined by ` AND ` (`""` for `{}`).
fn name_of(req: &Req) -> String {
    req.keys().cloned().collect::<Vec<_>>().join(" AND ")
}

fn same_schemes(a: &Req, b: &Req) -> bool {
    a.keys().eq(b.keys())
}

/// Pairs the alternatives of two security lists as oasdiff does: identical
/// ones cancel out; a leftover whose scheme set is carried by exactly one
/// leftover on each side is a scope change; the rest were removed or added.
/// Returns (scope changes as (base, revision), removed, added).
fn match_requirements<'a>(
    br: &'a [Req],
    rr: &'a [Req],
) -> (Vec<(&'a Req, &'a Req)>, Vec<&'a Req>, Vec<&'a Req>) {
    let mut mb = vec![false; br.len()];
    let mut mr = vec![false; rr.len()];
    for (i, b) in br.iter().enumerate() {
        if let Some(j) = (0..rr.len()).find(|&j| !mr[j] && rr[j] == *b) {
            mb[i] = true;
            mr[j] = true;
        }
    }
    let unique = |reqs: &[Req], matched: &[bool], like: &Req| {
        reqs.iter()
            .zip(matched)
            .filter(|(r, m)| !**m && same_schemes(r, like))
            .count()
            == 1
    };
    let mut modified = Vec::new();
    for i in 0..br.len() {
        if mb[i] || !unique(br, &mb, &br[i]) {
            continue;
        }
        let Some(j) = (0..rr.len()).find(|&j| !mr[j] && same_schemes(&rr[j], &br[i])) else {
            continue;
        };
        if !unique(rr, &mr, &rr[j]) {
            continue;
        }
        mb[i] = true;
        mr[j] = true;
        if br[i] != rr[j] {
            modified.push((&br[i], &rr[j]));
        }
    }
    let removed = (0..br.len()).filter(|&i| !mb[i]).map(|i| &br[i]).collect();
    let added = (0..rr.len()).filter(|&j| !mr[j]).map(|j| &rr[j]).collect();
    (modified, removed, added)
}

/// `skip_empty`: an operation's empty requirement (`{}`, optional security)
/// is not reported as added or removed; the document's is.
#[allow(clippy::too_many_arguments)]
fn compare(
    cx: &mut Cx<'_>,
    ep: &str,
    ids: [&str; 4],
    b: &At<'_>,
    r: &At<'_>,
    bv: Option<&Value>,
    rv: Option<&Value>,
    skip_empty: bool,
) {
    let (br, rr) = (requirements(bv), requirements(rv));
    let [added, removed, scope_added, scope_removed] = ids;
    let (modified, gone, new) = match_requirements(&br, &rr);
    for req in gone {
        let name = name_of(req);
        if skip_empty && name.is_empty() {
            continue;
        }
        cx.emit(
            removed,
            ep,
            &format!("security {name}"),
            format!("the security requirement {name} was removed"),
            Some(b),
            Some(r),
        );
    }
    for (bs, rs) in modified {
        let name = name_of(bs);
        for (scheme, scopes) in bs {
            let empty = BTreeSet::new();
            let rsc = rs.get(scheme).unwrap_or(&empty);
            for s in scopes.difference(rsc) {
                cx.emit(
                    scope_removed,
                    ep,
                    &format!("security {name} scope {s}"),
                    format!("the scope {s} was removed from the security scheme {scheme}"),
                    Some(b),
                    Some(r),
                );
            }
            for s in rsc.difference(scopes) {
                cx.emit(
                    scope_added,
                    ep,
                    &format!("security {name} scope {s}"),
                    format!("the scope {s} was added to the security scheme {scheme}"),
                    Some(b),
                    Some(r),
                );
            }
        }
    }
    for req in new {
        let name = name_of(req);
        if skip_empty && name.is_empty() {
            continue;
        }
        cx.emit(
            added,
            ep,
            &format!("security {name}"),
            format!("the security requirement {name} was added"),
            Some(b),
            Some(r),
        );
    }
}

/// Document-wide `security`.
pub(crate) fn global(cx: &mut Cx<'_>) {
    let (b, r) = (cx.b.root(), cx.r.root());
    let (bv, rv) = (b.v.get("security"), r.v.get("security"));
    if bv == rv {
        return;
    }
    compare(
        cx,
        "",
        [
            "api-global-security-added",
            "api-global-security-removed",
            "api-global-security-scope-added",
            "api-global-security-scope-removed",
        ],
        &b,
        &r,
        bv,
        rv,
        false,
    );
}

/// An operation's own `security`.
pub(crate) fn operation(cx: &mut Cx<'_>, b: &Op<'_>, r: &Op<'_>, ep: &str) {
    let (bv, rv) = (b.op.v.get("security"), r.op.v.get("security"));
    if bv == rv {
        return;
    }
    compare(
        cx,
        ep,
        [
            "api-security-added",
            "api-security-removed",
            "api-security-scope-added",
            "api-security-scope-removed",
        ],
        &b.op,
        &r.op,
        bv,
        rv,
        true,
    );
}

fn schemes<'d>(doc: &'d Document) -> Vec<(&'d str, At<'d>)> {
    let root = doc.root();
    doc.get(&root, "components")
        .and_then(|c| doc.get(&c, "securitySchemes"))
        .map(|s| doc.entries(&s))
        .unwrap_or_default()
}

/// `components.securitySchemes`.
pub(crate) fn components(cx: &mut Cx<'_>) {
    let bs = schemes(cx.b);
    let rs = schemes(cx.r);
    for (name, b) in &bs {
        let Some((_, r)) = rs.iter().find(|(k, _)| k == name) else {
            cx.emit(
                "api-security-component-removed",
                "",
                &format!("security scheme {name}"),
                format!("the security scheme {name} was removed"),
                Some(b),
                None,
            );
            continue;
        };
        let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        if s(b.v, "type") != s(r.v, "type") {
            cx.emit(
                "api-security-component-type-changed",
                "",
                &format!("security scheme {name}"),
                format!(
                    "the security scheme {name}'s type changed from {} to {}",
                    s(b.v, "type").unwrap_or_default(),
                    s(r.v, "type").unwrap_or_default()
                ),
                Some(b),
                Some(r),
            );
        }
        let empty = serde_json::Map::new();
        let bf =
            b.v.get("flows")
                .and_then(Value::as_object)
                .unwrap_or(&empty);
        let rf =
            r.v.get("flows")
                .and_then(Value::as_object)
                .unwrap_or(&empty);
        // oasdiff compares the implicit flow only.
        let all_flows = cx.config.differences().oauth_all_flows;
        for (flow, bfl) in bf {
            if !all_flows && flow != "implicit" {
                continue;
            }
            let Some(rfl) = rf.get(flow) else { continue };
            let sub = format!("security scheme {name} flow {flow}");
            if s(bfl, "authorizationUrl") != s(rfl, "authorizationUrl") {
                cx.emit(
                    "api-security-component-oauth-url-changed",
                    "",
                    &sub,
                    format!("the security scheme {name}'s authorization URL changed"),
                    Some(b),
                    Some(r),
                );
            }
            if s(bfl, "tokenUrl") != s(rfl, "tokenUrl") {
                cx.emit(
                    "api-security-component-oauth-token-url-changed",
                    "",
                    &sub,
                    format!("the security scheme {name}'s token URL changed"),
                    Some(b),
                    Some(r),
                );
            }
            let bsc = bfl
                .get("scopes")
                .and_then(Value::as_object)
                .unwrap_or(&empty);
            let rsc = rfl
                .get("scopes")
                .and_then(Value::as_object)
                .unwrap_or(&empty);
            for (k, v) in bsc {
                match rsc.get(k) {
                    None => {
                        cx.emit(
                            "api-security-component-oauth-scope-removed",
                            "",
                            &format!("{sub} scope {k}"),
                            format!("the scope {k} was removed from the security scheme {name}"),
                            Some(b),
                            Some(r),
                        );
                    }
                    Some(rv) if rv != v => {
                        cx.emit(
                            "api-security-component-oauth-scope-changed",
                            "",
                            &format!("{sub} scope {k}"),
                            format!("the scope {k} of the security scheme {name} was updated"),
                            Some(b),
                            Some(r),
                        );
                    }
                    _ => {}
                }
            }
            for k in rsc.keys().filter(|k| !bsc.contains_key(*k)) {
                cx.emit(
                    "api-security-component-oauth-scope-added",
                    "",
                    &format!("{sub} scope {k}"),
                    format!("the scope {k} was added to the security scheme {name}"),
                    Some(b),
                    Some(r),
                );
            }
        }
    }
    for (name, r) in &rs {
        if !bs.iter().any(|(k, _)| k == name) {
            cx.emit(
                "api-security-component-added",
                "",
                &format!("security scheme {name}"),
                format!("the security scheme {name} was added"),
                None,
                Some(r),
            );
        }
    }
}
