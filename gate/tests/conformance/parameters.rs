//! Conformance cases: see `support.rs` and `spec/gate-conformance.md`.
//!
//! Request parameters, request headers, response headers and the lifecycle
//! rules (deprecation, `x-sunset`, `x-stability-level`, endpoints added and
//! removed, property stability and deprecation with a sunset date), written
//! from oasdiff's `checker/check_request_parameter*.go`,
//! `check_request_parameters_*.go`, `check_response_header*.go`,
//! `check_api_*.go`, `check_property_stability_level.go`,
//! `check_request_property_deprecation.go`, `type_format*.go` and
//! `diff/list_of_types_diff.go`.

#[allow(unused_imports)]
use super::support::*;
use gate::Config;

const EP: &str = "GET /items";

/// `GET /items` with a query parameter `q` of `schema` (unindented YAML).
fn q(schema: &str) -> String {
    parameter(&format!(
        "name: q\nin: query\nschema:\n{}",
        indent(schema, 2)
    ))
}

/// The same for a parameter in `location` named `name`, with extra fields.
fn param_in(location: &str, name: &str, extra: &str, schema: &str) -> String {
    parameter(&format!(
        "name: {name}\nin: {location}\n{extra}schema:\n{}",
        indent(schema, 2)
    ))
}

/// `GET /items` with an operation body `extra` (unindented YAML) and a bare 200.
fn get(extra: &str) -> String {
    op(
        "get",
        "/items",
        &format!("{extra}responses:\n  '200': {{description: ok}}"),
    )
}

/// `GET /items` whose 200 response has the header `X-H` (unindented YAML of the header).
fn resp_header(header: &str) -> String {
    op(
        "get",
        "/items",
        &format!(
            "responses:\n  '200':\n    description: ok\n    headers:\n      X-H:\n{}",
            indent(header, 8)
        ),
    )
}

/// `GET /items` with no response headers.
fn no_headers() -> String {
    get("")
}

/// `GET` and `POST /items`, the `GET` with `get_extra` (unindented YAML).
fn two_ops(get_extra: &str) -> String {
    v30(&format!(
        "paths:\n  /items:\n    get:\n{}\n    post:\n      responses:\n        '200': {{description: ok}}\n",
        indent(
            &format!("{get_extra}responses:\n  '200': {{description: ok}}"),
            6
        )
    ))
}

/// Only `POST /items`.
fn post_only() -> String {
    op("post", "/items", "responses:\n  '200': {description: ok}")
}

/// A document with no paths.
fn no_paths() -> String {
    v30("paths: {}\n")
}

/// The oasdiff config with a deprecation policy of `days` for stable (and beta).
fn policy(days: u32) -> Config {
    Config {
        deprecation_days_stable: days,
        deprecation_days_beta: days,
        ..oasdiff()
    }
}

/// A policy for beta operations only.
fn beta_policy(days: u32) -> Config {
    Config {
        deprecation_days_beta: days,
        ..oasdiff()
    }
}

/// The document with its one operation marked `x-stability-level: beta`.
fn beta_op(doc: &str) -> String {
    let mut out = doc.to_owned();
    for m in ["get", "post"] {
        out = out.replace(
            &format!("    {m}:\n"),
            &format!("    {m}:\n      x-stability-level: beta\n"),
        );
    }
    out
}

/// `POST /items` whose JSON request body is an object with property `p` (unindented YAML).
fn req_prop(p: &str) -> String {
    request_body(&format!(
        "type: object\nproperties:\n  p:\n{}",
        indent(p, 4)
    ))
}

/// `GET /items` whose 200 JSON response is an object with property `p`.
fn resp_prop(p: &str) -> String {
    response_body(&format!(
        "type: object\nproperties:\n  p:\n{}",
        indent(p, 4)
    ))
}

/// A query parameter `q` whose schema is an object with property `p` (unindented YAML).
fn q_prop(p: &str) -> String {
    q(&format!(
        "type: object\nproperties:\n  p:\n{}",
        indent(p, 4)
    ))
}

/// A header parameter `X-H` whose schema is `schema`.
fn h(schema: &str) -> String {
    param_in("header", "X-H", "", schema)
}

/// `GET /items` whose path item has the query parameter `q` (`extra` fields).
fn path_level_q(extra: &str) -> String {
    v30(&format!(
        "paths:\n  /items:\n    parameters:\n    - name: q\n      in: query\n{}      schema: {{type: string}}\n    get:\n      responses:\n        '200': {{description: ok}}\n",
        indent(extra, 6).trim_end().to_owned() + if extra.is_empty() { "" } else { "\n" }
    ))
}

/// StateAnchor's own mode (every deliberate difference on).
fn native() -> Config {
    Config::default()
}

pub fn rules() -> Vec<Rule> {
    let mut out = Vec::new();
    out.extend(lifecycle());
    out.extend(removal());
    out.extend(added());
    out.extend(param_lifecycle());
    out.extend(param_values());
    out.extend(param_bounds());
    out.extend(param_types());
    out.extend(headers());
    out.extend(properties());
    out
}

fn lifecycle() -> Vec<Rule> {
    let dep = |sunset: &str| get(&format!("deprecated: true\nx-sunset: '{sunset}'\n"));
    vec![
        rule(
            "api-deprecated-sunset-missing",
            "An operation becomes deprecated without x-sunset while the deprecation policy for its stability level asks for days (> 0).",
        )
        .fires("policy and no sunset", 1, "ERR", EP, get(""), get("deprecated: true\n"))
        .with_config(policy(30))
        .quiet("no policy (the default)", get(""), get("deprecated: true\n")),
        rule(
            "api-deprecated-sunset-parse",
            "An operation becomes deprecated with an x-sunset that is neither a date nor RFC 3339.",
        )
        .fires("not a date", 1, "ERR", EP, get(""), dep("next year"))
        .quiet("a date", get(""), dep("2030-01-01")),
        rule(
            "api-invalid-stability-level",
            "An operation modified between the documents (or a removed one) has an x-stability-level other than draft, alpha, beta or stable: once per document that has it.",
        )
        .fires("invalid in the revision", 1, "ERR", EP, get("x-stability-level: beta\n"), get("x-stability-level: gamma\n"))
        .fires("invalid in the base", 1, "ERR", EP, get("x-stability-level: gamma\n"), get("x-stability-level: beta\n"))
        .fires("invalid in both, the operation modified", 2, "ERR", EP, get("x-stability-level: gamma\n"), get("x-stability-level: gamma\nsummary: s\n"))
        .quiet("invalid in both, the operation unchanged (oasdiff visits modified operations only)", get("x-stability-level: gamma\n"), get("x-stability-level: gamma\n"))
        .fires("invalid on a body property", 1, "ERR", "POST /items", req_prop("type: string"), req_prop("type: string\nx-stability-level: gamma"))
        .quiet("valid levels", get("x-stability-level: beta\n"), get("x-stability-level: alpha\n")),
        rule(
            "api-stability-decreased",
            "An operation's x-stability-level (missing = stable) goes down while its base level is beta or stable.",
        )
        .fires("stable to beta", 1, "ERR", EP, get(""), get("x-stability-level: beta\n"))
        .fires("beta to draft", 1, "ERR", EP, get("x-stability-level: beta\n"), get("x-stability-level: draft\n"))
        .quiet("alpha to draft: the base is below the default threshold (beta)", get("x-stability-level: alpha\n"), get("x-stability-level: draft\n"))
        .quiet("beta to stable", get("x-stability-level: beta\n"), get("")),
        rule(
            "api-stability-increased",
            "An operation's x-stability-level goes up while its base level is beta or stable.",
        )
        .fires("beta to stable", 1, "INFO", EP, get("x-stability-level: beta\n"), get("x-stability-level: stable\n"))
        .quiet("alpha to stable: the base is below the default threshold", get("x-stability-level: alpha\n"), get(""))
        .quiet("stable to beta", get(""), get("x-stability-level: beta\n")),
        rule(
            "api-sunset-date-changed-too-small",
            "A deprecated operation's x-sunset moves earlier, to fewer days from today than the policy for its stability asks (0 by default: a date already past).",
        )
        .fires("moved into the past", 1, "ERR", EP, dep("2025-12-01"), dep("2025-05-01"))
        .fires("moved earlier below the policy", 1, "ERR", EP, dep("2026-12-01"), dep("2025-09-01"))
        .with_config(policy(180))
        .quiet("moved earlier, still in the future", dep("2025-12-01"), dep("2025-09-01"))
        .fires("moved earlier, still in the future: reported by StateAnchor's default (differences.sunset_moved_earlier)", 1, "ERR", EP, dep("2025-12-01"), dep("2025-09-01"))
        .with_config(gate::Config::default())
        .quiet("moved later", dep("2025-05-01"), dep("2030-01-01"))
        .quiet("moved later, StateAnchor's default", dep("2025-05-01"), dep("2030-01-01"))
        .with_config(gate::Config::default()),
        rule(
            "api-sunset-date-too-small",
            "An operation becomes deprecated with an x-sunset fewer days from today than the policy for its stability asks (0 by default: a date already past).",
        )
        .fires("a past date", 1, "ERR", EP, get(""), dep("2025-05-01"))
        .fires("below the policy", 1, "ERR", EP, get(""), dep("2025-07-01"))
        .with_config(policy(180))
        .quiet("a future date", get(""), dep("2025-07-01")),
        rule(
            "endpoint-deprecated",
            "An operation's deprecated becomes true without x-sunset (and no policy asks for one).",
        )
        .fires("deprecated", 1, "INFO", EP, get(""), get("deprecated: true\n"))
        .quiet("deprecated in both", get("deprecated: true\n"), get("deprecated: true\nsummary: s\n"))
        .quiet("the revision is draft (out of scope)", get(""), get("deprecated: true\nx-stability-level: draft\n")),
        rule(
            "endpoint-deprecated-with-sunset",
            "An operation's deprecated becomes true with a valid x-sunset that meets the policy.",
        )
        .fires("deprecated with a date", 1, "INFO", EP, get(""), dep("2030-01-01"))
        .quiet("deprecated without a date", get(""), get("deprecated: true\n")),
        rule(
            "endpoint-reactivated",
            "An operation's deprecated goes from true to false or away.",
        )
        .fires("undeprecated", 1, "INFO", EP, get("deprecated: true\n"), get(""))
        .quiet("deprecated", get(""), get("deprecated: true\n")),
        rule(
            "sunset-deleted",
            "An operation that is deprecated in the revision loses its x-sunset.",
        )
        .fires("sunset deleted", 1, "ERR", EP, dep("2030-01-01"), get("deprecated: true\n"))
        .quiet("undeprecated as well", dep("2030-01-01"), get(""))
        .quiet("sunset changed", dep("2030-01-01"), dep("2031-01-01")),
        rule(
            "api-path-sunset-parse",
            "An operation whose path is removed (or a deprecated one whose x-sunset changes) has an x-sunset that cannot be parsed.",
        )
        .fires("path removed, bad sunset", 1, "ERR", EP, dep("soon"), no_paths())
        .fires("bad sunset before, a date now", 1, "ERR", EP, dep("soon"), dep("2030-01-01"))
        .fires("a date before, bad sunset now", 1, "ERR", EP, dep("2030-01-01"), dep("soon"))
        .quiet("path removed, valid sunset", dep("2020-01-01"), no_paths()),
    ]
}

fn removal() -> Vec<Rule> {
    let dep = |sunset: &str| format!("deprecated: true\nx-sunset: '{sunset}'\n");
    vec![
        rule(
            "api-path-removed-before-sunset",
            "A path is removed while an operation of it is deprecated with an x-sunset still in the future.",
        )
        .fires("future sunset", 1, "ERR", EP, get(&dep("2030-01-01")), no_paths())
        .quiet("past sunset", get(&dep("2020-01-01")), no_paths())
        .quiet("alpha", get(&format!("{}x-stability-level: alpha\n", dep("2030-01-01"))), no_paths()),
        rule(
            "api-path-removed-with-deprecation",
            "A path is removed whose operation was deprecated, without x-sunset.",
        )
        .fires("deprecated", 1, "INFO", EP, get("deprecated: true\n"), no_paths())
        .quiet("not deprecated", get(""), no_paths()),
        rule(
            "api-path-removed-without-deprecation",
            "A path is removed whose operation (beta or stable) was not deprecated.",
        )
        .fires("removed", 1, "ERR", EP, get(""), no_paths())
        .quiet("draft", get("x-stability-level: draft\n"), no_paths())
        .quiet("invalid stability level", get("x-stability-level: gamma\n"), no_paths())
        .quiet("only the operation removed", two_ops(""), post_only()),
        rule(
            "api-removed-before-sunset",
            "An operation is removed from a path that stays, while it is deprecated with an x-sunset still in the future.",
        )
        .fires("future sunset", 1, "ERR", EP, two_ops(&dep("2030-01-01")), post_only())
        .quiet("past sunset", two_ops(&dep("2020-01-01")), post_only()),
        rule(
            "api-removed-with-deprecation",
            "An operation is removed from a path that stays after being deprecated without x-sunset.",
        )
        .fires("deprecated", 1, "INFO", EP, two_ops("deprecated: true\n"), post_only())
        .quiet("the whole path removed", get("deprecated: true\n"), no_paths()),
        rule(
            "api-removed-without-deprecation",
            "An operation (beta or stable) is removed from a path that stays without being deprecated.",
        )
        .fires("removed", 1, "ERR", EP, two_ops(""), post_only())
        .quiet("alpha", two_ops("x-stability-level: alpha\n"), post_only()),
    ]
}

fn added() -> Vec<Rule> {
    let path_level = |param: &str| {
        v30(&format!(
            "paths:\n  /items:\n{param}    get:\n      responses:\n        '200': {{description: ok}}\n"
        ))
    };
    let pl = |req: bool| {
        path_level(&format!(
            "    parameters:\n    - name: tenant\n      in: query\n      required: {req}\n      schema: {{type: string}}\n"
        ))
    };
    vec![
        rule("endpoint-added", "An operation appears that the base did not have.")
            .fires("new operation", 1, "INFO", "POST /items", get(""), two_ops(""))
            .quiet("a path parameter renamed", op("get", "/items/{id}", "responses:\n  '200': {description: ok}"), op("get", "/items/{key}", "responses:\n  '200': {description: ok}")),
        rule(
            "new-optional-request-parameter",
            "An operation gains an optional query, header or cookie parameter of its own.",
        )
        .fires("optional query", 1, "INFO", EP, get(""), q("type: string"))
        .fires("moved from the path item to the operation", 1, "INFO", EP, path_level_q(""), q("type: string"))
        .quiet("moved, StateAnchor's mode (path_level_parameters)", path_level_q(""), q("type: string"))
        .with_config(native())
        .quiet("required", get(""), param_in("query", "q", "required: true\n", "type: string")),
        rule(
            "new-required-request-parameter",
            "An operation gains a required query, header or cookie parameter of its own.",
        )
        .fires("required header", 1, "ERR", EP, get(""), param_in("header", "X-H", "required: true\n", "type: string"))
        .quiet("optional", get(""), param_in("header", "X-H", "", "type: string")),
        rule(
            "new-request-path-parameter",
            "An operation gains a path parameter.",
        )
        .fires("path parameter", 1, "ERR", "GET /items/{id}",
            op("get", "/items/{id}", "responses:\n  '200': {description: ok}"),
            op("get", "/items/{id}", "parameters:\n- {name: id, in: path, required: true, schema: {type: string}}\nresponses:\n  '200': {description: ok}"))
        .quiet("query parameter", get(""), q("type: string")),
        rule(
            "new-optional-request-default-parameter-to-existing-path",
            "A path item gains an optional non-path parameter at path level: once per operation of the path.",
        )
        .fires("optional at path level", 1, "INFO", EP, path_level(""), pl(false))
        .fires("on a draft operation too (the check reads the revision's path item)", 1, "INFO", EP, path_level(""),
            pl(false).replace("    get:\n", "    get:\n      x-stability-level: draft\n"))
        .quiet("required at path level", path_level(""), pl(true)),
        rule(
            "new-required-request-default-parameter-to-existing-path",
            "A path item gains a required non-path parameter at path level: once per operation of the path.",
        )
        .fires("required at path level", 1, "ERR", EP, path_level(""), pl(true))
        .quiet("required at operation level", get(""), param_in("query", "tenant", "required: true\n", "type: string")),
        rule(
            "new-required-request-header-property",
            "A header parameter's object schema gains a property listed in its required (not read-only).",
        )
        .fires("required property", 1, "ERR", EP,
            h("type: object\nproperties:\n  a: {type: string}"),
            h("type: object\nrequired: [b]\nproperties:\n  a: {type: string}\n  b: {type: string}"))
        .quiet("optional property", h("type: object\nproperties:\n  a: {type: string}"),
            h("type: object\nproperties:\n  a: {type: string}\n  b: {type: string}"))
        .quiet("a query parameter", q("type: object\nproperties:\n  a: {type: string}"),
            q("type: object\nrequired: [b]\nproperties:\n  a: {type: string}\n  b: {type: string}")),
        rule(
            "request-header-property-became-required",
            "An existing property of a header parameter's object schema becomes required.",
        )
        .fires("became required", 1, "ERR", EP,
            h("type: object\nproperties:\n  a: {type: string}"),
            h("type: object\nrequired: [a]\nproperties:\n  a: {type: string}"))
        .quiet("a new required property", h("type: object\nproperties:\n  a: {type: string}"),
            h("type: object\nrequired: [b]\nproperties:\n  a: {type: string}\n  b: {type: string}")),
        rule(
            "request-header-property-became-enum",
            "A header parameter's schema (or one of its properties) gains an enum it did not have.",
        )
        .fires("header became enum", 1, "ERR", EP, h("type: string"), h("type: string\nenum: [a, b]"))
        .quiet("enum value added", h("type: string\nenum: [a]"), h("type: string\nenum: [a, b]")),
    ]
}

fn param_lifecycle() -> Vec<Rule> {
    let p = |extra: &str| param_in("query", "q", extra, "type: string");
    let dep = |sunset: &str| p(&format!("deprecated: true\nx-sunset: '{sunset}'\n"));
    vec![
        rule(
            "request-parameter-removed",
            "A parameter that was not deprecated is gone from an operation.",
        )
        .fires("removed", 1, "WARN", EP, p(""), get(""))
        .quiet("deprecated, then removed", p("deprecated: true\n"), get(""))
        .fires("alpha promoted to stable (the revision's level decides)", 1, "WARN", EP, param_in("query", "q", "", "type: string").replace("    get:\n", "    get:\n      x-stability-level: alpha\n"), get(""))
        .quiet("stable demoted to draft (out of scope)", p(""), get("x-stability-level: draft\n"))
        .quiet("removed from the path item (oasdiff compares an operation's own)", path_level_q(""), get(""))
        .fires("removed from the path item, StateAnchor's mode (path_level_parameters)", 1, "WARN", EP, path_level_q(""), get(""))
        .with_config(native()),
        rule(
            "request-parameter-removed-with-deprecation",
            "A deprecated parameter without x-sunset is removed.",
        )
        .fires("deprecated", 1, "INFO", EP, p("deprecated: true\n"), get(""))
        .quiet("past sunset", dep("2020-01-01"), get("")),
        rule(
            "request-parameter-removed-before-sunset",
            "A deprecated parameter is removed before its x-sunset date.",
        )
        .fires("future sunset", 1, "ERR", EP, dep("2030-01-01"), get(""))
        .quiet("past sunset", dep("2020-01-01"), get("")),
        rule(
            "request-parameter-sunset-parse",
            "A deprecated parameter with an unparsable x-sunset is removed or newly deprecated, or its x-sunset changes with either side unparsable.",
        )
        .fires("removed, bad sunset", 1, "ERR", EP, dep("soon"), get(""))
        .fires("deprecated, bad sunset", 1, "ERR", EP, p(""), dep("soon"))
        .fires("bad sunset, then a date", 1, "ERR", EP, dep("soon"), dep("2030-01-01"))
        .quiet("removed, valid sunset", dep("2020-01-01"), get("")),
        rule(
            "request-parameter-deprecated",
            "A parameter becomes deprecated (with a valid x-sunset meeting the policy, or none when there is no policy).",
        )
        .fires("deprecated", 1, "INFO", EP, p(""), p("deprecated: true\n"))
        .fires("deprecated with a date", 1, "INFO", EP, p(""), dep("2030-01-01"))
        .quiet("deprecated in both", p("deprecated: true\n"), p("deprecated: true\ndescription: d\n")),
        rule(
            "request-parameter-deprecated-sunset-missing",
            "A parameter becomes deprecated without x-sunset while the policy for the operation's stability asks for days.",
        )
        .fires("policy", 1, "ERR", EP, p(""), p("deprecated: true\n"))
        .with_config(policy(30))
        .quiet("no policy", p(""), p("deprecated: true\n")),
        rule(
            "request-parameter-sunset-date-too-small",
            "A parameter becomes deprecated with an x-sunset fewer days away than the policy for the operation's stability (0: a past date).",
        )
        .fires("past date", 1, "ERR", EP, p(""), dep("2025-05-01"))
        .fires("below the policy of the operation's stability", 1, "ERR", EP, p(""), dep("2025-07-01"))
        .with_config(policy(180))
        .quiet("future date", p(""), dep("2025-07-01")),
        rule(
            "request-parameter-reactivated",
            "A parameter's deprecated goes from true to false or away.",
        )
        .fires("undeprecated", 1, "INFO", EP, p("deprecated: true\n"), p(""))
        .quiet("deprecated", p(""), p("deprecated: true\n")),
        rule(
            "request-parameter-sunset-deleted",
            "A parameter deprecated in the revision loses its x-sunset.",
        )
        .fires("deleted", 1, "ERR", EP, dep("2030-01-01"), p("deprecated: true\n"))
        .quiet("undeprecated too", dep("2030-01-01"), p("")),
        rule(
            "request-parameter-sunset-date-changed-too-small",
            "A deprecated parameter's x-sunset moves earlier, to fewer days away than the policy (0: a past date).",
        )
        .fires("moved into the past", 1, "ERR", EP, dep("2025-12-01"), dep("2025-05-01"))
        .quiet("moved earlier, still ahead", dep("2025-12-01"), dep("2025-09-01")),
    ]
}

fn param_values() -> Vec<Rule> {
    vec![
        rule(
            "request-parameter-became-required",
            "A query, header or cookie parameter's required goes from false to true.",
        )
        .fires(
            "became required",
            1,
            "ERR",
            EP,
            q("type: string"),
            param_in("query", "q", "required: true\n", "type: string"),
        )
        .quiet(
            "at path level (not compared by oasdiff)",
            path_level_q(""),
            path_level_q("required: true"),
        )
        .fires(
            "at path level, StateAnchor's mode (path_level_parameters)",
            1,
            "ERR",
            EP,
            path_level_q(""),
            path_level_q("required: true"),
        )
        .with_config(native())
        .quiet(
            "became optional",
            param_in("query", "q", "required: true\n", "type: string"),
            q("type: string"),
        ),
        rule(
            "request-parameter-became-optional",
            "A parameter's required goes from true to false.",
        )
        .fires(
            "became optional",
            1,
            "INFO",
            EP,
            param_in("query", "q", "required: true\n", "type: string"),
            q("type: string"),
        )
        .quiet(
            "became required",
            q("type: string"),
            param_in("query", "q", "required: true\n", "type: string"),
        ),
        rule(
            "request-parameter-became-enum",
            "A parameter's schema gains an enum it did not have.",
        )
        .fires(
            "became enum",
            1,
            "ERR",
            EP,
            q("type: string"),
            q("type: string\nenum: [a, b]"),
        )
        .quiet(
            "enum value added",
            q("type: string\nenum: [a]"),
            q("type: string\nenum: [a, b]"),
        ),
        rule(
            "request-parameter-enum-value-added",
            "A value is added to a parameter's enum.",
        )
        .fires(
            "added",
            1,
            "INFO",
            EP,
            q("type: string\nenum: [a]"),
            q("type: string\nenum: [a, b]"),
        )
        .quiet(
            "removed",
            q("type: string\nenum: [a, b]"),
            q("type: string\nenum: [a]"),
        ),
        rule(
            "request-parameter-enum-value-removed",
            "A value is removed from a parameter's enum.",
        )
        .fires(
            "removed",
            1,
            "ERR",
            EP,
            q("type: string\nenum: [a, b]"),
            q("type: string\nenum: [a]"),
        )
        .quiet(
            "added",
            q("type: string\nenum: [a]"),
            q("type: string\nenum: [a, b]"),
        ),
        rule(
            "request-parameter-x-extensible-enum-value-removed",
            "A value is removed from a parameter's x-extensible-enum.",
        )
        .fires(
            "removed",
            1,
            "ERR",
            EP,
            q("type: string\nx-extensible-enum: [a, b]"),
            q("type: string\nx-extensible-enum: [a]"),
        )
        .quiet(
            "added",
            q("type: string\nx-extensible-enum: [a]"),
            q("type: string\nx-extensible-enum: [a, b]"),
        ),
        rule(
            "request-parameter-default-value-added",
            "A parameter's schema gains a default.",
        )
        .fires(
            "added",
            1,
            "ERR",
            EP,
            q("type: string"),
            q("type: string\ndefault: a"),
        )
        .quiet("removed", q("type: string\ndefault: a"), q("type: string")),
        rule(
            "request-parameter-default-value-removed",
            "A parameter's schema loses its default.",
        )
        .fires(
            "removed",
            1,
            "ERR",
            EP,
            q("type: string\ndefault: a"),
            q("type: string"),
        )
        .quiet("added", q("type: string"), q("type: string\ndefault: a")),
        rule(
            "request-parameter-default-value-changed",
            "A parameter's schema default changes value.",
        )
        .fires(
            "changed",
            1,
            "ERR",
            EP,
            q("type: string\ndefault: a"),
            q("type: string\ndefault: b"),
        )
        .quiet("added", q("type: string"), q("type: string\ndefault: b")),
        rule(
            "request-parameter-became-nullable",
            "A parameter's schema becomes nullable.",
        )
        .fires(
            "nullable",
            1,
            "INFO",
            EP,
            q("type: string"),
            q("type: string\nnullable: true"),
        )
        .quiet(
            "not nullable",
            q("type: string\nnullable: true"),
            q("type: string"),
        ),
        rule(
            "request-parameter-became-not-nullable",
            "A parameter's schema stops being nullable.",
        )
        .fires(
            "not nullable",
            1,
            "ERR",
            EP,
            q("type: string\nnullable: true"),
            q("type: string"),
        )
        .quiet(
            "nullable",
            q("type: string"),
            q("type: string\nnullable: true"),
        ),
        rule(
            "request-parameter-property-became-nullable",
            "A property of a parameter's object schema becomes nullable.",
        )
        .fires(
            "nullable",
            1,
            "INFO",
            EP,
            q_prop("type: string"),
            q_prop("type: string\nnullable: true"),
        )
        .quiet(
            "the parameter itself",
            q("type: string"),
            q("type: string\nnullable: true"),
        ),
        rule(
            "request-parameter-property-became-not-nullable",
            "A property of a parameter's object schema stops being nullable.",
        )
        .fires(
            "not nullable",
            1,
            "ERR",
            EP,
            q_prop("type: string\nnullable: true"),
            q_prop("type: string"),
        )
        .quiet(
            "became nullable",
            q_prop("type: string"),
            q_prop("type: string\nnullable: true"),
        ),
        rule(
            "request-parameter-property-enum-value-added",
            "A value is added to the enum of a property of a parameter's object schema.",
        )
        .fires(
            "added",
            1,
            "INFO",
            EP,
            q_prop("type: string\nenum: [a]"),
            q_prop("type: string\nenum: [a, b]"),
        )
        .quiet(
            "removed",
            q_prop("type: string\nenum: [a, b]"),
            q_prop("type: string\nenum: [a]"),
        ),
        rule(
            "request-parameter-property-enum-value-removed",
            "A value is removed from the enum of a property of a parameter's object schema.",
        )
        .fires(
            "removed",
            1,
            "ERR",
            EP,
            q_prop("type: string\nenum: [a, b]"),
            q_prop("type: string\nenum: [a]"),
        )
        .quiet(
            "added",
            q_prop("type: string\nenum: [a]"),
            q_prop("type: string\nenum: [a, b]"),
        ),
        rule(
            "request-parameter-pattern-added",
            "A parameter's schema gains a pattern.",
        )
        .fires(
            "added",
            1,
            "ERR",
            EP,
            q("type: string"),
            q("type: string\npattern: '^a+$'"),
        )
        .quiet(
            "removed",
            q("type: string\npattern: '^a+$'"),
            q("type: string"),
        ),
        rule(
            "request-parameter-pattern-removed",
            "A parameter's schema loses its pattern.",
        )
        .fires(
            "removed",
            1,
            "INFO",
            EP,
            q("type: string\npattern: '^a+$'"),
            q("type: string"),
        )
        .quiet(
            "added",
            q("type: string"),
            q("type: string\npattern: '^a+$'"),
        ),
        rule(
            "request-parameter-pattern-changed",
            "A parameter's pattern changes to one not known to accept more.",
        )
        .fires(
            "changed",
            1,
            "WARN",
            EP,
            q("type: string\npattern: '^a+$'"),
            q("type: string\npattern: '^b+$'"),
        )
        .quiet(
            "generalized to .*",
            q("type: string\npattern: '^a+$'"),
            q("type: string\npattern: '.*'"),
        ),
        rule(
            "request-parameter-pattern-generalized",
            "A parameter's pattern changes to the match-anything pattern `.*`.",
        )
        .fires(
            "to .*",
            1,
            "INFO",
            EP,
            q("type: string\npattern: '^a+$'"),
            q("type: string\npattern: '.*'"),
        )
        .quiet(
            "changed",
            q("type: string\npattern: '^a+$'"),
            q("type: string\npattern: '^b+$'"),
        ),
    ]
}

fn param_bounds() -> Vec<Rule> {
    let arr = |extra: &str| q(&format!("type: array\nitems: {{type: string}}\n{extra}"));
    let arr_items = |extra: &str| {
        q(&format!(
            "type: array\nitems:\n  type: string\n{}",
            indent(extra, 2)
        ))
    };
    let num = |extra: &str| q(&format!("type: number\n{extra}"));
    let num31 = |extra: &str| {
        op31(
            "get",
            "/items",
            &format!(
                "parameters:\n- name: q\n  in: query\n  schema:\n    type: number\n{}\nresponses:\n  '200': {{description: ok}}",
                indent(extra, 4)
            ),
        )
    };
    let s = |extra: &str| q(&format!("type: string\n{extra}"));
    vec![
        rule("request-parameter-max-decreased", "A parameter's maximum decreases (both set).")
            .fires("decreased", 1, "ERR", EP, num("maximum: 10"), num("maximum: 5"))
            .quiet("increased", num("maximum: 5"), num("maximum: 10")),
        rule("request-parameter-max-increased", "A parameter's maximum increases (both set).")
            .fires("increased", 1, "INFO", EP, num("maximum: 5"), num("maximum: 10"))
            .quiet("removed", num("maximum: 5"), num("")),
        rule("request-parameter-max-set", "A parameter's schema gains a maximum it did not have.")
            .fires("set", 1, "WARN", EP, num(""), num("maximum: 10"))
            .quiet("changed", num("maximum: 5"), num("maximum: 10")),
        rule("request-parameter-min-increased", "A parameter's minimum increases (both set).")
            .fires("increased", 1, "ERR", EP, num("minimum: 1"), num("minimum: 5"))
            .quiet("decreased", num("minimum: 5"), num("minimum: 1")),
        rule("request-parameter-min-decreased", "A parameter's minimum decreases (both set).")
            .fires("decreased", 1, "INFO", EP, num("minimum: 5"), num("minimum: 1"))
            .quiet("increased", num("minimum: 1"), num("minimum: 5")),
        rule("request-parameter-min-set", "A parameter's schema gains a minimum it did not have.")
            .fires("set", 1, "WARN", EP, num(""), num("minimum: 1"))
            .quiet("removed", num("minimum: 1"), num("")),
        rule("request-parameter-exclusive-max-decreased", "A parameter's exclusiveMaximum decreases (both set).")
            .fires("decreased", 1, "ERR", EP, num31("exclusiveMaximum: 10"), num31("exclusiveMaximum: 5"))
            .quiet("increased", num31("exclusiveMaximum: 5"), num31("exclusiveMaximum: 10")),
        rule("request-parameter-exclusive-max-increased", "A parameter's exclusiveMaximum increases (both set).")
            .fires("increased", 1, "INFO", EP, num31("exclusiveMaximum: 5"), num31("exclusiveMaximum: 10"))
            .quiet("decreased", num31("exclusiveMaximum: 10"), num31("exclusiveMaximum: 5")),
        rule("request-parameter-exclusive-max-set", "A parameter's schema gains an exclusiveMaximum it did not have.")
            .fires("set", 1, "WARN", EP, num31(""), num31("exclusiveMaximum: 10"))
            .quiet("changed", num31("exclusiveMaximum: 5"), num31("exclusiveMaximum: 10")),
        rule("request-parameter-exclusive-min-increased", "A parameter's exclusiveMinimum increases (both set).")
            .fires("increased", 1, "ERR", EP, num31("exclusiveMinimum: 1"), num31("exclusiveMinimum: 5"))
            .quiet("decreased", num31("exclusiveMinimum: 5"), num31("exclusiveMinimum: 1")),
        rule("request-parameter-exclusive-min-decreased", "A parameter's exclusiveMinimum decreases (both set).")
            .fires("decreased", 1, "INFO", EP, num31("exclusiveMinimum: 5"), num31("exclusiveMinimum: 1"))
            .quiet("increased", num31("exclusiveMinimum: 1"), num31("exclusiveMinimum: 5")),
        rule("request-parameter-exclusive-min-set", "A parameter's schema gains an exclusiveMinimum it did not have.")
            .fires("set", 1, "WARN", EP, num31(""), num31("exclusiveMinimum: 1"))
            .quiet("changed", num31("exclusiveMinimum: 5"), num31("exclusiveMinimum: 1")),
        rule("request-parameter-max-length-decreased", "A parameter's maxLength decreases (both set).")
            .fires("decreased", 1, "ERR", EP, s("maxLength: 10"), s("maxLength: 5"))
            .quiet("increased", s("maxLength: 5"), s("maxLength: 10")),
        rule("request-parameter-max-length-increased", "A parameter's maxLength increases (both set).")
            .fires("increased", 1, "INFO", EP, s("maxLength: 5"), s("maxLength: 10"))
            .quiet("removed", s("maxLength: 5"), s("")),
        rule("request-parameter-max-length-set", "A parameter's schema gains a maxLength it did not have.")
            .fires("set", 1, "WARN", EP, s(""), s("maxLength: 10"))
            .quiet("changed", s("maxLength: 5"), s("maxLength: 10")),
        rule("request-parameter-min-length-increased", "A parameter's minLength increases (an absent minLength counts as 0).")
            .fires("increased", 1, "ERR", EP, s("minLength: 1"), s("minLength: 5"))
            .fires("set from nothing", 1, "ERR", EP, s(""), s("minLength: 5"))
            .quiet("decreased", s("minLength: 5"), s("minLength: 1")),
        rule("request-parameter-min-length-decreased", "A parameter's minLength decreases (an absent minLength counts as 0).")
            .fires("decreased", 1, "INFO", EP, s("minLength: 5"), s("minLength: 1"))
            .fires("removed", 1, "INFO", EP, s("minLength: 5"), s(""))
            .quiet("increased", s("minLength: 1"), s("minLength: 5")),
        rule("request-parameter-max-items-decreased", "A parameter's maxItems (or, when that is unchanged, its items' maxItems) decreases, both set.")
            .fires("decreased", 1, "ERR", EP, arr("maxItems: 10"), arr("maxItems: 5"))
            .fires("on the items", 1, "ERR", EP, arr_items("maxItems: 10"), arr_items("maxItems: 5"))
            .quiet("set", arr(""), arr("maxItems: 5")),
        rule("request-parameter-max-items-increased", "A parameter's maxItems (or its items' maxItems) increases, both set.")
            .fires("increased", 1, "INFO", EP, arr("maxItems: 5"), arr("maxItems: 10"))
            .fires("on the items", 1, "INFO", EP, arr_items("maxItems: 5"), arr_items("maxItems: 10"))
            .quiet("removed", arr("maxItems: 5"), arr("")),
        rule("request-parameter-min-items-increased", "A parameter's own minItems increases; an absent minItems counts as 0.")
            .fires("increased", 1, "ERR", EP, arr("minItems: 1"), arr("minItems: 5"))
            .fires("set from nothing", 1, "ERR", EP, arr(""), arr("minItems: 2"))
            .quiet("decreased", arr("minItems: 5"), arr("minItems: 1")),
        rule("request-parameter-min-items-decreased", "A parameter's own minItems decreases; an absent minItems counts as 0.")
            .fires("decreased", 1, "INFO", EP, arr("minItems: 5"), arr("minItems: 1"))
            .fires("removed", 1, "INFO", EP, arr("minItems: 5"), arr(""))
            .quiet("increased", arr("minItems: 1"), arr("minItems: 5")),
        never(
            "request-parameter-min-items-set",
            "A parameter's minItems goes from absent to set.",
            "kin-openapi reads an absent minItems as 0, so oasdiff's MinItemsDiff never has a nil From and the check (From == nil) never holds: setting minItems is request-parameter-min-items-increased.",
        ),
    ]
}

fn param_types() -> Vec<Rule> {
    let t = |ty: &str| q(&format!("type: {ty}"));
    let tf = |ty: &str, f: &str| q(&format!("type: {ty}\nformat: {f}"));
    let t31 = |ty: &str| {
        op31(
            "get",
            "/items",
            &format!(
                "parameters:\n- name: id\n  in: path\n  required: true\n  schema:\n    type: {ty}\nresponses:\n  '200': {{description: ok}}"
            ),
        )
        .replace("/items", "/items/{id}")
    };
    let one_of = q("oneOf:\n- type: string\n- type: integer");
    let prop = |ty: &str| q_prop(&format!("type: {ty}"));
    let prop_one_of = q_prop("oneOf:\n- type: string\n- type: integer");
    vec![
        rule(
            "request-parameter-type-changed",
            "A parameter's type or format changes in a way a string-serialized value does not survive: a type other than string (or number from integer), or a format set or changed to one not containing the old.",
        )
        .fires("string to integer", 1, "ERR", EP, t("string"), t("integer"))
        .fires("format set", 1, "ERR", EP, t("string"), tf("string", "uuid"))
        .fires("path parameter to an array (simple style)", 1, "ERR", "GET /items/{id}", t31("string"), t31("array\n    items: {type: string}"))
        .quiet("integer to string (a string on the wire)", t("integer"), t("string")),
        rule(
            "request-parameter-type-generalized",
            "A parameter's type or format changes so that every old value still passes: to string, integer to number, a format dropped or widened (date to date-time, int32 to int64), or a query parameter wrapped in a form/explode array of the same item.",
        )
        .fires("integer to string", 1, "INFO", EP, t("integer"), t("string"))
        .fires("integer to number", 1, "INFO", EP, t("integer"), t("number"))
        .fires("date to date-time", 1, "INFO", EP, tf("string", "date"), tf("string", "date-time"))
        .fires("format dropped", 1, "INFO", EP, tf("string", "uuid"), t("string"))
        .fires("3.1: string added to the type list", 1, "INFO", "GET /items/{id}", t31("integer"), t31("[integer, string]"))
        .fires("query scalar to an array of it", 1, "INFO", EP, t("string"), q("type: array\nitems: {type: string}"))
        .quiet("string to integer", t("string"), t("integer")),
        rule(
            "request-parameter-list-of-types-widened",
            "A parameter's schema moves to (or within) a oneOf/anyOf of plain types and gains types, losing none.",
        )
        .fires("single to oneOf", 1, "INFO", EP, t("string"), one_of.clone())
        .quiet("3.1 type array (a type change)", t31("integer"), t31("[integer, string]")),
        rule(
            "request-parameter-list-of-types-narrowed",
            "A parameter's oneOf/anyOf of plain types loses a type.",
        )
        .fires("oneOf to single", 1, "ERR", EP, one_of.clone(), t("string"))
        .quiet("widened", t("string"), one_of),
        rule(
            "request-parameter-property-type-changed",
            "A type or format change of a property of a parameter's object schema that breaks only if the object is strongly typed (JSON): e.g. number to string.",
        )
        .fires("number to string", 1, "WARN", EP, prop("number"), prop("string"))
        .quiet("string to number (breaks either way)", prop("string"), prop("number")),
        rule(
            "request-parameter-property-type-specialized",
            "A type or format change of a property of a parameter's object schema that breaks however the object is serialized: e.g. string to number.",
        )
        .fires("string to number", 1, "ERR", EP, prop("string"), prop("number"))
        .quiet("integer to number", prop("integer"), prop("number")),
        rule(
            "request-parameter-property-type-generalized",
            "A type or format change of a property of a parameter's object schema that breaks in no serialization: integer to number, a format dropped or widened.",
        )
        .fires("integer to number", 1, "INFO", EP, prop("integer"), prop("number"))
        .quiet("number to string", prop("number"), prop("string")),
        rule(
            "request-parameter-property-list-of-types-widened",
            "A property of a parameter's object schema moves to (or within) a oneOf/anyOf of plain types and gains types.",
        )
        .fires("single to oneOf", 1, "INFO", EP, prop("string"), prop_one_of.clone())
        .quiet("narrowed", prop_one_of.clone(), prop("string")),
        rule(
            "request-parameter-property-list-of-types-narrowed",
            "A property of a parameter's object schema loses a type from its oneOf/anyOf of plain types.",
        )
        .fires("oneOf to single", 1, "ERR", EP, prop_one_of.clone(), prop("string"))
        .quiet("widened", prop("string"), prop_one_of),
    ]
}

fn headers() -> Vec<Rule> {
    let hd =
        |schema: &str, extra: &str| resp_header(&format!("{extra}schema:\n{}", indent(schema, 2)));
    let ty = |t: &str| hd(&format!("type: {t}"), "");
    let tyf = |t: &str, f: &str| hd(&format!("type: {t}\nformat: {f}"), "");
    vec![
        rule("response-header-added", "A response gains a header.")
            .fires("added", 1, "INFO", EP, no_headers(), ty("string"))
            .quiet("removed", ty("string"), no_headers()),
        rule("required-response-header-removed", "A response loses a header that was required.")
            .fires("removed", 1, "ERR", EP, hd("type: string", "required: true\n"), no_headers())
            .quiet("optional removed", ty("string"), no_headers()),
        rule("optional-response-header-removed", "A response loses a header that was optional.")
            .fires("removed", 1, "WARN", EP, ty("string"), no_headers())
            .quiet("required removed", hd("type: string", "required: true\n"), no_headers()),
        rule("response-header-became-optional", "A response header's required goes from true to false.")
            .fires("optional", 1, "ERR", EP, hd("type: string", "required: true\n"), ty("string"))
            .quiet("required", ty("string"), hd("type: string", "required: true\n")),
        rule("response-header-became-nullable", "A response header's schema becomes nullable.")
            .fires("nullable", 1, "ERR", EP, ty("string"), hd("type: string\nnullable: true", ""))
            .quiet("not nullable", hd("type: string\nnullable: true", ""), ty("string")),
        rule("response-header-became-not-nullable", "A response header's schema stops being nullable.")
            .fires("not nullable", 1, "INFO", EP, hd("type: string\nnullable: true", ""), ty("string"))
            .quiet("nullable", ty("string"), hd("type: string\nnullable: true", "")),
        rule(
            "response-header-type-changed",
            "A response header's type or format changes so that the old client can no longer read it and it is no widening: to a type other than string, or a format dropped or changed (not narrowed).",
        )
        .fires("integer to string", 1, "ERR", EP, ty("integer"), ty("string"))
        .fires("date-time string to integer", 1, "ERR", EP, tyf("string", "date-time"), ty("integer"))
        .fires("format dropped", 1, "ERR", EP, tyf("string", "date-time"), ty("string"))
        .quiet("number to integer", ty("number"), ty("integer")),
        rule(
            "response-header-type-generalized",
            "A response header's type set widens (integer to number): the server may now send what old clients did not expect.",
        )
        .fires("integer to number", 1, "ERR", EP, ty("integer"), ty("number"))
        .quiet("number to integer", ty("number"), ty("integer")),
        rule(
            "response-header-type-specialized",
            "A response header's type set narrows (number to integer) or its format is set or narrowed (date-time to date).",
        )
        .fires("number to integer", 1, "INFO", EP, ty("number"), ty("integer"))
        .fires("format set", 1, "INFO", EP, ty("string"), tyf("string", "date"))
        .quiet("integer to number", ty("integer"), ty("number")),
        rule(
            "response-header-type-compatible",
            "A response header's type changes from string to another concrete type: the value is text either way.",
        )
        .fires("string to integer", 1, "INFO", EP, ty("string"), ty("integer"))
        .quiet("integer to string", ty("integer"), ty("string")),
    ]
}

fn properties() -> Vec<Rule> {
    let dep = |s: &str| format!("type: string\ndeprecated: true\nx-sunset: '{s}'");
    let mut out = Vec::new();
    for (dir, body) in [
        ("request", req_prop as fn(&str) -> String),
        ("response", resp_prop),
    ] {
        let ep = if dir == "request" {
            "POST /items"
        } else {
            "GET /items"
        };
        let id =
            |s: &str| -> &'static str { Box::leak(format!("{dir}-property-{s}").into_boxed_str()) };
        out.push(
            rule(
                id("deprecated-sunset-missing"),
                "A body property becomes deprecated without x-sunset while the policy for the operation's stability asks for days.",
            )
            .fires("policy", 1, "ERR", ep, body("type: string"), body("type: string\ndeprecated: true"))
            .with_config(policy(30))
            .fires("the beta operation's policy", 1, "ERR", ep, beta_op(&body("type: string")), beta_op(&body("type: string\ndeprecated: true")))
            .with_config(beta_policy(30))
            .quiet("a beta property of a stable operation: the operation's level decides", body("type: string\nx-stability-level: beta"), body("type: string\nx-stability-level: beta\ndeprecated: true"))
            .with_config(beta_policy(30))
            .quiet("no policy", body("type: string"), body("type: string\ndeprecated: true")),
        );
        out.push(
            rule(
                id("deprecated-sunset-invalid"),
                "A body property becomes deprecated with an x-sunset that is not a date.",
            )
            .fires(
                "bad date",
                1,
                "ERR",
                ep,
                body("type: string"),
                body(&dep("soon")),
            )
            .quiet("a date", body("type: string"), body(&dep("2030-01-01"))),
        );
        out.push(
            rule(
                id("deprecated-with-sunset"),
                "A body property becomes deprecated with a valid x-sunset that meets the policy.",
            )
            .fires(
                "a date",
                1,
                "INFO",
                ep,
                body("type: string"),
                body(&dep("2030-01-01")),
            )
            .quiet(
                "no date",
                body("type: string"),
                body("type: string\ndeprecated: true"),
            ),
        );
        out.push(
            rule(
                id("sunset-date-too-small"),
                "A body property becomes deprecated with an x-sunset fewer days away than the policy for the operation's stability (0: a past date).",
            )
            .fires("past", 1, "ERR", ep, body("type: string"), body(&dep("2025-05-01")))
            .fires("below the policy", 1, "ERR", ep, body("type: string"), body(&dep("2025-07-01")))
            .with_config(policy(180))
            .quiet("future", body("type: string"), body(&dep("2025-07-01"))),
        );
        out.push(
            rule(
                id("stability-decreased"),
                "A body property's x-stability-level goes down from beta or stable.",
            )
            .fires(
                "stable to alpha",
                1,
                "ERR",
                ep,
                body("type: string"),
                body("type: string\nx-stability-level: alpha"),
            )
            .quiet(
                "alpha to draft",
                body("type: string\nx-stability-level: alpha"),
                body("type: string\nx-stability-level: draft"),
            ),
        );
        out.push(
            rule(
                id("stability-increased"),
                "A body property's x-stability-level goes up from beta.",
            )
            .fires(
                "beta to stable",
                1,
                "INFO",
                ep,
                body("type: string\nx-stability-level: beta"),
                body("type: string"),
            )
            .quiet(
                "draft to stable",
                body("type: string\nx-stability-level: draft"),
                body("type: string"),
            ),
        );
    }
    out
}
