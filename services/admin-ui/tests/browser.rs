//! The page as an operator sees it: rendered by headless Chromium (Debian `chromium`), its DOM
//! checked, and a screenshot taken. Fails with a clear message when Chromium is missing (CI
//! installs it, `.ci/run`).

use lucid_runtime::client::Client;
use lucid_runtime::testing::{free_port, http_stub, temp_dir};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The Chromium binary: `$CHROMIUM`, or `chromium` on the PATH.
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(path);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("chromium"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "headless Chromium is needed for this test and was not found on the PATH: \
                 install Debian's `chromium` (apt-get install -y chromium; CI's .ci/run does) \
                 or set CHROMIUM to its path"
            )
        })
}

/// Runs Chromium headless on `url` with `args`; its stdout. Killed after 60 s.
fn headless(url: &str, args: &[&str], profile: &Path) -> String {
    let binary = chromium();
    let mut child = Command::new(&binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
    let stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            assert!(
                status.success(),
                "{} {args:?} exited with {status}",
                binary.display()
            );
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{} {args:?} did not finish within 60 s", binary.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().expect("stdout reader")
}

#[test]
fn the_page_renders_in_chromium_grouped_by_layer_with_a_banner_and_no_scripts() {
    let dir = temp_dir("admin-ui-browser");
    let api = lucid_runtime::spawn::<api_server::Service>(&[("API_SERVER_DATA_DIR", dir.as_str())])
        .unwrap();
    for (id, owner) in [
        ("s-alpha", "alice"),
        ("s-evil", "<script>alert(1)</script>"),
    ] {
        let reply = Client::default()
            .post_json(
                &format!("{}/sessions", api.url()),
                &json!({ "id": id, "owner": owner }),
            )
            .unwrap();
        assert_eq!(reply.status, 201);
    }
    let closed = free_port();
    let ui_port = free_port();
    // One service of each state, in each layer: api-server up (layer 0), tor-proxy down
    // (layer 0), session-chunker answering 503 (layer 1), admin-ui itself up (layer 2).
    let catalog = format!(
        "api-server={},tor-proxy=http://127.0.0.1:{closed},session-chunker={},admin-ui=http://127.0.0.1:{ui_port}",
        api.url(),
        http_stub("503 Service Unavailable"),
    );
    let ui = lucid_runtime::spawn_on::<admin_ui::Service>(
        ui_port,
        &[
            ("LUCID_CATALOG", &catalog),
            ("LUCID_URL_API_SERVER", &api.url()),
            ("ADMIN_UI_PROBE_TIMEOUT_MS", "1000"),
        ],
    )
    .unwrap();

    let profile = PathBuf::from(temp_dir("admin-ui-chromium-profile"));
    std::fs::create_dir_all(&profile).unwrap();
    let dom = headless(&format!("{}/", ui.url()), &["--dump-dom"], &profile);
    assert!(dom.contains("<h1>Lucid stack</h1>"), "not the page: {dom}");

    // The banner names what is not up.
    assert!(
        dom.contains("role=\"alert\">2 of 4 services are not up: tor-proxy (down), session-chunker (unhealthy)"),
        "{dom}"
    );
    // Grouped by layer, in layer order.
    let at = |needle: &str| {
        dom.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in the DOM: {dom}"))
    };
    assert!(at("Layer 0 — core support") < at("<td>api-server</td>"));
    assert!(at("<td>tor-proxy</td>") < at("Layer 1 — session pipeline"));
    assert!(at("Layer 1 — session pipeline") < at("<td>session-chunker</td>"));
    assert!(at("Layer 2 — service integration") < at("<td>admin-ui</td>"));
    // Each service's version and instance come from its own /health; the down one shows none and
    // no made-up latency.
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        dom.contains(&format!(
            "<td>api-server</td><td class=\"up\">up</td><td>{version}</td>"
        )),
        "{dom}"
    );
    let down_row = &dom[at("<tr id=\"svc-tor-proxy\">")..];
    let down_row = &down_row[..down_row.find("</tr>").unwrap()];
    assert!(
        !down_row.contains(" ms<"),
        "latency for a down service: {down_row}"
    );
    assert!(down_row.contains("—"), "{down_row}");
    // Human times: ISO 8601 and relative.
    assert!(dom.contains("<time datetime=\"20"), "{dom}");
    assert!(dom.contains("ago)") || dom.contains("(just now)"), "{dom}");
    // The hostile session owner is text, and the page has no script at all.
    assert!(
        dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{dom}"
    );
    assert!(!dom.to_ascii_lowercase().contains("<script"), "{dom}");
    assert!(!dom.contains("src=\"http"), "external asset: {dom}");

    let shot = profile.join("page.png");
    headless(
        &format!("{}/", ui.url()),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,1600",
        ],
        &profile,
    );
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("{}: {e}", shot.display()));
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} is not a page screenshot ({} bytes)",
        shot.display(),
        png.len()
    );
    ui.stop();
    api.stop();
}
