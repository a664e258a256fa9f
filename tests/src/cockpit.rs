//! A cockpit client for the tests: forms sent from the server's own origin,
//! redirects not followed, and the helpers that read its pages.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

/// A cockpit client: forms from the server's own origin, no redirects.
pub struct Cockpit {
    url: String,
    http: reqwest::blocking::Client,
}

impl Cockpit {
    /// A client of the server at `url`.
    ///
    /// # Panics
    /// If the HTTP client cannot be built.
    #[must_use]
    pub fn new(url: &str) -> Self {
        Cockpit {
            url: url.to_owned(),
            http: reqwest::blocking::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    /// A GET, with the session cookie if given: status and body.
    ///
    /// # Panics
    /// If the server does not answer.
    pub fn get(&self, path: &str, cookie: Option<&str>) -> (u16, String) {
        let mut req = self.http.get(format!("{}{path}", self.url));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        let resp = req.send().unwrap();
        (resp.status().as_u16(), resp.text().unwrap())
    }

    /// A form POST from the server's own origin: the whole answer.
    ///
    /// # Panics
    /// If the server does not answer.
    pub fn post_form(
        &self,
        path: &str,
        cookie: Option<&str>,
        body: &str,
    ) -> reqwest::blocking::Response {
        let mut req = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", &self.url)
            .header("sec-fetch-site", "same-origin")
            .body(body.to_owned());
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send().unwrap()
    }

    /// A form POST from the server's own origin: the status, and the
    /// session cookie it set or else the body.
    ///
    /// # Panics
    /// If the server does not answer.
    pub fn form(&self, path: &str, cookie: Option<&str>, body: &str) -> (u16, String) {
        let resp = self.post_form(path, cookie, body);
        let cookie = resp
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
        let status = resp.status().as_u16();
        (status, cookie.unwrap_or_else(|| resp.text().unwrap()))
    }
}

/// The text of `html` after `before`, up to `end` (with `&#x2f;` read as
/// `/`).
///
/// # Panics
/// If `before` or `end` is not there.
#[must_use]
pub fn find_in(html: &str, before: &str, end: char) -> String {
    let html = html.replace("&#x2f;", "/");
    let at = html
        .find(before)
        .unwrap_or_else(|| panic!("no {before} in {html}"))
        + before.len();
    html[at..at + html[at..].find(end).unwrap()].to_owned()
}

/// The CSRF token of the page's forms.
///
/// # Panics
/// If the page has no form.
#[must_use]
pub fn csrf_of(html: &str) -> String {
    find_in(html, "name=\"csrf\" value=\"", '"')
}
