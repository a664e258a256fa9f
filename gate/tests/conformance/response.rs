//! Conformance cases: see `support.rs` and `spec/gate-conformance.md`.

#[allow(unused_imports)]
use super::support::*;

pub fn rules() -> Vec<Rule> {
    vec![]
}
