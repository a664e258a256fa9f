//! Placeholder: built in a later issue.

fn main() {}
