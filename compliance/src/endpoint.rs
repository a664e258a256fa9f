//! Endpoints, `METHOD /path`, as exceptions name them and the gate reports
//! them: the method is upper-cased, and path-parameter names do not matter
//! for matching (`GET /users/{id}` and `GET /users/{userId}` are the same
//! endpoint, as oasdiff treats them).

use std::fmt;

use crate::Error;

/// The HTTP methods an OpenAPI operation can have.
pub const METHODS: [&str; 8] = [
    "GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE",
];

/// Longest endpoint text.
pub const MAX_ENDPOINT: usize = 500;

/// A parsed endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    method: &'static str,
    path: String,
}

impl Endpoint {
    /// Parses `METHOD /path`: one of [`METHODS`] in any case, one space, and
    /// a path that starts with `/` and holds no whitespace or control
    /// characters, whose `{…}` parameters are closed and not nested.
    ///
    /// # Errors
    /// [`Error::Invalid`] saying the expected form.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bad = |why: &str| {
            Error::Invalid(format!(
                "endpoint must be METHOD /path, like \"GET /users/{{id}}\" ({why}), got {text:?}"
            ))
        };
        if text.len() > MAX_ENDPOINT {
            return Err(bad("at most 500 characters"));
        }
        let (method, path) = text.split_once(' ').ok_or_else(|| bad("no space"))?;
        let method = METHODS
            .iter()
            .find(|m| m.eq_ignore_ascii_case(method))
            .ok_or_else(|| bad("the method is not an HTTP method of OpenAPI"))?;
        if !path.starts_with('/') {
            return Err(bad("the path starts with /"));
        }
        if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("no spaces or control characters in the path"));
        }
        let mut open = false;
        for c in path.chars() {
            match c {
                '{' if open => return Err(bad("nested {")),
                '{' => open = true,
                '}' if !open => return Err(bad("a } without {")),
                '}' => open = false,
                _ => {}
            }
        }
        if open {
            return Err(bad("an unclosed {"));
        }
        Ok(Endpoint {
            method,
            path: path.to_owned(),
        })
    }

    /// The method, upper-case.
    #[must_use]
    pub fn method(&self) -> &str {
        self.method
    }

    /// The path as given.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What matching compares: the method and the path with every
    /// parameter's name dropped (`GET /users/{}`).
    #[must_use]
    pub fn match_key(&self) -> String {
        format!("{} {}", self.method, without_parameter_names(&self.path))
    }

    /// The key of a near miss: the match key with the path lower-cased and
    /// without a trailing slash.
    fn loose_key(&self) -> String {
        let path = without_parameter_names(&self.path).to_ascii_lowercase();
        let path = match path.strip_suffix('/') {
            Some(p) if !p.is_empty() => p.to_owned(),
            _ => path,
        };
        format!("{} {path}", self.method)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

fn without_parameter_names(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut open = false;
    for c in path.chars() {
        match c {
            '{' => {
                open = true;
                out.push('{');
            }
            '}' => {
                open = false;
                out.push('}');
            }
            _ if open => {}
            c => out.push(c),
        }
    }
    out
}

/// Whether an exception's endpoint covers a finding's: equal match keys.
/// A finding whose endpoint is not `METHOD /path` matches only the exact
/// same text.
#[must_use]
pub fn matches(exception: &str, finding: &str) -> bool {
    match (Endpoint::parse(exception), Endpoint::parse(finding)) {
        (Ok(e), Ok(f)) => e.match_key() == f.match_key(),
        _ => exception == finding,
    }
}

/// Whether two endpoints differ only by the case of the path or a trailing
/// slash (a near miss that a blocked decision names, so the codeowner sees
/// why their exception did not apply).
#[must_use]
pub fn near_miss(exception: &str, finding: &str) -> bool {
    match (Endpoint::parse(exception), Endpoint::parse(finding)) {
        (Ok(e), Ok(f)) => e.match_key() != f.match_key() && e.loose_key() == f.loose_key(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_to_one_form() {
        let e = Endpoint::parse("get /users/{id}").unwrap();
        assert_eq!(e.to_string(), "GET /users/{id}");
        assert_eq!(e.match_key(), "GET /users/{}");
        for bad in [
            "",
            "GET",
            "/users",
            "GET users",
            "FETCH /users",
            "GET /users /x",
            "GET  /users",
            "GET /users/{id",
            "GET /users/id}",
            "GET /users/{{id}}",
            "GET /a\u{0}",
        ] {
            let err = Endpoint::parse(bad).unwrap_err();
            assert!(
                matches!(&err, Error::Invalid(m) if m.contains("METHOD /path")),
                "{bad:?}: {err}"
            );
        }
        assert!(Endpoint::parse(&format!("GET /{}", "a".repeat(600))).is_err());
    }

    #[test]
    fn parameter_names_do_not_matter_case_and_slashes_do() {
        assert!(matches("GET /users/{id}", "GET /users/{userId}"));
        assert!(matches("get /users/{id}", "GET /users/{id}"));
        assert!(!matches("GET /users/{id}", "POST /users/{id}"));
        assert!(!matches("GET /users/{id}", "GET /Users/{id}"));
        assert!(!matches("GET /users", "GET /users/"));
        assert!(matches("not an endpoint", "not an endpoint"));
        assert!(!matches("GET /users", "GET  /users"));
        assert!(near_miss("GET /Users/{id}", "GET /users/{userId}"));
        assert!(near_miss("GET /users/", "GET /users"));
        assert!(!near_miss("GET /users", "GET /users"), "a match is no miss");
        assert!(!near_miss("POST /users", "GET /users"));
        assert!(!near_miss("GET /", "GET /x"));
    }
}
