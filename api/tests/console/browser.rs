//! Headless Chromium over WebDriver: chromedriver started by the test on a
//! free port, a fresh profile, and helpers that poll with a deadline.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// One browser at a time: two cores, and every test has its own.
pub static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const DEADLINE: Duration = Duration::from_secs(30);

fn find(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// The chromium binary and chromedriver, or a loud failure.
fn binaries() -> (PathBuf, PathBuf) {
    let chromium = std::env::var("CHROMIUM_BIN")
        .ok()
        .map(PathBuf::from)
        .or_else(|| {
            find(&[
                "/usr/bin/chromium",
                "/usr/bin/chromium-browser",
                "/usr/lib/chromium/chromium",
            ])
        });
    let driver = std::env::var("CHROMEDRIVER_BIN")
        .ok()
        .map(PathBuf::from)
        .or_else(|| find(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]));
    match (chromium, driver) {
        (Some(c), Some(d)) => (c, d),
        _ => panic!(
            "the browser tests need Debian's chromium and chromium-driver: \
             apt-get install -y chromium chromium-driver (.ci/run does)"
        ),
    }
}

pub fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("screenshots")
}

/// A WebDriver session on a headless Chromium of its own.
pub struct Browser {
    pub client: Client,
    pub base: String,
    name: String,
    shots: usize,
    _driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start(base: &str, name: &str) -> Self {
        let (chromium, chromedriver) = binaries();
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let driver = tokio::process::Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", chromedriver.display()));
        let webdriver = format!("http://127.0.0.1:{port}");
        let status = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if status
                .get(format!("{webdriver}/status"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "chromedriver did not start on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium.to_string_lossy(),
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&webdriver)
            .await
            .unwrap_or_else(|e| panic!("starting headless {}: {e}", chromium.display()));
        Self {
            client,
            base: base.to_owned(),
            name: name.to_owned(),
            shots: 0,
            _driver: driver,
            _profile: profile,
        }
    }

    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    pub async fn text(&self, css: &str) -> String {
        match self
            .client
            .wait()
            .at_most(DEADLINE)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element.text().await.unwrap(),
            Err(e) => panic!("no `{css}` on {}: {e}", self.path_now().await),
        }
    }

    async fn path_now(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    pub async fn body(&self) -> String {
        self.text("body").await
    }

    /// Click `css` and wait for the page it loads.
    pub async fn click(&self, css: &str) {
        self.mark_page().await;
        self.click_only(css).await;
        self.wait_for_new_page().await;
    }

    /// Mark the current document, to tell when another one replaced it.
    async fn mark_page(&self) {
        self.client
            .execute("window.__old_page = true;", vec![])
            .await
            .unwrap();
    }

    async fn wait_for_new_page(&self) {
        let started = Instant::now();
        loop {
            let loaded = self
                .client
                .execute(
                    "return window.__old_page !== true && document.readyState === 'complete';",
                    vec![],
                )
                .await
                .is_ok_and(|v| v == json!(true));
            if loaded {
                return;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "no new page after {DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Click without waiting for a navigation.
    pub async fn click_only(&self, css: &str) {
        self.client
            .wait()
            .at_most(DEADLINE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}` to click: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// Click the link named `text` and wait for the page it loads.
    pub async fn click_link(&self, text: &str) {
        self.mark_page().await;
        self.client
            .wait()
            .at_most(DEADLINE)
            .for_element(Locator::LinkText(text))
            .await
            .unwrap_or_else(|e| panic!("no link `{text}`: {e}"))
            .click()
            .await
            .unwrap();
        self.wait_for_new_page().await;
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let field = self
            .client
            .wait()
            .at_most(DEADLINE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}` to fill: {e}"));
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    /// Set an input's value by script (date-time pickers take no keys
    /// portably).
    pub async fn set_value(&self, id: &str, value: &str) {
        self.client
            .execute(
                "document.getElementById(arguments[0]).value = arguments[1];",
                vec![json!(id), json!(value)],
            )
            .await
            .unwrap();
    }

    /// Wait until `css`'s text satisfies `ok`, without reloading.
    pub async fn wait_for_text(&self, css: &str, ok: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let text = self.text(css).await;
            if ok(&text) {
                return text;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "`{css}` still reads `{text}` after {DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Save a screenshot as `target/screenshots/<test>-<n>-<what>.png`.
    pub async fn screenshot(&mut self, what: &str) -> PathBuf {
        self.shots += 1;
        let png = self.client.screenshot().await.unwrap();
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}-{:02}-{what}.png", self.name, self.shots));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// What every page keeps: one `main` landmark, a skip link as the first
    /// thing the keyboard reaches, a label for every field, a language.
    pub async fn assert_accessible_basics(&self) {
        let report = self
            .client
            .execute(
                "const fields = Array.from(document.querySelectorAll('input:not([type=hidden]), select'));
                 const unlabelled = fields.filter(f => !f.labels || f.labels.length === 0).map(f => f.name);
                 const first = document.querySelector('a, button, input:not([type=hidden]), select');
                 return {
                   main: document.querySelectorAll('main').length,
                   lang: document.documentElement.lang,
                   skip: first ? first.getAttribute('href') : null,
                   unlabelled: unlabelled,
                 };",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(
            report,
            json!({"main": 1, "lang": "en", "skip": "#main", "unlabelled": []}),
            "on {}",
            self.path().await
        );
    }

    /// At a phone's width the page fits: nothing scrolls sideways but
    /// inside its own table box.
    pub async fn assert_fits_a_phone(&self) {
        self.client.set_window_size(390, 844).await.unwrap();
        let overflow = self
            .client
            .execute(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
                vec![],
            )
            .await
            .unwrap();
        assert!(
            overflow.as_i64().unwrap() <= 0,
            "{} scrolls sideways by {overflow}px on a phone",
            self.path().await
        );
    }

    pub async fn desktop(&self) {
        self.client.set_window_size(1280, 1000).await.unwrap();
    }

    /// Sign in through the form.
    pub async fn sign_in(&self, token: &str) {
        self.goto("/console/login").await;
        self.fill("#token", token).await;
        self.click("#sign-in").await;
    }

    pub async fn close(self) {
        self.client.close().await.unwrap();
    }
}
