//! Untrusted input: every hostile or malformed document ends in an error
//! value (never a panic), within bounded memory and time.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers

use std::time::Instant;

use gate::{Config, Date, Document, Error, Limits, MemoryFiles, NoFiles};

fn open(text: &[u8]) -> Result<Document, Error> {
    Document::from_bytes(text, "t.yaml", &NoFiles, &Limits::default())
}

const HEAD: &str = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\n";

#[test]
fn yaml_alias_bomb_is_refused_quickly() {
    let mut s = String::from(HEAD);
    s.push_str("x-a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let p = i - 1;
        s.push_str(&format!(
            "x-a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    s.push_str("paths: {}\n");
    let t = Instant::now();
    // Pin the variant: a budget, not a syntax error, stops it.
    assert!(matches!(
        open(s.as_bytes()),
        Err(Error::LimitExceeded {
            what: "node count",
            ..
        })
    ));
    assert!(t.elapsed().as_secs() < 10);
}

#[test]
fn deep_nesting_is_refused() {
    let deep_flow = format!(
        "{HEAD}paths: {{}}\nx-deep: {}1{}\n",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    assert!(matches!(
        open(deep_flow.as_bytes()),
        Err(Error::LimitExceeded {
            what: "nesting depth",
            ..
        })
    ));
    let deep_json = format!(
        "{{\"openapi\": \"3.1.0\", \"x\": {}1{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(open(deep_json.as_bytes()).is_err());
}

#[test]
fn huge_documents_are_refused_before_parsing() {
    let big = vec![b' '; Limits::DEFAULT_MAX_DOCUMENT_BYTES + 1];
    assert!(matches!(open(&big), Err(Error::TooLarge { .. })));
}

#[test]
fn invalid_utf8_and_non_openapi_are_refused() {
    assert!(matches!(
        open(b"openapi: 3.0.0\ninfo: \xc3\x28\n"),
        Err(Error::InvalidUtf8 { offset: 21, .. })
    ));
    assert!(matches!(
        open(b"swagger: '2.0'\n"),
        Err(Error::NotOpenApi { .. })
    ));
    assert!(matches!(open(b"- a\n- b\n"), Err(Error::NotOpenApi { .. })));
    assert!(matches!(
        open(b"openapi: 4.0.0\npaths: {}\n"),
        Err(Error::NotOpenApi { .. })
    ));
    assert!(matches!(open(b""), Err(Error::NotOpenApi { .. })));
    assert!(matches!(open(b"openapi: [\n"), Err(Error::Syntax { .. })));
    assert!(matches!(
        open(b"a: 1\na: 2\n"),
        Err(Error::Unsupported { .. })
    ));
}

#[test]
fn references_are_confined() {
    let with =
        |r: &str| format!("{HEAD}paths: {{}}\ncomponents:\n  schemas:\n    A: {{$ref: '{r}'}}\n");
    assert!(matches!(
        open(with("http://169.254.169.254/latest").as_bytes()),
        Err(Error::RemoteRef { .. })
    ));
    assert!(matches!(
        open(with("//evil.example/x.yaml").as_bytes()),
        Err(Error::RemoteRef { .. })
    ));
    assert!(matches!(
        open(with("file:///etc/passwd").as_bytes()),
        Err(Error::RemoteRef { .. })
    ));
    assert!(matches!(
        open(with("../../etc/passwd").as_bytes()),
        Err(Error::RefOutsideBase { .. })
    ));
    assert!(matches!(
        open(with("/etc/passwd").as_bytes()),
        Err(Error::RefOutsideBase { .. })
    ));
    assert!(matches!(
        open(with("#/components/schemas/Missing").as_bytes()),
        Err(Error::UnresolvedRef { .. })
    ));
    assert!(matches!(
        open(with("other.yaml").as_bytes()),
        Err(Error::Load { .. })
    ));
    // A chain of references that never reaches a schema.
    let cycle = format!(
        "{HEAD}paths: {{}}\ncomponents:\n  schemas:\n    A: {{$ref: '#/components/schemas/B'}}\n    B: {{$ref: '#/components/schemas/A'}}\n"
    );
    assert!(matches!(
        open(cycle.as_bytes()),
        Err(Error::CircularRef { .. })
    ));
    // Files through the caller's loader, by their normalized path.
    let files = MemoryFiles([("s/b.yaml".to_owned(), b"B: {type: string}\n".to_vec())].into());
    let doc = Document::from_bytes(
        with("./s/b.yaml#/B").as_bytes(),
        "t.yaml",
        &files,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(doc.file_names(), ["t.yaml", "s/b.yaml"]);
}

#[test]
fn recursive_schemas_are_diffed() {
    let doc = |extra: &str| {
        format!(
            "{HEAD}paths:\n  /n:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {{$ref: '#/components/schemas/Node'}}\ncomponents:\n  schemas:\n    Node:\n      type: object\n      required: [children{extra}]\n      properties:\n        name: {{type: string}}\n        children:\n          type: array\n          items: {{$ref: '#/components/schemas/Node'}}\n"
        )
    };
    let a = open(doc(", name").as_bytes()).unwrap();
    let b = open(doc("").as_bytes()).unwrap();
    let r = gate::diff(
        &a,
        &b,
        &Config::default(),
        Date::parse("2025-01-01").unwrap(),
    );
    let rules: Vec<&str> = r.findings.iter().map(|f| f.rule.as_str()).collect();
    assert!(
        rules.contains(&"response-property-became-optional"),
        "{rules:?}"
    );
    assert!(
        gate::diff(
            &a,
            &a,
            &Config::default(),
            Date::parse("2025-01-01").unwrap()
        )
        .findings
        .is_empty()
    );
}

#[test]
fn same_input_same_bytes() {
    let a = open(format!("{HEAD}paths:\n  /a: {{get: {{responses: {{'200': {{description: ok}}}}}}}}\n  /b: {{get: {{responses: {{'200': {{description: ok}}}}}}}}\n").as_bytes()).unwrap();
    let b = open(format!("{HEAD}paths: {{}}\n").as_bytes()).unwrap();
    let today = Date::parse("2025-01-01").unwrap();
    let one = gate::report::render(
        &gate::diff(&a, &b, &Config::default(), today),
        gate::report::Format::Json,
    );
    let two = gate::report::render(
        &gate::diff(&a, &b, &Config::default(), today),
        gate::report::Format::Json,
    );
    assert_eq!(one, two);
    assert!(one.find("GET /a").unwrap() < one.find("GET /b").unwrap());
}
