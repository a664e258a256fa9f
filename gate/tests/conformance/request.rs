//! Conformance cases: see `support.rs` and `spec/gate-conformance.md`.
//!
//! Request bodies and request properties (oasdiff's `check_request_body_*`,
//! `check_request_property_*`, `check_added_required_request_body.go`,
//! `check_media_type_schema_existence.go`, `check_request_discriminator_updated.go`).
//! A "property" is any schema below the body's root that oasdiff's
//! `CheckModifiedPropertiesDiff` visits: properties, `items`,
//! `additionalProperties` and the modified members of `allOf`/`anyOf`/`oneOf`.

#[allow(unused_imports)]
use super::support::*;

const EP: &str = "POST /items";

/// A request body whose schema is `schema` (unindented YAML).
fn b(schema: &str) -> String {
    request_body(schema)
}

/// A 3.1 request body.
fn b31(schema: &str) -> String {
    op31(
        "post",
        "/items",
        &format!(
            "requestBody:\n  content:\n    application/json:\n      schema:\n{}\nresponses:\n  '200': {{description: ok}}",
            indent(schema, 8)
        ),
    )
}

/// A request body with one property `p` whose schema is `schema`.
fn p(schema: &str) -> String {
    b(&obj(schema, false))
}

/// The same, `p` required.
fn preq(schema: &str) -> String {
    b(&obj(schema, true))
}

/// A 3.1 request body with one property `p`.
fn p31(schema: &str) -> String {
    b31(&obj(schema, false))
}

fn obj(schema: &str, required: bool) -> String {
    format!(
        "type: object\n{}properties:\n  p:\n{}",
        if required { "required: [p]\n" } else { "" },
        indent(schema, 4)
    )
}

/// A request body of media type `mt` with `schema`.
fn bm(mt: &str, schema: &str) -> String {
    op(
        "post",
        "/items",
        &format!(
            "requestBody:\n  content:\n    {mt}:\n      schema:\n{}\nresponses:\n  '200': {{description: ok}}",
            indent(schema, 8)
        ),
    )
}

/// A body whose schema is `schema` and with `components.schemas` = `comps`.
fn bc(schema: &str, comps: &str) -> String {
    format!(
        "{}\ncomponents:\n  schemas:\n{}\n",
        b(schema),
        indent(comps, 4)
    )
}

/// The body-level rule `request-body-{change}` and the property-level
/// `request-property-{change}` from one pair of property schemas: the body
/// rule from the schemas at the root, the property rule from them as `p`.
#[allow(clippy::too_many_arguments)]
fn pair(
    change: &str,
    trigger_body: &'static str,
    trigger_prop: &'static str,
    level: &str,
    from: &str,
    to: &str,
    quiet_from: &str,
    quiet_to: &str,
) -> Vec<Rule> {
    let body_id: &'static str = Box::leak(format!("request-body-{change}").into_boxed_str());
    let prop_id: &'static str = Box::leak(format!("request-property-{change}").into_boxed_str());
    vec![
        rule(body_id, trigger_body)
            .fires("at the root", 1, level, EP, b(from), b(to))
            .quiet("near miss", b(quiet_from), b(quiet_to))
            .quiet("on a property it is the property rule", p(from), p(to)),
        rule(prop_id, trigger_prop)
            .fires("on a property", 1, level, EP, p(from), p(to))
            .fires(
                "in an array's items",
                1,
                level,
                EP,
                b(&format!("type: array\nitems:\n{}", indent(from, 2))),
                b(&format!("type: array\nitems:\n{}", indent(to, 2))),
            )
            .quiet("near miss", p(quiet_from), p(quiet_to))
            .quiet("at the root it is the body rule", b(from), b(to)),
    ]
}

pub fn rules() -> Vec<Rule> {
    let mut v = vec![
        // --- The body itself ---
        rule(
            "request-body-added-optional",
            "an operation that had no request body gets an optional one",
        )
        .fires(
            "optional body added",
            1,
            "INFO",
            EP,
            op("post", "/items", "responses:\n  '200': {description: ok}"),
            b("type: string"),
        )
        .quiet(
            "a required body is the required rule",
            op("post", "/items", "responses:\n  '200': {description: ok}"),
            op(
                "post",
                "/items",
                "requestBody:\n  required: true\n  content:\n    application/json:\n      schema: {type: string}\nresponses:\n  '200': {description: ok}",
            ),
        ),
        rule(
            "request-body-added-required",
            "an operation that had no request body gets a required one",
        )
        .fires(
            "required body added",
            1,
            "ERR",
            EP,
            op("post", "/items", "responses:\n  '200': {description: ok}"),
            op(
                "post",
                "/items",
                "requestBody:\n  required: true\n  content:\n    application/json:\n      schema: {type: string}\nresponses:\n  '200': {description: ok}",
            ),
        )
        .quiet(
            "an optional body added",
            op("post", "/items", "responses:\n  '200': {description: ok}"),
            b("type: string"),
        ),
        rule(
            "request-body-removed",
            "an operation's request body is removed",
        )
        .fires(
            "body removed",
            1,
            "ERR",
            EP,
            b("type: string"),
            op("post", "/items", "responses:\n  '200': {description: ok}"),
        )
        .quiet(
            "body added",
            op("post", "/items", "responses:\n  '200': {description: ok}"),
            b("type: string"),
        ),
        rule(
            "request-body-became-required",
            "the request body's `required` goes from false (or absent) to true",
        )
        .fires(
            "required: true added",
            1,
            "ERR",
            EP,
            b("type: string"),
            op(
                "post",
                "/items",
                "requestBody:\n  required: true\n  content:\n    application/json:\n      schema: {type: string}\nresponses:\n  '200': {description: ok}",
            ),
        )
        .quiet(
            "required: true dropped",
            op(
                "post",
                "/items",
                "requestBody:\n  required: true\n  content:\n    application/json:\n      schema: {type: string}\nresponses:\n  '200': {description: ok}",
            ),
            b("type: string"),
        ),
        rule(
            "request-body-became-optional",
            "the request body's `required` goes from true to false (or absent)",
        )
        .fires(
            "required: true dropped",
            1,
            "INFO",
            EP,
            op(
                "post",
                "/items",
                "requestBody:\n  required: true\n  content:\n    application/json:\n      schema: {type: string}\nresponses:\n  '200': {description: ok}",
            ),
            b("type: string"),
        )
        .quiet(
            "required: false made explicit",
            b("type: string"),
            op(
                "post",
                "/items",
                "requestBody:\n  required: false\n  content:\n    application/json:\n      schema: {type: string}\nresponses:\n  '200': {description: ok}",
            ),
        ),
        rule(
            "request-body-media-type-added",
            "a media type is added to the request body's content",
        )
        .fires(
            "xml added",
            1,
            "INFO",
            EP,
            b("type: string"),
            op(
                "post",
                "/items",
                "requestBody:\n  content:\n    application/json:\n      schema: {type: string}\n    application/xml:\n      schema: {type: string}\nresponses:\n  '200': {description: ok}",
            ),
        )
        .quiet(
            "a media type renamed is a removal and an addition elsewhere, not a response one",
            response_body("type: string"),
            op(
                "get",
                "/items",
                "responses:\n  '200':\n    description: ok\n    content:\n      application/json:\n        schema: {type: string}\n      application/xml:\n        schema: {type: string}",
            ),
        ),
        rule(
            "request-body-media-type-removed",
            "a media type is removed from the request body's content",
        )
        .fires(
            "xml removed",
            1,
            "ERR",
            EP,
            op(
                "post",
                "/items",
                "requestBody:\n  content:\n    application/json:\n      schema: {type: string}\n    application/xml:\n      schema: {type: string}\nresponses:\n  '200': {description: ok}",
            ),
            b("type: string"),
        )
        .quiet(
            "xml added",
            b("type: string"),
            op(
                "post",
                "/items",
                "requestBody:\n  content:\n    application/json:\n      schema: {type: string}\n    application/xml:\n      schema: {type: string}\nresponses:\n  '200': {description: ok}",
            ),
        ),
        rule(
            "request-body-media-type-schema-added",
            "a request media type that had no schema gets one",
        )
        .fires(
            "schema added",
            1,
            "ERR",
            EP,
            op(
                "post",
                "/items",
                "requestBody:\n  content:\n    application/json: {}\nresponses:\n  '200': {description: ok}",
            ),
            b("type: string"),
        )
        .quiet(
            "schema removed",
            b("type: string"),
            op(
                "post",
                "/items",
                "requestBody:\n  content:\n    application/json: {}\nresponses:\n  '200': {description: ok}",
            ),
        ),
        rule(
            "request-body-media-type-schema-removed",
            "a request media type's schema is removed",
        )
        .fires(
            "schema removed",
            1,
            "INFO",
            EP,
            b("type: string"),
            op(
                "post",
                "/items",
                "requestBody:\n  content:\n    application/json: {}\nresponses:\n  '200': {description: ok}",
            ),
        )
        .quiet(
            "schema added",
            op(
                "post",
                "/items",
                "requestBody:\n  content:\n    application/json: {}\nresponses:\n  '200': {description: ok}",
            ),
            b("type: string"),
        ),
        rule(
            "request-body-enum-value-removed",
            "a value is removed from the request body schema's `enum`",
        )
        .fires(
            "one value removed",
            1,
            "ERR",
            EP,
            b("type: string\nenum: [a, b]"),
            b("type: string\nenum: [a]"),
        )
        .fires(
            "one finding per value removed",
            2,
            "ERR",
            EP,
            b("type: string\nenum: [a, b, c]"),
            b("type: string\nenum: [a]"),
        )
        .quiet(
            "a value added",
            b("type: string\nenum: [a]"),
            b("type: string\nenum: [a, b]"),
        )
        .quiet(
            "on a property it is the property rule",
            p("type: string\nenum: [a, b]"),
            p("type: string\nenum: [a]"),
        ),
        rule(
            "request-body-wrapped-in-one-of",
            "a request body that was an object with properties (no oneOf) becomes a oneOf with no type or properties of its own whose alternatives hold some of those properties",
        )
        .fires(
            "object wrapped into oneOf",
            1,
            "ERR",
            EP,
            b("type: object\nproperties:\n  a: {type: string}"),
            b(
                "oneOf:\n  - type: object\n    properties:\n      a: {type: string}\n  - type: object\n    properties:\n      b: {type: string}",
            ),
        )
        .quiet(
            "a oneOf whose alternatives share none of the properties",
            b("type: object\nproperties:\n  a: {type: string}"),
            b(
                "oneOf:\n  - type: object\n    properties:\n      c: {type: string}\n  - type: object\n    properties:\n      b: {type: string}",
            ),
        )
        .quiet(
            "a oneOf that keeps its own properties",
            b("type: object\nproperties:\n  a: {type: string}"),
            b(
                "type: object\nproperties:\n  a: {type: string}\noneOf:\n  - required: [a]\n  - required: [b]",
            ),
        ),
        // --- Properties added, removed, required ---
        rule(
            "new-optional-request-property",
            "a property that is not required and not readOnly is added to a request body schema",
        )
        .fires(
            "optional property added",
            1,
            "INFO",
            EP,
            b("type: object\nproperties:\n  a: {type: string}"),
            b("type: object\nproperties:\n  a: {type: string}\n  b: {type: string}"),
        )
        .quiet(
            "a readOnly property added",
            b("type: object\nproperties:\n  a: {type: string}"),
            b("type: object\nproperties:\n  a: {type: string}\n  b: {type: string, readOnly: true}"),
        )
        .quiet(
            "a required property added",
            b("type: object\nproperties:\n  a: {type: string}"),
            b("type: object\nrequired: [b]\nproperties:\n  a: {type: string}\n  b: {type: string}"),
        ),
        rule(
            "new-required-request-property",
            "a required, non-readOnly property without a default is added to a request body schema",
        )
        .fires(
            "required property added",
            1,
            "ERR",
            EP,
            b("type: object\nproperties:\n  a: {type: string}"),
            b("type: object\nrequired: [b]\nproperties:\n  a: {type: string}\n  b: {type: string}"),
        )
        .fires(
            "in an array's items",
            1,
            "ERR",
            EP,
            b("type: array\nitems:\n  type: object\n  properties:\n    a: {type: string}"),
            b(
                "type: array\nitems:\n  type: object\n  required: [b]\n  properties:\n    a: {type: string}\n    b: {type: string}",
            ),
        )
        .quiet(
            "a required readOnly property added",
            b("type: object\nproperties:\n  a: {type: string}"),
            b(
                "type: object\nrequired: [b]\nproperties:\n  a: {type: string}\n  b: {type: string, readOnly: true}",
            ),
        )
        .quiet(
            "with a default it is the with-default rule",
            b("type: object\nproperties:\n  a: {type: string}"),
            b(
                "type: object\nrequired: [b]\nproperties:\n  a: {type: string}\n  b: {type: string, default: x}",
            ),
        ),
        rule(
            "new-required-request-property-with-default",
            "a required, non-readOnly property with a default is added to a request body schema",
        )
        .fires(
            "required property with default added",
            1,
            "ERR",
            EP,
            b("type: object\nproperties:\n  a: {type: string}"),
            b(
                "type: object\nrequired: [b]\nproperties:\n  a: {type: string}\n  b: {type: string, default: x}",
            ),
        )
        .quiet(
            "an optional property with a default added",
            b("type: object\nproperties:\n  a: {type: string}"),
            b("type: object\nproperties:\n  a: {type: string}\n  b: {type: string, default: x}"),
        ),
        rule(
            "request-property-removed",
            "a property that was not readOnly is removed from a request body schema",
        )
        .fires(
            "property removed",
            1,
            "WARN",
            EP,
            b("type: object\nproperties:\n  a: {type: string}\n  b: {type: string}"),
            b("type: object\nproperties:\n  a: {type: string}"),
        )
        .fires(
            "a shared component's property removed counts at each place it is used",
            2,
            "WARN",
            EP,
            bc(
                "type: object\nproperties:\n  x: {$ref: '#/components/schemas/A'}\n  y: {$ref: '#/components/schemas/A'}",
                "A:\n  type: object\n  properties:\n    a: {type: string}\n    b: {type: string}",
            ),
            bc(
                "type: object\nproperties:\n  x: {$ref: '#/components/schemas/A'}\n  y: {$ref: '#/components/schemas/A'}",
                "A:\n  type: object\n  properties:\n    a: {type: string}",
            ),
        )
        .quiet(
            "a readOnly property removed",
            b("type: object\nproperties:\n  a: {type: string}\n  b: {type: string, readOnly: true}"),
            b("type: object\nproperties:\n  a: {type: string}"),
        )
        .quiet(
            "a property added",
            b("type: object\nproperties:\n  a: {type: string}"),
            b("type: object\nproperties:\n  a: {type: string}\n  b: {type: string}"),
        ),
        rule(
            "request-property-became-required",
            "a request property (not readOnly) is added to its parent's `required` list and has no default",
        )
        .fires(
            "made required",
            1,
            "ERR",
            EP,
            p("type: string"),
            preq("type: string"),
        )
        .quiet(
            "made optional",
            preq("type: string"),
            p("type: string"),
        )
        .fires(
            "inside an anyOf member",
            1,
            "ERR",
            EP,
            bc(
                "anyOf:\n  - $ref: '#/components/schemas/A'\n  - type: string",
                "A:\n  type: object\n  properties:\n    id: {type: string}",
            ),
            bc(
                "anyOf:\n  - $ref: '#/components/schemas/A'\n  - type: string",
                "A:\n  type: object\n  required: [id]\n  properties:\n    id: {type: string}",
            ),
        )
        .quiet(
            "a required name without a property definition",
            b("type: object\nproperties:\n  a: {type: string}"),
            b("type: object\nrequired: [b]\nproperties:\n  a: {type: string}"),
        )
        .quiet(
            "a readOnly property made required",
            p("type: string\nreadOnly: true"),
            preq("type: string\nreadOnly: true"),
        )
        .quiet(
            "with a default it is the with-default rule",
            p("type: string\ndefault: x"),
            preq("type: string\ndefault: x"),
        ),
        rule(
            "request-property-became-required-with-default",
            "a request property (not readOnly) with a default is added to its parent's `required` list",
        )
        .fires(
            "made required, has a default",
            1,
            "ERR",
            EP,
            p("type: string\ndefault: x"),
            preq("type: string\ndefault: x"),
        )
        .quiet(
            "made required, no default",
            p("type: string"),
            preq("type: string"),
        ),
        rule(
            "request-property-became-optional",
            "a request property is removed from its parent's `required` list",
        )
        .fires(
            "made optional",
            1,
            "INFO",
            EP,
            preq("type: string"),
            p("type: string"),
        )
        .quiet(
            "made required",
            p("type: string"),
            preq("type: string"),
        ),
        // --- Deprecation ---
        rule(
            "request-property-deprecated",
            "a request property gets `deprecated: true`",
        )
        .fires(
            "deprecated",
            1,
            "INFO",
            EP,
            p("type: string"),
            p("type: string\ndeprecated: true"),
        )
        .quiet(
            "un-deprecated",
            p("type: string\ndeprecated: true"),
            p("type: string"),
        ),
        rule(
            "request-property-reactivated",
            "a request property's `deprecated: true` is removed",
        )
        .fires(
            "un-deprecated",
            1,
            "INFO",
            EP,
            p("type: string\ndeprecated: true"),
            p("type: string"),
        )
        .quiet(
            "deprecated",
            p("type: string"),
            p("type: string\ndeprecated: true"),
        ),
        // --- Enums ---
        rule(
            "request-body-became-enum",
            "the request body schema, which had no enum, gets an `enum`",
        )
        .fires(
            "enum added",
            1,
            "ERR",
            EP,
            b("type: string"),
            b("type: string\nenum: [a, b]"),
        )
        .fires(
            "enum added and type changed at once",
            1,
            "ERR",
            EP,
            b("type: string"),
            b("type: integer\nenum: [1, 2]"),
        )
        .quiet(
            "a value added to an existing enum",
            b("type: string\nenum: [a]"),
            b("type: string\nenum: [a, b]"),
        ),
        rule(
            "request-property-became-enum",
            "a request property's schema, which had no enum, gets an `enum`",
        )
        .fires(
            "enum added",
            1,
            "ERR",
            EP,
            p("type: string"),
            p("type: string\nenum: [a, b]"),
        )
        .quiet(
            "enum dropped",
            p("type: string\nenum: [a, b]"),
            p("type: string"),
        ),
        rule(
            "request-property-enum-value-added",
            "a value is added to a request property's `enum`",
        )
        .fires(
            "value added",
            1,
            "INFO",
            EP,
            p("type: string\nenum: [a]"),
            p("type: string\nenum: [a, b]"),
        )
        .quiet(
            "value removed",
            p("type: string\nenum: [a, b]"),
            p("type: string\nenum: [a]"),
        ),
        rule(
            "request-property-enum-value-removed",
            "a value is removed from a (not readOnly) request property's `enum`",
        )
        .fires(
            "value removed",
            1,
            "ERR",
            EP,
            p("type: string\nenum: [a, b]"),
            p("type: string\nenum: [a]"),
        )
        .quiet(
            "a readOnly property's value removed",
            p("type: string\nreadOnly: true\nenum: [a, b]"),
            p("type: string\nreadOnly: true\nenum: [a]"),
        )
        .quiet(
            "value added",
            p("type: string\nenum: [a]"),
            p("type: string\nenum: [a, b]"),
        ),
        rule(
            "request-read-only-property-enum-value-removed",
            "a value is removed from a readOnly request property's `enum`",
        )
        .fires(
            "readOnly value removed",
            1,
            "INFO",
            EP,
            p("type: string\nreadOnly: true\nenum: [a, b]"),
            p("type: string\nreadOnly: true\nenum: [a]"),
        )
        .quiet(
            "not readOnly",
            p("type: string\nenum: [a, b]"),
            p("type: string\nenum: [a]"),
        ),
        rule(
            "request-property-x-extensible-enum-value-removed",
            "a value is removed from a request property's `x-extensible-enum`",
        )
        .fires(
            "value removed",
            1,
            "ERR",
            EP,
            p("type: string\nx-extensible-enum: [a, b]"),
            p("type: string\nx-extensible-enum: [a]"),
        )
        .quiet(
            "value added",
            p("type: string\nx-extensible-enum: [a]"),
            p("type: string\nx-extensible-enum: [a, b]"),
        ),
        // --- Patterns ---
        rule(
            "request-property-pattern-added",
            "a request property that had no `pattern` gets one",
        )
        .fires(
            "pattern added",
            1,
            "ERR",
            EP,
            p("type: string"),
            p("type: string\npattern: '^[a-z]+$'"),
        )
        .quiet(
            "pattern removed",
            p("type: string\npattern: '^[a-z]+$'"),
            p("type: string"),
        ),
        rule(
            "request-property-pattern-removed",
            "a request property's `pattern` is removed",
        )
        .fires(
            "pattern removed",
            1,
            "INFO",
            EP,
            p("type: string\npattern: '^[a-z]+$'"),
            p("type: string"),
        )
        .quiet(
            "pattern added",
            p("type: string"),
            p("type: string\npattern: '^[a-z]+$'"),
        ),
        rule(
            "request-property-pattern-changed",
            "a request property's `pattern` changes to another (not the match-all `.*`)",
        )
        .fires(
            "pattern changed",
            1,
            "WARN",
            EP,
            p("type: string\npattern: '^[a-z]+$'"),
            p("type: string\npattern: '^[a-c]+$'"),
        )
        .quiet(
            "pattern made match-all",
            p("type: string\npattern: '^[a-z]+$'"),
            p("type: string\npattern: '.*'"),
        ),
        rule(
            "request-property-pattern-generalized",
            "a request property's `pattern` changes to the match-all `.*`",
        )
        .fires(
            "pattern made .*",
            1,
            "INFO",
            EP,
            p("type: string\npattern: '^[a-z]+$'"),
            p("type: string\npattern: '.*'"),
        )
        .quiet(
            "pattern changed to another",
            p("type: string\npattern: '^[a-z]+$'"),
            p("type: string\npattern: '^[a-c]+$'"),
        )
        .quiet(
            "only the literal .* is a generalization",
            p("type: string\npattern: '^[a-z]+$'"),
            p("type: string\npattern: '^.*$'"),
        ),
        // --- Read-only / write-only ---
        rule(
            "request-optional-property-became-read-only",
            "an optional request property gets `readOnly: true`",
        )
        .fires(
            "optional made readOnly",
            1,
            "INFO",
            EP,
            p("type: string"),
            p("type: string\nreadOnly: true"),
        )
        .fires(
            "made readOnly and required at once: named by the base's requiredness",
            1,
            "INFO",
            EP,
            p("type: string"),
            preq("type: string\nreadOnly: true"),
        )
        .quiet(
            "a required one is the required rule",
            preq("type: string"),
            preq("type: string\nreadOnly: true"),
        ),
        rule(
            "request-optional-property-became-not-read-only",
            "an optional request property loses `readOnly: true`",
        )
        .fires(
            "optional no longer readOnly",
            1,
            "INFO",
            EP,
            p("type: string\nreadOnly: true"),
            p("type: string"),
        )
        .quiet(
            "made readOnly",
            p("type: string"),
            p("type: string\nreadOnly: true"),
        ),
        rule(
            "request-optional-property-became-write-only",
            "an optional request property gets `writeOnly: true`",
        )
        .fires(
            "optional made writeOnly",
            1,
            "INFO",
            EP,
            p("type: string"),
            p("type: string\nwriteOnly: true"),
        )
        .quiet(
            "no longer writeOnly",
            p("type: string\nwriteOnly: true"),
            p("type: string"),
        ),
        rule(
            "request-optional-property-became-not-write-only",
            "an optional request property loses `writeOnly: true`",
        )
        .fires(
            "optional no longer writeOnly",
            1,
            "INFO",
            EP,
            p("type: string\nwriteOnly: true"),
            p("type: string"),
        )
        .quiet(
            "a required one is the required rule",
            preq("type: string\nwriteOnly: true"),
            preq("type: string"),
        ),
        rule(
            "request-required-property-became-read-only",
            "a required request property gets `readOnly: true`",
        )
        .fires(
            "required made readOnly",
            1,
            "INFO",
            EP,
            preq("type: string"),
            preq("type: string\nreadOnly: true"),
        )
        .quiet(
            "an optional one is the optional rule",
            p("type: string"),
            p("type: string\nreadOnly: true"),
        ),
        rule(
            "request-required-property-became-not-read-only",
            "a required request property loses `readOnly: true`",
        )
        .fires(
            "required no longer readOnly",
            1,
            "INFO",
            EP,
            preq("type: string\nreadOnly: true"),
            preq("type: string"),
        )
        .quiet(
            "made readOnly",
            preq("type: string"),
            preq("type: string\nreadOnly: true"),
        ),
        rule(
            "request-required-property-became-write-only",
            "a required request property gets `writeOnly: true`",
        )
        .fires(
            "required made writeOnly",
            1,
            "INFO",
            EP,
            preq("type: string"),
            preq("type: string\nwriteOnly: true"),
        )
        .quiet(
            "no longer writeOnly",
            preq("type: string\nwriteOnly: true"),
            preq("type: string"),
        ),
        rule(
            "request-required-property-became-not-write-only",
            "a required request property loses `writeOnly: true`",
        )
        .fires(
            "required no longer writeOnly",
            1,
            "INFO",
            EP,
            preq("type: string\nwriteOnly: true"),
            preq("type: string"),
        )
        .quiet(
            "an optional one is the optional rule",
            p("type: string\nwriteOnly: true"),
            p("type: string"),
        ),
        // --- Read-only variants of narrowing bounds ---
        rule(
            "request-read-only-property-max-decreased",
            "a readOnly request property's `maximum` decreases",
        )
        .fires(
            "readOnly maximum decreased",
            1,
            "INFO",
            EP,
            p("type: integer\nreadOnly: true\nmaximum: 10"),
            p("type: integer\nreadOnly: true\nmaximum: 5"),
        )
        .quiet(
            "not readOnly",
            p("type: integer\nmaximum: 10"),
            p("type: integer\nmaximum: 5"),
        ),
        rule(
            "request-read-only-property-min-increased",
            "a readOnly request property's `minimum` increases",
        )
        .fires(
            "readOnly minimum increased",
            1,
            "INFO",
            EP,
            p("type: integer\nreadOnly: true\nminimum: 1"),
            p("type: integer\nreadOnly: true\nminimum: 5"),
        )
        .quiet(
            "readOnly minimum decreased",
            p("type: integer\nreadOnly: true\nminimum: 5"),
            p("type: integer\nreadOnly: true\nminimum: 1"),
        ),
        rule(
            "request-read-only-property-max-length-decreased",
            "a readOnly request property's `maxLength` decreases",
        )
        .fires(
            "readOnly maxLength decreased",
            1,
            "INFO",
            EP,
            p("type: string\nreadOnly: true\nmaxLength: 10"),
            p("type: string\nreadOnly: true\nmaxLength: 5"),
        )
        .quiet(
            "readOnly maxLength increased",
            p("type: string\nreadOnly: true\nmaxLength: 5"),
            p("type: string\nreadOnly: true\nmaxLength: 10"),
        ),
        rule(
            "request-read-only-property-exclusive-max-decreased",
            "a readOnly request property's numeric `exclusiveMaximum` decreases",
        )
        .fires(
            "readOnly exclusiveMaximum decreased",
            1,
            "INFO",
            EP,
            p31("type: integer\nreadOnly: true\nexclusiveMaximum: 10"),
            p31("type: integer\nreadOnly: true\nexclusiveMaximum: 5"),
        )
        .quiet(
            "not readOnly",
            p31("type: integer\nexclusiveMaximum: 10"),
            p31("type: integer\nexclusiveMaximum: 5"),
        ),
        rule(
            "request-read-only-property-exclusive-min-increased",
            "a readOnly request property's numeric `exclusiveMinimum` increases",
        )
        .fires(
            "readOnly exclusiveMinimum increased",
            1,
            "INFO",
            EP,
            p31("type: integer\nreadOnly: true\nexclusiveMinimum: 1"),
            p31("type: integer\nreadOnly: true\nexclusiveMinimum: 5"),
        )
        .quiet(
            "not readOnly",
            p31("type: integer\nexclusiveMinimum: 1"),
            p31("type: integer\nexclusiveMinimum: 5"),
        ),
        // --- min-items-set: never ---
        never(
            "request-body-min-items-set",
            "the request body's `minItems` goes from unset to set",
            "kin-openapi reads an absent `minItems` as 0 (a plain uint64), so oasdiff's MinItemsDiff never has a nil `From` and check_request_property_min_items_set.go's `From == nil` branch is unreachable; setting minItems is request-body-min-items-increased",
        ),
        never(
            "request-property-min-items-set",
            "a request property's `minItems` goes from unset to set",
            "kin-openapi reads an absent `minItems` as 0 (a plain uint64), so oasdiff's MinItemsDiff never has a nil `From` and check_request_property_min_items_set.go's `From == nil` branch is unreachable; setting minItems is request-property-min-items-increased",
        ),
    ];

    // --- Bounds, both scopes from one template ---
    v.extend(pair(
        "max-decreased",
        "the request body schema's `maximum` decreases",
        "a (not readOnly) request property's `maximum` decreases",
        "ERR",
        "type: integer\nmaximum: 10",
        "type: integer\nmaximum: 5",
        "type: integer\nmaximum: 5",
        "type: integer\nmaximum: 10",
    ));
    v.extend(pair(
        "max-increased",
        "the request body schema's `maximum` increases",
        "a request property's `maximum` increases",
        "INFO",
        "type: integer\nmaximum: 5",
        "type: integer\nmaximum: 10",
        "type: integer\nmaximum: 10",
        "type: integer\nmaximum: 5",
    ));
    v.extend(pair(
        "max-set",
        "the request body schema gets a `maximum` where it had none",
        "a (not readOnly) request property gets a `maximum` where it had none",
        "WARN",
        "type: integer",
        "type: integer\nmaximum: 10",
        "type: integer\nmaximum: 10",
        "type: integer",
    ));
    v.extend(pair(
        "min-increased",
        "the request body schema's `minimum` increases",
        "a (not readOnly) request property's `minimum` increases",
        "ERR",
        "type: integer\nminimum: 1",
        "type: integer\nminimum: 5",
        "type: integer\nminimum: 5",
        "type: integer\nminimum: 1",
    ));
    v.extend(pair(
        "min-decreased",
        "the request body schema's `minimum` decreases",
        "a request property's `minimum` decreases",
        "INFO",
        "type: integer\nminimum: 5",
        "type: integer\nminimum: 1",
        "type: integer\nminimum: 1",
        "type: integer\nminimum: 5",
    ));
    v.extend(pair(
        "min-set",
        "the request body schema gets a `minimum` where it had none",
        "a (not readOnly) request property gets a `minimum` where it had none",
        "WARN",
        "type: integer",
        "type: integer\nminimum: 1",
        "type: integer\nminimum: 1",
        "type: integer",
    ));
    v.extend(pair(
        "max-length-decreased",
        "the request body schema's `maxLength` decreases",
        "a (not readOnly) request property's `maxLength` decreases",
        "ERR",
        "type: string\nmaxLength: 10",
        "type: string\nmaxLength: 5",
        "type: string\nmaxLength: 5",
        "type: string\nmaxLength: 10",
    ));
    v.extend(pair(
        "max-length-increased",
        "the request body schema's `maxLength` increases",
        "a request property's `maxLength` increases",
        "INFO",
        "type: string\nmaxLength: 5",
        "type: string\nmaxLength: 10",
        "type: string\nmaxLength: 10",
        "type: string\nmaxLength: 5",
    ));
    v.extend(pair(
        "max-length-set",
        "the request body schema gets a `maxLength` where it had none",
        "a (not readOnly) request property gets a `maxLength` where it had none",
        "WARN",
        "type: string",
        "type: string\nmaxLength: 10",
        "type: string\nmaxLength: 10",
        "type: string",
    ));
    v.extend(pair(
        "min-length-increased",
        "the request body schema's `minLength` increases (an absent minLength is 0, so setting one increases it)",
        "a request property's `minLength` increases (an absent minLength is 0)",
        "ERR",
        "type: string",
        "type: string\nminLength: 3",
        "type: string\nminLength: 3",
        "type: string\nminLength: 1",
    ));
    v.extend(pair(
        "min-length-decreased",
        "the request body schema's `minLength` decreases (dropping one decreases it to 0)",
        "a request property's `minLength` decreases (dropping one decreases it to 0)",
        "INFO",
        "type: string\nminLength: 3",
        "type: string",
        "type: string\nminLength: 1",
        "type: string\nminLength: 3",
    ));
    v.extend(pair(
        "min-items-increased",
        "the request body schema's `minItems` increases (an absent minItems is 0, so setting one increases it)",
        "a request property's `minItems` increases (an absent minItems is 0, so setting one increases it)",
        "ERR",
        "type: array\nitems: {type: string}",
        "type: array\nitems: {type: string}\nminItems: 2",
        "type: array\nitems: {type: string}\nminItems: 2",
        "type: array\nitems: {type: string}",
    ));
    // A 3.0 boolean exclusiveMinimum: oasdiff compares `minimum` as written;
    // StateAnchor's own mode (Differences::normalized_bounds) reads the pair
    // as the 3.1 exclusive bound, so there it is an exclusive-min change.
    let excl = |m: u32| {
        b(&format!(
            "type: integer\nminimum: {m}\nexclusiveMinimum: true"
        ))
    };
    if let Some(at) = v.iter().position(|r| r.id == "request-body-min-increased") {
        let r = v.remove(at);
        v.push(
            r.fires(
                "3.0 exclusive minimum increased: the minimum as written",
                1,
                "ERR",
                EP,
                excl(5),
                excl(6),
            )
            .quiet(
                "the same in StateAnchor's mode is an exclusive-min change",
                excl(5),
                excl(6),
            )
            .with_config(gate::Config::default()),
        );
    }
    // Exclusive bounds: OpenAPI 3.1 numeric exclusiveMinimum/exclusiveMaximum.
    for (change, tb, tp, level, f, t) in [
        (
            "exclusive-max-decreased",
            "the request body schema's `exclusiveMaximum` decreases (or changes in a way that is not an increase)",
            "a request property's `exclusiveMaximum` decreases",
            "ERR",
            "type: integer\nexclusiveMaximum: 10",
            "type: integer\nexclusiveMaximum: 5",
        ),
        (
            "exclusive-max-increased",
            "the request body schema's numeric `exclusiveMaximum` increases",
            "a request property's numeric `exclusiveMaximum` increases",
            "INFO",
            "type: integer\nexclusiveMaximum: 5",
            "type: integer\nexclusiveMaximum: 10",
        ),
        (
            "exclusive-min-increased",
            "the request body schema's numeric `exclusiveMinimum` increases",
            "a (not readOnly) request property's numeric `exclusiveMinimum` increases",
            "ERR",
            "type: integer\nexclusiveMinimum: 1",
            "type: integer\nexclusiveMinimum: 5",
        ),
        (
            "exclusive-min-decreased",
            "the request body schema's `exclusiveMinimum` decreases (or changes in a way that is not an increase)",
            "a request property's `exclusiveMinimum` decreases",
            "INFO",
            "type: integer\nexclusiveMinimum: 5",
            "type: integer\nexclusiveMinimum: 1",
        ),
    ] {
        let body_id: &'static str = Box::leak(format!("request-body-{change}").into_boxed_str());
        let prop_id: &'static str =
            Box::leak(format!("request-property-{change}").into_boxed_str());
        v.push(
            rule(body_id, tb)
                .fires("at the root (3.1)", 1, level, EP, b31(f), b31(t))
                .quiet("the opposite change", b31(t), b31(f)),
        );
        v.push(
            rule(prop_id, tp)
                .fires("on a property (3.1)", 1, level, EP, p31(f), p31(t))
                .quiet("the opposite change", p31(t), p31(f)),
        );
    }
    v.push(
        rule(
            "request-body-exclusive-min-set",
            "the request body schema gets an `exclusiveMinimum` (3.0 boolean or 3.1 number) where it had none",
        )
        .fires(
            "3.1 exclusiveMinimum set",
            1,
            "WARN",
            EP,
            b31("type: integer"),
            b31("type: integer\nexclusiveMinimum: 1"),
        )
        .fires(
            "3.0 exclusiveMinimum: true added",
            1,
            "WARN",
            EP,
            b("type: integer\nminimum: 1"),
            b("type: integer\nminimum: 1\nexclusiveMinimum: true"),
        )
        .quiet(
            "exclusiveMinimum removed",
            b31("type: integer\nexclusiveMinimum: 1"),
            b31("type: integer"),
        ),
    );
    v.push(
        rule(
            "request-property-exclusive-min-set",
            "a (not readOnly) request property gets an `exclusiveMinimum` where it had none",
        )
        .fires(
            "3.1 exclusiveMinimum set",
            1,
            "WARN",
            EP,
            p31("type: integer"),
            p31("type: integer\nexclusiveMinimum: 1"),
        )
        .quiet(
            "a readOnly property",
            p31("type: integer\nreadOnly: true"),
            p31("type: integer\nreadOnly: true\nexclusiveMinimum: 1"),
        ),
    );
    v.push(
        rule(
            "request-body-exclusive-max-set",
            "the request body schema gets an `exclusiveMaximum` (3.0 boolean or 3.1 number) where it had none",
        )
        .fires(
            "3.1 exclusiveMaximum set",
            1,
            "WARN",
            EP,
            b31("type: integer"),
            b31("type: integer\nexclusiveMaximum: 10"),
        )
        .quiet(
            "exclusiveMaximum removed",
            b31("type: integer\nexclusiveMaximum: 10"),
            b31("type: integer"),
        ),
    );
    v.push(
        rule(
            "request-property-exclusive-max-set",
            "a (not readOnly) request property gets an `exclusiveMaximum` where it had none",
        )
        .fires(
            "3.1 exclusiveMaximum set",
            1,
            "WARN",
            EP,
            p31("type: integer"),
            p31("type: integer\nexclusiveMaximum: 10"),
        )
        .fires(
            "3.0 exclusiveMaximum: true added",
            1,
            "WARN",
            EP,
            p("type: integer\nmaximum: 10"),
            p("type: integer\nmaximum: 10\nexclusiveMaximum: true"),
        )
        .quiet(
            "a readOnly property",
            p31("type: integer\nreadOnly: true"),
            p31("type: integer\nreadOnly: true\nexclusiveMaximum: 10"),
        ),
    );

    // --- Nullability, defaults ---
    v.extend(pair(
        "became-nullable",
        "the request body schema becomes nullable",
        "a request property becomes nullable",
        "INFO",
        "type: string",
        "type: string\nnullable: true",
        "type: string\nnullable: true",
        "type: string",
    ));
    v.extend(pair(
        "became-not-nullable",
        "the request body schema stops being nullable",
        "a request property stops being nullable",
        "ERR",
        "type: string\nnullable: true",
        "type: string",
        "type: string",
        "type: string\nnullable: true",
    ));
    v.extend(pair(
        "default-value-added",
        "the request body schema gets a `default`",
        "a request property gets a `default`",
        "INFO",
        "type: string",
        "type: string\ndefault: x",
        "type: string\ndefault: x",
        "type: string",
    ));
    v.extend(pair(
        "default-value-removed",
        "the request body schema's `default` is removed",
        "a request property's `default` is removed",
        "INFO",
        "type: string\ndefault: x",
        "type: string",
        "type: string",
        "type: string\ndefault: x",
    ));
    v.extend(pair(
        "default-value-changed",
        "the request body schema's `default` changes",
        "a request property's `default` changes",
        "INFO",
        "type: string\ndefault: x",
        "type: string\ndefault: y",
        "type: string",
        "type: string\ndefault: y",
    ));

    // --- Types ---
    v.push(
        rule(
            "request-property-type-changed",
            "a (not readOnly) request property's type or format changes in a way that rejects values the old one accepted",
        )
        .fires("string to integer", 1, "ERR", EP, p("type: string"), p("type: integer"))
        .fires(
            "in an array's items",
            1,
            "ERR",
            EP,
            b("type: array\nitems: {type: string}"),
            b("type: array\nitems: {type: integer}"),
        )
        .quiet("integer to number", p("type: integer"), p("type: number"))
        .quiet(
            "a readOnly property",
            p("type: string\nreadOnly: true"),
            p("type: integer\nreadOnly: true"),
        ),
    );
    v.push(
        rule(
            "request-property-type-generalized",
            "a request property's type or format is widened (integer to number, a format dropped or widened, the type dropped)",
        )
        .fires("integer to number", 1, "INFO", EP, p("type: integer"), p("type: number"))
        .fires(
            "int32 to int64",
            1,
            "INFO",
            EP,
            p("type: integer\nformat: int32"),
            p("type: integer\nformat: int64"),
        )
        .quiet("number to integer", p("type: number"), p("type: integer"))
        .quiet("at the root it is the body rule", b("type: integer"), b("type: number")),
    );
    v.push(
        rule(
            "request-body-type-changed",
            "the request body schema's type or format changes in a way that rejects values the old one accepted (JSON media type), or a type is set where there was none",
        )
        .fires("string to integer", 1, "ERR", EP, b("type: string"), b("type: integer"))
        .fires(
            "a type set where there was none",
            1,
            "ERR",
            EP,
            b("properties:\n  a: {type: string}"),
            b("type: object\nproperties:\n  a: {type: string}"),
        )
        .quiet("integer to number", b("type: integer"), b("type: number"))
        .quiet("on a property it is the property rule", p("type: string"), p("type: integer")),
    );
    v.push(
        rule(
            "request-body-type-generalized",
            "the request body schema's type or format changes to one that accepts every value the old one did (integer to number, a format dropped or widened, the type dropped)",
        )
        .fires("integer to number", 1, "INFO", EP, b("type: integer"), b("type: number"))
        .fires(
            "the type dropped",
            1,
            "INFO",
            EP,
            b("type: object\nproperties:\n  a: {type: string}"),
            b("properties:\n  a: {type: string}"),
        )
        .fires(
            "date to date-time",
            1,
            "INFO",
            EP,
            b("type: string\nformat: date"),
            b("type: string\nformat: date-time"),
        )
        .quiet("number to integer", b("type: number"), b("type: integer"))
        .quiet("a format added", b("type: string"), b("type: string\nformat: uuid"))
        .fires(
            "a 3.1 type array widened",
            1,
            "INFO",
            EP,
            request_body31("type: [string]"),
            request_body31("type: [string, integer]"),
        )
        .quiet(
            "a 3.1 type array narrowed (type-changed)",
            request_body31("type: [string, integer]"),
            request_body31("type: [string]"),
        ),
    );
    v.push(
        rule(
            "request-body-type-compatible",
            "the request body schema's concrete type is swapped for another in a media type that is not JSON (e.g. object to string in application/xml)",
        )
        .fires(
            "object to string in xml",
            1,
            "INFO",
            EP,
            bm("application/xml", "type: object"),
            bm("application/xml", "type: string"),
        )
        .quiet(
            "object to string in json",
            b("type: object"),
            b("type: string"),
        ),
    );
    v.push(
        rule(
            "request-property-type-compatible",
            "a request property's concrete type is swapped for another in a media type that is not JSON (e.g. integer to string in application/xml)",
        )
        .fires(
            "integer to string in xml",
            1,
            "INFO",
            EP,
            bm(
                "application/xml",
                "type: object\nproperties:\n  p: {type: integer}",
            ),
            bm(
                "application/xml",
                "type: object\nproperties:\n  p: {type: string}",
            ),
        )
        .quiet(
            "integer to string in json",
            p("type: integer"),
            p("type: string"),
        ),
    );
    v.push(
        rule(
            "request-body-list-of-types-widened",
            "the request body schema's list of types (a oneOf/anyOf whose members are only single types, or a single type becoming one) gains a type",
        )
        .fires(
            "a type added",
            1,
            "INFO",
            EP,
            b("oneOf:\n  - type: string\n  - type: integer"),
            b("oneOf:\n  - type: string\n  - type: integer\n  - type: boolean"),
        )
        .quiet(
            "a type removed",
            b("oneOf:\n  - type: string\n  - type: integer\n  - type: boolean"),
            b("oneOf:\n  - type: string\n  - type: integer"),
        ),
    );
    v.push(
        rule(
            "request-body-list-of-types-narrowed",
            "the request body schema's list of types (a oneOf/anyOf whose members are only single types, or one becoming a single type) loses a type",
        )
        .fires(
            "a type removed",
            1,
            "ERR",
            EP,
            b("oneOf:\n  - type: string\n  - type: integer\n  - type: boolean"),
            b("oneOf:\n  - type: string\n  - type: integer"),
        )
        .fires(
            "a list became a single type",
            1,
            "ERR",
            EP,
            b("anyOf:\n  - type: string\n  - type: number"),
            b("type: string"),
        )
        .quiet(
            "a type added",
            b("oneOf:\n  - type: string\n  - type: integer"),
            b("oneOf:\n  - type: string\n  - type: integer\n  - type: boolean"),
        ),
    );
    v.push(
        rule(
            "request-property-list-of-types-widened",
            "a request property's list of types gains a type",
        )
        .fires(
            "a type added",
            1,
            "INFO",
            EP,
            p("oneOf:\n  - type: string\n  - type: integer"),
            p("oneOf:\n  - type: string\n  - type: integer\n  - type: boolean"),
        )
        .quiet(
            "a type removed",
            p("oneOf:\n  - type: string\n  - type: integer\n  - type: boolean"),
            p("oneOf:\n  - type: string\n  - type: integer"),
        ),
    );
    v.push(
        rule(
            "request-property-list-of-types-narrowed",
            "a request property's list of types loses a type",
        )
        .fires(
            "a type removed",
            1,
            "ERR",
            EP,
            p("oneOf:\n  - type: string\n  - type: integer\n  - type: boolean"),
            p("oneOf:\n  - type: string\n  - type: integer"),
        )
        .quiet(
            "a type added",
            p("oneOf:\n  - type: string\n  - type: integer"),
            p("oneOf:\n  - type: string\n  - type: integer\n  - type: boolean"),
        ),
    );

    // --- Pattern properties (3.1 patternProperties) ---
    v.extend(pair(
        "pattern-property-added",
        "the request body schema gets a new `patternProperties` entry",
        "a request property gets a new `patternProperties` entry",
        "ERR",
        "type: object",
        "type: object\npatternProperties:\n  '^x-': {type: string}",
        "type: object\npatternProperties:\n  '^x-': {type: string}",
        "type: object",
    ));
    v.extend(pair(
        "pattern-property-removed",
        "a `patternProperties` entry is removed from the request body schema",
        "a `patternProperties` entry is removed from a request property",
        "INFO",
        "type: object\npatternProperties:\n  '^x-': {type: string}",
        "type: object",
        "type: object",
        "type: object\npatternProperties:\n  '^x-': {type: string}",
    ));

    // --- Discriminators ---
    let disc = |pn: &str, mapping: &str| {
        format!(
            "type: object\nproperties:\n  kind: {{type: string}}\n  name: {{type: string}}\ndiscriminator:\n  propertyName: {pn}{mapping}"
        )
    };
    let plain = "type: object\nproperties:\n  kind: {type: string}\n  name: {type: string}";
    let m1 = "\n  mapping:\n    a: '#/components/schemas/A'";
    let m2 = "\n  mapping:\n    a: '#/components/schemas/A'\n    b: '#/components/schemas/B'";
    let m1b = "\n  mapping:\n    a: '#/components/schemas/B'";
    for (change, tb, tp, from, to, qf, qt) in [
        (
            "discriminator-added",
            "the request body schema gets a `discriminator`",
            "a request property gets a `discriminator`",
            plain.to_owned(),
            disc("kind", ""),
            disc("kind", ""),
            plain.to_owned(),
        ),
        (
            "discriminator-removed",
            "the request body schema's `discriminator` is removed",
            "a request property's `discriminator` is removed",
            disc("kind", ""),
            plain.to_owned(),
            plain.to_owned(),
            disc("kind", ""),
        ),
        (
            "discriminator-property-name-changed",
            "the request body schema's discriminator `propertyName` changes",
            "a request property's discriminator `propertyName` changes",
            disc("kind", ""),
            disc("name", ""),
            disc("kind", ""),
            disc("kind", m1),
        ),
        (
            "discriminator-mapping-added",
            "a key is added to the request body schema's discriminator `mapping`",
            "a key is added to a request property's discriminator `mapping`",
            disc("kind", m1),
            disc("kind", m2),
            disc("kind", m2),
            disc("kind", m1),
        ),
        (
            "discriminator-mapping-deleted",
            "a key is removed from the request body schema's discriminator `mapping`",
            "a key is removed from a request property's discriminator `mapping`",
            disc("kind", m2),
            disc("kind", m1),
            disc("kind", m1),
            disc("kind", m2),
        ),
        (
            "discriminator-mapping-changed",
            "a discriminator `mapping` key of the request body schema maps to another schema",
            "a discriminator `mapping` key of a request property maps to another schema",
            disc("kind", m1),
            disc("kind", m1b),
            disc("kind", m1),
            disc("kind", m2),
        ),
    ] {
        let body_id: &'static str = Box::leak(format!("request-body-{change}").into_boxed_str());
        let prop_id: &'static str =
            Box::leak(format!("request-property-{change}").into_boxed_str());
        v.push(
            rule(body_id, tb)
                .fires("at the root", 1, "INFO", EP, b(&from), b(&to))
                .quiet("near miss", b(&qf), b(&qt)),
        );
        v.push(
            rule(prop_id, tp)
                .fires("on a property", 1, "INFO", EP, p(&from), p(&to))
                .quiet("near miss", p(&qf), p(&qt)),
        );
    }

    // --- Composition: allOf / anyOf / oneOf ---
    let comps = "A:\n  type: object\n  properties:\n    a: {type: string}\nB:\n  type: object\n  properties:\n    b: {type: string}\nC:\n  type: object\n  properties:\n    b: {type: string}";
    let list = |kw: &str, refs: &[&str]| {
        let mut s = format!("{kw}:\n");
        for r in refs {
            s.push_str(&format!("  - $ref: '#/components/schemas/{r}'\n"));
        }
        s.trim_end().to_owned()
    };
    let as_prop = |s: &str| obj(s, false);
    for (kw, name, add_level, rem_level) in [
        ("allOf", "all-of", "ERR", "WARN"),
        ("anyOf", "any-of", "INFO", "ERR"),
        ("oneOf", "one-of", "INFO", "ERR"),
    ] {
        let one = list(kw, &["A"]);
        let two = list(kw, &["A", "B"]);
        let three = list(kw, &["A", "B", "C"]);
        let swapped = list(kw, &["A", "C"]);
        let added_b: &'static str =
            Box::leak(format!("request-body-{name}-added").into_boxed_str());
        let removed_b: &'static str =
            Box::leak(format!("request-body-{name}-removed").into_boxed_str());
        let added_p: &'static str =
            Box::leak(format!("request-property-{name}-added").into_boxed_str());
        let removed_p: &'static str =
            Box::leak(format!("request-property-{name}-removed").into_boxed_str());
        let t_add: &'static str = Box::leak(
            format!("a subschema is added to the request body schema's `{kw}` list (one finding per schema, whatever the number added)").into_boxed_str(),
        );
        let t_rem: &'static str = Box::leak(
            format!("a subschema is removed from the request body schema's `{kw}` list (one finding per schema)").into_boxed_str(),
        );
        let t_add_p: &'static str = Box::leak(
            format!("a subschema is added to a request property's `{kw}` list").into_boxed_str(),
        );
        let t_rem_p: &'static str = Box::leak(
            format!("a subschema is removed from a request property's `{kw}` list")
                .into_boxed_str(),
        );
        v.push(
            rule(added_b, t_add)
                .fires(
                    "one $ref added",
                    1,
                    add_level,
                    EP,
                    bc(&one, comps),
                    bc(&two, comps),
                )
                .fires(
                    "two added are one finding",
                    1,
                    add_level,
                    EP,
                    bc(&one, comps),
                    bc(&three, comps),
                )
                .fires(
                    "another $ref of the same shape is a removal and an addition",
                    1,
                    add_level,
                    EP,
                    bc(&two, comps),
                    bc(&swapped, comps),
                )
                .quiet("one removed", bc(&two, comps), bc(&one, comps))
                .quiet(
                    "an inline member replaced by a $ref to the same schema",
                    bc(
                        &format!("{kw}:\n  - $ref: '#/components/schemas/A'\n  - type: string\n    enum: [x, y]"),
                        &format!("{comps}\nE:\n  type: string\n  enum: [x, y]"),
                    ),
                    bc(
                        &format!("{kw}:\n  - $ref: '#/components/schemas/A'\n  - $ref: '#/components/schemas/E'"),
                        &format!("{comps}\nE:\n  type: string\n  enum: [x, y]"),
                    ),
                )
                .quiet(
                    "reordered",
                    bc(&two, comps),
                    bc(&list(kw, &["B", "A"]), comps),
                ),
        );
        v.push(
            rule(removed_b, t_rem)
                .fires("one $ref removed", 1, rem_level, EP, bc(&two, comps), bc(&one, comps))
                .quiet("one added", bc(&one, comps), bc(&two, comps))
                .quiet(
                    "an inline member modified is paired, not removed",
                    b(&format!("{kw}:\n  - type: object\n    properties:\n      a: {{type: string}}\n  - type: string")),
                    b(&format!("{kw}:\n  - type: object\n    properties:\n      a: {{type: string, maxLength: 5}}\n  - type: string")),
                ),
        );
        v.push(
            rule(added_p, t_add_p)
                .fires(
                    "one $ref added",
                    1,
                    add_level,
                    EP,
                    bc(&as_prop(&one), comps),
                    bc(&as_prop(&two), comps),
                )
                .quiet(
                    "at the root it is the body rule",
                    bc(&one, comps),
                    bc(&two, comps),
                ),
        );
        v.push(
            rule(removed_p, t_rem_p)
                .fires(
                    "one $ref removed",
                    1,
                    rem_level,
                    EP,
                    bc(&as_prop(&two), comps),
                    bc(&as_prop(&one), comps),
                )
                .quiet(
                    "one added",
                    bc(&as_prop(&one), comps),
                    bc(&as_prop(&two), comps),
                ),
        );
    }
    let ann_one = "allOf:\n  - type: object\n    properties:\n      a: {type: string}";
    let ann_two = "allOf:\n  - type: object\n    properties:\n      a: {type: string}\n  - description: more words";
    v.push(
        rule(
            "request-body-all-of-added-annotation-only",
            "a subschema made only of annotations (title, description, …) is added to the request body schema's `allOf`",
        )
        .fires("description-only member added", 1, "INFO", EP, b(ann_one), b(ann_two))
        .quiet(
            "a constraining member added is the plain rule",
            b(ann_one),
            b("allOf:\n  - type: object\n    properties:\n      a: {type: string}\n  - required: [a]"),
        ),
    );
    v.push(
        rule(
            "request-body-all-of-removed-annotation-only",
            "a subschema made only of annotations is removed from the request body schema's `allOf`",
        )
        .fires("description-only member removed", 1, "INFO", EP, b(ann_two), b(ann_one))
        .quiet("added", b(ann_one), b(ann_two)),
    );
    v.push(
        rule(
            "request-property-all-of-added-annotation-only",
            "a subschema made only of annotations is added to a request property's `allOf`",
        )
        .fires(
            "description-only member added",
            1,
            "INFO",
            EP,
            p(ann_one),
            p(ann_two),
        )
        .quiet("removed", p(ann_two), p(ann_one)),
    );
    v.push(
        rule(
            "request-property-all-of-removed-annotation-only",
            "a subschema made only of annotations is removed from a request property's `allOf`",
        )
        .fires(
            "description-only member removed",
            1,
            "INFO",
            EP,
            p(ann_two),
            p(ann_one),
        )
        .quiet("added", p(ann_one), p(ann_two)),
    );
    v
}
