//! Conformance cases: see `support.rs` and `spec/gate-conformance.md`.
//!
//! Response bodies, response properties, status codes and response media
//! types, written from oasdiff's `checker/check_response_*.go`,
//! `checker/check_media_type_schema_existence.go`, `diff/content_diff.go`
//! and `diff/media_type_name.go`.

#[allow(unused_imports)]
use super::support::*;

/// `GET /items` whose 200 JSON response is an object with property `p`
/// of `schema` (unindented YAML).
fn prop(schema: &str) -> String {
    response_body(&format!(
        "type: object\nproperties:\n  p:\n{}",
        indent(schema, 4)
    ))
}

/// `POST /items` whose request body is an object with property `p`.
fn req_body_prop(schema: &str) -> String {
    request_body(&format!(
        "type: object\nproperties:\n  p:\n{}",
        indent(schema, 4)
    ))
}

/// `GET /items` with `responses` (unindented YAML of the responses object).
fn responses(r: &str) -> String {
    op("get", "/items", &format!("responses:\n{}", indent(r, 2)))
}

/// `GET /items` whose 200 response has `content` (unindented YAML).
fn content(c: &str) -> String {
    responses(&format!(
        "'200':\n  description: ok\n  content:\n{}",
        indent(c, 4)
    ))
}

/// An object with properties `a` (string) and `b` (integer), `required`
/// and `b`'s extra keywords given.
fn ab(required: &str, b_extra: &str) -> String {
    response_body(&format!(
        "type: object\n{required}properties:\n  a: {{type: string}}\n  b:\n    type: integer\n{}",
        indent(b_extra, 4)
    ))
}

/// A `GET /items` whose 200 response is `schema`, with components A and B.
fn with_ab(schema: &str) -> String {
    v30(&format!(
        "paths:\n  /items:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema:\n{}\ncomponents:\n  schemas:\n    A: {{type: object, properties: {{kind: {{type: string}}, a: {{type: string}}}}}}\n    B: {{type: object, properties: {{kind: {{type: string}}, b: {{type: string}}}}}}\n",
        indent(schema, 16)
    ))
}

const EP: &str = "GET /items";

/// Body and property versions of one schema-walk rule: `body` fires at the
/// response body root, `property` at property `p`.
#[allow(clippy::too_many_arguments)]
fn both(
    change: &'static str,
    body_trigger: &'static str,
    prop_trigger: &'static str,
    sev: &str,
    base: &str,
    rev: &str,
    miss_base: &str,
    miss_rev: &str,
) -> Vec<Rule> {
    let body_id: &'static str = Box::leak(format!("response-body-{change}").into_boxed_str());
    let prop_id: &'static str = Box::leak(format!("response-property-{change}").into_boxed_str());
    vec![
        rule(body_id, body_trigger)
            .fires(
                "at the body root",
                1,
                sev,
                EP,
                response_body(base),
                response_body(rev),
            )
            .quiet(
                "near miss",
                response_body(miss_base),
                response_body(miss_rev),
            )
            .quiet("in a request body", request_body(base), request_body(rev)),
        rule(prop_id, prop_trigger)
            .fires("on a property", 1, sev, EP, prop(base), prop(rev))
            .quiet("near miss", prop(miss_base), prop(miss_rev))
            .quiet(
                "in a request property",
                req_body_prop(base),
                req_body_prop(rev),
            ),
    ]
}

pub fn rules() -> Vec<Rule> {
    let mut v = Vec::new();
    v.extend(status_rules());
    v.extend(media_type_rules());
    v.extend(property_rules());
    v.extend(access_rules());
    v.extend(schema_rules());
    v.extend(composition_rules());
    v.extend(discriminator_rules());
    for r in &mut v {
        let taken = std::mem::replace(r, rule("", ""));
        *r = type_arrays(taken);
    }
    v
}

/// 3.1 type arrays read as sets: a response that returns only types it did
/// is specialized, one that may return more is generalized.
fn type_arrays(r: Rule) -> Rule {
    let ep = "GET /items";
    match r.id {
        "response-body-type-specialized" => r
            .fires(
                "a 3.1 type array narrowed",
                1,
                "INFO",
                ep,
                response_body31("type: [string, integer]"),
                response_body31("type: [string]"),
            )
            .quiet(
                "a 3.1 type array widened (generalized)",
                response_body31("type: [string]"),
                response_body31("type: [string, integer]"),
            ),
        "response-body-type-generalized" => r
            .fires(
                "a 3.1 type array widened",
                1,
                "ERR",
                ep,
                response_body31("type: [string]"),
                response_body31("type: [string, integer]"),
            )
            .quiet(
                "a 3.1 type array narrowed (specialized)",
                response_body31("type: [string, integer]"),
                response_body31("type: [string]"),
            ),
        _ => r,
    }
}

fn status_rules() -> Vec<Rule> {
    let two = "'200': {description: ok}\n";
    vec![
        rule(
            "response-success-status-removed",
            "a response whose status parses as an integer from 200 to 299 was removed (`2XX` and `default` are skipped)",
        )
        .fires(
            "201 removed",
            1,
            "ERR",
            EP,
            responses(&format!("{two}'201': {{description: created}}")),
            responses(two),
        )
        .quiet(
            "a 2XX range removed",
            responses(&format!("{two}'2XX': {{description: any}}")),
            responses(two),
        )
        .fires(
            "a 2XX range removed, status_ranges difference on",
            1,
            "ERR",
            EP,
            responses(&format!("{two}'2XX': {{description: any}}")),
            responses(two),
        )
        .with_config(gate::Config::default())
        .quiet(
            "a 404 removed",
            responses(&format!("{two}'404': {{description: nf}}")),
            responses(two),
        ),
        rule(
            "response-non-success-status-removed",
            "a response whose status parses as an integer outside 200-299 was removed (`4XX` and `default` are skipped)",
        )
        .fires(
            "404 removed",
            1,
            "INFO",
            EP,
            responses(&format!("{two}'404': {{description: nf}}")),
            responses(two),
        )
        .fires(
            "101 removed",
            1,
            "INFO",
            EP,
            responses(&format!("{two}'101': {{description: sw}}")),
            responses(two),
        )
        .quiet(
            "default removed",
            responses(&format!("{two}default: {{description: err}}")),
            responses(two),
        )
        .fires(
            "default removed, status_ranges difference on",
            1,
            "INFO",
            EP,
            responses(&format!("{two}default: {{description: err}}")),
            responses(two),
        )
        .with_config(gate::Config::default())
        .quiet(
            "a 4XX range removed",
            responses(&format!("{two}'4XX': {{description: err}}")),
            responses(two),
        ),
        rule(
            "response-success-status-added",
            "a response whose status parses as an integer from 200 to 299 was added",
        )
        .fires(
            "201 added",
            1,
            "INFO",
            EP,
            responses(two),
            responses(&format!("{two}'201': {{description: created}}")),
        )
        .quiet(
            "a 2XX range added",
            responses(two),
            responses(&format!("{two}'2XX': {{description: any}}")),
        ),
        rule(
            "response-non-success-status-added",
            "a response whose status parses as an integer outside 200-299 was added",
        )
        .fires(
            "400 added",
            1,
            "INFO",
            EP,
            responses(two),
            responses(&format!("{two}'400': {{description: bad}}")),
        )
        .quiet(
            "default added",
            responses(two),
            responses(&format!("{two}default: {{description: err}}")),
        )
        .quiet(
            "201 added",
            responses(two),
            responses(&format!("{two}'201': {{description: created}}")),
        ),
    ]
}

fn media_type_rules() -> Vec<Rule> {
    let json = "application/json:\n  schema: {type: string}";
    let xml = "application/xml:\n  schema: {type: string}";
    let mt = |name: &str| format!("{name}:\n  schema: {{type: string}}");
    let quoted = |name: &str| format!("'{name}':\n  schema: {{type: string}}");
    vec![
        rule(
            "response-media-type-added",
            "a media type was added to a response and no removed media type of the same type/subtype family (one containing the other) pairs with it",
        )
        .fires(
            "xml added",
            1,
            "INFO",
            EP,
            content(json),
            content(&format!("{json}\n{xml}")),
        )
        .fires(
            "json replaced by a wildcard",
            1,
            "INFO",
            EP,
            content(json),
            content(&quoted("*/*")),
        )
        .quiet(
            "json replaced by problem+json",
            content(json),
            content(&mt("application/problem+json")),
        ),
        rule(
            "response-media-type-removed",
            "a media type of a response was removed and no added media type pairs with it",
        )
        .fires(
            "xml removed",
            1,
            "ERR",
            EP,
            content(&format!("{json}\n{xml}")),
            content(json),
        )
        .fires(
            "one vendor type replaced by another",
            1,
            "ERR",
            EP,
            content(&mt("application/vnd.a+json")),
            content(&mt("application/vnd.b+json")),
        )
        .quiet(
            "problem+json generalized to json",
            content(&mt("application/problem+json")),
            content(json),
        ),
        rule(
            "response-media-type-name-changed",
            "a removed and an added media type pair (one contains the other) and their parameters differ",
        )
        .fires(
            "charset parameter added",
            1,
            "INFO",
            EP,
            content(json),
            content(&quoted("application/json; charset=utf-8")),
        )
        .quiet(
            "one vendor type replaced by another",
            content(&mt("application/vnd.a+json")),
            content(&mt("application/vnd.b+json")),
        )
        .quiet(
            "json specialized to problem+json",
            content(json),
            content(&mt("application/problem+json")),
        ),
        rule(
            "response-media-type-name-generalized",
            "a removed and an added media type pair, with the same parameters, and the new name does not specialize the old (application/problem+json to application/json)",
        )
        .fires(
            "problem+json to json",
            1,
            "ERR",
            EP,
            content(&mt("application/problem+json")),
            content(json),
        )
        .quiet(
            "json to a wildcard",
            content(json),
            content(&quoted("*/*")),
        )
        .quiet(
            "json to problem+json",
            content(json),
            content(&mt("application/problem+json")),
        ),
        rule(
            "response-media-type-name-specialized",
            "a removed and an added media type pair, with the same parameters, and the new name specializes the old (application/json to application/problem+json)",
        )
        .fires(
            "json to problem+json",
            1,
            "INFO",
            EP,
            content(json),
            content(&mt("application/problem+json")),
        )
        .quiet(
            "application/* to json",
            content(&quoted("application/*")),
            content(json),
        )
        .quiet(
            "problem+json to json",
            content(&mt("application/problem+json")),
            content(json),
        ),
        rule(
            "response-body-media-type-schema-added",
            "a response media type present on both sides had no schema and now has one",
        )
        .fires(
            "schema added",
            1,
            "INFO",
            EP,
            content("application/json: {}"),
            content(json),
        )
        .quiet(
            "a new media type with a schema",
            content("application/json: {}"),
            content(&format!("application/json: {{}}\n{xml}")),
        ),
        rule(
            "response-body-media-type-schema-removed",
            "a response media type present on both sides had a schema and now has none",
        )
        .fires(
            "schema removed",
            1,
            "WARN",
            EP,
            content(json),
            content("application/json: {}"),
        )
        .quiet(
            "the media type removed with its schema",
            content(&format!("{json}\n{xml}")),
            content(json),
        ),
        rule(
            "response-mediatype-enum-value-removed",
            "a value was removed from the enum of a response media type's schema (the body root)",
        )
        .fires(
            "one value removed",
            1,
            "INFO",
            EP,
            response_body("type: string\nenum: [a, b]"),
            response_body("type: string\nenum: [a]"),
        )
        .quiet(
            "a value added",
            response_body("type: string\nenum: [a]"),
            response_body("type: string\nenum: [a, b]"),
        )
        .quiet(
            "a value removed from a property",
            prop("type: string\nenum: [a, b]"),
            prop("type: string\nenum: [a]"),
        ),
    ]
}

fn property_rules() -> Vec<Rule> {
    let base = ab("", "");
    let base_req = ab("required: [a]\n", "");
    let only_a = |required: &str| {
        response_body(&format!(
            "type: object\n{required}properties:\n  a: {{type: string}}"
        ))
    };
    let with_c = |required: &str, c: &str| {
        response_body(&format!(
            "type: object\n{required}properties:\n  a: {{type: string}}\n  c: {c}"
        ))
    };
    vec![
        rule(
            "response-optional-property-added",
            "a property not in the revision's `required` and not writeOnly was added to a response schema",
        )
        .fires("optional c added", 1, "INFO", EP, only_a(""), with_c("", "{type: string}"))
        .quiet("required c added", only_a(""), with_c("required: [c]\n", "{type: string}"))
        .quiet("write-only c added", only_a(""), with_c("", "{type: string, writeOnly: true}")),
        rule(
            "response-required-property-added",
            "a property listed in the revision's `required` and not writeOnly was added to a response schema",
        )
        .fires("required c added", 1, "INFO", EP, only_a(""), with_c("required: [c]\n", "{type: string}"))
        .quiet("optional c added", only_a(""), with_c("", "{type: string}"))
        .quiet("write-only required c added", only_a(""), with_c("required: [c]\n", "{type: string, writeOnly: true}")),
        rule(
            "response-optional-write-only-property-added",
            "a writeOnly property not in the revision's `required` was added to a response schema",
        )
        .fires("write-only c added", 1, "INFO", EP, only_a(""), with_c("", "{type: string, writeOnly: true}"))
        .quiet("plain optional c added", only_a(""), with_c("", "{type: string}")),
        rule(
            "response-required-write-only-property-added",
            "a writeOnly property listed in the revision's `required` was added to a response schema",
        )
        .fires("write-only required c added", 1, "INFO", EP, only_a(""), with_c("required: [c]\n", "{type: string, writeOnly: true}"))
        .quiet("write-only optional c added", only_a(""), with_c("", "{type: string, writeOnly: true}")),
        rule(
            "response-optional-property-removed",
            "a property not in the base's `required` and not writeOnly was removed from a response schema",
        )
        .fires("optional b removed", 1, "WARN", EP, base.clone(), only_a(""))
        .quiet("required b removed", ab("required: [b]\n", ""), only_a(""))
        .quiet("write-only b removed", ab("", "writeOnly: true"), only_a("")),
        rule(
            "response-required-property-removed",
            "a property listed in the base's `required` and not writeOnly was removed from a response schema",
        )
        .fires("required b removed", 1, "ERR", EP, ab("required: [b]\n", ""), only_a(""))
        .fires(
            "nested required property removed",
            1,
            "ERR",
            EP,
            prop("type: object\nrequired: [x]\nproperties:\n  x: {type: string}\n  y: {type: string}"),
            prop("type: object\nproperties:\n  y: {type: string}"),
        )
        .quiet("optional b removed", base.clone(), only_a(""))
        .quiet("write-only required b removed", ab("required: [b]\n", "writeOnly: true"), only_a(""))
        .quiet(
            "required b removed from a request body",
            request_body("type: object\nrequired: [b]\nproperties:\n  b: {type: string}\n  a: {type: string}"),
            request_body("type: object\nproperties:\n  a: {type: string}"),
        ),
        rule(
            "response-optional-write-only-property-removed",
            "a writeOnly property not in the base's `required` was removed from a response schema",
        )
        .fires("write-only b removed", 1, "INFO", EP, ab("", "writeOnly: true"), only_a(""))
        .quiet("plain b removed", base.clone(), only_a("")),
        rule(
            "response-required-write-only-property-removed",
            "a writeOnly property listed in the base's `required` was removed from a response schema",
        )
        .fires("write-only required b removed", 1, "INFO", EP, ab("required: [b]\n", "writeOnly: true"), only_a(""))
        .quiet("write-only optional b removed", ab("", "writeOnly: true"), only_a("")),
        rule(
            "response-property-became-optional",
            "a property defined on both sides left the `required` list of a response schema (not writeOnly)",
        )
        .fires("a no longer required", 1, "ERR", EP, base_req.clone(), base.clone())
        .fires(
            "nested x no longer required",
            1,
            "ERR",
            EP,
            prop("type: object\nrequired: [x]\nproperties:\n  x: {type: string}"),
            prop("type: object\nproperties:\n  x: {type: string}"),
        )
        .quiet("a became required", base.clone(), base_req.clone())
        .quiet(
            "a removed with its requiredness",
            base_req.clone(),
            response_body("type: object\nproperties:\n  b: {type: integer}"),
        )
        .quiet("write-only b no longer required", ab("required: [b]\n", "writeOnly: true"), ab("", "writeOnly: true")),
        rule(
            "response-write-only-property-became-optional",
            "a writeOnly property defined on both sides left the `required` list of a response schema",
        )
        .fires("write-only b no longer required", 1, "INFO", EP, ab("required: [b]\n", "writeOnly: true"), ab("", "writeOnly: true"))
        .quiet("plain a no longer required", base_req.clone(), base.clone()),
        rule(
            "response-property-became-required",
            "a property defined on both sides joined the `required` list of a response schema (not writeOnly)",
        )
        .fires("a became required", 1, "INFO", EP, base.clone(), base_req.clone())
        .quiet("a no longer required", base_req.clone(), base.clone())
        .quiet("a required property added", only_a(""), with_c("required: [c]\n", "{type: string}"))
        .quiet("write-only b became required", ab("", "writeOnly: true"), ab("required: [b]\n", "writeOnly: true")),
        rule(
            "response-write-only-property-became-required",
            "a writeOnly property defined on both sides joined the `required` list of a response schema",
        )
        .fires("write-only b became required", 1, "INFO", EP, ab("", "writeOnly: true"), ab("required: [b]\n", "writeOnly: true"))
        .quiet("plain a became required", base.clone(), base_req.clone()),
        rule(
            "response-property-deprecated",
            "a response property became `deprecated: true` (no sunset policy in force)",
        )
        .fires("p deprecated", 1, "INFO", EP, prop("type: string"), prop("type: string\ndeprecated: true"))
        .quiet("p no longer deprecated", prop("type: string\ndeprecated: true"), prop("type: string")),
        rule(
            "response-property-reactivated",
            "a response property was `deprecated: true` and no longer is",
        )
        .fires("p reactivated", 1, "INFO", EP, prop("type: string\ndeprecated: true"), prop("type: string"))
        .quiet("p deprecated", prop("type: string"), prop("type: string\ndeprecated: true")),
        rule(
            "response-property-enum-value-added",
            "a value was added to the enum of a response property that is not writeOnly (one finding per value)",
        )
        .fires("two values added", 2, "WARN", EP, prop("type: string\nenum: [a]"), prop("type: string\nenum: [a, b, c]"))
        .quiet("a value removed", prop("type: string\nenum: [a, b]"), prop("type: string\nenum: [a]"))
        .quiet("write-only property", prop("type: string\nwriteOnly: true\nenum: [a]"), prop("type: string\nwriteOnly: true\nenum: [a, b]"))
        .fires(
            "write-only only in the base (read off the revision)",
            1,
            "WARN",
            EP,
            prop("type: string\nwriteOnly: true\nenum: [a]"),
            prop("type: string\nenum: [a, b]"),
        ),
        rule(
            "response-write-only-property-enum-value-added",
            "a value was added to the enum of a writeOnly response property",
        )
        .fires("a value added", 1, "INFO", EP, prop("type: string\nwriteOnly: true\nenum: [a]"), prop("type: string\nwriteOnly: true\nenum: [a, b]"))
        .quiet("plain property", prop("type: string\nenum: [a]"), prop("type: string\nenum: [a, b]")),
        rule(
            "response-property-enum-value-removed",
            "a value was removed from the enum of a response property (one finding per value)",
        )
        .fires("a value removed", 1, "INFO", EP, prop("type: string\nenum: [a, b]"), prop("type: string\nenum: [a]"))
        .quiet("a value added", prop("type: string\nenum: [a]"), prop("type: string\nenum: [a, b]"))
        .quiet("removed at the body root", response_body("type: string\nenum: [a, b]"), response_body("type: string\nenum: [a]")),
    ]
}

fn access_rules() -> Vec<Rule> {
    // (rule, base keywords, revision keywords, required in base, level)
    let cases: [(&'static str, &str, &str, bool, &str, &'static str); 8] = [
        (
            "response-optional-property-became-read-only",
            "",
            "readOnly: true",
            false,
            "INFO",
            "an optional (not in the base's `required`) response property became readOnly",
        ),
        (
            "response-optional-property-became-not-read-only",
            "readOnly: true",
            "",
            false,
            "INFO",
            "an optional (not in the base's `required`) response property stopped being readOnly",
        ),
        (
            "response-optional-property-became-write-only",
            "",
            "writeOnly: true",
            false,
            "INFO",
            "an optional (not in the base's `required`) response property became writeOnly",
        ),
        (
            "response-optional-property-became-not-write-only",
            "writeOnly: true",
            "",
            false,
            "INFO",
            "an optional (not in the base's `required`) response property stopped being writeOnly",
        ),
        (
            "response-required-property-became-read-only",
            "",
            "readOnly: true",
            true,
            "INFO",
            "a response property in the base's `required` became readOnly",
        ),
        (
            "response-required-property-became-not-read-only",
            "readOnly: true",
            "",
            true,
            "INFO",
            "a response property in the base's `required` stopped being readOnly",
        ),
        (
            "response-required-property-became-write-only",
            "",
            "writeOnly: true",
            true,
            "INFO",
            "a response property in the base's `required` became writeOnly",
        ),
        (
            "response-required-property-became-not-write-only",
            "writeOnly: true",
            "",
            true,
            "WARN",
            "a response property in the base's `required` stopped being writeOnly",
        ),
    ];
    cases
        .into_iter()
        .map(|(id, b, r, required, sev, trigger)| {
            let mk = |req: bool, kw: &str| ab(if req { "required: [b]\n" } else { "" }, kw);
            rule(id, trigger)
                .fires("b changed", 1, sev, EP, mk(required, b), mk(required, r))
                .quiet("the other requiredness", mk(!required, b), mk(!required, r))
                .quiet("the opposite change", mk(required, r), mk(required, b))
                // requiredness is read off the base: the property left or
                // joined `required` in the same change
                .quiet(
                    "requiredness read off the base",
                    mk(!required, b),
                    mk(required, r),
                )
        })
        .collect()
}

/// `response-property-{change}` does not fire on a property that is
/// writeOnly in the revision (oasdiff's bound checks skip it).
fn write_only_miss(v: &mut [Rule], change: &str, b: &str, r: &str) {
    let id = format!("response-property-{change}");
    if let Some(rule) = v.iter_mut().find(|x| x.id == id) {
        let taken = std::mem::replace(rule, super::support::rule("", ""));
        *rule = taken.quiet(
            "on a write-only property",
            prop(&format!("{b}\nwriteOnly: true")),
            prop(&format!("{r}\nwriteOnly: true")),
        );
    }
}

fn schema_rules() -> Vec<Rule> {
    let mut v = Vec::new();
    let mut add = |change: &'static str,
                   bt: &'static str,
                   pt: &'static str,
                   sev: &str,
                   b: &str,
                   r: &str,
                   mb: &str,
                   mr: &str| {
        v.extend(both(change, bt, pt, sev, b, r, mb, mr));
    };
    add(
        "became-nullable",
        "the response body schema became nullable",
        "a response property became nullable",
        "ERR",
        "type: string",
        "type: string\nnullable: true",
        "type: string\nnullable: true",
        "type: string",
    );
    add(
        "became-not-nullable",
        "the response body schema stopped being nullable",
        "a response property stopped being nullable",
        "INFO",
        "type: string\nnullable: true",
        "type: string",
        "type: string",
        "type: string\nnullable: true",
    );
    add(
        "default-value-added",
        "a default was set on the response body schema",
        "a default was set on a response property",
        "INFO",
        "type: string",
        "type: string\ndefault: x",
        "type: string\ndefault: x",
        "type: string",
    );
    add(
        "default-value-removed",
        "the default of the response body schema was removed",
        "the default of a response property was removed",
        "INFO",
        "type: string\ndefault: x",
        "type: string",
        "type: string",
        "type: string\ndefault: x",
    );
    add(
        "default-value-changed",
        "the default of the response body schema changed value",
        "the default of a response property changed value",
        "INFO",
        "type: string\ndefault: x",
        "type: string\ndefault: y",
        "type: string",
        "type: string\ndefault: y",
    );
    add(
        "max-increased",
        "the response body's maximum was raised (both sides set)",
        "a response property's maximum was raised (both sides set; not writeOnly)",
        "ERR",
        "type: integer\nmaximum: 10",
        "type: integer\nmaximum: 20",
        "type: integer\nmaximum: 20",
        "type: integer\nmaximum: 10",
    );
    add(
        "min-decreased",
        "the response body's minimum was lowered (both sides set)",
        "a response property's minimum was lowered (both sides set; not writeOnly)",
        "ERR",
        "type: integer\nminimum: 10",
        "type: integer\nminimum: 5",
        "type: integer\nminimum: 5",
        "type: integer\nminimum: 10",
    );
    add(
        "max-length-increased",
        "the response body's maxLength was raised (both sides set)",
        "a response property's maxLength was raised (both sides set; not writeOnly)",
        "ERR",
        "type: string\nmaxLength: 10",
        "type: string\nmaxLength: 20",
        "type: string\nmaxLength: 20",
        "type: string\nmaxLength: 10",
    );
    add(
        "max-length-unset",
        "the response body's maxLength was removed",
        "a response property's maxLength was removed (not writeOnly)",
        "ERR",
        "type: string\nmaxLength: 10",
        "type: string",
        "type: string",
        "type: string\nmaxLength: 10",
    );
    add(
        "min-length-decreased",
        "the response body's minLength was lowered (both sides set)",
        "a response property's minLength was lowered (both sides set; not writeOnly)",
        "ERR",
        "type: string\nminLength: 10",
        "type: string\nminLength: 5",
        "type: string\nminLength: 5",
        "type: string\nminLength: 10",
    );
    add(
        "min-items-decreased",
        "the response body's minItems was lowered (both sides set)",
        "a response property's minItems was lowered (both sides set; not writeOnly)",
        "ERR",
        "type: array\nitems: {type: string}\nminItems: 3",
        "type: array\nitems: {type: string}\nminItems: 1",
        "type: array\nitems: {type: string}\nminItems: 1",
        "type: array\nitems: {type: string}\nminItems: 3",
    );
    add(
        "type-changed",
        "the response body's type changed to an incompatible one (string to integer)",
        "a response property's type changed to an incompatible one",
        "ERR",
        "type: string",
        "type: integer",
        "type: number",
        "type: integer",
    );
    add(
        "type-generalized",
        "the response body's type set widened (integer to number)",
        "a response property's type set widened (integer to number)",
        "ERR",
        "type: integer",
        "type: number",
        "type: number",
        "type: integer",
    );
    add(
        "type-specialized",
        "the response body's type set narrowed (number to integer)",
        "a response property's type set narrowed (number to integer)",
        "INFO",
        "type: number",
        "type: integer",
        "type: integer",
        "type: number",
    );
    add(
        "pattern-property-added",
        "a patternProperties entry was added to the response body schema",
        "a patternProperties entry was added to a response property",
        "INFO",
        "type: object",
        "type: object\npatternProperties:\n  '^x-': {type: string}",
        "type: object\npatternProperties:\n  '^x-': {type: string}",
        "type: object",
    );
    add(
        "pattern-property-removed",
        "a patternProperties entry was removed from the response body schema",
        "a patternProperties entry was removed from a response property",
        "ERR",
        "type: object\npatternProperties:\n  '^x-': {type: string}",
        "type: object",
        "type: object",
        "type: object\npatternProperties:\n  '^x-': {type: string}",
    );
    // kin-openapi reads minItems as a plain integer (absent is 0), so a
    // dropped minItems is a decrease to 0 and the `-unset` rules never fire.
    v.push(never(
        "response-body-min-items-unset",
        "the response body's minItems diff goes from a value to none",
        "kin-openapi's Schema.MinItems is a uint64, so oasdiff's MinItemsDiff.To is never nil: a dropped minItems is reported as response-body-min-items-decreased (to 0)",
    ));
    v.push(never(
        "response-property-min-items-unset",
        "a response property's minItems diff goes from a value to none",
        "kin-openapi's Schema.MinItems is a uint64, so oasdiff's MinItemsDiff.To is never nil: a dropped minItems is reported as response-property-min-items-decreased (to 0)",
    ));
    for r in v.iter_mut() {
        if r.id == "response-body-min-items-decreased" {
            let taken = std::mem::replace(r, super::support::rule("", ""));
            *r = taken.fires(
                "minItems dropped (absent is 0)",
                1,
                "ERR",
                EP,
                response_body("type: array\nitems: {type: string}\nminItems: 3"),
                response_body("type: array\nitems: {type: string}"),
            );
        }
    }
    for (change, b, r) in [
        (
            "max-increased",
            "type: integer\nmaximum: 10",
            "type: integer\nmaximum: 20",
        ),
        (
            "min-decreased",
            "type: integer\nminimum: 10",
            "type: integer\nminimum: 5",
        ),
        (
            "max-length-increased",
            "type: string\nmaxLength: 10",
            "type: string\nmaxLength: 20",
        ),
        (
            "max-length-unset",
            "type: string\nmaxLength: 10",
            "type: string",
        ),
        (
            "min-length-decreased",
            "type: string\nminLength: 10",
            "type: string\nminLength: 5",
        ),
        (
            "min-items-decreased",
            "type: array\nitems: {type: string}\nminItems: 3",
            "type: array\nitems: {type: string}\nminItems: 1",
        ),
    ] {
        write_only_miss(&mut v, change, b, r);
    }
    // A change inside a member of a root `allOf` is a property change for
    // oasdiff (its property walk visits the members), not a body change.
    let member = |n: u32| response_body(&format!("allOf:\n  - {{type: string, maxLength: {n}}}"));
    for r in v.iter_mut() {
        let taken = std::mem::replace(r, super::support::rule("", ""));
        *r = match taken.id {
            "response-property-max-length-increased" => taken.fires(
                "inside a root allOf member",
                1,
                "ERR",
                EP,
                member(5),
                member(10),
            ),
            "response-body-max-length-increased" => {
                taken.quiet("inside a root allOf member", member(5), member(10))
            }
            _ => taken,
        };
    }
    // 3.1 keywords.
    let exclusive = |change: &'static str, sev: &str, b: &str, r: &str| -> Vec<Rule> {
        let body_id: &'static str = Box::leak(format!("response-body-{change}").into_boxed_str());
        let prop_id: &'static str =
            Box::leak(format!("response-property-{change}").into_boxed_str());
        let body = |s: &str| {
            op31(
                "get",
                "/items",
                &format!(
                    "responses:\n  '200':\n    description: ok\n    content:\n      application/json:\n        schema:\n{}",
                    indent(s, 10)
                ),
            )
        };
        let p = |s: &str| {
            body(&format!(
                "type: object\nproperties:\n  p:\n{}",
                indent(s, 4)
            ))
        };
        vec![
            rule(body_id, "the response body's numeric exclusive bound was loosened (both sides set)")
                .fires("loosened", 1, sev, EP, body(b), body(r))
                .quiet("tightened", body(r), body(b)),
            rule(prop_id, "a response property's numeric exclusive bound was loosened (both sides set; not writeOnly)")
                .fires("loosened", 1, sev, EP, p(b), p(r))
                .quiet("tightened", p(r), p(b)),
        ]
    };
    v.extend(exclusive(
        "exclusive-max-increased",
        "ERR",
        "type: number\nexclusiveMaximum: 10",
        "type: number\nexclusiveMaximum: 20",
    ));
    v.extend(exclusive(
        "exclusive-min-decreased",
        "ERR",
        "type: number\nexclusiveMinimum: 10",
        "type: number\nexclusiveMinimum: 5",
    ));
    let list = |change: &'static str, sev: &str, b: &str, r: &str| -> Vec<Rule> {
        let body_id: &'static str = Box::leak(format!("response-body-{change}").into_boxed_str());
        let prop_id: &'static str =
            Box::leak(format!("response-property-{change}").into_boxed_str());
        let body = |s: &str| {
            op31(
                "get",
                "/items",
                &format!(
                    "responses:\n  '200':\n    description: ok\n    content:\n      application/json:\n        schema:\n{}",
                    indent(s, 10)
                ),
            )
        };
        let p = |s: &str| {
            body(&format!(
                "type: object\nproperties:\n  p:\n{}",
                indent(s, 4)
            ))
        };
        vec![
            rule(body_id, "the response body's list of types (a `oneOf`/`anyOf` of members that only name a type) changed in the named direction")
                .fires("changed", 1, sev, EP, body(b), body(r))
                .quiet("the opposite direction", body(r), body(b))
                .quiet("a 3.1 type array: a type change, not a list of types", body(&arrays(b)), body(&arrays(r))),
            rule(prop_id, "a response property's list of types (a `oneOf`/`anyOf` of members that only name a type) changed in the named direction")
                .fires("changed", 1, sev, EP, p(b), p(r))
                .quiet("the opposite direction", p(r), p(b))
                .quiet("a 3.1 type array: a type change, not a list of types", p(&arrays(b)), p(&arrays(r))),
        ]
    };
    v.extend(list(
        "list-of-types-widened",
        "ERR",
        "oneOf:\n  - type: string\n  - type: integer",
        "oneOf:\n  - type: string\n  - type: integer\n  - type: boolean",
    ));
    v.extend(list(
        "list-of-types-narrowed",
        "INFO",
        "oneOf:\n  - type: string\n  - type: integer\n  - type: boolean",
        "oneOf:\n  - type: string\n  - type: integer",
    ));
    // type-compatible: a loose type swap in a media type that is not strongly typed.
    let xml = |s: &str| {
        op(
            "get",
            "/items",
            &format!(
                "responses:\n  '200':\n    description: ok\n    content:\n      application/xml:\n        schema:\n{}",
                indent(s, 10)
            ),
        )
    };
    let xml_p = |s: &str| {
        xml(&format!(
            "type: object\nproperties:\n  p:\n{}",
            indent(s, 4)
        ))
    };
    v.push(
        rule("response-body-type-compatible", "the response body's type changed in a way only a loosely typed media type tolerates (string to object in application/xml)")
            .fires("string to object in xml", 1, "INFO", EP, xml("type: string"), xml("type: object"))
            .quiet("string to object in json", response_body("type: string"), response_body("type: object")),
    );
    v.push(
        rule(
            "response-property-type-compatible",
            "a response property's type changed in a way only a loosely typed media type tolerates",
        )
        .fires(
            "string to object in xml",
            1,
            "INFO",
            EP,
            xml_p("type: string"),
            xml_p("type: object"),
        )
        .quiet(
            "string to object in json",
            prop("type: string"),
            prop("type: object"),
        ),
    );
    // Write-only properties: the bound checks skip them.
    v.push(
        rule(
            "response-property-pattern-added",
            "a pattern was set on a response property",
        )
        .fires(
            "pattern added",
            1,
            "INFO",
            EP,
            prop("type: string"),
            prop("type: string\npattern: '^a'"),
        )
        .quiet(
            "pattern removed",
            prop("type: string\npattern: '^a'"),
            prop("type: string"),
        )
        .quiet(
            "on the body root",
            response_body("type: string"),
            response_body("type: string\npattern: '^a'"),
        ),
    );
    v.push(
        rule(
            "response-property-pattern-removed",
            "the pattern of a response property was removed",
        )
        .fires(
            "pattern removed",
            1,
            "INFO",
            EP,
            prop("type: string\npattern: '^a'"),
            prop("type: string"),
        )
        .quiet(
            "pattern added",
            prop("type: string"),
            prop("type: string\npattern: '^a'"),
        ),
    );
    v.push(
        rule(
            "response-property-pattern-changed",
            "the pattern of a response property changed to another",
        )
        .fires(
            "pattern changed",
            1,
            "INFO",
            EP,
            prop("type: string\npattern: '^a'"),
            prop("type: string\npattern: '^b'"),
        )
        .quiet(
            "pattern added",
            prop("type: string"),
            prop("type: string\npattern: '^b'"),
        ),
    );
    v
}

fn composition_rules() -> Vec<Rule> {
    let mut v = Vec::new();
    for (kw, added_sev, removed_sev) in [("any-of", "INFO", "INFO"), ("one-of", "ERR", "INFO")] {
        let key = if kw == "any-of" { "anyOf" } else { "oneOf" };
        let m = |n: &str| {
            format!("  - {{type: object, properties: {{{n}: {{type: string}}}}, required: [{n}]}}")
        };
        let one = format!("{key}:\n{}\n{}", m("x"), m("y"));
        let two = format!("{key}:\n{}\n{}\n{}", m("x"), m("y"), m("z"));
        let (added, removed): (&'static str, &'static str) = (
            Box::leak(format!("{kw}-added").into_boxed_str()),
            Box::leak(format!("{kw}-removed").into_boxed_str()),
        );
        v.extend(both(
            added,
            Box::leak(
                format!("a subschema was added to the `{key}` of the response body")
                    .into_boxed_str(),
            ),
            Box::leak(
                format!("a subschema was added to the `{key}` of a response property")
                    .into_boxed_str(),
            ),
            added_sev,
            &one,
            &two,
            &two,
            &one,
        ));
        v.extend(both(
            removed,
            Box::leak(
                format!("a subschema was removed from the `{key}` of the response body")
                    .into_boxed_str(),
            ),
            Box::leak(
                format!("a subschema was removed from the `{key}` of a response property")
                    .into_boxed_str(),
            ),
            removed_sev,
            &two,
            &one,
            &one,
            &two,
        ));
    }
    let one = "allOf:\n  - {type: object, properties: {a: {type: string}}}";
    let two = "allOf:\n  - {type: object, properties: {a: {type: string}}}\n  - {type: object, properties: {b: {type: string}}}";
    let ann =
        "allOf:\n  - {type: object, properties: {a: {type: string}}}\n  - {description: more}";
    v.extend(both(
        "all-of-added",
        "a subschema that validates was added to the `allOf` of the response body",
        "a subschema that validates was added to the `allOf` of a response property",
        "INFO",
        one,
        two,
        one,
        ann,
    ));
    v.extend(both(
        "all-of-removed",
        "a subschema that validates was removed from the `allOf` of the response body",
        "a subschema that validates was removed from the `allOf` of a response property",
        "INFO",
        two,
        one,
        ann,
        one,
    ));
    v.extend(both(
        "all-of-added-annotation-only",
        "a subschema made only of annotations was added to the `allOf` of the response body",
        "a subschema made only of annotations was added to the `allOf` of a response property",
        "INFO",
        one,
        ann,
        one,
        two,
    ));
    v.extend(both(
        "all-of-removed-annotation-only",
        "a subschema made only of annotations was removed from the `allOf` of the response body",
        "a subschema made only of annotations was removed from the `allOf` of a response property",
        "INFO",
        ann,
        one,
        two,
        one,
    ));
    v.push(
        rule("response-body-wrapped-in-one-of", "the response body schema was replaced by a `oneOf` whose single member is the old schema")
            .fires("wrapped", 1, "ERR", EP, response_body("type: object\nproperties:\n  a: {type: string}"),
                response_body("oneOf:\n  - type: object\n    properties:\n      a: {type: string}"))
            .quiet("wrapped in an anyOf", response_body("type: object\nproperties:\n  a: {type: string}"),
                response_body("anyOf:\n  - type: object\n    properties:\n      a: {type: string}")),
    );
    v
}

fn discriminator_rules() -> Vec<Rule> {
    let mut v = Vec::new();
    let one_of = "oneOf:\n  - $ref: '#/components/schemas/A'\n  - $ref: '#/components/schemas/B'";
    let d = |extra: &str| format!("{one_of}\ndiscriminator:\n{}", indent(extra, 2));
    let body = |s: &str| with_ab(s);
    let p = |s: &str| {
        with_ab(&format!(
            "type: object\nproperties:\n  p:\n{}",
            indent(s, 4)
        ))
    };
    let map_ab = "propertyName: kind\nmapping:\n  a: '#/components/schemas/A'\n  b: '#/components/schemas/B'";
    let map_a = "propertyName: kind\nmapping:\n  a: '#/components/schemas/A'";
    let map_a_b = "propertyName: kind\nmapping:\n  a: '#/components/schemas/B'";
    let cases: [(&str, String, String, String, String); 6] = [
        (
            "discriminator-added",
            one_of.to_owned(),
            d("propertyName: kind"),
            d("propertyName: kind"),
            one_of.to_owned(),
        ),
        (
            "discriminator-removed",
            d("propertyName: kind"),
            one_of.to_owned(),
            one_of.to_owned(),
            d("propertyName: kind"),
        ),
        (
            "discriminator-property-name-changed",
            d("propertyName: kind"),
            d("propertyName: type"),
            d("propertyName: kind"),
            d(map_a),
        ),
        (
            "discriminator-mapping-added",
            d(map_a),
            d(map_ab),
            d(map_ab),
            d(map_a),
        ),
        (
            "discriminator-mapping-deleted",
            d(map_ab),
            d(map_a),
            d(map_a),
            d(map_ab),
        ),
        (
            "discriminator-mapping-changed",
            d(map_a),
            d(map_a_b),
            d(map_a),
            d(map_ab),
        ),
    ];
    for (change, b, r, mb, mr) in cases {
        let body_id: &'static str = Box::leak(format!("response-body-{change}").into_boxed_str());
        let prop_id: &'static str =
            Box::leak(format!("response-property-{change}").into_boxed_str());
        let what = change.replace('-', " ");
        let bt: &'static str =
            Box::leak(format!("{what} on the response body schema").into_boxed_str());
        let pt: &'static str = Box::leak(format!("{what} on a response property").into_boxed_str());
        v.push(
            rule(body_id, bt)
                .fires("at the body root", 1, "INFO", EP, body(&b), body(&r))
                .quiet("near miss", body(&mb), body(&mr)),
        );
        v.push(
            rule(prop_id, pt)
                .fires("on a property", 1, "INFO", EP, p(&b), p(&r))
                .quiet("near miss", p(&mb), p(&mr)),
        );
    }
    v
}

/// The 3.1 `type: [..]` spelling of a `oneOf` of members that only name a type.
fn arrays(one_of: &str) -> String {
    let types: Vec<&str> = one_of
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- type: "))
        .collect();
    format!("type: [{}]", types.join(", "))
}
