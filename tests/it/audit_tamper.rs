//! Tamper suite: every way of changing a written log is detected by both
//! verifiers (`orchestra audit verify` and `audit/verify.py`), with the same
//! verdict and code; torn final writes are recovered, not flagged.

use crate::harness::audit::*;
use orchestra::audit::format::{self, FrameRead, HEADER_LEN};
use orchestra::audit::verify::{VerifyOptions, verify_dir};
use proptest::prelude::*;

fn run_case(name: &str) -> TestResult {
    let (_, build) = cases().into_iter().find(|(n, _)| *n == name).ok_or("no such case")?;
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("log");
    std::fs::create_dir_all(&dir)?;
    let case = build(&dir)?;
    let (trusted, since) = case_inputs(&case, tmp.path())?;
    let r = verify_rust(&dir, trusted.as_deref(), since.as_deref())?;
    check(name, "orchestra", &r, case.verdict, case.code, case.torn);
    let p = verify_python(&dir, trusted.as_deref(), since.as_deref())?;
    check(name, "verify.py", &p, case.verdict, case.code, case.torn);
    assert_eq!(
        (r.records, r.checkpoints),
        (p.records, p.checkpoints),
        "{name}: verifiers disagree on how far they got"
    );
    Ok(())
}

macro_rules! tamper_tests {
    ($($f:ident => $name:literal,)*) => {
        $(#[test] fn $f() -> TestResult { run_case($name) })*
        #[test]
        fn every_case_has_a_test() {
            let tested = [$($name),*];
            for (n, _) in cases() {
                assert!(tested.contains(&n), "case {n} has no test");
            }
        }
    };
}

tamper_tests! {
    valid_basic => "valid-basic",
    valid_multisegment => "valid-multisegment",
    a_format_1_log_still_verifies => "valid-format-1",
    format_1_edit_body_and_recompute_hashes => "tamper-format-1-edit-body-rechain",
    a_checkpoint_root_over_other_records => "tamper-checkpoint-root",
    a_pruned_log_verifies_from_its_marker => "valid-pruned",
    pruning_without_a_log_pruned_record => "tamper-pruned-unrecorded",
    a_prune_marker_with_another_right_edge => "tamper-pruned-edge",
    valid_rotated => "valid-rotated",
    valid_rotated_trust_new => "valid-rotated-trust-new",
    torn_final_write_is_recovered_not_flagged => "valid-torn-tail",
    writer_recovers_torn_tail_with_a_record => "valid-recovered",
    unsigned_tail_without_trusted_key_is_reported_not_flagged => "valid-unsigned-tail-untrusted",
    forged_unsigned_tail_fails_with_trusted_key => "tamper-unsigned-tail",
    adopted_tail_fails_with_trusted_key => "tamper-adopted-tail",
    truncation_without_checkpoint_is_undetectable => "valid-truncated-no-checkpoint",
    flip_one_body_byte => "tamper-flip-body-byte",
    edit_body_fix_crc => "tamper-edit-body-fix-crc",
    edit_body_and_recompute_hashes => "tamper-edit-body-rechain",
    resign_with_another_key => "tamper-resign-other-key",
    forged_log_under_another_key => "tamper-forged-log",
    delete_record => "tamper-delete-record",
    delete_record_and_renumber => "tamper-delete-record-renumber",
    insert_record => "tamper-insert-record",
    swap_records => "tamper-swap-records",
    duplicate_record => "tamper-duplicate-record",
    truncate_tail_with_exported_checkpoint => "tamper-truncated-with-checkpoint",
    roll_back_to_older_copy => "tamper-rollback",
    fork_against_exported_checkpoint => "tamper-fork-exported",
    edit_checkpoint_size => "tamper-edit-checkpoint-size",
    edit_checkpoint_time => "tamper-edit-checkpoint-time",
    equivocating_checkpoints => "tamper-equivocation",
    unsigned_second_head_is_not_equivocation => "tamper-equivocation-other-key",
    garbage_signed_second_head_is_not_equivocation => "tamper-equivocation-garbage-signature",
    every_signature_line_of_the_key_must_verify => "tamper-two-signature-lines-one-bad",
    foreign_signature_lines_are_ignored => "valid-foreign-signature-line",
    key_string_base64_with_plus => "valid-key-with-plus",
    rotation_not_signed_by_old_key => "tamper-rotation-not-signed-by-old",
    edit_first_record => "tamper-edit-first-record",
    first_record_names_another_key => "tamper-first-record-other-key",
    remove_middle_segment => "tamper-remove-middle-segment",
    malleated_signature => "tamper-malleated-signature",
    non_canonical_body => "tamper-noncanonical-body",
    renamed_segment => "tamper-segment-renamed",
    segment_of_another_log => "tamper-other-log-segment",
    deleted_log => "tamper-empty",
}

#[test]
fn without_trusted_key_a_forgery_passes_but_is_called_unauthenticated() -> TestResult {
    let tmp = tempfile::tempdir()?;
    write_log(tmp.path(), &attacker(), 5, 64 << 20)?;
    let out = std::process::Command::new(bin()).args(["audit", "verify"]).arg(tmp.path()).output()?;
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("UNAUTHENTICATED") && err.contains("NOTHING about who wrote it"), "{err}");
    Ok(())
}

#[test]
fn truncation_without_checkpoint_is_reported_as_undetectable() -> TestResult {
    let tmp = tempfile::tempdir()?;
    write_log(tmp.path(), &owner(), 5, 64 << 20)?;
    let out = std::process::Command::new(bin()).args(["audit", "verify"]).arg(tmp.path()).output()?;
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot be detected without an exported checkpoint"), "{err}");
    Ok(())
}

#[test]
fn human_output_names_the_first_bad_record() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("log");
    std::fs::create_dir_all(&dir)?;
    let (_, build) = cases().into_iter().find(|(n, _)| *n == "tamper-swap-records").ok_or("case")?;
    build(&dir)?;
    let (t, _) = case_inputs(&case_for_owner(), tmp.path())?;
    let out =
        std::process::Command::new(bin()).args(["audit", "verify"]).arg(&dir).arg("--trusted-key").args(t).output()?;
    assert_eq!(out.status.code(), Some(4));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("VERIFICATION FAILED [seq]"), "{s}");
    assert!(s.contains("segment 00000000000000000000.seg, offset ") && s.contains("sequence 7"), "{s}");
    assert!(s.contains("trusted key"), "{s}");
    Ok(())
}

fn case_for_owner() -> Case {
    Case { name: "x", about: "", verdict: "ok", code: None, trusted: Some(owner()), since: None, torn: false }
}

/// Offsets of every frame payload byte (not type, length or CRC).
fn payload_offsets(buf: &[u8]) -> Vec<(usize, usize, usize)> {
    let mut v = Vec::new();
    let mut at = HEADER_LEN;
    while at < buf.len() {
        if let FrameRead::Frame { payload_start, payload_end, next, .. } = format::read_frame(buf, at) {
            v.push((at, payload_start, payload_end));
            at = next;
        } else {
            break;
        }
    }
    v
}

fn base_log() -> Result<(tempfile::TempDir, Vec<u8>), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    write_log(tmp.path(), &owner(), 9, 64 << 20)?;
    let buf = std::fs::read(tmp.path().join(format::segment_name(0)))?;
    Ok((tmp, buf))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    /// Any single-byte change anywhere in a valid log is detected, or (only
    /// when it hits the final frame) reported as a torn tail; never accepted
    /// silently.
    #[test]
    fn any_byte_mutation_is_detected_or_torn(pos in any::<prop::sample::Index>(), x in 1u8..=255) {
        let (tmp, buf) = base_log().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let i = pos.index(buf.len());
        let mut m = buf.clone();
        m[i] ^= x;
        std::fs::write(tmp.path().join(format::segment_name(0)), &m).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let opts = VerifyOptions { trusted_key: Some(owner().verifier()), ..VerifyOptions::default() };
        let r = verify_dir(tmp.path(), &opts).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let frames = payload_offsets(&buf);
        let last_frame = frames.last().map_or(buf.len(), |f| f.0);
        if r.ok() {
            prop_assert!(r.torn_tail.is_some() && i >= last_frame, "mutation at {i} accepted silently: {r:?}");
        }
    }

    /// The same with the frame CRC recomputed (an attacker who knows the
    /// format): only the chain and the signatures stand in the way, and they
    /// always catch it.
    #[test]
    fn any_payload_mutation_with_fixed_crc_is_detected(pos in any::<prop::sample::Index>(), x in 1u8..=255) {
        let (tmp, buf) = base_log().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let frames = payload_offsets(&buf);
        let bytes: usize = frames.iter().map(|f| f.2 - f.1).sum();
        let mut k = pos.index(bytes);
        let mut m = buf.clone();
        for &(at, s, e) in &frames {
            if k < e - s {
                m[s + k] ^= x;
                let crc = format::crc32(&m[at..e]);
                m[e..e + 4].copy_from_slice(&crc.to_be_bytes());
                break;
            }
            k -= e - s;
        }
        std::fs::write(tmp.path().join(format::segment_name(0)), &m).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let opts = VerifyOptions { trusted_key: Some(owner().verifier()), ..VerifyOptions::default() };
        let r = verify_dir(tmp.path(), &opts).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(!r.ok(), "payload mutation accepted: {r:?}");
    }
}
