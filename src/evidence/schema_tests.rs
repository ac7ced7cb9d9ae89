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
