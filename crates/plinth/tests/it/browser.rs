//! The UI shell in a real browser: headless Debian Chromium through chromedriver.

use fantoccini::{ClientBuilder, Locator};

use crate::support::{artifacts_dir, workdir, Server};

async fn browser() -> fantoccini::Client {
    let webdriver =
        std::env::var("PLINTH_TEST_WEBDRIVER_URL").expect("PLINTH_TEST_WEBDRIVER_URL must be set");
    let chromium =
        std::env::var("PLINTH_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_string());
    let user_data = tempfile::tempdir().expect("tempdir").keep();
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_string(),
        serde_json::json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,900", format!("--user-data-dir={}", user_data.display()),
            ],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&webdriver)
        .await
        .expect("connect to chromedriver")
}

#[tokio::test]
#[ignore = "needs PLINTH_TEST_WEBDRIVER_URL"]
async fn ui_shell_loads_navigates_and_shows_status() {
    let dir = workdir();
    let server = Server::start(dir.path(), &[], &[]);
    let browser = browser().await;
    let outcome = async {
        browser.goto(&server.url("/")).await?;
        assert_eq!(browser.title().await?, "Home · Plinth");
        let links = browser.find_all(Locator::Css("nav.sidebar ul a")).await?;
        let mut titles = Vec::new();
        for link in &links {
            titles.push(link.text().await?);
        }
        assert_eq!(
            titles,
            [
                "Projects",
                "Experiments",
                "Models",
                "Pipelines",
                "Workspaces",
                "Deployments",
                "Files",
                "Features",
                "Admin"
            ]
        );
        // The stylesheet is applied: the sidebar is laid out beside the content.
        let sidebar_width = browser
            .execute(
                "return document.querySelector('nav.sidebar').getBoundingClientRect().width",
                vec![],
            )
            .await?;
        assert_eq!(
            sidebar_width.as_f64(),
            Some(220.0),
            "stylesheet not applied"
        );
        let ready_text = browser.find(Locator::Css(".callout")).await?.text().await?;
        assert!(ready_text.contains("All systems ready"), "{ready_text}");
        fs_err::write(
            artifacts_dir().join("home.png"),
            browser.screenshot().await?,
        )
        .unwrap();

        browser
            .find(Locator::LinkText("Experiments"))
            .await?
            .click()
            .await?;
        assert_eq!(browser.current_url().await?.path(), "/experiments");
        let active = browser
            .find(Locator::Css("nav.sidebar a.active"))
            .await?
            .text()
            .await?;
        assert_eq!(active, "Experiments");

        browser
            .find(Locator::LinkText("Status"))
            .await?
            .click()
            .await?;
        assert_eq!(browser.title().await?, "Status · Plinth");
        let badge = browser
            .find(Locator::Css(".lead .badge"))
            .await?
            .text()
            .await?;
        assert_eq!(badge, "ready");
        let table = browser.find(Locator::Css("table")).await?.text().await?;
        assert!(
            table.contains("sqlite") && table.contains("local"),
            "{table}"
        );
        fs_err::write(
            artifacts_dir().join("status.png"),
            browser.screenshot().await?,
        )
        .unwrap();

        browser.goto(&server.url("/no-such-page")).await?;
        assert_eq!(browser.title().await?, "404 Not Found · Plinth");
        // No console errors (a blocked asset or CSP violation would show here).
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    browser.close().await.expect("close browser");
    outcome.expect("browser steps");
}
