//! What the evidence types write, and the shared fixture, against the JSON schema.

use serde_json::Value;

use super::fixture;
use super::record::{MatrixSection, SkipRecord, Timestamp, SCHEMA_VERSION};

fn schema_errors(v: &Value) -> Vec<String> {
    let text = include_str!("../../schemas/wal_verify.schema.json");
    let schema: Value = serde_json::from_str(text).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema itself is valid");
    validator
        .iter_errors(v)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

fn section(status: &'static str) -> MatrixSection {
    MatrixSection {
        cell: 7,
        requested_arch: "s390x".into(),
        requested_fs: "ext4".into(),
        status,
        reason: Some("no emulator".into()),
        seed: 7,
        host_arch: "amd64".into(),
        host_kernel: "Linux 6.1".into(),
        execution: "unavailable",
        binary: None,
        filesystem: "none",
        image: None,
        loop_device: None,
        mount_point: None,
        mkfs_version: None,
        provisioning: vec![],
        host_fixture_check: None,
        byte_order_crossing: None,
        tool: crate::build_info::VERSION_LINE,
    }
}

#[test]
fn the_shared_fixture_is_valid_evidence_passing_or_failing() {
    for pass in [true, false] {
        let errors = schema_errors(&fixture::wal_verify("amd64", "ext4", pass));
        assert!(errors.is_empty(), "{errors:#?}");
    }
}

#[test]
fn a_skip_record_with_the_shared_matrix_section_is_valid_and_claims_nothing() {
    let record = SkipRecord {
        timestamp: Timestamp::now(),
        seed: 7,
        arch: "s390x".into(),
        fs_type: "ext4".into(),
        total_iterations: 20,
        pass: false,
        run_n: 1,
        skipped: true,
        skip_reason: "no emulator".into(),
        schema_version: SCHEMA_VERSION,
        commit: None,
        host_kernel: "Linux 6.1".into(),
        tool: crate::build_info::current(),
        matrix: section("SKIP"),
    };
    let v = serde_json::to_value(&record).unwrap();
    let errors = schema_errors(&v);
    assert!(errors.is_empty(), "{errors:#?}");
    // The schema refuses a skip record that claims a pass or a verdict other than SKIP.
    let mut claims = v.clone();
    claims["pass"] = Value::Bool(true);
    assert!(!schema_errors(&claims).is_empty());
    let mut wrong = v;
    wrong["matrix"]["status"] = "PASS".into();
    assert!(!schema_errors(&wrong).is_empty());
}

#[test]
fn the_schema_names_exactly_the_invariants_the_verifier_checks() {
    let schema: Value =
        serde_json::from_str(include_str!("../../schemas/wal_verify.schema.json")).unwrap();
    let keys: Vec<&str> = wal::verify::Invariant::ALL
        .iter()
        .map(|i| i.key())
        .collect();
    let required = &schema["properties"]["invariants"]["required"];
    assert_eq!(required, &serde_json::json!(keys), "invariants.required");
    let in_violations = &schema["$defs"]["violation"]["properties"]["invariant"]["enum"];
    assert_eq!(
        in_violations,
        &serde_json::json!(keys),
        "violations[].invariant"
    );
}

fn block_replay_run(violations: u64) -> crate::block_replay::summary::BlockReplay {
    use crate::block_replay::kernel::GuestKernel;
    use crate::block_replay::summary::{BlockReplay, Run, StateFailure};
    let failures: Vec<StateFailure> = (0..violations)
        .map(|_| StateFailure {
            state: "12/0,2".into(),
            flush_point: 12,
            subset: vec![0, 2],
            check: "oracle".into(),
            msg: "acknowledged entry 4 was lost".into(),
            rebuild: "portability-matrix replay-state …".into(),
        })
        .collect();
    BlockReplay {
        status: if violations == 0 { "PASS" } else { "FAIL" },
        reason: None,
        run: Some(Run {
            kernel: GuestKernel {
                package: "linux-image-6.1.0-57-cloud-amd64".into(),
                version: "6.1.192-3".into(),
                deb_sha256: "a".repeat(64),
                vmlinuz_sha256: "b".repeat(64),
                release: "6.1.0-57-cloud-amd64".into(),
                busybox_version: "1:1.35.0-4".into(),
                vmlinuz: Default::default(),
                modules: Default::default(),
                busybox: Default::default(),
            },
            guest_arch: "amd64".into(),
            accelerator: "tcg",
            check_arch: "amd64".into(),
            check_kernel: None,
            check_accelerator: "tcg",
            accelerator_notes: vec![],
            fs: "ext4".into(),
            mkfs_options: vec!["-q".into(), "-F".into()],
            mount_options: vec!["noauto_da_alloc".into()],
            mkfs_version: None,
            fs_bytes: 64 << 20,
            workload: "standard",
            protocol: "real",
            seed: 1,
            subset_bound: 4,
            tears: 0,
            log_entries: 199,
            log_writes: 115,
            flushes: 84,
            log_bytes: 365_568,
            log_sha256: "c".repeat(64),
            log_kept: None,
            appends: 8,
            flush_points: 85,
            states_replayed: 139,
            states_distinct: 139,
            states_checked: 139,
            exhaustive: false,
            violations,
            seconds: 26.3,
            record_seconds: 5.0,
            check_seconds: 20.3,
            states_per_second: 8.6,
            record_command: "portability-matrix block-replay --seed 1 --keep DIR".into(),
            failures,
        }),
    }
}

#[test]
fn a_block_replay_section_passing_failing_or_skipped_is_valid_evidence() {
    use crate::block_replay::summary::BlockReplay;
    for section in [
        block_replay_run(0),
        block_replay_run(1),
        BlockReplay::skip("qemu-system-x86_64 is not installed"),
    ] {
        let mut v = fixture::wal_verify("amd64", "ext4", section.passes());
        v["block_replay"] = serde_json::to_value(&section).unwrap();
        let errors = schema_errors(&v);
        assert!(errors.is_empty(), "{}: {errors:#?}", section.status);
    }
}

#[test]
fn the_schema_refuses_a_block_replay_pass_with_violations_or_a_skip_with_counts() {
    let mut v = fixture::wal_verify("amd64", "ext4", true);
    let mut section = serde_json::to_value(block_replay_run(0)).unwrap();
    section["violations"] = 1.into();
    v["block_replay"] = section;
    assert!(!schema_errors(&v).is_empty());
    let mut skip = serde_json::to_value(block_replay_run(0)).unwrap();
    skip["status"] = "SKIP".into();
    skip["reason"] = "no kernel".into();
    v["block_replay"] = skip;
    assert!(!schema_errors(&v).is_empty());
}
