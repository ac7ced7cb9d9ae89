//! The gate against a fake GitHub on loopback: an API server shaped like GitHub's artifact
//! endpoints and, on another port, the storage host its downloads redirect to. The real
//! binary runs with GITHUB_API_URL pointing at the fake.

#![cfg(feature = "github")]

mod gate_support;

use gate_support::*;

const CELLS: [(&str, &str); 6] = SEED_CELLS;

/// The six seed cells, all passing, ids from 1.
fn six_passing() -> Vec<Artifact> {
    CELLS
        .iter()
        .enumerate()
        .map(|(i, (a, f))| Artifact::cell(i as u64 + 1, a, f, true))
        .collect()
}

/// Replaces the artifact of `name`'s cell.
fn with(mut arts: Vec<Artifact>, a: Artifact) -> Vec<Artifact> {
    arts.retain(|x| x.name != a.name);
    arts.push(a);
    arts
}

fn status_of(out: &std::path::Path, cell: &str) -> String {
    statuses(out)
        .into_iter()
        .find(|s| s.starts_with(&format!("{cell} ")))
        .unwrap_or_else(|| panic!("no {cell} in gate.json"))
}

struct Run {
    out: Outcome,
    json: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn run_gate(fake: &FakeGithub, extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("gate.json");
    let out = run(fake.gate(dir.path()).arg("--out").arg(&json).args(extra));
    Run {
        out,
        json,
        _dir: dir,
    }
}

#[test]
fn six_passing_cells_pass_and_the_token_never_reaches_the_storage_host() {
    let fake = FakeGithub::start(six_passing());
    let r = run_gate(&fake, &["--sha", SHA]);
    assert_eq!(r.out.code, 0, "{}\n{}", r.out.stdout, r.out.stderr);
    assert!(r
        .out
        .stdout
        .trim_end()
        .lines()
        .last()
        .unwrap()
        .starts_with("verdict: PASS"));
    let st = fake.state.lock().unwrap();
    assert_eq!(
        st.storage_seen.len(),
        6,
        "every zip came from the storage host"
    );
    for (url, auth) in &st.storage_seen {
        assert_eq!(
            auth, &None,
            "the storage host saw an Authorization header on {url}"
        );
    }
    assert!(st
        .api_seen
        .iter()
        .all(|(_, a)| a.as_deref() == Some(&*format!("Bearer {TOKEN}"))));
    assert!(!r.out.stdout.contains(TOKEN) && !r.out.stderr.contains(TOKEN));
    assert!(!std::fs::read_to_string(&r.json).unwrap().contains(TOKEN));
}

#[test]
fn pagination_reads_past_the_first_hundred_artifacts() {
    // 140 unrelated artifacts first, so that every evidence artifact is on page 2.
    let mut arts: Vec<Artifact> = (0..140)
        .map(|i| {
            Artifact::new(
                1000 + i,
                &format!("coverage-{i}"),
                Download::Api(404, "text/plain", vec![]),
            )
        })
        .collect();
    arts.extend(six_passing());
    let fake = FakeGithub::start(arts);
    let r = run_gate(&fake, &[]);
    assert_eq!(r.out.code, 0, "{}\n{}", r.out.stdout, r.out.stderr);
    assert_eq!(status_of(&r.json, "arm64/ext4"), "arm64/ext4 PASS");
    let st = fake.state.lock().unwrap();
    let lists: Vec<&String> = st
        .api_seen
        .iter()
        .map(|(u, _)| u)
        .filter(|u| u.contains("/runs/42/artifacts"))
        .collect();
    assert_eq!(lists.len(), 2, "{lists:?}");
    assert!(lists[1].contains("per_page=100") && lists[1].contains("page=2"));
    assert!(r.out.stdout.contains("ignored 140 artifact(s)"));
}

#[test]
fn of_duplicate_names_the_newest_counts_and_the_gate_says_so() {
    let mut old_pass = Artifact::cell(50, "amd64", "ext4", true);
    old_pass.created_at = "2026-03-03T09:00:00Z".into();
    let mut new_fail = Artifact::cell(7, "amd64", "ext4", false);
    new_fail.created_at = "2026-03-03T11:00:00Z".into();
    // The newer one is listed first and has the smaller id: only the date decides.
    let mut arts = vec![new_fail];
    arts.extend(six_passing().into_iter().skip(1));
    arts.push(old_pass);
    let fake = FakeGithub::start(arts);
    let r = run_gate(&fake, &[]);
    assert_eq!(r.out.code, 1, "{}", r.out.stdout);
    assert_eq!(status_of(&r.json, "amd64/ext4"), "amd64/ext4 FAIL");
    assert!(
        r.out
            .stdout
            .contains("2 artifacts are named portability-evidence-amd64-ext4"),
        "{}",
        r.out.stdout
    );
}

#[test]
fn an_expired_artifact_is_expired_and_blocks_without_a_download() {
    let mut a = Artifact::cell(1, "amd64", "ext4", true);
    a.expired = true;
    let fake = FakeGithub::start(with(six_passing(), a));
    let r = run_gate(&fake, &[]);
    assert_eq!(r.out.code, 1);
    assert_eq!(status_of(&r.json, "amd64/ext4"), "amd64/ext4 EXPIRED");
    let st = fake.state.lock().unwrap();
    assert!(!st
        .api_seen
        .iter()
        .any(|(u, _)| u.contains("/artifacts/1/zip")));
}

#[test]
fn a_410_download_is_expired() {
    let a = Artifact::new(
        1,
        "portability-evidence-amd64-ext4",
        Download::Api(
            410,
            "application/json",
            br#"{"message":"Artifact has expired"}"#.to_vec(),
        ),
    );
    let fake = FakeGithub::start(with(six_passing(), a));
    let r = run_gate(&fake, &[]);
    assert_eq!(r.out.code, 1);
    assert_eq!(status_of(&r.json, "amd64/ext4"), "amd64/ext4 EXPIRED");
}

#[test]
fn a_404_download_is_unreadable_not_evidence() {
    let a = Artifact::new(
        1,
        "portability-evidence-amd64-ext4",
        Download::Api(
            404,
            "application/json",
            br#"{"message":"Not Found"}"#.to_vec(),
        ),
    );
    let fake = FakeGithub::start(with(six_passing(), a));
    let r = run_gate(&fake, &[]);
    assert_eq!(r.out.code, 1);
    assert_eq!(status_of(&r.json, "amd64/ext4"), "amd64/ext4 UNREADABLE");
    assert!(r.out.stdout.contains("HTTP 404"), "{}", r.out.stdout);
}

#[test]
fn an_html_error_page_where_a_zip_was_expected_is_unreadable() {
    let html = b"<!DOCTYPE html><html><body>Service Unavailable</body></html>".to_vec();
    let a = Artifact::new(
        1,
        "portability-evidence-amd64-ext4",
        Download::Api(200, "text/html", html),
    );
    let b = Artifact::new(
        3,
        "portability-evidence-arm64-ext4",
        Download::StorageStatus(403, b"<Error>AuthenticationFailed</Error>".to_vec()),
    );
    let fake = FakeGithub::start(with(with(six_passing(), a), b));
    let r = run_gate(&fake, &[]);
    assert_eq!(r.out.code, 1);
    assert_eq!(status_of(&r.json, "amd64/ext4"), "amd64/ext4 UNREADABLE");
    assert_eq!(status_of(&r.json, "arm64/ext4"), "arm64/ext4 UNREADABLE");
    assert!(
        r.out.stdout.contains("not a zip archive"),
        "{}",
        r.out.stdout
    );
    assert!(
        r.out.stdout.contains("storage host answered HTTP 403"),
        "{}",
        r.out.stdout
    );
}

#[test]
fn a_zip_with_parent_directory_entries_is_not_evidence_and_nothing_is_written() {
    let json = evidence("amd64", "ext4", true).to_string();
    let zip = zip_of(&[
        ("amd64/ext4/run-1/wal_verify.json", json.as_bytes()),
        ("../../wal_verify.json", json.as_bytes()),
        ("../escaped.txt", b"owned"),
    ]);
    let a = Artifact::new(
        1,
        "portability-evidence-amd64-ext4",
        Download::Redirect(zip),
    );
    let fake = FakeGithub::start(with(six_passing(), a));
    let outer = tempfile::tempdir().unwrap();
    let cwd = outer.path().join("a/b");
    std::fs::create_dir_all(&cwd).unwrap();
    let json_out = cwd.join("gate.json");
    let out = run(fake.gate(&cwd).arg("--out").arg(&json_out));
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert_eq!(status_of(&json_out, "amd64/ext4"), "amd64/ext4 UNREADABLE");
    assert!(out.stdout.contains("escapes the archive"), "{}", out.stdout);
    for p in [
        "wal_verify.json",
        "a/wal_verify.json",
        "a/escaped.txt",
        "a/b/escaped.txt",
    ] {
        assert!(!outer.path().join(p).exists(), "{p} was written");
    }
}

/// Bytes that do not compress, so that a zip holding them is as large.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u32 = 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[test]
fn an_oversized_zip_is_unreadable_whether_or_not_the_listing_says_so() {
    // Incompressible filler makes the zip itself large.
    let filler = noise(64 * 1024);
    let json = evidence("amd64", "ext4", true).to_string();
    let big = zip_of(&[
        ("run-1/wal_verify.json", json.as_bytes()),
        ("run-1/dmesg.txt", &filler),
    ]);
    let honest = Artifact::new(
        1,
        "portability-evidence-amd64-ext4",
        Download::Redirect(big.clone()),
    );
    let mut lying = Artifact::new(
        3,
        "portability-evidence-arm64-ext4",
        Download::Redirect(big),
    );
    lying.size = Some(100);
    let fake = FakeGithub::start(with(with(six_passing(), honest), lying));
    let r = run_gate(&fake, &["--max-artifact-size", "32K"]);
    assert_eq!(r.out.code, 1, "{}", r.out.stdout);
    assert_eq!(status_of(&r.json, "amd64/ext4"), "amd64/ext4 UNREADABLE");
    assert_eq!(status_of(&r.json, "arm64/ext4"), "arm64/ext4 UNREADABLE");
    assert!(
        r.out.stdout.contains("over the 32768-byte cap"),
        "{}",
        r.out.stdout
    );
    // The honest one was refused from the listing alone.
    let st = fake.state.lock().unwrap();
    assert!(!st
        .api_seen
        .iter()
        .any(|(u, _)| u.contains("/artifacts/1/zip")));
}

#[test]
fn a_malformed_wal_verify_json_is_unreadable() {
    let zip = zip_of(&[(
        "amd64/ext4/run-1/wal_verify.json",
        b"{\"arch\": \"amd64\", \"pass\": tru",
    )]);
    let a = Artifact::new(
        1,
        "portability-evidence-amd64-ext4",
        Download::Redirect(zip),
    );
    let fake = FakeGithub::start(with(six_passing(), a));
    let r = run_gate(&fake, &[]);
    assert_eq!(r.out.code, 1);
    assert_eq!(status_of(&r.json, "amd64/ext4"), "amd64/ext4 UNREADABLE");
}

#[test]
fn evidence_filed_under_the_wrong_cell_is_unreadable() {
    let json = evidence("amd64", "ext4", true).to_string();
    let zip = zip_of(&[("run-1/wal_verify.json", json.as_bytes())]);
    let a = Artifact::new(
        3,
        "portability-evidence-arm64-ext4",
        Download::Redirect(zip),
    );
    let fake = FakeGithub::start(with(six_passing(), a));
    let r = run_gate(&fake, &[]);
    assert_eq!(r.out.code, 1);
    assert_eq!(status_of(&r.json, "arm64/ext4"), "arm64/ext4 UNREADABLE");
}

#[test]
fn a_missing_gated_cell_blocks() {
    let mut arts = six_passing();
    arts.retain(|a| a.name != "portability-evidence-arm64-ext4");
    let fake = FakeGithub::start(arts);
    let r = run_gate(&fake, &[]);
    assert_eq!(r.out.code, 1);
    assert_eq!(status_of(&r.json, "arm64/ext4"), "arm64/ext4 MISSING");
    assert!(
        r.out
            .stdout
            .contains("::error::arm64/ext4 (gated) is MISSING"),
        "{}",
        r.out.stdout
    );
}

#[test]
fn an_artifact_from_another_commit_is_stale() {
    let mut a = Artifact::cell(1, "amd64", "ext4", true);
    a.head_sha = OTHER_SHA.into();
    let fake = FakeGithub::start(with(six_passing(), a));
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("gate.json");
    let out = run(fake
        .gate(dir.path())
        .env("GITHUB_SHA", SHA)
        .arg("--out")
        .arg(&json));
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert_eq!(status_of(&json, "amd64/ext4"), "amd64/ext4 STALE");
    assert_eq!(status_of(&json, "arm64/ext4"), "arm64/ext4 PASS");
}

#[test]
fn a_503_is_retried_until_the_list_comes() {
    let fake = FakeGithub::start(six_passing());
    fake.state.lock().unwrap().list_failures = vec![(503, vec![]), (502, vec![])];
    let r = run_gate(&fake, &[]);
    assert_eq!(r.out.code, 0, "{}\n{}", r.out.stdout, r.out.stderr);
    assert!(
        r.out
            .stderr
            .contains("HTTP 503 Service Unavailable; retrying"),
        "{}",
        r.out.stderr
    );
    let st = fake.state.lock().unwrap();
    let lists = st
        .api_seen
        .iter()
        .filter(|(u, _)| u.contains("/runs/42/artifacts"))
        .count();
    assert_eq!(lists, 3);
}

#[test]
fn a_rate_limit_with_retry_after_is_waited_out() {
    let fake = FakeGithub::start(six_passing());
    fake.state.lock().unwrap().list_failures = vec![(429, vec![("Retry-After", "0".into())])];
    let r = run_gate(&fake, &[]);
    assert_eq!(r.out.code, 0, "{}\n{}", r.out.stdout, r.out.stderr);
    assert!(r.out.stderr.contains("HTTP 429"), "{}", r.out.stderr);
}

#[test]
fn a_rate_limit_longer_than_the_budget_means_the_gate_could_not_decide() {
    let fake = FakeGithub::start(six_passing());
    let reset = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600)
        .to_string();
    fake.state.lock().unwrap().list_failures = vec![(
        403,
        vec![
            ("X-RateLimit-Remaining", "0".into()),
            ("X-RateLimit-Reset", reset),
        ],
    )];
    let start = std::time::Instant::now();
    let r = run_gate(&fake, &["--retry-budget", "2s"]);
    assert_eq!(r.out.code, 2, "{}\n{}", r.out.stdout, r.out.stderr);
    assert!(
        start.elapsed() < std::time::Duration::from_secs(60),
        "it waited for the reset"
    );
    assert!(r.out.stderr.contains("retry budget"), "{}", r.out.stderr);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&r.json).unwrap()).unwrap();
    assert_eq!(v["verdict"], "ERROR");
}

/// The gate against an API URL where nothing listens: that URL, and the outcome.
fn gate_against_nothing() -> (String, Outcome) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let api = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let out = run(gate(dir.path())
        .env("GITHUB_API_URL", &api)
        .env("GITHUB_TOKEN", TOKEN)
        .args(["--repo", "o/r", "--run-id", "42"])
        .args(["--retry-delay", "5ms", "--retry-budget", "100ms"]));
    (api, out)
}

#[test]
fn an_unreachable_api_means_the_gate_could_not_decide() {
    let (_, out) = gate_against_nothing();
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("gave up"), "{}", out.stderr);
    assert!(!out.stderr.contains(TOKEN));
}

#[test]
fn a_missing_token_is_a_clear_error() {
    let fake = FakeGithub::start(six_passing());
    let dir = tempfile::tempdir().unwrap();
    let out = run(fake.gate(dir.path()).env_remove("GITHUB_TOKEN"));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("GITHUB_TOKEN is not set"),
        "{}",
        out.stderr
    );
}

/// The same evidence, as a folder and as artifacts, gives the same decision. One cell's
/// evidence is real: written by `portability-matrix cell` on this machine.
#[test]
fn the_folder_and_the_github_gate_reach_the_same_decision() {
    let work = tempfile::tempdir().unwrap();
    let ev = work.path().join("evidence");
    let cell_run = assert_cmd::Command::cargo_bin("portability-matrix")
        .unwrap()
        .env("PM_BLOCK_REPLAY", "off")
        .args([
            "cell",
            "--iterations",
            "10",
            "--seed",
            "1",
            "--commit",
            SHA,
            "--evidence",
        ])
        .arg(&ev)
        .arg("--dir")
        .arg(work.path())
        .output()
        .unwrap();
    assert!(cell_run.status.code().is_some(), "the cell did not run");
    // The cell the real run certified (its arch and the filesystem under the temp dir).
    let arch = std::fs::read_dir(&ev)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    let arch = arch.to_str().unwrap().to_string();
    let fs = std::fs::read_dir(ev.join(&arch))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    let fs = fs.to_str().unwrap().to_string();
    let real = format!("{arch}/{fs}");

    // Synthetic cells beside it: one failing gated cell, one informational pass, one stale.
    let synthetic = [
        ("arm64", "ext4", true),
        ("arm64", "xfs", false),
        ("riscv64", "ext4", true),
    ];
    for (a, f, pass) in synthetic {
        if format!("{a}/{f}") != real {
            put(
                &ev,
                &format!("{a}/{f}/run-1/wal_verify.json"),
                &evidence(a, f, pass),
            );
        }
    }
    let mut stale = evidence("riscv64", "xfs", true);
    stale["commit"] = serde_json::json!(OTHER_SHA);
    put(&ev, "riscv64/xfs/run-1/wal_verify.json", &stale);
    // A second, newer run of one cell, so that both sides must pick run-2.
    put(
        &ev,
        "arm64/ext4/run-2/wal_verify.json",
        &evidence("arm64", "ext4", false),
    );

    let policy = work.path().join("policy.toml");
    std::fs::write(
        &policy,
        format!("name = \"t\"\ngated = [\"{real}\", \"arm64/ext4\", \"riscv64/xfs\"]\ninformational = [\"arm64/xfs\"]\n"),
    )
    .unwrap();

    // The artifacts: each cell's folder, zipped as upload-artifact would.
    let mut arts = Vec::new();
    for (i, a) in std::fs::read_dir(&ev).unwrap().enumerate() {
        let a = a.unwrap().file_name().to_str().unwrap().to_string();
        for (j, f) in std::fs::read_dir(ev.join(&a)).unwrap().enumerate() {
            let f = f.unwrap().file_name().to_str().unwrap().to_string();
            let zip = zip_dir(&ev.join(&a).join(&f));
            let name = format!("portability-evidence-{a}-{f}");
            arts.push(Artifact::new(
                (i * 10 + j) as u64 + 1,
                &name,
                Download::Redirect(zip),
            ));
        }
    }
    let fake = FakeGithub::start(arts);
    let offline_json = work.path().join("offline.json");
    let online_json = work.path().join("online.json");
    let offline = run(gate(work.path())
        .args(["--sha", SHA, "--policy"])
        .arg(&policy)
        .arg("--evidence-dir")
        .arg(&ev)
        .arg("--out")
        .arg(&offline_json));
    let online = run(fake
        .gate(work.path())
        .args(["--sha", SHA, "--policy"])
        .arg(&policy)
        .arg("--out")
        .arg(&online_json));
    assert_eq!(
        offline.code, online.code,
        "{}\n{}",
        offline.stdout, online.stdout
    );
    assert_eq!(
        offline.code, 1,
        "arm64/ext4 run-2 fails and riscv64/xfs is stale"
    );
    let (a, b) = (statuses(&offline_json), statuses(&online_json));
    assert_eq!(a, b);
    assert!(a.contains(&"arm64/ext4 FAIL".to_string()), "{a:?}");
    assert!(a.contains(&"riscv64/xfs STALE".to_string()), "{a:?}");
    let real_status = if cell_run.status.success() {
        "PASS"
    } else {
        "FAIL"
    };
    assert!(a.contains(&format!("{real} {real_status}")), "{a:?}");
    let verdicts: Vec<serde_json::Value> = [&offline_json, &online_json]
        .iter()
        .map(|p| serde_json::from_slice::<serde_json::Value>(&std::fs::read(p).unwrap()).unwrap())
        .map(|v| {
            serde_json::json!([
                v["verdict"],
                v["cells"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| (
                        c["requirement"].clone(),
                        c["blocking"].clone(),
                        c["failing"].clone()
                    ))
                    .collect::<Vec<_>>()
            ])
        })
        .collect();
    assert_eq!(verdicts[0], verdicts[1]);
}

#[test]
fn a_storage_host_that_keeps_failing_means_the_gate_could_not_decide() {
    let a = Artifact::new(
        1,
        "portability-evidence-amd64-ext4",
        Download::StorageStatus(503, b"busy".to_vec()),
    );
    let fake = FakeGithub::start(with(six_passing(), a));
    let r = run_gate(&fake, &["--retry-budget", "200ms"]);
    assert_eq!(r.out.code, 2, "{}\n{}", r.out.stdout, r.out.stderr);
    assert!(r.out.stderr.contains("gave up"), "{}", r.out.stderr);
    let st = fake.state.lock().unwrap();
    assert!(
        st.storage_seen
            .iter()
            .filter(|(u, _)| u.starts_with("/blob/1"))
            .count()
            > 1
    );
}

/// Not a test: the gate's time and peak memory downloading one large artifact. Run with
/// `cargo test --release --test gate_github -- --ignored --nocapture gate_download_cost`.
#[test]
#[ignore]
fn gate_download_cost() {
    let time = std::path::Path::new("/usr/bin/time");
    if !time.exists() {
        gate_support::skip("/usr/bin/time is not installed (apt-get install time)");
        return;
    }
    let mut filler = vec![0u8; 48 << 20];
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for b in filler.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let json = evidence("amd64", "ext4", true).to_string();
    let zip = zip_of(&[
        ("run-1/fixture/wal.log", &filler),
        ("run-1/wal_verify.json", json.as_bytes()),
    ]);
    let zip_len = zip.len();
    let fake = FakeGithub::start(with(
        six_passing(),
        Artifact::new(
            1,
            "portability-evidence-amd64-ext4",
            Download::Redirect(zip),
        ),
    ));
    let dir = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("portability-matrix");
    let out = std::process::Command::new(time)
        .arg("-v")
        .arg(bin)
        .arg("gate")
        .current_dir(dir.path())
        .env("GITHUB_API_URL", &fake.api_url)
        .env("GITHUB_TOKEN", TOKEN)
        .args(["--repo", "o/r", "--run-id", "42"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    for l in err
        .lines()
        .filter(|l| l.contains("Maximum resident") || l.contains("Elapsed (wall"))
    {
        eprintln!("six artifacts, one of {} MiB: {}", zip_len >> 20, l.trim());
    }
    assert_eq!(out.status.code(), Some(0), "{err}");
}

/// The note gate.json holds for `cell`.
fn note_of(out: &std::path::Path, cell: &str) -> String {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap();
    let c = v["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["cell"] == cell);
    c.unwrap_or_else(|| panic!("no {cell} in gate.json"))["note"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn the_size_cap_notes_name_the_flag_that_sets_each_cap() {
    // The listing says 100 bytes, so only the download itself finds the zip too big.
    let json = evidence("amd64", "ext4", true).to_string();
    let big = zip_of(&[
        ("run-1/wal_verify.json", json.as_bytes()),
        ("run-1/dmesg.txt", &noise(64 * 1024)),
    ]);
    let mut lying = Artifact::new(
        1,
        "portability-evidence-amd64-ext4",
        Download::Redirect(big),
    );
    lying.size = Some(100);
    let mut padded = evidence("arm64", "ext4", true);
    padded["pad"] = serde_json::json!("x".repeat(40 * 1024));
    let zip = zip_of(&[("run-1/wal_verify.json", padded.to_string().as_bytes())]);
    let entry = Artifact::new(
        3,
        "portability-evidence-arm64-ext4",
        Download::Redirect(zip),
    );
    let fake = FakeGithub::start(with(with(six_passing(), lying), entry));
    let r = run_gate(
        &fake,
        &["--max-artifact-size", "32K", "--max-entry-size", "32K"],
    );
    assert_eq!(r.out.code, 1, "{}\n{}", r.out.stdout, r.out.stderr);
    let artifact = note_of(&r.json, "amd64/ext4");
    assert!(artifact.contains("--max-artifact-size"), "{artifact}");
    let entry = note_of(&r.json, "arm64/ext4");
    assert!(entry.contains("--max-entry-size"), "{entry}");
}

#[test]
fn a_request_that_gets_no_answer_names_the_url_it_tried_and_never_the_token() {
    let (api, out) = gate_against_nothing();
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    let url = format!("{api}/repos/o/r/actions/runs/42/artifacts");
    assert!(out.stderr.contains(&url), "{}", out.stderr);
    assert!(out.stdout.contains(&url), "the annotation: {}", out.stdout);
    assert!(!out.stderr.contains(TOKEN) && !out.stdout.contains(TOKEN));
}

/// How many of the requests a host saw asked for a path starting with `prefix`.
fn seen(requests: &[(String, Option<String>)], prefix: &str) -> usize {
    requests
        .iter()
        .filter(|(u, _)| u.starts_with(prefix))
        .count()
}

#[test]
fn a_download_broken_off_mid_body_is_retried_and_the_gate_passes() {
    let fake = FakeGithub::start(six_passing());
    fake.state.lock().unwrap().cut_off = vec![("/blob/1?".into(), 1)];
    let r = run_gate(&fake, &[]);
    assert_eq!(r.out.code, 0, "{}\n{}", r.out.stdout, r.out.stderr);
    assert_eq!(status_of(&r.json, "amd64/ext4"), "amd64/ext4 PASS");
    assert!(r.out.stderr.contains("retrying"), "{}", r.out.stderr);
    let tries = seen(&fake.state.lock().unwrap().storage_seen, "/blob/1?");
    assert_eq!(tries, 2, "broken off once, then served whole");
}

#[test]
fn a_download_that_keeps_breaking_off_means_the_gate_could_not_decide() {
    let fake = FakeGithub::start(six_passing());
    fake.state.lock().unwrap().cut_off = vec![("/blob/1?".into(), u32::MAX)];
    let r = run_gate(&fake, &["--retry-budget", "300ms"]);
    assert_eq!(r.out.code, 2, "{}\n{}", r.out.stdout, r.out.stderr);
    assert!(r.out.stderr.contains("gave up"), "{}", r.out.stderr);
    assert!(r.out.stderr.contains("--retry-budget"), "{}", r.out.stderr);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&r.json).unwrap()).unwrap();
    assert_eq!(v["verdict"], "ERROR");
}

#[test]
fn an_artifact_listing_broken_off_mid_body_is_retried_like_a_download() {
    let listing = "/repos/o/r/actions/runs/42/artifacts";
    let fake = FakeGithub::start(six_passing());
    fake.state.lock().unwrap().cut_off = vec![(listing.into(), 1)];
    let r = run_gate(&fake, &[]);
    assert_eq!(r.out.code, 0, "{}\n{}", r.out.stdout, r.out.stderr);
    assert_eq!(seen(&fake.state.lock().unwrap().api_seen, listing), 2);

    let fake = FakeGithub::start(six_passing());
    fake.state.lock().unwrap().cut_off = vec![(listing.into(), u32::MAX)];
    let r = run_gate(&fake, &["--retry-budget", "300ms"]);
    assert_eq!(r.out.code, 2, "{}\n{}", r.out.stdout, r.out.stderr);
    assert!(r.out.stderr.contains("gave up"), "{}", r.out.stderr);
}
