//! Shared by the gate's integration tests: evidence files, zips, the gate command with a
//! clean environment, and a fake GitHub on loopback (an API server and, on another port, the
//! storage host its downloads redirect to, each behind a front that can break an answer off
//! mid-body).

#![allow(dead_code)]

#[path = "../common/skip.rs"]
mod skip_log;
#[allow(unused_imports)] // not every test file skips
pub use skip_log::skip;

use std::collections::HashMap;
use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use assert_cmd::Command;
use serde_json::{json, Value};

#[path = "../../src/cell_id.rs"]
mod cell_id;
#[path = "../../src/evidence/fixture.rs"]
mod fixture;
/// The seed's six cells, from the binary's one list.
#[allow(unused_imports)] // not every test file needs it
pub use cell_id::SEED_CELLS;
/// A `wal_verify.json` with the keys the gate reads, passing or failing R2 and S3.
pub use fixture::{wal_verify as evidence, SHA};

pub const OTHER_SHA: &str = "fedcba9876543210fedcba9876543210fedcba98";
pub const TOKEN: &str = "ghs_secretTOKENvalue0123456789";

/// Writes `<root>/<arch>/<fs>/run-1/wal_verify.json`.
pub fn put(root: &Path, rel: &str, v: &Value) {
    put_bytes(root, rel, v.to_string().as_bytes());
}

pub fn put_bytes(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

pub fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    for (name, data) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Zips a folder's files, with paths relative to it.
pub fn zip_dir(dir: &Path) -> Vec<u8> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else if p.is_file() {
                let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    let entries: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    zip_of(&entries)
}

/// The gate command, run in `cwd`, with no GitHub variables from the outer environment.
pub fn gate(cwd: &Path) -> Command {
    let mut c = Command::cargo_bin("portability-matrix").unwrap();
    c.current_dir(cwd).arg("gate");
    for v in [
        "GITHUB_SHA",
        "GITHUB_REPOSITORY",
        "GITHUB_RUN_ID",
        "GITHUB_STEP_SUMMARY",
        "GITHUB_TOKEN",
        "GITHUB_API_URL",
    ] {
        c.env_remove(v);
    }
    c
}

pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(c: &mut Command) -> Outcome {
    let o = c.output().unwrap();
    Outcome {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// The `status` of each cell in a gate.json, as "arch/fs STATUS".
pub fn statuses(gate_json: &Path) -> Vec<String> {
    let v: Value = serde_json::from_slice(&std::fs::read(gate_json).unwrap()).unwrap();
    v["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c["cell"].as_str().unwrap(),
                c["status"].as_str().unwrap()
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The fake GitHub.

/// How the fake answers one artifact's download.
#[derive(Clone)]
pub enum Download {
    /// 302 to the storage host, which serves these bytes.
    Redirect(Vec<u8>),
    /// The API itself answers with this status, content type and body.
    Api(u16, &'static str, Vec<u8>),
    /// 302 to the storage host, which answers with this status and body.
    StorageStatus(u16, Vec<u8>),
}

#[derive(Clone)]
pub struct Artifact {
    pub id: u64,
    pub name: String,
    pub created_at: String,
    pub expired: bool,
    pub head_sha: String,
    pub size: Option<u64>,
    pub download: Download,
}

impl Artifact {
    pub fn new(id: u64, name: &str, download: Download) -> Artifact {
        Artifact {
            id,
            name: name.into(),
            created_at: "2026-03-03T10:00:00Z".into(),
            expired: false,
            head_sha: SHA.into(),
            size: None,
            download,
        }
    }

    /// The evidence artifact of a cell, holding one passing or failing run.
    pub fn cell(id: u64, arch: &str, fs: &str, pass: bool) -> Artifact {
        let json = evidence(arch, fs, pass).to_string();
        let zip = zip_of(&[(
            &format!("{arch}/{fs}/run-1/wal_verify.json"),
            json.as_bytes(),
        )]);
        Artifact::new(
            id,
            &format!("portability-evidence-{arch}-{fs}"),
            Download::Redirect(zip),
        )
    }
}

#[derive(Default)]
pub struct State {
    pub artifacts: Vec<Artifact>,
    /// The next N list requests answer this status (with these headers) first.
    pub list_failures: Vec<(u16, Vec<(&'static str, String)>)>,
    /// (path and query, Authorization header) of every request.
    pub api_seen: Vec<(String, Option<String>)>,
    pub storage_seen: Vec<(String, Option<String>)>,
    /// (path prefix, times): that many of the next answers to a path starting with the prefix,
    /// on either host, are broken off halfway through the body, the connection closed before
    /// the promised length arrives.
    pub cut_off: Vec<(String, u32)>,
}

impl State {
    /// Whether the answer to `path` is to be broken off, counting it when it is.
    fn take_cut(&mut self, path: &str) -> bool {
        let hit = self
            .cut_off
            .iter_mut()
            .find(|(prefix, n)| *n > 0 && path.starts_with(prefix.as_str()));
        hit.map(|(_, n)| *n -= 1).is_some()
    }
}

pub struct FakeGithub {
    pub api_url: String,
    pub state: Arc<Mutex<State>>,
    servers: Vec<Arc<tiny_http::Server>>,
    fronts: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).unwrap()
}

fn auth_of(req: &tiny_http::Request) -> Option<String> {
    req.headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .map(|h| h.value.as_str().to_string())
}

fn query(url: &str) -> HashMap<String, String> {
    url.split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl FakeGithub {
    pub fn start(artifacts: Vec<Artifact>) -> FakeGithub {
        let api = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let storage = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let state = Arc::new(Mutex::new(State {
            artifacts,
            ..State::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (api_front, api_front_thread) =
            front(api.server_addr().to_ip().unwrap(), &state, &stop);
        let (storage_front, storage_front_thread) =
            front(storage.server_addr().to_ip().unwrap(), &state, &stop);
        // Clients see only the fronts.
        let (api_port, storage_port) = (api_front.port(), storage_front.port());

        let (s, srv) = (state.clone(), api.clone());
        let api_thread = std::thread::spawn(move || {
            for req in srv.incoming_requests() {
                let url = req.url().to_string();
                let auth = auth_of(&req);
                s.lock().unwrap().api_seen.push((url.clone(), auth.clone()));
                let resp = api_answer(&s, &url, auth, api_port, storage_port);
                let _ = req.respond(resp);
            }
        });
        let (s, srv) = (state.clone(), storage.clone());
        let storage_thread = std::thread::spawn(move || {
            for req in srv.incoming_requests() {
                let url = req.url().to_string();
                s.lock()
                    .unwrap()
                    .storage_seen
                    .push((url.clone(), auth_of(&req)));
                let resp = storage_answer(&s, &url);
                let _ = req.respond(resp);
            }
        });
        FakeGithub {
            api_url: format!("http://127.0.0.1:{api_port}"),
            state,
            servers: vec![api, storage],
            fronts: vec![api_front, storage_front],
            stop,
            threads: vec![
                api_thread,
                storage_thread,
                api_front_thread,
                storage_front_thread,
            ],
        }
    }

    /// The gate command pointed at this fake for repository o/r, run 42.
    pub fn gate(&self, cwd: &Path) -> Command {
        let mut c = gate(cwd);
        c.env("GITHUB_API_URL", &self.api_url)
            .env("GITHUB_TOKEN", TOKEN)
            .env("GITHUB_REPOSITORY", "o/r")
            .env("GITHUB_RUN_ID", "42")
            .args(["--retry-delay", "5ms"]);
        c
    }
}

impl Drop for FakeGithub {
    fn drop(&mut self) {
        for s in &self.servers {
            s.unblock();
        }
        self.stop.store(true, Ordering::SeqCst);
        for f in &self.fronts {
            let _ = TcpStream::connect(f); // wakes its accept
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// A front on loopback for `upstream`: each connection carries one request, passed through
/// with `Connection: close`, and the answer is sent back whole, or broken off halfway through
/// its body when `State::cut_off` says so (tiny_http cannot drop a connection mid-answer).
fn front(
    upstream: SocketAddr,
    state: &Arc<Mutex<State>>,
    stop: &Arc<AtomicBool>,
) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (state, stop) = (state.clone(), stop.clone());
    let thread = std::thread::spawn(move || {
        for conn in listener.incoming() {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let Ok(conn) = conn else { continue };
            let state = state.clone();
            std::thread::spawn(move || {
                let _ = pass_through(conn, upstream, &state);
            });
        }
    });
    (addr, thread)
}

/// Passes one request through and its answer back, whole or broken off; closing `client`
/// (by dropping it) ends the answer.
fn pass_through(
    client: TcpStream,
    upstream: SocketAddr,
    state: &Mutex<State>,
) -> std::io::Result<()> {
    let mut reader = std::io::BufReader::new(client.try_clone()?);
    let mut request = String::new();
    let mut path = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(()); // the client went away without asking
        }
        if line == "\r\n" {
            break;
        }
        path.get_or_insert_with(|| line.split(' ').nth(1).unwrap_or("").to_string());
        if !line.to_ascii_lowercase().starts_with("connection:") {
            request.push_str(&line);
        }
    }
    request.push_str("Connection: close\r\n\r\n");
    let mut up = TcpStream::connect(upstream)?;
    up.write_all(request.as_bytes())?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer)?;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(answer.len(), |i| i + 4);
    let (head, body) = answer.split_at(split);
    let head: String = String::from_utf8_lossy(head)
        .lines()
        .filter(|l| !l.is_empty() && !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    let cut = state
        .lock()
        .unwrap()
        .take_cut(path.as_deref().unwrap_or(""));
    let body = if cut { &body[..body.len() / 2] } else { body };
    let mut client = client;
    client.write_all(format!("{head}Connection: close\r\n\r\n").as_bytes())?;
    client.write_all(body)?;
    client.flush()
}

type Resp = tiny_http::Response<std::io::Cursor<Vec<u8>>>;

fn json_resp(status: u16, v: &Value) -> Resp {
    tiny_http::Response::from_data(v.to_string().into_bytes())
        .with_status_code(status)
        .with_header(header("Content-Type", "application/json; charset=utf-8"))
}

fn api_answer(
    s: &Mutex<State>,
    url: &str,
    auth: Option<String>,
    api_port: u16,
    storage_port: u16,
) -> Resp {
    if auth.as_deref() != Some(&format!("Bearer {TOKEN}")) {
        return json_resp(401, &json!({"message": "Bad credentials"}));
    }
    let path = url.split('?').next().unwrap_or("");
    let mut st = s.lock().unwrap();
    if path == "/repos/o/r/actions/runs/42/artifacts" {
        if !st.list_failures.is_empty() {
            let (code, headers) = st.list_failures.remove(0);
            let mut r = json_resp(code, &json!({"message": "try later"}));
            for (k, v) in headers {
                r = r.with_header(header(k, &v));
            }
            return r;
        }
        // GitHub's defaults: 30 a page, at most 100.
        let q = query(url);
        let per_page: usize = q
            .get("per_page")
            .and_then(|v| v.parse().ok())
            .unwrap_or(30)
            .min(100);
        let page: usize = q
            .get("page")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1)
            .max(1);
        let total = st.artifacts.len();
        let slice: Vec<Value> = st
            .artifacts
            .iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .map(|a| artifact_json(a, api_port))
            .collect();
        let last = total.div_ceil(per_page).max(1);
        let mut r = json_resp(200, &json!({"total_count": total, "artifacts": slice}));
        if page < last {
            let next = format!(
                "<http://127.0.0.1:{api_port}/repos/o/r/actions/runs/42/artifacts?per_page={per_page}&page={}>; rel=\"next\"",
                page + 1
            );
            r = r.with_header(header("Link", &next));
        }
        return r;
    }
    if let Some(id) = path
        .strip_prefix("/repos/o/r/actions/artifacts/")
        .and_then(|p| p.strip_suffix("/zip"))
        .and_then(|id| id.parse::<u64>().ok())
    {
        let Some(a) = st.artifacts.iter().find(|a| a.id == id) else {
            return json_resp(404, &json!({"message": "Not Found"}));
        };
        return match &a.download {
            Download::Api(code, ctype, body) => tiny_http::Response::from_data(body.clone())
                .with_status_code(*code)
                .with_header(header("Content-Type", ctype)),
            Download::Redirect(_) | Download::StorageStatus(..) => {
                tiny_http::Response::from_data(Vec::new())
                    .with_status_code(302)
                    .with_header(header(
                        "Location",
                        &format!("http://127.0.0.1:{storage_port}/blob/{id}?sig=abc&se=2026"),
                    ))
            }
        };
    }
    json_resp(404, &json!({"message": "Not Found"}))
}

fn storage_answer(s: &Mutex<State>, url: &str) -> Resp {
    let id = url
        .strip_prefix("/blob/")
        .and_then(|p| p.split('?').next())
        .and_then(|id| id.parse::<u64>().ok());
    let st = s.lock().unwrap();
    match st
        .artifacts
        .iter()
        .find(|a| Some(a.id) == id)
        .map(|a| &a.download)
    {
        Some(Download::Redirect(zip)) => tiny_http::Response::from_data(zip.clone())
            .with_header(header("Content-Type", "application/zip")),
        Some(Download::StorageStatus(code, body)) => {
            tiny_http::Response::from_data(body.clone()).with_status_code(*code)
        }
        _ => tiny_http::Response::from_data(b"<Error>BlobNotFound</Error>".to_vec())
            .with_status_code(404),
    }
}

fn artifact_json(a: &Artifact, api_port: u16) -> Value {
    let size = a.size.unwrap_or(match &a.download {
        Download::Redirect(z) => z.len() as u64,
        _ => 1234,
    });
    json!({
        "id": a.id,
        "node_id": "MDg6QXJ0aWZhY3QxMQ==",
        "name": a.name,
        "size_in_bytes": size,
        "url": format!("http://127.0.0.1:{api_port}/repos/o/r/actions/artifacts/{}", a.id),
        "archive_download_url": format!("http://127.0.0.1:{api_port}/repos/o/r/actions/artifacts/{}/zip", a.id),
        "expired": a.expired,
        "created_at": a.created_at,
        "expires_at": "2026-06-01T10:00:00Z",
        "updated_at": a.created_at,
        "digest": "sha256:cfc3236bdad15b5898bca8408945c9e19e1917da8704adc20eaa618444290a8c",
        "workflow_run": {
            "id": 42,
            "repository_id": 1,
            "head_repository_id": 1,
            "head_branch": "main",
            "head_sha": a.head_sha
        }
    })
}
