//! Real parts for the release tests: a distribution registry (`lucid_image::testing`), a
//! fault-injecting HTTP proxy in front of it, and a temporary copy of the workspace (a release
//! rewrites compose/ and images/ of the workspace it runs in, so the tests never release the
//! real one).

#![allow(dead_code, unused_imports)]

use base64::Engine as _;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

#[allow(unused_imports)]
pub use lucid_image::testing::{assert_success, free_port, TestRegistry};
use lucid_pipeline::images::Engine;
use lucid_pipeline::release::{ReleaseOptions, ReleasePlan};
use lucid_pipeline::{Context, Event};

pub const REPOSITORY: &str = "pickme/lucid";

/// The real workspace (this crate lives in `<root>/xtask/crates/pipeline`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(3)
        .unwrap()
        .to_path_buf()
}

/// The real target directory, shared with the copies so that nothing compiles from scratch.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => root().join(d),
        None => root().join("target"),
    }
}

/// Every file under `dir` with its size: a registry's storage before and after must match
/// when nothing was pushed.
pub fn listing(dir: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, meta.len());
            }
        }
    }
    out
}

/// `x.y.z` -> `x.y.(z+1)`.
pub fn next_patch(version: &str) -> String {
    let mut parts: Vec<u64> = version
        .split('.')
        .map(|p| p.parse().expect("a plain x.y.z workspace version"))
        .collect();
    *parts.last_mut().unwrap() += 1;
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// `cp -a from to`.
pub fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "cp -a {} {}",
        from.display(),
        to.display()
    );
}

/// What the proxy does to the traffic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    None,
    /// HTTP 500 to every attempt at the `n`th distinct blob upload (1-based).
    FailBlob(usize),
    /// After `n` blob uploads went through, every connection is dropped unanswered: the
    /// registry stopped mid-push.
    StopAfterBlobs(usize),
    /// After `n` blob uploads went through, every request is answered 401 with a Basic
    /// challenge: the credentials were revoked mid-push.
    RevokeAfterBlobs(usize),
    /// HTTP 500 to every manifest PUT under this tag (`…/manifests/<tag>`): the registry fails
    /// while one moving tag is being moved.
    FailTagPut(&'static str),
}

/// One request seen by the proxy: method, path (with query), the status it got (None when
/// the connection was dropped).
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub status: Option<u16>,
}

impl Logged {
    /// The digest of a blob upload's final PUT (`…/blobs/uploads/<id>?…&digest=sha256%3A…`).
    pub fn uploaded_digest(&self) -> Option<String> {
        if self.method != "PUT" || !self.path.contains("/blobs/uploads/") {
            return None;
        }
        let query = self.path.split_once('?')?.1;
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix("digest="))
            .map(|d| d.replace("%3A", ":").replace("%3a", ":"))
    }

    /// The digest of a blob HEAD (`/v2/<repo>/blobs/<digest>`).
    pub fn checked_blob(&self) -> Option<String> {
        if self.method != "HEAD" {
            return None;
        }
        let (_, digest) = self.path.split_once("/blobs/")?;
        (!digest.starts_with("uploads")).then(|| digest.to_string())
    }
}

struct ProxyState {
    fault: Fault,
    log: Vec<Logged>,
    /// Distinct blob digests whose upload was attempted, in order.
    blobs: Vec<String>,
    /// Blob uploads the registry accepted.
    uploaded: usize,
}

/// A small HTTP/1.1 proxy on a free loopback port in front of `upstream`: one request per
/// connection (it answers `Connection: close`), so it can fail exactly the request it means to.
pub struct FaultProxy {
    pub port: u16,
    state: Arc<Mutex<ProxyState>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    pub fn start(upstream: u16, fault: Fault) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let state = Arc::new(Mutex::new(ProxyState {
            fault,
            log: Vec::new(),
            blobs: Vec::new(),
            uploaded: 0,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let s = s.clone();
                        std::thread::spawn(move || serve(client, upstream, &s));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FaultProxy {
            port,
            state,
            stop,
            thread: Some(thread),
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Changes the fault (e.g. to `Fault::None` for the rerun) and clears the log.
    pub fn set_fault(&self, fault: Fault) {
        let mut s = self.state.lock().unwrap();
        s.fault = fault;
        s.log.clear();
        s.blobs.clear();
        s.uploaded = 0;
    }

    pub fn log(&self) -> Vec<Logged> {
        self.state.lock().unwrap().log.clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request (headers and a Content-Length body).
fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let request_line = head.lines().next()?.to_string();
    // Forwarded as is, except that the registry must close after answering.
    let mut forwarded = Vec::new();
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            forwarded.extend_from_slice(line.as_bytes());
            forwarded.extend_from_slice(b"\r\n");
        }
    }
    forwarded.extend_from_slice(b"Connection: close\r\n\r\n");
    Some((request_line, forwarded, body))
}

/// A complete HTTP/1.1 answer made up by the proxy.
fn reply(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn serve(mut client: TcpStream, upstream: u16, state: &Mutex<ProxyState>) {
    client.set_nonblocking(false).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let Some((request_line, head, body)) = read_request(&mut client) else {
        return;
    };
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut logged = Logged {
        method,
        path,
        status: None,
    };
    let upload = logged.uploaded_digest();
    // Decide the fault under the lock, forward without it. `Some(None)`: drop the connection.
    let canned: Option<Option<String>> = {
        let mut s = state.lock().unwrap();
        if let Some(d) = &upload {
            if !s.blobs.contains(d) {
                s.blobs.push(d.clone());
            }
        }
        match s.fault {
            Fault::FailBlob(n) => upload
                .as_ref()
                .filter(|d| s.blobs.iter().position(|x| x == *d) == Some(n - 1))
                .map(|_| {
                    Some(reply(
                        "500 Internal Server Error",
                        "",
                        r#"{"errors":[{"code":"UNKNOWN","message":"injected fault: storage unavailable"}]}"#,
                    ))
                }),
            Fault::FailTagPut(tag)
                if logged.method == "PUT" && logged.path.ends_with(&format!("/manifests/{tag}")) =>
            {
                Some(Some(reply(
                    "500 Internal Server Error",
                    "",
                    r#"{"errors":[{"code":"UNKNOWN","message":"injected fault: manifest store unavailable"}]}"#,
                )))
            }
            Fault::StopAfterBlobs(n) if s.uploaded >= n => Some(None),
            Fault::RevokeAfterBlobs(n) if s.uploaded >= n => Some(Some(reply(
                "401 Unauthorized",
                "WWW-Authenticate: Basic realm=\"lucid-test\"\r\n",
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
            ))),
            _ => None,
        }
    };
    match canned {
        Some(None) => {
            // The registry is gone: no answer at all.
            let _ = client.shutdown(Shutdown::Both);
        }
        Some(Some(reply)) => {
            logged.status = reply.split_whitespace().nth(1).and_then(|s| s.parse().ok());
            let _ = client.write_all(reply.as_bytes());
        }
        None => {
            let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else {
                return;
            };
            let _ = up.write_all(&head);
            let _ = up.write_all(&body);
            let mut reply = Vec::new();
            let _ = up.read_to_end(&mut reply);
            let status = String::from_utf8_lossy(&reply[..reply.len().min(64)])
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse::<u16>().ok());
            logged.status = status;
            let _ = client.write_all(&reply);
            if upload.is_some() && status == Some(201) {
                state.lock().unwrap().uploaded += 1;
            }
        }
    }
    state.lock().unwrap().log.push(logged);
}

/// A temporary copy of the workspace: its tracked and untracked (not ignored) files, with
/// their modification times (so cargo finds the shared build artifacts fresh), in a git
/// repository of its own with one commit.
pub struct WorkspaceCopy {
    pub dir: PathBuf,
}

impl WorkspaceCopy {
    pub fn create(dir: &Path) -> WorkspaceCopy {
        let out = Command::new("git")
            .args([
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ])
            .current_dir(root())
            .output()
            .unwrap();
        assert!(out.status.success());
        for rel in out.stdout.split(|b| *b == 0).filter(|p| !p.is_empty()) {
            let rel = Path::new(std::str::from_utf8(rel).unwrap());
            let from = root().join(rel);
            let Ok(meta) = std::fs::metadata(&from) else {
                continue; // deleted in the work tree
            };
            let to = dir.join(rel);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&from, &to).unwrap();
            let f = std::fs::File::options().write(true).open(&to).unwrap();
            f.set_modified(meta.modified().unwrap_or(SystemTime::now()))
                .unwrap();
        }
        let copy = WorkspaceCopy {
            dir: dir.to_path_buf(),
        };
        copy.git(&["init", "-q"]);
        copy.commit("workspace copy", "2026-01-01T00:00:00Z");
        // The Debian packages of the base from the tests' cache, so the copy needs no download.
        // (cargo builds into the shared target dir: see `context`.)
        let target = dir.join("target");
        std::fs::create_dir_all(target.join("lucid/cache")).unwrap();
        let debs = Path::new(env!("CARGO_TARGET_TMPDIR")).join("lucid-cache/deb");
        if debs.is_dir() {
            copy_dir(&debs, &target.join("lucid/cache/deb"));
        }
        copy
    }

    /// `git` in the copy, as a fixed test author.
    fn git_command(&self) -> Command {
        let mut cmd = Command::new("git");
        cmd.args([
            "-c",
            "user.name=Lucid Test",
            "-c",
            "user.email=test@lucid.invalid",
        ])
        .current_dir(&self.dir);
        cmd
    }

    pub fn git(&self, args: &[&str]) -> String {
        let out = self.git_command().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Not trim(): `git status --porcelain` lines start with a status column that may be blank.
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    }

    /// Commits everything with a fixed date (the release's SOURCE_DATE_EPOCH); returns the sha.
    pub fn commit(&self, message: &str, date: &str) -> String {
        self.git(&["add", "-A"]);
        let out = self
            .git_command()
            .args(["commit", "-q", "--allow-empty", "-m", message])
            .env("GIT_AUTHOR_DATE", date)
            .env("GIT_COMMITTER_DATE", date)
            .output()
            .unwrap();
        assert_success(&out);
        self.git(&["rev-parse", "HEAD"])
    }

    /// Sets `workspace.package.version` (and the lock file's entries of the workspace crates).
    pub fn bump_version(&self, version: &str) {
        let path = self.dir.join("Cargo.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let (head, tail) = text.split_once("[workspace.package]").unwrap();
        let line = tail
            .lines()
            .find(|l| l.starts_with("version = "))
            .unwrap()
            .to_string();
        let tail = tail.replacen(&line, &format!("version = \"{version}\""), 1);
        std::fs::write(&path, format!("{head}[workspace.package]{tail}")).unwrap();
        let out = Command::new("cargo")
            .args(["update", "--workspace", "--offline"])
            .current_dir(&self.dir)
            .output()
            .unwrap();
        assert_success(&out);
    }

    /// `git status --porcelain`.
    pub fn status(&self) -> String {
        self.git(&["status", "--porcelain"])
    }

    /// Back to commit `sha`, dropping whatever a release left in the work tree.
    pub fn reset(&self, sha: &str) {
        self.git(&["reset", "-q", "--hard", sha]);
        self.git(&["clean", "-q", "-fd"]);
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.dir.join(rel)).unwrap()
    }

    /// A context on the copy: the shared target dir, `docker_config` as the Docker config
    /// directory, and the lines the pipeline reports (notes and steps) collected.
    pub fn context(&self, docker_config: &Path) -> (Context, Arc<Mutex<Vec<String>>>) {
        self.context_trusting(
            docker_config,
            Path::new(lucid_image::registry::tls::DOCKER_CERTS_D),
        )
    }

    /// [`Self::context`] trusting the registry CAs of `certs_d` (Docker's `certs.d` layout).
    pub fn context_trusting(
        &self,
        docker_config: &Path,
        certs_d: &Path,
    ) -> (Context, Arc<Mutex<Vec<String>>>) {
        let notes = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = notes.clone();
        let ctx = Context::new(&self.dir)
            .with_certs_d(certs_d)
            .with_cargo_target_dir(&target_dir())
            .with_docker_config(docker_config)
            .with_reporter(move |e| match e {
                Event::Note(line) => sink.lock().unwrap().push(line),
                Event::Step { number, of, title } => sink
                    .lock()
                    .unwrap()
                    .push(format!("[{number}/{of}] {title}")),
                _ => {}
            });
        (ctx, notes)
    }

    /// A release of the copy in process, with the shared target dir and `docker_config` as
    /// the Docker config directory; `args` as `cargo xtask release` takes them. What the CLI
    /// would print on stdout (the plan, the summary) and stderr (progress notes, the error) is
    /// kept apart the same way.
    pub fn release(&self, args: &[&str], docker_config: &Path) -> Released {
        let certs_d = Path::new(lucid_image::registry::tls::DOCKER_CERTS_D);
        self.release_trusting(args, docker_config, certs_d)
    }

    /// [`Self::release`] trusting the registry CAs of `certs_d`.
    pub fn release_trusting(
        &self,
        args: &[&str],
        docker_config: &Path,
        certs_d: &Path,
    ) -> Released {
        let mut opts = ReleaseOptions {
            registry: None,
            version: None,
            allow_dirty: false,
            engine: Engine::Oci,
            dry_run: false,
            signing_key: None,
            unsigned: false,
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            match *arg {
                "--dry-run" => opts.dry_run = true,
                "--allow-dirty" => opts.allow_dirty = true,
                "--registry" => opts.registry = it.next().map(|s| s.to_string()),
                "--version" => opts.version = it.next().map(|s| s.to_string()),
                "--signing-key" => opts.signing_key = it.next().map(|s| s.to_string()),
                "--unsigned" => opts.unsigned = true,
                other => panic!("release argument {other:?} is not handled here"),
            }
        }
        // Releases are signed only where a test gives a key.
        opts.unsigned |= opts.signing_key.is_none();
        let (ctx, notes) = self.context_trusting(docker_config, certs_d);
        let mut stdout = String::new();
        let result = run_release(&ctx, &opts, &mut stdout);
        let mut stderr = notes.lock().unwrap().join("\n");
        if let Err(e) = &result {
            stderr.push_str(&format!("\nerror: {e:#}"));
        }
        eprintln!("--- release {args:?}: {result:?}\n{stdout}\n{stderr}");
        Released {
            ok: result.is_ok(),
            stdout,
            stderr,
        }
    }
}

/// What the CLI does with a plan: print it, stop on a failed preflight, execute.
fn run_release(ctx: &Context, opts: &ReleaseOptions, stdout: &mut String) -> anyhow::Result<()> {
    let plan = ReleasePlan::prepare(ctx, opts)?;
    if opts.dry_run {
        stdout.push_str(&plan.to_string());
        if !plan.problems().is_empty() {
            anyhow::bail!("dry run: a real release would stop in preflight");
        }
        if let Some(Err(e)) = &plan.work {
            anyhow::bail!("dry run stopped: {e}");
        }
        stdout.push_str("\ndry run: nothing pushed, no file outside target/ changed\n");
        return Ok(());
    }
    stdout.push_str(&plan.heading());
    let report = plan.execute(ctx)?;
    stdout.push_str(&report.to_string());
    Ok(())
}

/// The outcome of [`WorkspaceCopy::release`].
pub struct Released {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Released {
    pub fn success(&self) -> bool {
        self.ok
    }

    /// The CLI's exit code.
    pub fn code(&self) -> Option<i32> {
        Some(if self.ok { 0 } else { 1 })
    }
}

/// A Docker config directory holding `user:password` for `host` (or nothing).
pub fn docker_config(dir: &Path, host: &str, creds: Option<(&str, &str)>) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let auths = match creds {
        Some((u, p)) => {
            let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
            format!("{{\"auths\":{{\"{host}\":{{\"auth\":\"{b64}\"}}}}}}")
        }
        None => "{}".to_string(),
    };
    std::fs::write(dir.join("config.json"), auths).unwrap();
    dir.to_path_buf()
}

/// The index digest a tag holds, read with skopeo (an independent client); None when the
/// tag does not exist.
pub fn skopeo_digest(host: &str, tag: &str, creds: Option<(&str, &str)>) -> Option<String> {
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--tls-verify=false", "--format", "{{.Digest}}"]);
    if let Some((u, p)) = creds {
        cmd.arg("--creds").arg(format!("{u}:{p}"));
    }
    let out = cmd
        .arg(format!("docker://{host}/{REPOSITORY}:{tag}"))
        .output()
        .expect("skopeo is installed");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
