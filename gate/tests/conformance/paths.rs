//! Conformance cases: see `support.rs` and `spec/gate-conformance.md`.
//!
//! Paths, operations, security, components, tags, operation ids, webhooks,
//! the versioning policy, and the JSON Schema 2020-12 keyword rules of
//! request and response bodies and properties. Written from oasdiff's
//! `checker/check_api_*.go`, `check_components_*.go`, `check_webhook_*.go`,
//! `check_{request,response}_property_{const,contains,content,dependent_*,if,
//! prefix_items,property_names,unevaluated}_*.go`, the versioning policy in
//! `checker/versioning_policy.go`, and the diff they read (`diff/schema_diff.go`,
//! `diff/security_requirements_diff.go`, `diff/oauth_flow.go`,
//! `diff/dependent_required_diff.go`, kin-openapi's `BoolSchema`).

#[allow(unused_imports)]
use super::support::*;

use gate::Config;

pub fn rules() -> Vec<Rule> {
    let mut out = Vec::new();
    out.extend(security());
    out.extend(components());
    out.extend(operations());
    out.extend(versioning());
    out.extend(keywords());
    out
}

// --- Security ---------------------------------------------------------------

/// A 3.0 document with `global` (YAML after `security:`, or nothing), one
/// `GET /items` whose own security is `op` (or none), and the schemes.
fn sec_doc(global: Option<&str>, op: Option<&str>) -> String {
    let global = global.map_or(String::new(), |g| format!("security: {g}\n"));
    let op = op.map_or(String::new(), |o| format!("      security: {o}\n"));
    v30(&format!(
        "{global}paths:\n  /items:\n    get:\n{op}      responses:\n        '200': {{description: ok}}\ncomponents:\n  securitySchemes:\n    api_key: {{type: apiKey, in: header, name: X-Key}}\n    oauth:\n      type: oauth2\n      flows:\n        implicit:\n          authorizationUrl: https://a.example/auth\n          scopes: {{read: r, write: w}}\n"
    ))
}

fn security() -> Vec<Rule> {
    vec![
        rule(
            "api-global-security-added",
            "A security requirement (an alternative of the document's `security` list, matched by its scheme set, identical ones first) is in the revision only.",
        )
        .fires(
            "global requirement added",
            1,
            "INFO",
            "",
            sec_doc(None, None),
            sec_doc(Some("[{api_key: []}]"), None),
        )
        .fires(
            "second alternative added",
            1,
            "INFO",
            "",
            sec_doc(Some("[{api_key: []}]"), None),
            sec_doc(Some("[{api_key: []}, {oauth: [read]}]"), None),
        )
        .fires(
            "optional security `{}` added to the document",
            1,
            "INFO",
            "",
            sec_doc(Some("[{api_key: []}]"), None),
            sec_doc(Some("[{api_key: []}, {}]"), None),
        )
        .quiet(
            "operation requirement added",
            sec_doc(None, None),
            sec_doc(None, Some("[{api_key: []}]")),
        )
        .quiet(
            "a scope added to the global requirement",
            sec_doc(Some("[{oauth: [read]}]"), None),
            sec_doc(Some("[{oauth: [read, write]}]"), None),
        ),
        rule(
            "api-global-security-removed",
            "A security requirement of the document's `security` list is in the base only.",
        )
        .fires(
            "global requirement removed",
            1,
            "INFO",
            "",
            sec_doc(Some("[{api_key: []}]"), None),
            sec_doc(None, None),
        )
        .quiet(
            "operation requirement removed",
            sec_doc(None, Some("[{api_key: []}]")),
            sec_doc(None, None),
        )
        .quiet(
            "alternatives reordered",
            sec_doc(Some("[{api_key: []}, {oauth: [read]}]"), None),
            sec_doc(Some("[{oauth: [read]}, {api_key: []}]"), None),
        ),
        rule(
            "api-global-security-scope-added",
            "A global security requirement paired by its scheme set (the only one with it on each side) has a scope the base's lacks.",
        )
        .fires(
            "scope added",
            1,
            "INFO",
            "",
            sec_doc(Some("[{oauth: [read]}]"), None),
            sec_doc(Some("[{oauth: [read, write]}]"), None),
        )
        .quiet(
            "the same at an operation",
            sec_doc(None, Some("[{oauth: [read]}]")),
            sec_doc(None, Some("[{oauth: [read, write]}]")),
        )
        .quiet(
            "scopes reordered",
            sec_doc(Some("[{oauth: [read, write]}]"), None),
            sec_doc(Some("[{oauth: [write, read]}]"), None),
        )
        .quiet(
            "ambiguous alternatives: removed and added instead",
            sec_doc(Some("[{oauth: [read]}, {oauth: [write]}]"), None),
            sec_doc(Some("[{oauth: [read, write]}, {oauth: [write]}, {oauth: [read]}]"), None),
        ),
        rule(
            "api-global-security-scope-removed",
            "A global security requirement paired by its scheme set has lost a scope.",
        )
        .fires(
            "scope removed",
            1,
            "INFO",
            "",
            sec_doc(Some("[{oauth: [read, write]}]"), None),
            sec_doc(Some("[{oauth: [read]}]"), None),
        )
        .quiet(
            "the same at an operation",
            sec_doc(None, Some("[{oauth: [read, write]}]")),
            sec_doc(None, Some("[{oauth: [read]}]")),
        ),
        rule(
            "api-security-added",
            "A security requirement is in a modified operation's own `security` in the revision only (the empty requirement `{}` is not reported).",
        )
        .fires(
            "operation requirement added",
            1,
            "INFO",
            "GET /items",
            sec_doc(None, None),
            sec_doc(None, Some("[{api_key: []}]")),
        )
        .quiet(
            "optional security `{}` added",
            sec_doc(None, Some("[{api_key: []}]")),
            sec_doc(None, Some("[{api_key: []}, {}]")),
        )
        .quiet(
            "global requirement added",
            sec_doc(None, None),
            sec_doc(Some("[{api_key: []}]"), None),
        ),
        rule(
            "api-security-removed",
            "A security requirement of a modified operation's own `security` is in the base only (not the empty requirement `{}`).",
        )
        .fires(
            "operation requirement removed",
            1,
            "INFO",
            "GET /items",
            sec_doc(None, Some("[{api_key: []}]")),
            sec_doc(None, None),
        )
        .fires(
            "requirement replaced",
            1,
            "INFO",
            "GET /items",
            sec_doc(None, Some("[{api_key: []}]")),
            sec_doc(None, Some("[{oauth: [read]}]")),
        )
        .quiet(
            "optional security `{}` removed",
            sec_doc(None, Some("[{api_key: []}, {}]")),
            sec_doc(None, Some("[{api_key: []}]")),
        )
        .quiet(
            "global requirement removed",
            sec_doc(Some("[{api_key: []}]"), None),
            sec_doc(None, None),
        ),
        rule(
            "api-security-scope-added",
            "An operation's security requirement paired by its scheme set has a scope the base's lacks.",
        )
        .fires(
            "scope added",
            1,
            "INFO",
            "GET /items",
            sec_doc(None, Some("[{oauth: [read]}]")),
            sec_doc(None, Some("[{oauth: [read, write]}]")),
        )
        .quiet(
            "global scope added",
            sec_doc(Some("[{oauth: [read]}]"), None),
            sec_doc(Some("[{oauth: [read, write]}]"), None),
        ),
        rule(
            "api-security-scope-removed",
            "An operation's security requirement paired by its scheme set has lost a scope.",
        )
        .fires(
            "scope removed",
            1,
            "INFO",
            "GET /items",
            sec_doc(None, Some("[{oauth: [read, write]}]")),
            sec_doc(None, Some("[{oauth: [read]}]")),
        )
        .quiet(
            "scope added",
            sec_doc(None, Some("[{oauth: [read]}]")),
            sec_doc(None, Some("[{oauth: [read, write]}]")),
        ),
    ]
}

// --- Components ---------------------------------------------------------------

/// A 3.0 document whose `components.securitySchemes` is `schemes` (unindented YAML).
fn schemes_doc(schemes: &str) -> String {
    v30(&format!(
        "paths: {{}}\ncomponents:\n  securitySchemes:\n{}\n",
        indent(schemes, 4)
    ))
}

/// An OAuth scheme `o` with one flow `flow`.
fn oauth(flow: &str, auth: &str, token: &str, scopes: &str) -> String {
    schemes_doc(&format!(
        "o:\n  type: oauth2\n  flows:\n    {flow}:\n      authorizationUrl: {auth}\n      tokenUrl: {token}\n      scopes: {scopes}"
    ))
}

const A1: &str = "https://a.example/1";
const A2: &str = "https://a.example/2";

/// A 3.0 document with the component schemas `schemas` (unindented YAML).
fn schemas_doc(schemas: &str) -> String {
    v30(&format!(
        "paths: {{}}\ncomponents:\n  schemas:\n{}\n",
        indent(schemas, 4)
    ))
}

/// A 3.1 document with `webhooks` (unindented YAML).
fn webhooks_doc(webhooks: &str) -> String {
    v31(&format!("webhooks:\n{}\n", indent(webhooks, 2)))
}

const HOOK: &str = "orderCreated:\n  post:\n    requestBody:\n      content:\n        application/json:\n          schema: {type: object}\n    responses:\n      '200': {description: ok}";
const HOOK_REQUIRED: &str = "orderCreated:\n  post:\n    requestBody:\n      required: true\n      content:\n        application/json:\n          schema: {type: object}\n    responses:\n      '200': {description: ok}";
const OTHER_HOOK: &str = "orderDeleted:\n  post:\n    responses:\n      '200': {description: ok}";

fn components() -> Vec<Rule> {
    let api_key = "k: {type: apiKey, in: header, name: X-Key}";
    let bearer = "k: {type: http, scheme: bearer}";
    vec![
        rule(
            "api-security-component-added",
            "A scheme is in the revision's `components.securitySchemes` only (document-wide).",
        )
        .fires(
            "scheme added",
            1,
            "INFO",
            "",
            schemes_doc(api_key),
            schemes_doc(&format!("{api_key}\nb: {{type: http, scheme: basic}}")),
        )
        .quiet(
            "scheme changed",
            schemes_doc(api_key),
            schemes_doc(bearer),
        ),
        rule(
            "api-security-component-removed",
            "A scheme is in the base's `components.securitySchemes` only (document-wide).",
        )
        .fires(
            "scheme removed",
            1,
            "INFO",
            "",
            schemes_doc(&format!("{api_key}\nb: {{type: http, scheme: basic}}")),
            schemes_doc(api_key),
        )
        .quiet(
            "scheme added",
            schemes_doc(api_key),
            schemes_doc(&format!("{api_key}\nb: {{type: http, scheme: basic}}")),
        ),
        rule(
            "api-security-component-type-changed",
            "A security scheme in both documents has a different `type`.",
        )
        .fires(
            "apiKey to http",
            1,
            "INFO",
            "",
            schemes_doc(api_key),
            schemes_doc(bearer),
        )
        .quiet(
            "the same type, another header",
            schemes_doc(api_key),
            schemes_doc("k: {type: apiKey, in: header, name: X-Other}"),
        ),
        rule(
            "api-security-component-oauth-url-changed",
            "The `authorizationUrl` of a scheme's implicit OAuth flow changed (oasdiff compares the implicit flow only).",
        )
        .fires(
            "implicit flow",
            1,
            "INFO",
            "",
            oauth("implicit", A1, A1, "{read: r}"),
            oauth("implicit", A2, A1, "{read: r}"),
        )
        .quiet(
            "authorization code flow",
            oauth("authorizationCode", A1, A1, "{read: r}"),
            oauth("authorizationCode", A2, A1, "{read: r}"),
        )
        .fires(
            "authorization code flow, every flow compared (stateanchor)",
            1,
            "INFO",
            "",
            oauth("authorizationCode", A1, A1, "{read: r}"),
            oauth("authorizationCode", A2, A1, "{read: r}"),
        )
        .with_config(Config::default())
        .quiet(
            "the implicit flow added",
            schemes_doc("o: {type: oauth2, flows: {}}"),
            oauth("implicit", A2, A1, "{read: r}"),
        ),
        rule(
            "api-security-component-oauth-token-url-changed",
            "The `tokenUrl` of a scheme's implicit OAuth flow changed.",
        )
        .fires(
            "implicit flow",
            1,
            "INFO",
            "",
            oauth("implicit", A1, A1, "{read: r}"),
            oauth("implicit", A1, A2, "{read: r}"),
        )
        .quiet(
            "client credentials flow",
            oauth("clientCredentials", A1, A1, "{read: r}"),
            oauth("clientCredentials", A1, A2, "{read: r}"),
        ),
        rule(
            "api-security-component-oauth-scope-added",
            "A scope is in the revision's implicit OAuth flow of a scheme only.",
        )
        .fires(
            "implicit flow",
            1,
            "INFO",
            "",
            oauth("implicit", A1, A1, "{read: r}"),
            oauth("implicit", A1, A1, "{read: r, write: w}"),
        )
        .quiet(
            "password flow",
            oauth("password", A1, A1, "{read: r}"),
            oauth("password", A1, A1, "{read: r, write: w}"),
        ),
        rule(
            "api-security-component-oauth-scope-removed",
            "A scope is in the base's implicit OAuth flow of a scheme only.",
        )
        .fires(
            "implicit flow",
            1,
            "INFO",
            "",
            oauth("implicit", A1, A1, "{read: r, write: w}"),
            oauth("implicit", A1, A1, "{read: r}"),
        )
        .quiet(
            "authorization code flow",
            oauth("authorizationCode", A1, A1, "{read: r, write: w}"),
            oauth("authorizationCode", A1, A1, "{read: r}"),
        ),
        rule(
            "api-security-component-oauth-scope-changed",
            "A scope of a scheme's implicit OAuth flow has a different description.",
        )
        .fires(
            "implicit flow",
            1,
            "INFO",
            "",
            oauth("implicit", A1, A1, "{read: r}"),
            oauth("implicit", A1, A1, "{read: reads}"),
        )
        .quiet(
            "scope renamed (removed and added)",
            oauth("implicit", A1, A1, "{read: r}"),
            oauth("implicit", A1, A1, "{get: r}"),
        ),
        rule(
            "api-schema-removed",
            "A schema is in the base's `components.schemas` only (document-wide, whether used or not).",
        )
        .fires(
            "schema removed",
            1,
            "INFO",
            "",
            schemas_doc("A: {type: string}\nB: {type: integer}"),
            schemas_doc("A: {type: string}"),
        )
        .quiet(
            "schema changed",
            schemas_doc("A: {type: string}"),
            schemas_doc("A: {type: integer}"),
        )
        .quiet(
            "schema added",
            schemas_doc("A: {type: string}"),
            schemas_doc("A: {type: string}\nB: {type: integer}"),
        ),
        rule(
            "webhook-added",
            "A webhook name is in the revision's `webhooks` only (document-wide).",
        )
        .fires(
            "webhook added",
            1,
            "INFO",
            "",
            webhooks_doc(HOOK),
            webhooks_doc(&format!("{HOOK}\n{OTHER_HOOK}")),
        )
        .quiet(
            "an operation of a webhook changed",
            webhooks_doc(HOOK),
            webhooks_doc(HOOK_REQUIRED),
        ),
        rule(
            "webhook-removed",
            "A webhook name is in the base's `webhooks` only (document-wide); the operations of a webhook in both are checked like endpoints, as `webhook:<name>`.",
        )
        .fires(
            "webhook removed",
            1,
            "ERR",
            "",
            webhooks_doc(&format!("{HOOK}\n{OTHER_HOOK}")),
            webhooks_doc(HOOK),
        )
        .quiet(
            "webhook kept, its request body became required",
            webhooks_doc(HOOK),
            webhooks_doc(HOOK_REQUIRED),
        ),
    ]
}

// --- Operations: ids and tags ---------------------------------------------------

fn op_meta(meta: &str) -> String {
    op(
        "get",
        "/items",
        &format!("{meta}\nresponses:\n  '200': {{description: ok}}"),
    )
}

fn operations() -> Vec<Rule> {
    vec![
        rule(
            "api-operation-id-added",
            "A modified operation had no (or an empty) `operationId` and has one.",
        )
        .fires(
            "id added",
            1,
            "INFO",
            "GET /items",
            op_meta("summary: s"),
            op_meta("operationId: listItems"),
        )
        .fires(
            "empty id filled",
            1,
            "INFO",
            "GET /items",
            op_meta("operationId: ''"),
            op_meta("operationId: listItems"),
        )
        .fires(
            "on a webhook's operation, as `webhook:<name>`",
            1,
            "INFO",
            "POST webhook:orderCreated",
            webhooks_doc(HOOK),
            webhooks_doc(&HOOK.replace("  post:\n", "  post:\n    operationId: onOrder\n")),
        )
        .quiet(
            "id changed",
            op_meta("operationId: listItems"),
            op_meta("operationId: getItems"),
        ),
        rule(
            "api-operation-id-removed",
            "A modified operation's non-empty `operationId` was removed or replaced by another.",
        )
        .fires(
            "id removed",
            1,
            "INFO",
            "GET /items",
            op_meta("operationId: listItems"),
            op_meta("summary: s"),
        )
        .fires(
            "id changed",
            1,
            "INFO",
            "GET /items",
            op_meta("operationId: listItems"),
            op_meta("operationId: getItems"),
        )
        .quiet(
            "id added",
            op_meta("summary: s"),
            op_meta("operationId: listItems"),
        )
        .quiet(
            "draft endpoint",
            op_meta("x-stability-level: draft\noperationId: listItems"),
            op_meta("x-stability-level: draft\noperationId: getItems"),
        ),
        rule(
            "api-tag-added",
            "A tag is in a modified operation's `tags` in the revision only.",
        )
        .fires(
            "tag added",
            1,
            "INFO",
            "GET /items",
            op_meta("tags: [a]"),
            op_meta("tags: [a, b]"),
        )
        .fires(
            "path parameter renamed: the base's path names the endpoint",
            1,
            "INFO",
            "GET /items/{id}",
            op("get", "/items/{id}", "tags: [a]\nresponses:\n  '200': {description: ok}"),
            op("get", "/items/{itemId}", "tags: [a, b]\nresponses:\n  '200': {description: ok}"),
        )
        .quiet(
            "tags reordered",
            op_meta("tags: [a, b]"),
            op_meta("tags: [b, a]"),
        )
        .quiet(
            "document tag added",
            v30("tags: [{name: a}]\npaths:\n  /items:\n    get:\n      tags: [a]\n      responses:\n        '200': {description: ok}"),
            v30("tags: [{name: a}, {name: b}]\npaths:\n  /items:\n    get:\n      tags: [a]\n      responses:\n        '200': {description: ok}"),
        ),
        rule(
            "api-tag-removed",
            "A tag is in a modified operation's `tags` in the base only.",
        )
        .fires(
            "tag removed",
            1,
            "INFO",
            "GET /items",
            op_meta("tags: [a, b]"),
            op_meta("tags: [a]"),
        )
        .fires(
            "tag replaced",
            1,
            "INFO",
            "GET /items",
            op_meta("tags: [a]"),
            op_meta("tags: [b]"),
        )
        .quiet(
            "tag added",
            op_meta("tags: [a]"),
            op_meta("tags: [a, b]"),
        ),
    ]
}

// --- The versioning policy ---------------------------------------------------------

/// A 3.0 document at `version`, with `GET /a` when `with_a` (removing it is
/// an ERR) and `GET /b` always.
fn versioned(version: &str, with_a: bool) -> String {
    let a = if with_a {
        "  /a:\n    get:\n      responses:\n        '200': {description: ok}\n"
    } else {
        ""
    };
    format!(
        "openapi: 3.0.3\ninfo: {{title: t, version: '{version}'}}\npaths:\n{a}  /b:\n    get:\n      responses:\n        '200': {{description: ok}}\n"
    )
}

fn versioning() -> Vec<Rule> {
    vec![
        rule(
            "api-version-not-bumped",
            "The diff has an ERR change and `info.version` is the same string in both documents, both semantic versions (document-wide).",
        )
        .fires(
            "a breaking change at the same version",
            1,
            "INFO",
            "",
            versioned("1.2.3", true),
            versioned("1.2.3", false),
        )
        .quiet(
            "no breaking change",
            versioned("1.2.3", false),
            versioned("1.2.3", true),
        )
        .quiet(
            "not a semantic version",
            versioned("1", true),
            versioned("1", false),
        ),
        rule(
            "api-version-decreased",
            "The diff has an ERR change and the revision's semantic version does not come after the base's (major, minor, patch), the strings differing.",
        )
        .fires(
            "2.0.0 to 1.9.0",
            1,
            "INFO",
            "",
            versioned("2.0.0", true),
            versioned("1.9.0", false),
        )
        .fires(
            "only the prerelease changed",
            1,
            "INFO",
            "",
            versioned("1.0.0-a", true),
            versioned("1.0.0-b", false),
        )
        .quiet(
            "1.0.0 to 2.0.0",
            versioned("1.0.0", true),
            versioned("2.0.0", false),
        )
        .quiet(
            "a date is not judged",
            versioned("2024-02-01", true),
            versioned("2024-01-01", false),
        ),
        rule(
            "api-major-version-not-bumped",
            "The diff has an ERR change and the semantic version increased without a major bump (below 1.0.0, without a minor bump).",
        )
        .fires(
            "1.0.0 to 1.1.0",
            1,
            "INFO",
            "",
            versioned("1.0.0", true),
            versioned("1.1.0", false),
        )
        .fires(
            "0.1.0 to 0.1.1",
            1,
            "INFO",
            "",
            versioned("0.1.0", true),
            versioned("0.1.1", false),
        )
        .quiet(
            "0.1.0 to 0.2.0",
            versioned("0.1.0", true),
            versioned("0.2.0", false),
        )
        .quiet(
            "v1.0.0 to v2.0.0",
            versioned("v1.0.0", true),
            versioned("v2.0.0", false),
        ),
    ]
}

// --- JSON Schema 2020-12 keywords ----------------------------------------------------

/// One keyword change, written for the body scope; the property scope puts
/// the same schemas under the property `p` of an object.
struct Kw {
    /// The change, the end of the rule ids (`const-added`).
    change: &'static str,
    /// What triggers it, after "in {where}".
    trigger: &'static str,
    /// The firing pair, and how many findings.
    fire: (&'static str, &'static str),
    /// Near misses: (name, base, revision).
    misses: Vec<(&'static str, &'static str, &'static str)>,
}

fn kws() -> Vec<Kw> {
    const S: &str = "type: string";
    const ARR_C: &str = "type: array\ncontains: {type: string}";
    const OBJ: &str =
        "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}";
    vec![
        Kw {
            change: "const-added",
            trigger: "`const` is set in the revision and absent in the base",
            fire: (S, "type: string\nconst: a"),
            misses: vec![
                (
                    "const changed",
                    "type: string\nconst: a",
                    "type: string\nconst: b",
                ),
                ("enum added", S, "type: string\nenum: [a]"),
            ],
        },
        Kw {
            change: "const-removed",
            trigger: "`const` is set in the base and absent in the revision",
            fire: ("type: string\nconst: a", S),
            misses: vec![(
                "const changed",
                "type: string\nconst: a",
                "type: string\nconst: b",
            )],
        },
        Kw {
            change: "const-changed",
            trigger: "`const` is set in both with different values",
            fire: ("type: string\nconst: a", "type: string\nconst: b"),
            misses: vec![
                ("const added", S, "type: string\nconst: a"),
                (
                    "the same const",
                    "type: string\nconst: a",
                    "type: string\nconst: a\ndescription: d",
                ),
            ],
        },
        Kw {
            change: "contains-added",
            trigger: "`contains` (a subschema) is absent in the base and present in the revision",
            fire: ("type: array", ARR_C),
            misses: vec![(
                "contains changed",
                ARR_C,
                "type: array\ncontains: {type: integer}",
            )],
        },
        Kw {
            change: "contains-removed",
            trigger: "`contains` is present in the base and absent in the revision",
            fire: (ARR_C, "type: array"),
            misses: vec![(
                "contains changed",
                ARR_C,
                "type: array\ncontains: {type: integer}",
            )],
        },
        Kw {
            change: "min-contains-increased",
            trigger: "`minContains` is set in both and greater in the revision (set or unset is no change oasdiff reports)",
            fire: (
                "type: array\ncontains: {type: string}\nminContains: 1",
                "type: array\ncontains: {type: string}\nminContains: 2",
            ),
            misses: vec![(
                "minContains set",
                ARR_C,
                "type: array\ncontains: {type: string}\nminContains: 2",
            )],
        },
        Kw {
            change: "min-contains-decreased",
            trigger: "`minContains` is set in both and smaller in the revision",
            fire: (
                "type: array\ncontains: {type: string}\nminContains: 2",
                "type: array\ncontains: {type: string}\nminContains: 1",
            ),
            misses: vec![(
                "minContains unset",
                "type: array\ncontains: {type: string}\nminContains: 2",
                ARR_C,
            )],
        },
        Kw {
            change: "max-contains-increased",
            trigger: "`maxContains` is set in both and greater in the revision",
            fire: (
                "type: array\ncontains: {type: string}\nmaxContains: 2",
                "type: array\ncontains: {type: string}\nmaxContains: 3",
            ),
            misses: vec![(
                "maxContains unset",
                "type: array\ncontains: {type: string}\nmaxContains: 2",
                ARR_C,
            )],
        },
        Kw {
            change: "max-contains-decreased",
            trigger: "`maxContains` is set in both and smaller in the revision",
            fire: (
                "type: array\ncontains: {type: string}\nmaxContains: 3",
                "type: array\ncontains: {type: string}\nmaxContains: 2",
            ),
            misses: vec![(
                "maxContains set",
                ARR_C,
                "type: array\ncontains: {type: string}\nmaxContains: 2",
            )],
        },
        Kw {
            change: "content-encoding-changed",
            trigger: "`contentEncoding` differs (set, unset or changed; absent reads as empty)",
            fire: (
                "type: string\ncontentEncoding: base64",
                "type: string\ncontentEncoding: base32",
            ),
            misses: vec![(
                "contentMediaType changed",
                "type: string\ncontentMediaType: image/png",
                "type: string\ncontentMediaType: image/jpeg",
            )],
        },
        Kw {
            change: "content-media-type-changed",
            trigger: "`contentMediaType` differs (set, unset or changed; absent reads as empty)",
            fire: (
                "type: string\ncontentMediaType: image/png",
                "type: string\ncontentMediaType: image/jpeg",
            ),
            misses: vec![(
                "contentEncoding changed",
                "type: string\ncontentEncoding: base64",
                "type: string\ncontentEncoding: base32",
            )],
        },
        Kw {
            change: "content-schema-added",
            trigger: "`contentSchema` is absent in the base and present in the revision",
            fire: (
                "type: string\ncontentMediaType: application/json",
                "type: string\ncontentMediaType: application/json\ncontentSchema: {type: object}",
            ),
            misses: vec![(
                "contentSchema changed",
                "type: string\ncontentMediaType: application/json\ncontentSchema: {type: object}",
                "type: string\ncontentMediaType: application/json\ncontentSchema: {type: array}",
            )],
        },
        Kw {
            change: "content-schema-removed",
            trigger: "`contentSchema` is present in the base and absent in the revision",
            fire: (
                "type: string\ncontentMediaType: application/json\ncontentSchema: {type: object}",
                "type: string\ncontentMediaType: application/json",
            ),
            misses: vec![(
                "contentSchema changed",
                "type: string\ncontentMediaType: application/json\ncontentSchema: {type: object}",
                "type: string\ncontentMediaType: application/json\ncontentSchema: {type: array}",
            )],
        },
        Kw {
            change: "dependent-required-added",
            trigger: "a `dependentRequired` key is in the revision only (one finding per key)",
            fire: (
                OBJ,
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\ndependentRequired: {a: [b]}",
            ),
            misses: vec![(
                "a key's list changed",
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\ndependentRequired: {a: [b]}",
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\ndependentRequired: {a: [b, c]}",
            )],
        },
        Kw {
            change: "dependent-required-removed",
            trigger: "a `dependentRequired` key is in the base only",
            fire: (
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\ndependentRequired: {a: [b]}",
                OBJ,
            ),
            misses: vec![(
                "a key's list changed",
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\ndependentRequired: {a: [b, c]}",
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\ndependentRequired: {a: [b]}",
            )],
        },
        Kw {
            change: "dependent-required-changed",
            trigger: "a `dependentRequired` key in both lists different property names (compared as sets)",
            fire: (
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\ndependentRequired: {a: [b]}",
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\ndependentRequired: {a: [b, c]}",
            ),
            misses: vec![(
                "the list reordered",
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\ndependentRequired: {a: [b, c]}",
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\ndependentRequired: {a: [c, b]}",
            )],
        },
        Kw {
            change: "dependent-schema-added",
            trigger: "a `dependentSchemas` key is in the revision only (one finding per key)",
            fire: (
                OBJ,
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\ndependentSchemas:\n  a: {required: [b]}",
            ),
            misses: vec![(
                "a dependent schema changed",
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\ndependentSchemas:\n  a: {required: [b]}",
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\ndependentSchemas:\n  a: {required: [c]}",
            )],
        },
        Kw {
            change: "dependent-schema-removed",
            trigger: "a `dependentSchemas` key is in the base only",
            fire: (
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\ndependentSchemas:\n  a: {required: [b]}",
                OBJ,
            ),
            misses: vec![(
                "a dependent schema changed",
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\ndependentSchemas:\n  a: {required: [b]}",
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\ndependentSchemas:\n  a: {required: [c]}",
            )],
        },
        Kw {
            change: "if-added",
            trigger: "`if` is absent in the base and present in the revision",
            fire: (
                OBJ,
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\nif: {required: [a]}",
            ),
            misses: vec![(
                "`if` changed",
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\nif: {required: [a]}",
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\nif: {required: [b]}",
            )],
        },
        Kw {
            change: "if-removed",
            trigger: "`if` is present in the base and absent in the revision",
            fire: (
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\nif: {required: [a]}",
                OBJ,
            ),
            misses: vec![(
                "`then` removed",
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\nif: {required: [a]}\nthen: {required: [b]}",
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\nif: {required: [a]}",
            )],
        },
        Kw {
            change: "then-added",
            trigger: "`then` is absent in the base and present in the revision",
            fire: (
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\nif: {required: [a]}",
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\nif: {required: [a]}\nthen: {required: [b]}",
            ),
            misses: vec![(
                "`else` added",
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\nif: {required: [a]}",
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\nif: {required: [a]}\nelse: {required: [c]}",
            )],
        },
        Kw {
            change: "then-removed",
            trigger: "`then` is present in the base and absent in the revision",
            fire: (
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\nif: {required: [a]}\nthen: {required: [b]}",
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\nif: {required: [a]}",
            ),
            misses: vec![(
                "`then` changed",
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\nif: {required: [a]}\nthen: {required: [b]}",
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\nif: {required: [a]}\nthen: {required: [c]}",
            )],
        },
        Kw {
            change: "else-added",
            trigger: "`else` is absent in the base and present in the revision",
            fire: (
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\nif: {required: [a]}",
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\nif: {required: [a]}\nelse: {required: [c]}",
            ),
            misses: vec![(
                "`then` added",
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\nif: {required: [a]}",
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\nif: {required: [a]}\nthen: {required: [b]}",
            )],
        },
        Kw {
            change: "else-removed",
            trigger: "`else` is present in the base and absent in the revision",
            fire: (
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\nif: {required: [a]}\nelse: {required: [c]}",
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\nif: {required: [a]}",
            ),
            misses: vec![(
                "`else` changed",
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\nif: {required: [a]}\nelse: {required: [c]}",
                "type: object\nproperties:\n  a: {type: string}\n  b: {type: string}\n  c: {type: string}\nif: {required: [a]}\nelse: {required: [b]}",
            )],
        },
        Kw {
            change: "prefix-items-added",
            trigger: "`prefixItems` has entries past the end of the base's list (one finding for all of them)",
            fire: (
                "type: array\nprefixItems: [{type: string}]",
                "type: array\nprefixItems: [{type: string}, {type: integer}, {type: boolean}]",
            ),
            misses: vec![(
                "an entry changed in place",
                "type: array\nprefixItems: [{type: string}]",
                "type: array\nprefixItems: [{type: integer}]",
            )],
        },
        Kw {
            change: "prefix-items-removed",
            trigger: "`prefixItems` lost entries at the end of the base's list (one finding for all of them)",
            fire: (
                "type: array\nprefixItems: [{type: string}, {type: integer}, {type: boolean}]",
                "type: array\nprefixItems: [{type: string}]",
            ),
            misses: vec![(
                "an entry changed in place",
                "type: array\nprefixItems: [{type: string}, {type: integer}]",
                "type: array\nprefixItems: [{type: string}, {type: boolean}]",
            )],
        },
        Kw {
            change: "property-names-added",
            trigger: "`propertyNames` is absent in the base and present in the revision",
            fire: (
                "type: object",
                "type: object\npropertyNames: {pattern: '^[a-z]+$'}",
            ),
            misses: vec![(
                "`propertyNames` changed",
                "type: object\npropertyNames: {pattern: '^[a-z]+$'}",
                "type: object\npropertyNames: {pattern: '^[a-z0-9]+$'}",
            )],
        },
        Kw {
            change: "property-names-removed",
            trigger: "`propertyNames` is present in the base and absent in the revision",
            fire: (
                "type: object\npropertyNames: {pattern: '^[a-z]+$'}",
                "type: object",
            ),
            misses: vec![(
                "`propertyNames` changed",
                "type: object\npropertyNames: {pattern: '^[a-z]+$'}",
                "type: object\npropertyNames: {pattern: '^[a-z0-9]+$'}",
            )],
        },
        Kw {
            change: "unevaluated-items-added",
            trigger: "`unevaluatedItems` holds a schema in the revision and none in the base (the boolean form is a flag no check reports)",
            fire: (
                "type: array",
                "type: array\nunevaluatedItems: {type: string}",
            ),
            misses: vec![(
                "`unevaluatedItems: false` added",
                "type: array",
                "type: array\nunevaluatedItems: false",
            )],
        },
        Kw {
            change: "unevaluated-items-removed",
            trigger: "`unevaluatedItems` holds a schema in the base and none in the revision",
            fire: (
                "type: array\nunevaluatedItems: {type: string}",
                "type: array",
            ),
            misses: vec![(
                "`unevaluatedItems: false` removed",
                "type: array\nunevaluatedItems: false",
                "type: array",
            )],
        },
        Kw {
            change: "unevaluated-properties-added",
            trigger: "`unevaluatedProperties` holds a schema in the revision and none in the base (the boolean form, `false` here, is a flag no check reports)",
            fire: (
                "type: object\nunevaluatedProperties: false",
                "type: object\nunevaluatedProperties: {type: string}",
            ),
            misses: vec![(
                "`unevaluatedProperties: false` added",
                "type: object",
                "type: object\nunevaluatedProperties: false",
            )],
        },
        Kw {
            change: "unevaluated-properties-removed",
            trigger: "`unevaluatedProperties` holds a schema in the base and none in the revision",
            fire: (
                "type: object\nunevaluatedProperties: {type: string}",
                "type: object",
            ),
            misses: vec![(
                "`unevaluatedProperties: false` removed",
                "type: object\nunevaluatedProperties: false",
                "type: object",
            )],
        },
    ]
}

/// `POST /items` (3.1) whose JSON request body has `schema`.
fn req31(schema: &str) -> String {
    op31(
        "post",
        "/items",
        &format!(
            "requestBody:\n  content:\n    application/json:\n      schema:\n{}\nresponses:\n  '200': {{description: ok}}",
            indent(schema, 8)
        ),
    )
}

/// `GET /items` (3.1) whose 200 JSON response has `schema`.
fn resp31(schema: &str) -> String {
    op31(
        "get",
        "/items",
        &format!(
            "responses:\n  '200':\n    description: ok\n    content:\n      application/json:\n        schema:\n{}",
            indent(schema, 10)
        ),
    )
}

/// `schema` as the property `p` of an object.
fn in_property(schema: &str) -> String {
    format!("type: object\nproperties:\n  p:\n{}", indent(schema, 4))
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn keywords() -> Vec<Rule> {
    let scopes: [(&str, &str, &str); 4] = [
        (
            "request-body",
            "POST /items",
            "a modified request body media type's schema",
        ),
        (
            "request-property",
            "POST /items",
            "a modified property of a request body (at any depth, through items, allOf/anyOf/oneOf and the 2020-12 subschemas)",
        ),
        (
            "response-body",
            "GET /items",
            "a modified response media type's schema",
        ),
        (
            "response-property",
            "GET /items",
            "a modified property of a response body (at any depth)",
        ),
    ];
    let mut out = Vec::new();
    for kw in kws() {
        for (scope, endpoint, place) in scopes {
            let id = leak(format!("{scope}-{}", kw.change));
            let info = gate::catalogue::find(id).unwrap_or_else(|| panic!("{id} is not a rule"));
            let level = info.level.as_str();
            let property = scope.ends_with("property");
            let doc = |s: &str| {
                let s = if property {
                    in_property(s)
                } else {
                    s.to_owned()
                };
                if scope.starts_with("request") {
                    req31(&s)
                } else {
                    resp31(&s)
                }
            };
            let trigger = leak(format!("In {place}: {}.", kw.trigger));
            let mut r = rule(id, trigger).fires(
                "fires",
                1,
                level,
                endpoint,
                doc(kw.fire.0),
                doc(kw.fire.1),
            );
            for (name, b, rv) in &kw.misses {
                r = r.quiet(name, doc(b), doc(rv));
            }
            // The other scope: a body change is no property change, and back.
            let other = if property {
                (kw.fire.0.to_owned(), kw.fire.1.to_owned())
            } else {
                (in_property(kw.fire.0), in_property(kw.fire.1))
            };
            let other_req = |s: &str| {
                if scope.starts_with("request") {
                    req31(s)
                } else {
                    resp31(s)
                }
            };
            r = r.quiet(
                if property {
                    "the same change to the body"
                } else {
                    "the same change to a property"
                },
                other_req(&other.0),
                other_req(&other.1),
            );
            // The other direction: a request change is no response change.
            let (ob, or) = if scope.starts_with("request") {
                (
                    resp31(&maybe_prop(property, kw.fire.0)),
                    resp31(&maybe_prop(property, kw.fire.1)),
                )
            } else {
                (
                    req31(&maybe_prop(property, kw.fire.0)),
                    req31(&maybe_prop(property, kw.fire.1)),
                )
            };
            r = r.quiet(
                if scope.starts_with("request") {
                    "the same change in a response"
                } else {
                    "the same change in a request"
                },
                ob,
                or,
            );
            out.push(r);
        }
    }
    nested_keyword_cases(&mut out);
    out
}

fn maybe_prop(property: bool, s: &str) -> String {
    if property {
        in_property(s)
    } else {
        s.to_owned()
    }
}

/// Extra cases: a subschema below a keyword (`contains`, `if`, `prefixItems`
/// entries, `items`) is walked as a property (oasdiff's property walk names
/// it `/contains`, `/if`, `/prefixItems[0]`, `/items`), so a change inside
/// it is a property change even at the body's root.
fn nested_keyword_cases(rules: &mut [Rule]) {
    let mut add = |id: &str, f: &dyn Fn(Rule) -> Rule| {
        let i = rules
            .iter()
            .position(|r| r.id == id)
            .unwrap_or_else(|| panic!("{id} has no entry"));
        let r = std::mem::replace(&mut rules[i], rule("", ""));
        rules[i] = f(r);
    };
    add("request-property-const-changed", &|r| {
        r.fires(
            "inside the body's `contains`",
            1,
            "ERR",
            "POST /items",
            req31("type: array\ncontains: {const: a}"),
            req31("type: array\ncontains: {const: b}"),
        )
        .fires(
            "inside the body's `if`",
            1,
            "ERR",
            "POST /items",
            req31("type: object\nif: {const: a}"),
            req31("type: object\nif: {const: b}"),
        )
    });
    add("request-body-const-changed", &|r| {
        r.quiet(
            "inside the body's `contains`",
            req31("type: array\ncontains: {const: a}"),
            req31("type: array\ncontains: {const: b}"),
        )
    });
    add("response-property-const-added", &|r| {
        r.fires(
            "inside a `prefixItems` entry",
            1,
            "INFO",
            "GET /items",
            resp31("type: array\nprefixItems: [{type: string}]"),
            resp31("type: array\nprefixItems: [{type: string, const: a}]"),
        )
    });
    add("response-property-contains-added", &|r| {
        r.fires(
            "on the body's `items`",
            1,
            "INFO",
            "GET /items",
            resp31("type: array\nitems: {type: array}"),
            resp31("type: array\nitems: {type: array, contains: {type: string}}"),
        )
    });
    add("response-body-contains-added", &|r| {
        r.quiet(
            "on the body's `items`",
            resp31("type: array\nitems: {type: array}"),
            resp31("type: array\nitems: {type: array, contains: {type: string}}"),
        )
    });
}
