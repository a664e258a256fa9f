//! Criterion benchmarks of the gate engine on a generated mid-size document
//! (300 paths, 600 operations, 200 component schemas that reference each
//! other): opening it (JSON through the fast path, and the same text through
//! the YAML reader) and diffing two versions of it. Real-spec figures (GitHub,
//! APIs.guru) are in `docs/benchmarks.md`, "Gate engine".
//!
//! Run: `cargo bench -p gate --bench gate -- --warm-up-time 1 --measurement-time 3`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use gate::{Config, Date, Document, Limits, NoFiles};
use serde_json::{Value, json};

const PATHS: usize = 300;
const SCHEMAS: usize = 200;

/// A document; `revision` changes every tenth schema and every twentieth operation.
fn spec(revision: bool) -> Value {
    let mut schemas = serde_json::Map::new();
    for i in 0..SCHEMAS {
        let changed = revision && i % 10 == 0;
        let mut props = json!({
            "id": {"type": "integer", "format": "int64"},
            "name": {"type": "string", "maxLength": if changed { 50 } else { 100 }},
            "status": {"type": "string", "enum": ["open", "closed"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "next": {"$ref": format!("#/components/schemas/S{}", (i + 1) % SCHEMAS)},
            "created_at": {"type": "string", "format": "date-time", "nullable": changed},
        });
        if changed {
            props["extra"] = json!({"type": "string"});
        }
        schemas.insert(
            format!("S{i}"),
            json!({"type": "object", "required": ["id", "name"], "properties": props}),
        );
    }
    let mut paths = serde_json::Map::new();
    for i in 0..PATHS {
        let s = format!("#/components/schemas/S{}", i % SCHEMAS);
        let limit_required = revision && i % 20 == 0;
        paths.insert(
            format!("/items{i}/{{id}}"),
            json!({
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                "get": {
                    "operationId": format!("get{i}"),
                    "parameters": [{"name": "limit", "in": "query", "required": limit_required, "schema": {"type": "integer", "maximum": 100}}],
                    "responses": {
                        "200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": s}}}},
                        "404": {"description": "not found"}
                    }
                },
                "post": {
                    "operationId": format!("post{i}"),
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": s}}}},
                    "responses": {"201": {"description": "created", "content": {"application/json": {"schema": {"$ref": s}}}}}
                }
            }),
        );
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": "bench", "version": if revision { "1.1.0" } else { "1.0.0" }},
        "paths": paths,
        "components": {"schemas": schemas}
    })
}

fn benches(c: &mut Criterion) {
    let limits = Limits::default();
    let base_json = serde_json::to_string_pretty(&spec(false)).unwrap();
    let rev_json = serde_json::to_string_pretty(&spec(true)).unwrap();
    // The same text, made to not look like JSON: read by the YAML reader.
    let base_yaml = format!("# yaml\n{base_json}");
    let open = |text: &str| Document::from_bytes(text.as_bytes(), "b.json", &NoFiles, &limits);

    let mut g = c.benchmark_group("open");
    g.throughput(Throughput::Bytes(base_json.len() as u64));
    g.bench_function("json", |b| b.iter(|| open(black_box(&base_json)).unwrap()));
    g.bench_function("yaml-reader", |b| {
        b.iter(|| open(black_box(&base_yaml)).unwrap());
    });
    g.finish();

    let base = open(&base_json).unwrap();
    let rev = open(&rev_json).unwrap();
    let config = Config::default();
    let today = Date::parse("2025-06-01").unwrap();
    let findings = gate::diff(&base, &rev, &config, today).findings.len();
    assert!(findings > 0);
    eprintln!("diff/changed: {findings} findings");
    let mut g = c.benchmark_group("diff");
    g.bench_function("changed", |b| {
        b.iter(|| gate::diff(black_box(&base), black_box(&rev), &config, today));
    });
    g.bench_function("self", |b| {
        b.iter(|| gate::diff(black_box(&base), black_box(&base), &config, today));
    });
    g.finish();
}

fn main() {
    // What `criterion_group!`/`criterion_main!` expand to, written out so
    // that the generated functions need no lint exceptions.
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
