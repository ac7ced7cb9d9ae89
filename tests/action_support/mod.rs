//! What the action's tests share: running a `dist/` script the way a GitHub runner does (a clean
//! environment plus `GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY`, `RUNNER_TEMP`… pointed at temporary
//! files), reading back what it wrote, and a small HTTP server on 127.0.0.1 that plays the
//! release download host.
#![allow(dead_code)]

#[path = "../common/skip.rs"]
mod skip_log;
#[allow(unused_imports)] // not every test file skips
pub use skip_log::skip;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn script(name: &str) -> PathBuf {
    repo().join("dist").join(name)
}

/// The system PATH the scripts run with (the test process's own).
pub fn system_path() -> String {
    std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into())
}

/// Writes an executable file.
pub fn write_exe(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `sha256sum` of some bytes, or None when the tool is missing.
pub fn sha256(bytes: &[u8]) -> Option<String> {
    let dir = tempfile::tempdir().ok()?;
    let f = dir.path().join("x");
    std::fs::write(&f, bytes).ok()?;
    let out = Command::new("sha256sum").arg(&f).output().ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    })
}

/// A runner's environment for one script run.
pub struct Runner {
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub outputs: HashMap<String, String>,
    pub summary: String,
}

impl Run {
    pub fn out(&self, name: &str) -> &str {
        self.outputs
            .get(name)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no output {name}; outputs {:?}\n{}", self.outputs, self))
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}\n--- summary\n{}",
            self.code, self.stdout, self.stderr, self.summary
        )
    }
}

impl Runner {
    /// A Linux X64 runner with its own temp dir, output and summary files.
    pub fn new() -> Runner {
        let dir = tempfile::tempdir().unwrap();
        let temp = dir.path().join("runner-temp");
        std::fs::create_dir_all(&temp).unwrap();
        let mut r = Runner {
            dir,
            env: Vec::new(),
        };
        r.set("RUNNER_OS", "Linux");
        r.set("RUNNER_ARCH", "X64");
        r.set("RUNNER_TEMP", temp.to_str().unwrap());
        r.set("GITHUB_OUTPUT", r.path("github_output").to_str().unwrap());
        r.set(
            "GITHUB_STEP_SUMMARY",
            r.path("github_step_summary").to_str().unwrap(),
        );
        r.set("PATH", &system_path());
        r
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn temp(&self) -> PathBuf {
        self.path("runner-temp")
    }

    pub fn set(&mut self, k: &str, v: &str) -> &mut Runner {
        self.env.retain(|(key, _)| key != k);
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn unset(&mut self, k: &str) -> &mut Runner {
        self.env.retain(|(key, _)| key != k);
        self
    }

    /// Puts DIR first on PATH.
    pub fn prepend_path(&mut self, dir: &Path) -> &mut Runner {
        let old = self
            .env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        self.set("PATH", &format!("{}:{old}", dir.display()))
    }

    /// Runs a dist/ script with bash in `cwd`, with exactly this environment (plus HOME).
    pub fn run_in(&self, name: &str, cwd: &Path) -> Run {
        for f in ["github_output", "github_step_summary"] {
            std::fs::write(self.path(f), "").unwrap();
        }
        let bash = which("bash").expect("bash is needed to run the action's scripts");
        let out: Output = Command::new(bash)
            .arg(script(name))
            .current_dir(cwd)
            .env_clear()
            .env("HOME", self.dir.path())
            .env("PM_BLOCK_REPLAY", "off")
            .env("LC_ALL", "C")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        let outputs = std::fs::read_to_string(self.path("github_output"))
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into(),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
            outputs,
            summary: std::fs::read_to_string(self.path("github_step_summary")).unwrap(),
        }
    }

    pub fn run(&self, name: &str) -> Run {
        self.run_in(name, self.dir.path())
    }
}

/// The full path of a program on the system PATH.
pub fn which(prog: &str) -> Option<PathBuf> {
    system_path()
        .split(':')
        .map(|d| Path::new(d).join(prog))
        .find(|p| p.is_file())
}

/// One canned HTTP response.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn ok(body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status: 200,
            body: body.into(),
        }
    }
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            body: format!("status {status}\n").into_bytes(),
        }
    }
}

/// An HTTP/1.1 server on 127.0.0.1 that answers each path with a queue of replies (the last
/// one repeats; unknown paths get 404) and records every path asked for.
pub struct Server {
    pub port: u16,
    routes: Arc<Mutex<HashMap<String, Vec<Reply>>>>,
    hits: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let routes: Arc<Mutex<HashMap<String, Vec<Reply>>>> = Arc::default();
        let hits: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (r, h, s) = (routes.clone(), hits.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(c) = conn {
                    let _ = serve(c, &r, &h);
                }
            }
        });
        Server {
            port,
            routes,
            hits,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn route(&self, path: &str, replies: Vec<Reply>) {
        self.routes.lock().unwrap().insert(path.into(), replies);
    }

    pub fn hits(&self) -> Vec<String> {
        self.hits.lock().unwrap().clone()
    }
}

fn serve(
    mut conn: TcpStream,
    routes: &Mutex<HashMap<String, Vec<Reply>>>,
    hits: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" || header == "\n" {
            break;
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
    hits.lock().unwrap().push(path.clone());
    let reply = {
        let mut routes = routes.lock().unwrap();
        match routes.get_mut(&path) {
            Some(q) if q.len() > 1 => q.remove(0),
            Some(q) if q.len() == 1 => q[0].clone(),
            _ => Reply::status(404),
        }
    };
    let reason = match reply.status {
        200 => "OK",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Status",
    };
    write!(
        conn,
        "HTTP/1.1 {} {reason}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        reply.status,
        reply.body.len()
    )?;
    conn.write_all(&reply.body)?;
    conn.flush()
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The filesystem type of the mount holding `dir`, as the kernel names it.
pub fn fs_type_of(dir: &Path) -> Option<String> {
    let out = Command::new("findmnt")
        .args(["-n", "-o", "FSTYPE", "--target"])
        .arg(dir)
        .output()
        .ok()?;
    let t = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !t.is_empty()).then_some(t)
}

/// This machine's architecture, Debian-named as the action names it.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "riscv64" => "riscv64",
        "s390x" => "s390x",
        other => panic!("unsupported test host {other}"),
    }
}

/// GitHub's RUNNER_ARCH for this machine.
pub fn runner_arch() -> &'static str {
    match host_arch() {
        "amd64" => "X64",
        "arm64" => "ARM64",
        _ => "",
    }
}
