//! Equivalent refactors: changes that accept and return exactly the same
//! documents produce no ERR and no WARN (default mode). Each is paired with
//! a variant that hides one real break inside the same refactor, which must
//! still be caught with the rule named.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers

#[path = "conformance/support.rs"]
mod support;

use gate::{Config, Date, Document, Limits, NoFiles, Severity};
use support::indent;

struct Refactor {
    name: &'static str,
    base: String,
    equivalent: String,
    /// The same refactor with one real break, and the rule that must report it.
    broken: String,
    break_rule: &'static str,
}

fn findings(base: &str, revision: &str) -> Vec<gate::Finding> {
    let b = Document::from_bytes(base.as_bytes(), "base.yaml", &NoFiles, &Limits::default())
        .expect("base parses");
    let name = if revision.trim_start().starts_with('{') {
        "revision.json"
    } else {
        "revision.yaml"
    };
    let r = Document::from_bytes(revision.as_bytes(), name, &NoFiles, &Limits::default())
        .expect("revision parses");
    let today = Date::parse("2025-06-01").unwrap();
    gate::diff(&b, &r, &Config::default(), today).findings
}

const HEAD: &str = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\n";

/// A document of `paths` (YAML under `paths:`) and `components` (YAML under
/// `components:`, may be empty).
fn doc(paths: &str, components: &str) -> String {
    let mut s = format!("{HEAD}paths:\n{}\n", indent(paths, 2));
    if !components.trim().is_empty() {
        s.push_str(&format!("components:\n{}\n", indent(components, 2)));
    }
    s
}

/// `POST /pets` with a JSON request body `req` and a 200 JSON response `resp`
/// (schemas as unindented YAML).
fn pets(req: &str, resp: &str, components: &str) -> String {
    doc(
        &format!(
            "/pets:\n  post:\n    requestBody:\n      required: true\n      content:\n        application/json:\n          schema:\n{}\n    responses:\n      '200':\n        description: ok\n        content:\n          application/json:\n            schema:\n{}",
            indent(req, 12),
            indent(resp, 14)
        ),
        components,
    )
}

const PET: &str = "type: object\nrequired: [id, name]\nproperties:\n  id: {type: integer}\n  name: {type: string, maxLength: 50}\n  tag: {type: string}";

fn refactors() -> Vec<Refactor> {
    let mut v = Vec::new();
    let pet_comp = |s: &str| format!("schemas:\n  Pet:\n{}", indent(s, 4));

    // 1. A request body schema extracted into a component.
    v.push(Refactor {
        name: "request body $ref extracted",
        base: pets(PET, "type: object", ""),
        equivalent: pets(
            "$ref: '#/components/schemas/Pet'",
            "type: object",
            &pet_comp(PET),
        ),
        broken: pets(
            "$ref: '#/components/schemas/Pet'",
            "type: object",
            &pet_comp(&PET.replace("maxLength: 50", "maxLength: 40")),
        ),
        break_rule: "request-property-max-length-decreased",
    });
    // 2. A response body schema inlined.
    v.push(Refactor {
        name: "response body $ref inlined",
        base: pets(
            "type: object",
            "$ref: '#/components/schemas/Pet'",
            &pet_comp(PET),
        ),
        equivalent: pets("type: object", PET, ""),
        broken: pets(
            "type: object",
            &PET.replace("required: [id, name]", "required: [id]"),
            "",
        ),
        break_rule: "response-property-became-optional",
    });
    // 3. An object split into allOf of a $ref and the rest (request).
    let base_part = "type: object\nrequired: [id]\nproperties:\n  id: {type: integer}";
    let rest = "type: object\nrequired: [name]\nproperties:\n  name: {type: string, maxLength: 50}\n  tag: {type: string}";
    let split = |rest: &str| {
        format!(
            "allOf:\n  - $ref: '#/components/schemas/Base'\n{}",
            indent(&format!("- {}", indent(rest, 2).trim_start()), 2)
        )
    };
    let base_comp = format!("schemas:\n  Base:\n{}", indent(base_part, 4));
    v.push(Refactor {
        name: "request object split into allOf of a $ref and the rest",
        base: pets(PET, "type: object", ""),
        equivalent: pets(&split(rest), "type: object", &base_comp),
        broken: pets(
            &split(&rest.replace("required: [name]", "required: [name, tag]")),
            "type: object",
            &base_comp,
        ),
        break_rule: "request-property-became-required",
    });
    // 4. The same split in a response.
    v.push(Refactor {
        name: "response object split into allOf",
        base: pets("type: object", PET, ""),
        equivalent: pets("type: object", &split(rest), &base_comp),
        broken: pets(
            "type: object",
            &split(&rest.replace("  tag: {type: string}", "")),
            &base_comp,
        ),
        break_rule: "response-optional-property-removed",
    });
    // 5. allOf merged back into one object (response).
    v.push(Refactor {
        name: "response allOf merged into one object",
        base: pets("type: object", &split(rest), &base_comp),
        equivalent: pets("type: object", PET, ""),
        broken: pets(
            "type: object",
            &PET.replace("required: [id, name]", "required: [name]"),
            "",
        ),
        break_rule: "response-property-became-optional",
    });
    // 6. A required property moved from Dog's own allOf member into its base Pet.
    let dog = |pet: &str, own: &str| {
        format!(
            "schemas:\n  Pet:\n{}\n  Dog:\n    allOf:\n      - $ref: '#/components/schemas/Pet'\n{}",
            indent(pet, 4),
            indent(&format!("- {}", indent(own, 2).trim_start()), 6)
        )
    };
    let pet_small = "type: object\nrequired: [id]\nproperties:\n  id: {type: integer}";
    let own_big = "type: object\nrequired: [bark]\nproperties:\n  bark: {type: string}";
    let pet_big = "type: object\nrequired: [id, bark]\nproperties:\n  id: {type: integer}\n  bark: {type: string}";
    let own_small = "type: object\nproperties:\n  good: {type: boolean}";
    let own_small_base = "type: object\nrequired: [bark]\nproperties:\n  bark: {type: string}\n  good: {type: boolean}";
    let dref = "$ref: '#/components/schemas/Dog'";
    v.push(Refactor {
        name: "required property moved from an allOf member into its $ref'd base",
        base: pets("type: object", dref, &dog(pet_small, own_small_base)),
        equivalent: pets("type: object", dref, &dog(pet_big, own_small)),
        broken: pets(
            "type: object",
            dref,
            &dog(
                &pet_big.replace("required: [id, bark]", "required: [id]"),
                own_small,
            ),
        ),
        break_rule: "response-property-became-optional",
    });
    let _ = own_big;
    // 7. A property moved from the base into the member (request).
    v.push(Refactor {
        name: "property moved from the base into the allOf member (request)",
        base: pets(dref, "type: object", &dog(pet_big, own_small)),
        equivalent: pets(dref, "type: object", &dog(pet_small, own_small_base)),
        broken: pets(
            dref,
            "type: object",
            &dog(
                pet_small,
                &own_small_base.replace("  bark: {type: string}", "  bark: {type: integer}"),
            ),
        ),
        break_rule: "request-property-type-changed",
    });
    // 8. A component schema renamed.
    let renamed = |s: &str| format!("schemas:\n  Animal:\n{}", indent(s, 4));
    v.push(Refactor {
        name: "component schema renamed",
        base: pets(
            "$ref: '#/components/schemas/Pet'",
            "$ref: '#/components/schemas/Pet'",
            &pet_comp(PET),
        ),
        equivalent: pets(
            "$ref: '#/components/schemas/Animal'",
            "$ref: '#/components/schemas/Animal'",
            &renamed(PET),
        ),
        broken: pets(
            "$ref: '#/components/schemas/Animal'",
            "$ref: '#/components/schemas/Animal'",
            &renamed(&PET.replace("  id: {type: integer}", "  id: {type: string}")),
        ),
        break_rule: "response-property-type-changed",
    });
    // 9. A oneOf member extracted into a $ref (request).
    let cat = "type: object\nrequired: [meow]\nproperties:\n  meow: {type: string}";
    let one_of = |a: &str, b: &str| {
        format!(
            "oneOf:\n{}\n{}",
            indent(&format!("- {}", indent(a, 2).trim_start()), 2),
            indent(&format!("- {}", indent(b, 2).trim_start()), 2)
        )
    };
    let cat_comp = |s: &str| format!("schemas:\n  Cat:\n{}", indent(s, 4));
    v.push(Refactor {
        name: "oneOf member extracted into a $ref",
        base: pets(&one_of(cat, PET), "type: object", ""),
        equivalent: pets(
            &one_of("$ref: '#/components/schemas/Cat'", PET),
            "type: object",
            &cat_comp(cat),
        ),
        broken: pets(
            &one_of("$ref: '#/components/schemas/Cat'", PET),
            "type: object",
            &cat_comp(&cat.replace("meow: {type: string}", "meow: {type: string, maxLength: 3}")),
        ),
        break_rule: "request-property-max-length-set",
    });
    // 10. anyOf members reordered and one renamed (response).
    let any_of = |a: &str, b: &str| one_of(a, b).replacen("oneOf", "anyOf", 1);
    let two =
        "schemas:\n  Cat:\n    type: object\n    properties:\n      meow: {type: string}\n  Pet:\n"
            .to_owned()
            + &indent(PET, 4);
    let two_renamed = "schemas:\n  Feline:\n    type: object\n    properties:\n      meow: {type: string}\n  Pet:\n".to_owned() + &indent(PET, 4);
    v.push(Refactor {
        name: "anyOf members reordered and one $ref target renamed",
        base: pets(
            "type: object",
            &any_of(
                "$ref: '#/components/schemas/Cat'",
                "$ref: '#/components/schemas/Pet'",
            ),
            &two,
        ),
        equivalent: pets(
            "type: object",
            &any_of(
                "$ref: '#/components/schemas/Pet'",
                "$ref: '#/components/schemas/Feline'",
            ),
            &two_renamed,
        ),
        broken: pets(
            "type: object",
            &any_of(
                "$ref: '#/components/schemas/Pet'",
                "$ref: '#/components/schemas/Feline'",
            ),
            &two_renamed.replace("      meow: {type: string}", "      meow: {type: integer}"),
        ),
        break_rule: "response-property-type-changed",
    });
    // 11. Parameters hoisted to the path level.
    let op_params = "/pets/{id}:\n  get:\n    parameters:\n      - {name: id, in: path, required: true, schema: {type: integer}}\n      - {name: limit, in: query, schema: {type: integer, maximum: 100}}\n    responses:\n      '200': {description: ok}";
    let hoisted = "/pets/{id}:\n  parameters:\n    - {name: id, in: path, required: true, schema: {type: integer}}\n    - {name: limit, in: query, schema: {type: integer, maximum: 100}}\n  get:\n    responses:\n      '200': {description: ok}";
    v.push(Refactor {
        name: "parameters hoisted to the path level",
        base: doc(op_params, ""),
        equivalent: doc(hoisted, ""),
        broken: doc(
            &hoisted.replace(
                "{name: limit, in: query, schema",
                "{name: limit, in: query, required: true, schema",
            ),
            "",
        ),
        break_rule: "request-parameter-became-required",
    });
    // 12. A parameter moved into components/parameters.
    let param_ref = "/pets/{id}:\n  get:\n    parameters:\n      - {name: id, in: path, required: true, schema: {type: integer}}\n      - $ref: '#/components/parameters/Limit'\n    responses:\n      '200': {description: ok}";
    let limit =
        "parameters:\n  Limit: {name: limit, in: query, schema: {type: integer, maximum: 100}}";
    v.push(Refactor {
        name: "parameter extracted into components/parameters",
        base: doc(op_params, ""),
        equivalent: doc(param_ref, limit),
        broken: doc(param_ref, &limit.replace("maximum: 100", "maximum: 50")),
        break_rule: "request-parameter-max-decreased",
    });
    // 13. A path parameter renamed.
    v.push(Refactor {
        name: "path parameter renamed",
        base: doc(op_params, ""),
        equivalent: doc(
            &op_params
                .replace("{id}", "{petId}")
                .replace("name: id,", "name: petId,"),
            "",
        ),
        broken: doc(
            &op_params.replace("{id}", "{petId}").replace(
                "name: id, in: path, required: true, schema: {type: integer}",
                "name: petId, in: path, required: true, schema: {type: integer, maximum: 10}",
            ),
            "",
        ),
        break_rule: "request-parameter-max-set",
    });
    // 14. Keys reordered everywhere.
    let reordered_pet = "properties:\n  tag: {type: string}\n  name: {maxLength: 50, type: string}\n  id: {type: integer}\nrequired: [name, id]\ntype: object";
    v.push(Refactor {
        name: "keys and required names reordered",
        base: pets(PET, PET, ""),
        equivalent: pets(reordered_pet, reordered_pet, ""),
        broken: pets(
            reordered_pet,
            &reordered_pet.replace("  tag: {type: string}\n", ""),
            "",
        ),
        break_rule: "response-optional-property-removed",
    });
    // 15. YAML to JSON.
    let yaml = pets(PET, PET, "");
    let json = yaml_to_json(&yaml);
    v.push(Refactor {
        name: "YAML rewritten as JSON",
        base: yaml.clone(),
        equivalent: json.clone(),
        broken: json.replace("\"maxLength\":50", "\"maxLength\":10"),
        break_rule: "request-property-max-length-decreased",
    });
    // 16. A response moved into components/responses.
    let resp_ref = doc(
        "/pets:\n  get:\n    responses:\n      '200':\n        $ref: '#/components/responses/Pets'",
        &format!(
            "responses:\n  Pets:\n    description: ok\n    content:\n      application/json:\n        schema:\n{}",
            indent(PET, 10)
        ),
    );
    let resp_inline = doc(
        &format!(
            "/pets:\n  get:\n    responses:\n      '200':\n        description: ok\n        content:\n          application/json:\n            schema:\n{}",
            indent(PET, 14)
        ),
        "",
    );
    v.push(Refactor {
        name: "response extracted into components/responses",
        base: resp_inline.clone(),
        equivalent: resp_ref.clone(),
        broken: resp_ref.replace("application/json", "application/xml"),
        break_rule: "response-media-type-removed",
    });
    // 17. A request body moved into components/requestBodies.
    let rb_ref = doc(
        "/pets:\n  post:\n    requestBody:\n      $ref: '#/components/requestBodies/Pet'\n    responses:\n      '200': {description: ok}",
        &format!(
            "requestBodies:\n  Pet:\n    required: true\n    content:\n      application/json:\n        schema:\n{}",
            indent(PET, 10)
        ),
    );
    let rb_inline = doc(
        &format!(
            "/pets:\n  post:\n    requestBody:\n      required: true\n      content:\n        application/json:\n          schema:\n{}\n    responses:\n      '200': {{description: ok}}",
            indent(PET, 12)
        ),
        "",
    );
    v.push(Refactor {
        name: "request body extracted into components/requestBodies",
        base: rb_inline,
        equivalent: rb_ref.clone(),
        broken: rb_ref.replace("required: [id, name]", "required: [id, name, tag]"),
        break_rule: "request-property-became-required",
    });
    // 18. Nested allOf flattened.
    let nested = "allOf:\n  - allOf:\n      - type: object\n        required: [id]\n        properties:\n          id: {type: integer}\n      - type: object\n        required: [name]\n        properties:\n          name: {type: string, maxLength: 50}\n  - type: object\n    properties:\n      tag: {type: string}";
    v.push(Refactor {
        name: "nested allOf flattened into one object",
        base: pets(nested, nested, ""),
        equivalent: pets(PET, PET, ""),
        broken: pets(
            PET,
            &PET.replace("  name: {type: string, maxLength: 50}\n", ""),
            "",
        ),
        break_rule: "response-required-property-removed",
    });
    // 19. Array items extracted into a $ref.
    let arr = |items: &str| format!("type: array\nitems:\n{}", indent(items, 2));
    v.push(Refactor {
        name: "array items extracted into a $ref",
        base: pets(&arr(PET), &arr(PET), ""),
        equivalent: pets(
            &arr("$ref: '#/components/schemas/Pet'"),
            &arr("$ref: '#/components/schemas/Pet'"),
            &pet_comp(PET),
        ),
        broken: pets(
            &arr("$ref: '#/components/schemas/Pet'"),
            &arr("$ref: '#/components/schemas/Pet'"),
            &pet_comp(&PET.replace("  id: {type: integer}", "  id: {type: integer, minimum: 1}")),
        ),
        break_rule: "request-property-min-set",
    });
    // 20. A response header extracted into components/headers.
    let hdr_inline = doc(
        "/pets:\n  get:\n    responses:\n      '200':\n        description: ok\n        headers:\n          X-Rate: {required: true, schema: {type: integer}}",
        "",
    );
    let hdr_ref = doc(
        "/pets:\n  get:\n    responses:\n      '200':\n        description: ok\n        headers:\n          X-Rate:\n            $ref: '#/components/headers/Rate'",
        "headers:\n  Rate: {required: true, schema: {type: integer}}",
    );
    v.push(Refactor {
        name: "response header extracted into components/headers",
        base: hdr_inline,
        equivalent: hdr_ref.clone(),
        broken: hdr_ref.replace("Rate: {required: true,", "Rate: {required: false,"),
        break_rule: "response-header-became-optional",
    });
    // 21. required split across allOf members in a request.
    let split_req = "allOf:\n  - type: object\n    required: [id]\n    properties:\n      id: {type: integer}\n      name: {type: string, maxLength: 50}\n  - type: object\n    required: [name]\n    properties:\n      tag: {type: string}";
    v.push(Refactor {
        name: "properties and required names spread over allOf members",
        base: pets(PET, "type: object", ""),
        equivalent: pets(split_req, "type: object", ""),
        broken: pets(
            &split_req.replace("required: [name]", "required: [name, tag]"),
            "type: object",
            "",
        ),
        break_rule: "request-property-became-required",
    });
    // 22. An allOf member of annotations only added (a description).
    let annotated =
        "allOf:\n  - $ref: '#/components/schemas/Pet'\n  - description: a pet, as stored";
    v.push(Refactor {
        name: "a $ref wrapped in allOf with a description",
        base: pets(
            "$ref: '#/components/schemas/Pet'",
            "$ref: '#/components/schemas/Pet'",
            &pet_comp(PET),
        ),
        equivalent: pets(annotated, annotated, &pet_comp(PET)),
        broken: pets(
            annotated,
            annotated,
            &pet_comp(&PET.replace(
                "  tag: {type: string}",
                "  tag: {type: string, enum: [a, b]}",
            )),
        ),
        break_rule: "request-property-became-enum",
    });
    // 23. Defaults spelled out (minLength 0, minItems 0, nullable false,
    // uniqueItems false, an empty required list, a request body not required).
    let plain =
        "type: object\nproperties:\n  x: {type: string}\n  l: {type: array, items: {type: string}}";
    let spelled = "type: object\nrequired: []\nadditionalProperties: true\nproperties:\n  x: {type: string, minLength: 0, nullable: false, deprecated: false}\n  l: {type: array, minItems: 0, uniqueItems: false, items: {type: string}}";
    v.push(Refactor {
        name: "schema defaults spelled out",
        base: pets(plain, plain, ""),
        equivalent: pets(spelled, spelled, ""),
        broken: pets(&spelled.replace("minItems: 0", "minItems: 1"), spelled, ""),
        break_rule: "request-property-min-items-increased",
    });
    // 24. Parameter defaults spelled out (style, explode, required: false).
    let q = "/pets:\n  get:\n    parameters:\n      - {name: q, in: query, schema: {type: array, items: {type: string}}}\n      - {name: h, in: header, schema: {type: string}}\n    responses:\n      '200': {description: ok}";
    let q_spelled = "/pets:\n  get:\n    parameters:\n      - {name: q, in: query, required: false, style: form, explode: true, allowEmptyValue: false, schema: {type: array, items: {type: string}}}\n      - {name: h, in: header, required: false, style: simple, schema: {type: string}}\n    responses:\n      '200': {description: ok}";
    v.push(Refactor {
        name: "parameter defaults spelled out",
        base: doc(q, ""),
        equivalent: doc(q_spelled, ""),
        broken: doc(
            &q_spelled.replace(
                "{name: h, in: header, required: false",
                "{name: h, in: header, required: true",
            ),
            "",
        ),
        break_rule: "request-parameter-became-required",
    });
    // 25. oneOf members reordered.
    let a = "type: object\nrequired: [a]\nproperties:\n  a: {type: string}";
    let b = "type: object\nrequired: [b]\nproperties:\n  b: {type: integer}";
    v.push(Refactor {
        name: "oneOf members reordered",
        base: pets(&one_of(a, b), "type: object", ""),
        equivalent: pets(&one_of(b, a), "type: object", ""),
        broken: pets(
            &one_of(
                &b.replace("required: [b]", "required: [b, c]\n").replace(
                    "  b: {type: integer}",
                    "  b: {type: integer}\n  c: {type: string}",
                ),
                a,
            ),
            "type: object",
            "",
        ),
        break_rule: "new-required-request-property",
    });
    // 26. A $ref wrapped in a oneOf (or anyOf) of that one member.
    let pref = "$ref: '#/components/schemas/Pet'";
    let one = "oneOf:\n  - $ref: '#/components/schemas/Pet'";
    let any = "anyOf:\n  - $ref: '#/components/schemas/Pet'";
    v.push(Refactor {
        name: "a $ref wrapped in a oneOf of one member",
        base: pets(pref, pref, &pet_comp(PET)),
        equivalent: pets(one, one, &pet_comp(PET)),
        broken: pets(
            one,
            one,
            &pet_comp(&PET.replace("required: [id, name]", "required: [id, name, tag]")),
        ),
        break_rule: "request-property-became-required",
    });
    v.push(Refactor {
        name: "a $ref wrapped in an anyOf of one member",
        base: pets(pref, pref, &pet_comp(PET)),
        equivalent: pets(any, any, &pet_comp(PET)),
        broken: pets(
            any,
            any,
            &pet_comp(&PET.replace("  tag: {type: string}", "")),
        ),
        break_rule: "response-optional-property-removed",
    });
    v
}

/// `pets(PET, PET, "")` written as JSON by hand, keys in another order.
fn yaml_to_json(_yaml: &str) -> String {
    let pet = serde_json::json!({
        "properties": {
            "tag": {"type": "string"},
            "id": {"type": "integer"},
            "name": {"maxLength": 50, "type": "string"}
        },
        "type": "object",
        "required": ["id", "name"]
    });
    let doc = serde_json::json!({
        "paths": {"/pets": {"post": {
            "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": pet}}}},
            "requestBody": {"content": {"application/json": {"schema": pet}}, "required": true}
        }}},
        "info": {"version": "1", "title": "t"},
        "openapi": "3.0.3"
    });
    serde_json::to_string(&doc).unwrap()
}

#[test]
fn equivalent_refactors_are_quiet_and_hidden_breaks_are_caught() {
    let mut problems = Vec::new();
    let all = refactors();
    assert!(all.len() >= 20, "at least 20 refactors");
    for r in &all {
        let loud: Vec<String> = findings(&r.base, &r.equivalent)
            .into_iter()
            .filter(|f| f.severity >= Severity::Warn)
            .map(|f| format!("{} {:?} {} ({})", f.rule, f.severity, f.endpoint, f.detail))
            .collect();
        if !loud.is_empty() {
            problems.push(format!("{}: equivalent pair reported {loud:?}", r.name));
        }
        let broken = findings(&r.base, &r.broken);
        if !broken.iter().any(|f| f.rule == r.break_rule) {
            let got: Vec<String> = broken
                .iter()
                .map(|f| format!("{} {:?}", f.rule, f.severity))
                .collect();
            problems.push(format!(
                "{}: hidden break {} not caught, got {got:?}",
                r.name, r.break_rule
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn an_all_of_that_is_not_a_plain_merge_is_compared_as_written() {
    // additionalProperties: false in one member does not see the other
    // member's properties: merging would change what is accepted, so the
    // allOf is compared member by member (its list change is reported).
    let closed = "allOf:\n  - type: object\n    additionalProperties: false\n    properties:\n      id: {type: integer}\n  - type: object\n    properties:\n      name: {type: string}";
    let plain = "type: object\nproperties:\n  id: {type: integer}\n  name: {type: string}";
    let f = findings(
        &pets(plain, "type: object", ""),
        &pets(closed, "type: object", ""),
    );
    assert!(
        f.iter().any(|x| x.rule == "request-body-all-of-added"),
        "{:?}",
        f.iter().map(|x| &x.rule).collect::<Vec<_>>()
    );
}
