//! Unit tests per rule family, on small documents written from each rule's
//! meaning (not from the corpus).

use super::testutil::{body_doc, rules};

fn has(v: &[String], id: &str) -> bool {
    v.iter().any(|x| x == id)
}

mod paths {
    use super::*;

    const ONE: &str = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a/{id}:\n    get:\n      responses: {'200': {description: ok}}\n    post:\n      responses: {'200': {description: ok}}\n";

    #[test]
    fn removal_needs_deprecation_first() {
        let gone = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: {}\n";
        let r = rules(ONE, gone);
        assert_eq!(
            r.iter()
                .filter(|x| *x == "api-path-removed-without-deprecation")
                .count(),
            2
        );
        let dep = ONE.replace("    get:\n", "    get:\n      deprecated: true\n");
        let r = rules(&dep, gone);
        assert!(has(&r, "api-path-removed-with-deprecation"), "{r:?}");
        let sunset = ONE.replace(
            "    get:\n",
            "    get:\n      deprecated: true\n      x-sunset: '2099-01-01'\n",
        );
        assert!(has(&rules(&sunset, gone), "api-path-removed-before-sunset"));
        let only_post = ONE.replace(
            "    get:\n      responses: {'200': {description: ok}}\n",
            "",
        );
        assert_eq!(rules(ONE, &only_post), ["api-removed-without-deprecation"]);
    }

    #[test]
    fn renamed_path_parameters_are_the_same_endpoint() {
        let renamed = ONE.replace("/a/{id}", "/a/{key}");
        assert!(rules(ONE, &renamed).is_empty());
    }

    #[test]
    fn added_endpoints_and_lifecycle() {
        let gone = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: {}\n";
        assert_eq!(rules(gone, ONE), ["endpoint-added", "endpoint-added"]);
        let dep = ONE.replace("    get:\n", "    get:\n      deprecated: true\n");
        assert_eq!(rules(ONE, &dep), ["endpoint-deprecated"]);
        assert_eq!(rules(&dep, ONE), ["endpoint-reactivated"]);
        let beta = ONE.replace("    get:\n", "    get:\n      x-stability-level: beta\n");
        let alpha = ONE.replace("    get:\n", "    get:\n      x-stability-level: alpha\n");
        assert_eq!(rules(&beta, &alpha), ["api-stability-decreased"]);
        // oasdiff's stability policy gates on the base level: alpha is
        // below its default threshold (beta), so a promotion from it is quiet.
        assert!(rules(&alpha, &beta).is_empty());
        assert_eq!(rules(&beta, ONE), ["api-stability-increased"]);
        let bad = ONE.replace("    get:\n", "    get:\n      x-stability-level: shaky\n");
        assert_eq!(rules(ONE, &bad), ["api-invalid-stability-level"]);
        // An alpha endpoint may lose its response freely.
        let alpha_gone = alpha.replace("    get:\n      x-stability-level: alpha\n      responses: {'200': {description: ok}}\n", "    get:\n      x-stability-level: alpha\n      responses: {'201': {description: ok}}\n");
        assert!(rules(&alpha, &alpha_gone).is_empty());
    }
}

mod parameters {
    use super::*;

    fn doc(params: &str) -> String {
        format!(
            "openapi: 3.0.3\ninfo: {{title: t, version: '1'}}\npaths:\n  /a/{{id}}:\n    get:\n      parameters:\n        - {{name: id, in: path, required: true, schema: {{type: string}}}}\n{params}      responses: {{'200': {{description: ok}}}}\n"
        )
    }

    #[test]
    fn added_removed_and_requiredness() {
        let q = "        - {name: q, in: query, schema: {type: string}}\n";
        let qr = "        - {name: q, in: query, required: true, schema: {type: string}}\n";
        assert_eq!(rules(&doc(""), &doc(q)), ["new-optional-request-parameter"]);
        assert_eq!(
            rules(&doc(""), &doc(qr)),
            ["new-required-request-parameter"]
        );
        assert_eq!(rules(&doc(q), &doc("")), ["request-parameter-removed"]);
        assert_eq!(
            rules(&doc(q), &doc(qr)),
            ["request-parameter-became-required"]
        );
        assert_eq!(
            rules(&doc(qr), &doc(q)),
            ["request-parameter-became-optional"]
        );
    }

    #[test]
    fn path_level_parameters_are_merged() {
        let op_level = doc("        - {name: q, in: query, schema: {type: string}}\n");
        let path_level = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a/{id}:\n    parameters:\n      - {name: q, in: query, schema: {type: string}}\n    get:\n      parameters:\n        - {name: id, in: path, required: true, schema: {type: string}}\n      responses: {'200': {description: ok}}\n";
        assert!(rules(&op_level, path_level).is_empty());
        let required = path_level.replace(
            "{name: q, in: query,",
            "{name: q, in: query, required: true,",
        );
        assert_eq!(
            rules(&doc(""), &required),
            ["new-required-request-default-parameter-to-existing-path"]
        );
    }

    #[test]
    fn parameter_schemas() {
        let s = |schema: &str| {
            doc(&format!(
                "        - {{name: q, in: query, schema: {schema}}}\n"
            ))
        };
        assert_eq!(
            rules(&s("{type: string}"), &s("{type: integer}")),
            ["request-parameter-type-changed"]
        );
        assert_eq!(
            rules(&s("{type: integer}"), &s("{type: number}")),
            ["request-parameter-type-generalized"]
        );
        assert_eq!(
            rules(
                &s("{type: string, enum: [a, b]}"),
                &s("{type: string, enum: [a]}")
            ),
            ["request-parameter-enum-value-removed"]
        );
        assert_eq!(
            rules(&s("{type: string}"), &s("{type: string, enum: [a]}")),
            ["request-parameter-became-enum"]
        );
        assert_eq!(
            rules(
                &s("{type: string, maxLength: 9}"),
                &s("{type: string, maxLength: 5}")
            ),
            ["request-parameter-max-length-decreased"]
        );
        assert_eq!(
            rules(&s("{type: string}"), &s("{type: string, maxLength: 5}")),
            ["request-parameter-max-length-set"]
        );
        assert_eq!(
            rules(
                &s("{type: integer, default: 1}"),
                &s("{type: integer, default: 2}")
            ),
            ["request-parameter-default-value-changed"]
        );
        assert_eq!(
            rules(&s("{type: string}"), &s("{type: string, pattern: '^a'}")),
            ["request-parameter-pattern-added"]
        );
        assert_eq!(
            rules(
                &s("{type: string, x-extensible-enum: [a, b]}"),
                &s("{type: string, x-extensible-enum: [a]}")
            ),
            ["request-parameter-x-extensible-enum-value-removed"]
        );
        // 3.0 nullable and 3.1 type lists are the same thing.
        let n30 = s("{type: string, nullable: true}");
        let n31 = s("{type: [string, 'null']}").replace("3.0.3", "3.1.0");
        assert!(rules(&n30, &n31).is_empty());
        assert_eq!(
            rules(&n30, &s("{type: string}")),
            ["request-parameter-became-not-nullable"]
        );
    }

    #[test]
    fn deprecation_of_parameters() {
        let q = "        - {name: q, in: query, schema: {type: string}}\n";
        let dep = "        - {name: q, in: query, deprecated: true, schema: {type: string}}\n";
        assert_eq!(rules(&doc(q), &doc(dep)), ["request-parameter-deprecated"]);
        assert_eq!(rules(&doc(dep), &doc(q)), ["request-parameter-reactivated"]);
        assert_eq!(
            rules(&doc(dep), &doc("")),
            ["request-parameter-removed-with-deprecation"]
        );
        let future = "        - {name: q, in: query, deprecated: true, x-sunset: '2099-01-01', schema: {type: string}}\n";
        assert_eq!(
            rules(&doc(future), &doc("")),
            ["request-parameter-removed-before-sunset"]
        );
    }
}

mod request_body {
    use super::*;

    const OBJ: &str =
        "type: object\nrequired: [a]\nproperties:\n  a: {type: string}\n  b: {type: integer}";

    #[test]
    fn properties() {
        let base = body_doc(OBJ, "type: object");
        let added_req = body_doc(
            "type: object\nrequired: [a, c]\nproperties:\n  a: {type: string}\n  b: {type: integer}\n  c: {type: string}",
            "type: object",
        );
        assert_eq!(rules(&base, &added_req), ["new-required-request-property"]);
        let added_ro = body_doc(
            "type: object\nrequired: [a, c]\nproperties:\n  a: {type: string}\n  b: {type: integer}\n  c: {type: string, readOnly: true}",
            "type: object",
        );
        assert!(rules(&base, &added_ro).is_empty());
        let removed = body_doc(
            "type: object\nrequired: [a]\nproperties:\n  a: {type: string}",
            "type: object",
        );
        assert_eq!(rules(&base, &removed), ["request-property-removed"]);
        let b_req = body_doc(
            "type: object\nrequired: [a, b]\nproperties:\n  a: {type: string}\n  b: {type: integer}",
            "type: object",
        );
        assert_eq!(rules(&base, &b_req), ["request-property-became-required"]);
        let typed = body_doc(
            "type: object\nrequired: [a]\nproperties:\n  a: {type: integer}\n  b: {type: integer}",
            "type: object",
        );
        assert_eq!(rules(&base, &typed), ["request-property-type-changed"]);
    }

    #[test]
    fn body_level() {
        let base = body_doc("type: string", "type: object");
        assert_eq!(
            rules(&base, &body_doc("type: string\nenum: [x]", "type: object")),
            ["request-body-became-enum"]
        );
        assert_eq!(
            rules(
                &base,
                &body_doc("type: string\nminLength: 3", "type: object")
            ),
            ["request-body-min-length-increased"]
        );
        let required = base.replace(
            "      requestBody:\n",
            "      requestBody:\n        required: true\n",
        );
        assert_eq!(rules(&base, &required), ["request-body-became-required"]);
        let no_body = base.replace("      requestBody:\n        content:\n          application/json:\n            schema:\n              type: string\n", "");
        assert_eq!(rules(&base, &no_body), ["request-body-removed"]);
        let xml = base.replace(
            "application/json:\n            schema",
            "application/xml:\n            schema",
        );
        assert_eq!(
            rules(&base, &xml),
            [
                "request-body-media-type-added",
                "request-body-media-type-removed"
            ]
        );
    }

    #[test]
    fn composition() {
        let base = body_doc(
            "anyOf:\n  - {type: object, properties: {a: {type: string}}}\n  - {type: array, items: {type: string}}",
            "type: object",
        );
        let less = body_doc(
            "anyOf:\n  - {type: object, properties: {a: {type: string}}}",
            "type: object",
        );
        assert_eq!(rules(&base, &less), ["request-body-any-of-removed"]);
        assert_eq!(rules(&less, &base), ["request-body-any-of-added"]);
    }
}

mod responses {
    use super::*;

    const OBJ: &str = "type: object\nrequired: [a]\nproperties:\n  a: {type: string}\n  b: {type: string, enum: [x]}";

    #[test]
    fn properties() {
        let base = body_doc("type: object", OBJ);
        let no_a = body_doc(
            "type: object",
            "type: object\nproperties:\n  b: {type: string, enum: [x]}",
        );
        assert_eq!(rules(&base, &no_a), ["response-required-property-removed"]);
        let no_b = body_doc(
            "type: object",
            "type: object\nrequired: [a]\nproperties:\n  a: {type: string}",
        );
        assert_eq!(rules(&base, &no_b), ["response-optional-property-removed"]);
        let optional = body_doc(
            "type: object",
            "type: object\nproperties:\n  a: {type: string}\n  b: {type: string, enum: [x]}",
        );
        assert_eq!(
            rules(&base, &optional),
            ["response-property-became-optional"]
        );
        let more_enum = body_doc(
            "type: object",
            "type: object\nrequired: [a]\nproperties:\n  a: {type: string}\n  b: {type: string, enum: [x, y]}",
        );
        assert_eq!(
            rules(&base, &more_enum),
            ["response-property-enum-value-added"]
        );
        let nullable = body_doc(
            "type: object",
            "type: object\nrequired: [a]\nproperties:\n  a: {type: string, nullable: true}\n  b: {type: string, enum: [x]}",
        );
        assert_eq!(
            rules(&base, &nullable),
            ["response-property-became-nullable"]
        );
        let wider = body_doc(
            "type: object",
            "type: object\nrequired: [a]\nproperties:\n  a: {type: string, maxLength: 5}\n  b: {type: string, enum: [x]}",
        );
        assert!(rules(&wider, &base).contains(&"response-property-max-length-unset".to_owned()));
    }

    #[test]
    fn status_codes_and_media_types() {
        let base = body_doc("type: object", "type: object");
        let moved = base.replace("'200':", "'201':");
        assert_eq!(
            rules(&base, &moved),
            [
                "response-success-status-added",
                "response-success-status-removed"
            ]
        );
        let text = base.replace(
            "          content:\n            application/json:",
            "          content:\n            text/plain:",
        );
        assert_eq!(
            rules(&base, &text),
            ["response-media-type-added", "response-media-type-removed"]
        );
        let wildcard = base.replace(
            "          content:\n            application/json:",
            "          content:\n            application/*:",
        );
        // oasdiff pairs media types by containment of names, not by media
        // ranges: `application/*` is another media type.
        assert_eq!(
            rules(&base, &wildcard),
            ["response-media-type-added", "response-media-type-removed"]
        );
        let problem = base.replace(
            "          content:\n            application/json:",
            "          content:\n            application/problem+json:",
        );
        assert_eq!(
            rules(&problem, &base),
            ["response-media-type-name-generalized"]
        );
    }

    #[test]
    fn headers() {
        let base = body_doc("type: object", "type: object").replace("          description: ok\n", "          description: ok\n          headers:\n            X-Rate: {required: true, schema: {type: integer}}\n");
        let gone = body_doc("type: object", "type: object");
        assert_eq!(rules(&base, &gone), ["required-response-header-removed"]);
        let optional = base.replace("{required: true, schema", "{schema");
        assert_eq!(rules(&base, &optional), ["response-header-became-optional"]);
        assert_eq!(
            rules(&optional, &gone),
            ["optional-response-header-removed"]
        );
        let typed = base.replace("type: integer}}", "type: string}}");
        assert_eq!(rules(&base, &typed), ["response-header-type-changed"]);
    }
}

mod security {
    use super::*;

    #[test]
    fn requirements_and_schemes() {
        let doc = |sec: &str, scopes: &str| {
            format!(
                "openapi: 3.0.3\ninfo: {{title: t, version: '1'}}\nsecurity:\n{sec}paths:\n  /a:\n    get:\n      security:\n        - oauth: [{scopes}]\n      responses: {{'200': {{description: ok}}}}\ncomponents:\n  securitySchemes:\n    oauth: {{type: oauth2, flows: {{clientCredentials: {{tokenUrl: 'https://t', scopes: {{read: r}}}}}}}}\n    key: {{type: apiKey, in: header, name: X-Key}}\n"
            )
        };
        let base = doc("  - key: []\n", "read");
        assert_eq!(
            rules(&base, &doc("  - key: []\n", "read, write")),
            ["api-security-scope-added"]
        );
        assert_eq!(
            rules(&base, &doc("  - oauth: []\n", "read")),
            ["api-global-security-added", "api-global-security-removed"]
        );
        let no_key = base.replace("    key: {type: apiKey, in: header, name: X-Key}\n", "");
        assert!(has(
            &rules(&base, &no_key),
            "api-security-component-removed"
        ));
    }
}

mod schemas_31 {
    use super::*;

    #[test]
    fn json_schema_2020_keywords() {
        let b = body_doc(
            "type: array\nitems: {type: string}",
            "type: array\nitems: {type: string}\ncontains: {type: string}",
        )
        .replace("3.0.3", "3.1.0");
        let r = body_doc(
            "type: array\nitems: {type: string}\ncontains: {type: string}",
            "type: array\nitems: {type: string}",
        )
        .replace("3.0.3", "3.1.0");
        assert_eq!(
            rules(&b, &r),
            [
                "request-body-contains-added",
                "response-body-contains-removed"
            ]
        );
        let lb = body_doc("type: [string, integer]", "type: string").replace("3.0.3", "3.1.0");
        let lr = body_doc("type: [string]", "type: [string, integer]").replace("3.0.3", "3.1.0");
        // 3.1 type arrays are type changes (oasdiff's TypeDiff read as a
        // set), not the list-of-types pattern of oneOf/anyOf.
        assert_eq!(
            rules(&lb, &lr),
            [
                "request-body-type-changed",
                "response-body-type-generalized"
            ]
        );
    }
}

/// GitHub's REST description 22.0.0 → 23.0.0 wrapped `items: {$ref: repository}`
/// into `allOf: [{$ref: repository}, {properties: {custom_properties}}]`: the
/// properties are all still there, none was removed.
#[test]
fn a_schema_wrapped_in_all_of_keeps_its_members_properties() {
    let spec = |items: &str| {
        format!(
            "openapi: 3.0.3\ninfo: {{title: t, version: '1'}}\npaths:\n  /r:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema:\n                type: array\n                items: {items}\ncomponents:\n  schemas:\n    repo:\n      type: object\n      required: [id, name]\n      properties:\n        id: {{type: integer}}\n        name: {{type: string}}\n"
        )
    };
    let plain = spec("{$ref: '#/components/schemas/repo'}");
    let wrapped = spec(
        "{allOf: [{$ref: '#/components/schemas/repo'}, {type: object, properties: {extra: {type: object}}}]}",
    );
    // Compared as effective schemas (the default), the wrapping is no change
    // but for the property it adds.
    assert_eq!(
        rules(&plain, &wrapped),
        ["response-optional-property-added"]
    );
    assert_eq!(
        rules(&wrapped, &plain),
        ["response-optional-property-removed"]
    );
    // oasdiff reports the allOf list too.
    let oasdiff = |b: &str, r: &str| {
        let config = crate::Config {
            compat: crate::Compat::Oasdiff,
            ..crate::Config::default()
        };
        let mut v: Vec<String> = crate::diff(
            &super::testutil::doc(b),
            &super::testutil::doc(r),
            &config,
            crate::Date::parse("2025-06-01").unwrap(),
        )
        .findings
        .into_iter()
        .map(|f| f.rule)
        .filter(|r| !r.starts_with("api-version"))
        .collect();
        v.sort();
        v
    };
    assert_eq!(
        oasdiff(&plain, &wrapped),
        [
            "response-optional-property-added",
            // oasdiff reports one finding per allOf list, naming every member.
            "response-property-all-of-added"
        ]
    );
    // A property that really left the member is still reported.
    let fewer = wrapped
        .replace("        name: {type: string}\n", "")
        .replace("[id, name]", "[id]");
    assert!(
        rules(&plain, &fewer).contains(&"response-required-property-removed".to_owned()),
        "{:?}",
        rules(&plain, &fewer)
    );
}

/// A schema shared at 10^5 places: past the walk's budget each pair is
/// compared once, so the change is still reported (fail closed) and the walk
/// stays bounded.
#[test]
fn a_change_behind_a_huge_fan_out_is_still_reported() {
    let level = |name: &str, next: &str| {
        let props: String = (0..10)
            .map(|i| format!("        p{i}: {{$ref: '#/components/schemas/{next}'}}\n"))
            .collect();
        format!("    {name}:\n      type: object\n      properties:\n{props}")
    };
    let doc = |leaf: &str| {
        format!(
            "openapi: 3.0.3\ninfo: {{title: t, version: '1'}}\npaths:\n  /a:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {{$ref: '#/components/schemas/A'}}\ncomponents:\n  schemas:\n{}{}{}{}{}    F:\n      type: object\n      required: [x]\n      properties:\n        x: {{type: {leaf}}}\n",
            level("A", "B"),
            level("B", "C"),
            level("C", "D"),
            level("D", "E"),
            level("E", "F"),
        )
    };
    let r = super::testutil::rules(&doc("string"), &doc("integer"));
    assert!(
        r.iter().any(|x| x == "response-property-type-changed"),
        "{:?}",
        r.len()
    );
}
