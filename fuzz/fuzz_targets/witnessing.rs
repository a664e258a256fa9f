//! The witnessing parsers (tlog-policy, tlog-proof, tlog-witness request
//! and response bodies): never panic; a parsed proof file or request
//! serializes back to the same bytes (the parsers accept only canonical
//! input); verifying what parsed never panics either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlog::{
    AddCheckpointRequest, CosignerKey, Policy, ProofFile, SignerKey, check_add_checkpoint,
    parse_cosignature_response,
};

fuzz_target!(|data: &[u8]| {
    let log = SignerKey::from_seed("example.com/behind-the-sofa", &[0; 32]).unwrap();
    let witness = CosignerKey::from_seed("witness.example.com/w1", &[1; 32]).unwrap();
    let policy = Policy::parse(&format!(
        "log {}\nwitness W {}\nquorum W\n",
        log.verifier_key().to_text(),
        witness.verifier().to_text()
    ))
    .unwrap();

    if let Ok(p) = Policy::from_bytes(data) {
        let names: Vec<&str> = p.witnesses().iter().map(|w| w.name.as_str()).collect();
        let _ = p.satisfied_by(&names);
        let _ = p.describe_quorum();
    }
    if let Ok(file) = ProofFile::parse(data) {
        assert_eq!(file.to_bytes(), data, "proof file does not round-trip");
        let _ = file.verify(b"entry", &policy, 1_700_000_000);
        let _ = file.verify_with_key(b"entry", &log.verifier_key());
        let _ = policy.verify_checkpoint(&file.checkpoint, u64::MAX);
    }
    if let Ok(req) = AddCheckpointRequest::parse(data) {
        assert_eq!(req.to_bytes(), data, "request does not round-trip");
        let _ = req.origin();
        let _ = check_add_checkpoint(None, &req, &[log.verifier_key()]);
    }
    if let Ok(sigs) = parse_cosignature_response(data) {
        for s in &sigs {
            let _ = witness.verifier().verify(
                "example.com/behind-the-sofa\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
                s,
            );
        }
    }
});
