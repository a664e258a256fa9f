//! Headless Chromium driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`, which `scripts/prereqs.sh` installs), for the browser
//! tests: the cockpit's flow and the proof page's in-browser check.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// chromedriver on a free port; killed when dropped.
pub struct Driver {
    child: Child,
    /// The WebDriver URL.
    pub url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// Starts chromedriver on a free port of 127.0.0.1.
///
/// # Panics
/// If chromedriver or chromium is not installed, or it does not start.
#[must_use]
pub fn start_driver() -> Driver {
    let driver = which("chromedriver").unwrap_or_else(|| {
        panic!(
            "chromedriver is not installed: the browser tests need Debian's \
             `chromium` and `chromium-driver` packages (scripts/test.sh installs them through \
             scripts/prereqs.sh; or run `apt-get install chromium chromium-driver`)"
        )
    });
    assert!(
        which("chromium").is_some(),
        "chromium is not installed: `apt-get install chromium chromium-driver` (scripts/prereqs.sh does)"
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver { child, url }
}

/// A WebDriver session of headless Chromium that downloads into `downloads`.
///
/// # Panics
/// If the session cannot be made.
pub async fn browser(driver: &Driver, downloads: &Path) -> Client {
    let caps = json!({
        "goog:chromeOptions": {
            "binary": which("chromium").unwrap(),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1000", "--no-first-run"],
            "prefs": {
                "download.default_directory": downloads,
                "download.prompt_for_download": false,
            }
        },
        "unhandledPromptBehavior": "ignore",
    });
    let caps = caps.as_object().unwrap().clone();
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session of headless Chromium")
}

/// The text of the element that `css` selects; prints the page if there is
/// none.
///
/// # Panics
/// If there is no such element.
pub async fn text(c: &Client, css: &str) -> String {
    let found = c.find(Locator::Css(css)).await;
    if found.is_err() {
        eprintln!(
            "PAGE {:?}\n{}",
            c.current_url().await,
            c.source().await.unwrap_or_default()
        );
    }
    found.unwrap().text().await.unwrap()
}

/// `axe.min.js` of npm's `axe-core` (`tests/node`, installed by
/// `scripts/test.sh` with `npm ci`).
///
/// # Panics
/// If it is not installed.
fn axe_source() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("node/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: the accessibility checks run npm's axe-core; install it with \
             `npm ci --prefix tests/node` (scripts/test.sh does)",
            path.display()
        )
    })
}

/// Runs axe-core (WCAG 2.0, 2.1 and 2.2 A and AA rules, and best
/// practices) on the page `c` shows, and returns its violations of impact
/// `serious` or `critical`, each as `rule: help (selectors)`. The script is
/// injected over WebDriver, which the page's Content Security Policy does
/// not govern: the page itself is unchanged.
///
/// # Panics
/// If axe-core is not installed or does not run.
pub async fn serious_accessibility_violations(c: &Client) -> Vec<String> {
    let source = axe_source();
    c.execute(&format!("{source}\nreturn typeof axe;"), vec![])
        .await
        .expect("axe-core loads");
    let result = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {runOnly: {type: 'tag', values:
                 ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}})
               .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                   nodes: v.nodes.map(n => n.target.join(' '))}))))
               .catch(e => done({error: String(e)}));",
            vec![],
        )
        .await
        .expect("axe-core runs");
    if let Some(e) = result.get("error") {
        panic!("axe-core failed: {e}");
    }
    result
        .as_array()
        .expect("axe-core's violations")
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .map(|v| {
            format!(
                "{}: {} ({})",
                v["id"].as_str().unwrap_or_default(),
                v["help"].as_str().unwrap_or_default(),
                v["nodes"]
            )
        })
        .collect()
}
