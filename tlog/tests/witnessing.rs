//! Witnessing: c2sp.org/tlog-cosignature, tlog-witness, tlog-policy and
//! tlog-proof. Known answers from `testdata/vectors/witness.json` (computed
//! by `witness_gen.py` with Python's `cryptography`, not by this crate),
//! every error case of the policy grammar, the witness's decision in the
//! spec's order with its HTTP status, proof-file probes, and a property
//! test of quorum arithmetic against a reference evaluation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use serde_json::Value;
use tlog::{
    AddCheckpointError, AddCheckpointRequest, Checkpoint, Cosigner, CosignerKey, CosignerVerifier,
    Error, Hash, MemoryHashStore, Note, NoteSignature, Policy, PolicyProblem, ProofFile, SignerKey,
    VerifierKey, Vkey, WitnessState, check_add_checkpoint, cosignature_response, cosigned_message,
    cosigner_key_id, leaf_hash, parse_cosignature_response, prove_consistency, prove_inclusion,
};

fn vectors() -> Value {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or(env!("CARGO_MANIFEST_DIR").into());
    let path = format!("{manifest}/../testdata/vectors/witness.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn s<'a>(v: &'a Value, path: &str) -> &'a str {
    path.split('.')
        .fold(v, |v, k| &v[k])
        .as_str()
        .unwrap_or_else(|| panic!("{path} is not a string"))
}

fn seed(v: &Value, role: &str) -> [u8; 32] {
    let hex = s(v, &format!("keys.{role}.seed_hex"));
    let bytes: Vec<u8> = (0..64)
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    bytes.try_into().unwrap()
}

fn log_key(v: &Value) -> SignerKey {
    SignerKey::from_seed(s(v, "keys.log.name"), &seed(v, "log")).unwrap()
}

fn witness_key(v: &Value, role: &str) -> CosignerKey {
    CosignerKey::from_seed(s(v, &format!("keys.{role}.name")), &seed(v, role)).unwrap()
}

const TS: u64 = 1_679_315_147;

#[test]
fn kat_keys() {
    let v = vectors();
    let log = log_key(&v);
    assert_eq!(log.verifier_key().to_text(), s(&v, "keys.log.vkey"));
    assert_eq!(log.to_text(), s(&v, "keys.log.skey"));
    for role in ["w1", "w2", "w3"] {
        let k = witness_key(&v, role);
        assert_eq!(k.to_text(), s(&v, &format!("keys.{role}.skey")));
        assert_eq!(k.verifier().to_text(), s(&v, &format!("keys.{role}.vkey")));
        assert_eq!(
            format!("{:08x}", k.key_id()),
            s(&v, &format!("keys.{role}.key_id_hex"))
        );
        assert_eq!(
            k.key_id(),
            cosigner_key_id(k.name(), k.verifier().public_key())
        );
        let parsed = CosignerKey::from_text(s(&v, &format!("keys.{role}.skey"))).unwrap();
        assert_eq!(parsed.verifier(), k.verifier());
        let vk = CosignerVerifier::from_text(s(&v, &format!("keys.{role}.vkey"))).unwrap();
        assert_eq!(vk, k.verifier());
        assert_eq!(
            Vkey::from_text(s(&v, &format!("keys.{role}.vkey"))).unwrap(),
            Vkey::Cosigner(vk)
        );
    }
}

#[test]
fn kat_spec_example_cosignature() {
    let v = vectors();
    let body = s(&v, "spec_example.body");
    assert_eq!(
        cosigned_message(body, TS),
        s(&v, "spec_example.cosigned_message").as_bytes()
    );
    let w1 = witness_key(&v, "w1");
    let sig = w1.cosign(body, TS);
    assert_eq!(sig.to_line(), s(&v, "spec_example.w1_cosignature_line"));
    assert_eq!(w1.verifier().verify(body, &sig), Ok(TS));
    let log = log_key(&v);
    assert_eq!(
        log.sign(body.as_bytes()).to_line(),
        s(&v, "spec_example.log_signature_line")
    );
}

/// The cosignature spec's own example note: its key is not published, so
/// it cannot be verified, but its cosignature line must have the
/// `cosignature/v1` shape (key ID, 8-byte timestamp of the example
/// message, 64-byte signature), and a policy that does not know its key
/// must ignore it.
#[test]
fn spec_example_note_shape() {
    let note = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\
— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\
— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";
    let note = Note::from_bytes(note.as_bytes()).unwrap();
    let cosig = &note.signatures()[1];
    assert_eq!(cosig.name, "witness.example.com/w1");
    assert_eq!(cosig.signature.len(), 72);
    assert_eq!(
        u64::from_be_bytes(cosig.signature[..8].try_into().unwrap()),
        TS
    );
    // Our own w1 has the same name but another key, so another key ID:
    // the line is not ours and is ignored.
    let v = vectors();
    let w1 = witness_key(&v, "w1").verifier();
    assert!(!w1.matches(cosig));
    let policy = Policy::parse(&format!("witness w {}\nquorum none\n", w1.to_text())).unwrap();
    assert_eq!(policy.cosigners(&note, TS), Ok(vec![]));
}

/// The tree of the vectors, as a store.
fn tree(v: &Value) -> MemoryHashStore {
    let mut store = MemoryHashStore::new();
    for e in v["tree"]["entries"].as_array().unwrap() {
        store.append(leaf_hash(e.as_str().unwrap().as_bytes()));
    }
    store
}

fn note_13(v: &Value) -> Note {
    let store = tree(v);
    let mut note = Checkpoint::new(s(v, "keys.log.name"), 13, store.root())
        .sign(&log_key(v))
        .unwrap();
    let body = note.text().to_owned();
    note.push_signature(witness_key(v, "w1").cosign(&body, TS));
    note.push_signature(witness_key(v, "w2").cosign(&body, TS + 1));
    note
}

#[test]
fn kat_tree_checkpoints_and_proof_file() {
    let v = vectors();
    let store = tree(&v);
    assert_eq!(store.root().to_base64(), s(&v, "tree.root_13"));
    assert_eq!(
        tlog::tree_hash(7, &store).unwrap().to_base64(),
        s(&v, "tree.root_7")
    );
    let note = note_13(&v);
    assert_eq!(note.text(), s(&v, "tree.body_13"));
    assert_eq!(note.to_bytes(), s(&v, "tree.note_13").as_bytes());

    // The proof file, built here and parsed from the vector.
    let index = v["tree"]["proof_index"].as_u64().unwrap();
    let built = ProofFile {
        extra: Some(b"stateanchor".to_vec()),
        index,
        inclusion_proof: prove_inclusion(index, 13, &store).unwrap(),
        checkpoint: note.to_bytes(),
    };
    let bytes = s(&v, "tree.proof_file").as_bytes();
    assert_eq!(built.to_bytes(), bytes);
    let parsed = ProofFile::parse(bytes).unwrap();
    assert_eq!(parsed, built);

    let policy = Policy::parse(s(&v, "policy")).unwrap();
    let entry = b"entry 5";
    let w = parsed.verify(entry, &policy, TS + 10).unwrap();
    assert_eq!(w.checkpoint.checkpoint.tree_size, 13);
    assert_eq!(w.log, log_key(&v).verifier_key());
    assert_eq!(
        w.cosigners,
        vec![
            Cosigner {
                name: "X1".into(),
                key_name: "witness.example.com/w1".into(),
                timestamp: TS
            },
            Cosigner {
                name: "X2".into(),
                key_name: "witness.example.com/w2".into(),
                timestamp: TS + 1
            },
        ]
    );
    parsed
        .verify_with_key(entry, &log_key(&v).verifier_key())
        .unwrap();
    assert!(matches!(
        parsed.verify(b"entry 6", &policy, TS + 10),
        Err(Error::InvalidInclusionProof { .. })
    ));
}

#[test]
fn kat_add_checkpoint() {
    let v = vectors();
    let store = tree(&v);
    let body = s(&v, "tree.add_checkpoint_7_to_13").as_bytes();
    let req = AddCheckpointRequest::parse(body).unwrap();
    assert_eq!(req.old_size, 7);
    assert_eq!(
        req.consistency_proof,
        prove_consistency(7, 13, &store).unwrap()
    );
    assert_eq!(req.to_bytes(), body);
    assert_eq!(req.origin().unwrap(), s(&v, "keys.log.name"));
    let latest = WitnessState {
        size: 7,
        root_hash: Hash::from_base64(s(&v, "tree.root_7")).unwrap(),
    };
    let keys = [log_key(&v).verifier_key()];
    let cp = check_add_checkpoint(Some(&latest), &req, &keys).unwrap();
    assert_eq!(cp.checkpoint.tree_size, 13);

    // The witness answers; the log reads the answer and verifies it.
    let w1 = witness_key(&v, "w1");
    let w3 = witness_key(&v, "w3");
    let response =
        cosignature_response(&[w1.cosign(cp.note.text(), TS), w3.cosign(cp.note.text(), TS)]);
    assert_eq!(response, s(&v, "tree.cosignature_response").as_bytes());
    let sigs = parse_cosignature_response(&response).unwrap();
    assert_eq!(w1.verifier().verify(cp.note.text(), &sigs[0]), Ok(TS));
    assert_eq!(w3.verifier().verify(cp.note.text(), &sigs[1]), Ok(TS));
    assert!(w1.verifier().verify(cp.note.text(), &sigs[1]).is_err());
}

// ---------------------------------------------------------------- policy

fn wkey(i: u8) -> CosignerKey {
    CosignerKey::from_seed(&format!("w{i}.example/witness"), &[i; 32]).unwrap()
}

fn lkey(i: u8) -> SignerKey {
    SignerKey::from_seed("example.com/log", &[100 + i; 32]).unwrap()
}

fn wv(i: u8) -> String {
    wkey(i).verifier().to_text()
}

/// The tlog-policy specification's example, with real keys.
fn spec_example_policy() -> String {
    format!(
        "log {}\n\nwitness X1 {}\nwitness X2 {}\nwitness X3 {}\ngroup X-witnesses 2 X1 X2 X3\n\n\
witness Y1 {}\nwitness Y2 {}\nwitness Y3 {}\ngroup Y-witnesses any Y1 Y2 Y3\n\n\
group X-and-Y all X-witnesses Y-witnesses\nquorum X-and-Y\n",
        lkey(0).verifier_key().to_text(),
        wv(1),
        wv(2),
        wv(3),
        wv(4),
        wv(5),
        wv(6)
    )
}

#[test]
fn spec_example_policy_quorum() {
    let p = Policy::parse(&spec_example_policy()).unwrap();
    assert_eq!(p.logs().len(), 1);
    assert_eq!(p.witnesses().len(), 6);
    assert_eq!(p.groups().len(), 3);
    assert_eq!(p.quorum(), Some("X-and-Y"));
    assert!(!p.quorum_is_none());
    assert_eq!(p.groups()[0].threshold, 2);
    assert_eq!(p.groups()[1].threshold, 1);
    assert_eq!(p.groups()[2].threshold, 2);
    for (cosigned, want) in [
        (&["X1", "X2", "Y3"][..], true),
        (&["X1", "X3", "Y1", "Y2"][..], true),
        (&["X1", "X2", "X3"][..], false),
        (&["X1", "Y1", "Y2", "Y3"][..], false),
        (&["X1", "X1", "Y1"][..], false),
        (&["X-witnesses", "Y-witnesses"][..], false),
        (&[][..], false),
    ] {
        assert_eq!(p.satisfied_by(cosigned), want, "{cosigned:?}");
    }
    assert_eq!(
        p.describe_quorum(),
        "X-and-Y = all of (X-witnesses, Y-witnesses); X-witnesses = 2 of (X1, X2, X3); \
Y-witnesses = any of (Y1, Y2, Y3)"
    );
}

#[test]
fn policy_syntax_accepted() {
    let text = format!(
        "  # comment\n#\n\t\n  \t \nlog\t{} https://log.example/ \n witness\tA  {}\n# é ünïcödé\nwitness \u{212a} {} https://w.example/\u{e9}\ngroup G 02 A \u{212a}\nquorum G\n",
        lkey(0).verifier_key().to_text(),
        wv(1),
        wv(2)
    );
    let p = Policy::parse(&text).unwrap();
    assert_eq!(p.logs()[0].url.as_deref(), Some("https://log.example/"));
    assert_eq!(p.witnesses()[0].url, None);
    assert_eq!(p.witnesses()[1].name, "\u{212a}");
    assert_eq!(p.groups()[0].threshold, 2);
    // Names are octets: Kelvin is not K.
    assert!(!p.satisfied_by(&["A", "K"]));
    assert!(p.satisfied_by(&["A", "\u{212a}"]));
    // Empty sets of logs and witnesses.
    let p = Policy::parse("quorum none\n").unwrap();
    assert!(p.quorum_is_none() && p.satisfied_by(&[]));
    assert!(p.logs().is_empty() && p.witnesses().is_empty());
    // A log and a witness may share a public key (different signature types).
    let shared = format!(
        "log {}\nwitness W {}\nquorum W\n",
        SignerKey::from_seed("x.example", &[1; 32])
            .unwrap()
            .verifier_key()
            .to_text(),
        CosignerKey::from_seed("x.example", &[1; 32])
            .unwrap()
            .verifier()
            .to_text()
    );
    Policy::parse(&shared).unwrap();
    // 32 of each, the specification's recommended minimum, and more.
    let mut big = String::new();
    for i in 0..40u8 {
        big += &format!(
            "log {}\n",
            SignerKey::from_seed(&format!("log{i}.example"), &[i; 32])
                .unwrap()
                .verifier_key()
                .to_text()
        );
        big += &format!("witness w{i} {}\n", wv(i));
        big += &format!("group g{i} any w{i}\n");
    }
    big += "group top 40";
    for i in 0..40 {
        big += &format!(" g{i}");
    }
    big += "\nquorum top\n";
    let p = Policy::parse(&big).unwrap();
    assert_eq!(
        (p.logs().len(), p.witnesses().len(), p.groups().len()),
        (40, 40, 41)
    );
    let all: Vec<String> = (0..40).map(|i| format!("w{i}")).collect();
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    assert!(p.satisfied_by(&all));
    assert!(!p.satisfied_by(&all[1..]));
}

/// Every way a policy is refused, with its line and problem pinned: a
/// looser parser must not slip through one of these.
#[test]
fn policy_errors() {
    let log = lkey(0).verifier_key().to_text();
    let log_same_key_other_name = SignerKey::from_seed("other.example", &[100; 32])
        .unwrap()
        .verifier_key()
        .to_text();
    let w1_other_name = CosignerKey::from_seed("renamed.example", &[1; 32])
        .unwrap()
        .verifier()
        .to_text();
    let w1_as_log_key = SignerKey::from_seed("w1.example/witness", &[1; 32])
        .unwrap()
        .verifier_key()
        .to_text();
    let w1 = wv(1);
    let w2 = wv(2);
    use PolicyProblem as P;
    let cases: Vec<(String, usize, PolicyProblem)> = vec![
        // Duplicates.
        (
            format!("log {log}\nlog {log}\nquorum none\n"),
            2,
            P::DuplicateKey {
                role: "log",
                first_line: 1,
            },
        ),
        (
            format!("log {log}\nlog {log_same_key_other_name}\nquorum none\n"),
            2,
            P::DuplicateKey {
                role: "log",
                first_line: 1,
            },
        ),
        (
            format!("witness A {w1}\nwitness B {w1_other_name}\nquorum none\n"),
            2,
            P::DuplicateKey {
                role: "witness",
                first_line: 1,
            },
        ),
        (
            format!("witness A {w1}\nwitness A {w2}\nquorum none\n"),
            2,
            P::DuplicateName {
                name: "A".into(),
                first_line: Some(1),
            },
        ),
        (
            format!("witness A {w1}\ngroup A any A\nquorum none\n"),
            2,
            P::DuplicateName {
                name: "A".into(),
                first_line: Some(1),
            },
        ),
        (
            format!("witness none {w1}\nquorum none\n"),
            1,
            P::DuplicateName {
                name: "none".into(),
                first_line: None,
            },
        ),
        (
            format!("witness A {w1}\ngroup none any A\nquorum none\n"),
            2,
            P::DuplicateName {
                name: "none".into(),
                first_line: None,
            },
        ),
        (
            format!("witness A {w1}\ngroup G any A A\nquorum G\n"),
            2,
            P::DuplicateMember { name: "A".into() },
        ),
        // Undefined names, and names defined too late.
        (
            format!("witness A {w1}\ngroup G any A B\nquorum G\n"),
            2,
            P::UndefinedName { name: "B".into() },
        ),
        (
            format!("quorum A\nwitness A {w1}\n"),
            1,
            P::UndefinedName { name: "A".into() },
        ),
        (
            format!("witness A {w1}\ngroup G any H\ngroup H any A\nquorum G\n"),
            2,
            P::UndefinedName { name: "H".into() },
        ),
        (
            format!("witness A {w1}\ngroup G any G\nquorum G\n"),
            2,
            P::UndefinedName { name: "G".into() },
        ),
        (
            format!("witness A {w1}\ngroup G any A none\nquorum G\n"),
            2,
            P::NoneAsMember,
        ),
        // Thresholds.
        (
            format!("witness A {w1}\nwitness B {w2}\ngroup G 0 A B\nquorum G\n"),
            3,
            P::ThresholdOutOfRange {
                k: "0".into(),
                n: 2,
            },
        ),
        (
            format!("witness A {w1}\nwitness B {w2}\ngroup G 3 A B\nquorum G\n"),
            3,
            P::ThresholdOutOfRange {
                k: "3".into(),
                n: 2,
            },
        ),
        (
            format!("witness A {w1}\ngroup G 99999999999999999999999 A\nquorum G\n"),
            2,
            P::ThresholdOutOfRange {
                k: "99999999999999999999999".into(),
                n: 1,
            },
        ),
        (
            format!("witness A {w1}\ngroup G -1 A\nquorum G\n"),
            2,
            P::MalformedThreshold { text: "-1".into() },
        ),
        (
            format!("witness A {w1}\ngroup G +1 A\nquorum G\n"),
            2,
            P::MalformedThreshold { text: "+1".into() },
        ),
        (
            format!("witness A {w1}\ngroup G ALL A\nquorum G\n"),
            2,
            P::MalformedThreshold { text: "ALL".into() },
        ),
        (
            format!("witness A {w1}\ngroup G any\nquorum G\n"),
            2,
            P::WrongArity {
                usage: "group <name> all|any|<k> <member>...",
            },
        ),
        // Quorum lines.
        (
            format!("witness A {w1}\nquorum A\nquorum none\n"),
            3,
            P::SecondQuorum { first_line: 2 },
        ),
        (
            "quorum none\nquorum none\n".into(),
            2,
            P::SecondQuorum { first_line: 1 },
        ),
        (
            "quorum\n".into(),
            1,
            P::WrongArity {
                usage: "quorum <name>",
            },
        ),
        (
            "quorum a b\n".into(),
            1,
            P::WrongArity {
                usage: "quorum <name>",
            },
        ),
        // Arity of log and witness lines.
        (
            "log\nquorum none\n".into(),
            1,
            P::WrongArity {
                usage: "log <vkey> [<url>]",
            },
        ),
        (
            format!("log {log} https://a https://b\nquorum none\n"),
            1,
            P::WrongArity {
                usage: "log <vkey> [<url>]",
            },
        ),
        (
            format!("witness {w1}\nquorum none\n"),
            1,
            P::WrongArity {
                usage: "witness <name> <vkey> [<url>]",
            },
        ),
        (
            format!("witness A {w1} u v\nquorum none\n"),
            1,
            P::WrongArity {
                usage: "witness <name> <vkey> [<url>]",
            },
        ),
        // Key types: a witness with a log (0x01) key, a log with a witness key.
        (
            format!("witness A {w1_as_log_key}\nquorum none\n"),
            1,
            P::WrongKeyType {
                role: "witness",
                want: 0x04,
                got: 0x01,
            },
        ),
        (
            format!("log {w1}\nquorum none\n"),
            1,
            P::WrongKeyType {
                role: "log",
                want: 0x01,
                got: 0x04,
            },
        ),
        // Keywords and characters.
        (
            "Quorum none\n".into(),
            1,
            P::UnknownKeyword {
                keyword: "Quorum".into(),
            },
        ),
        (
            "quorum none # trailing comment\n".into(),
            1,
            P::WrongArity {
                usage: "quorum <name>",
            },
        ),
        (
            "quorum none\r\n".into(),
            1,
            P::ForbiddenCharacter { byte: 0x0d },
        ),
        (
            "# \x0b\nquorum none\n".into(),
            1,
            P::ForbiddenCharacter { byte: 0x0b },
        ),
        (
            "quorum none\n#\x7f\n".into(),
            2,
            P::ForbiddenCharacter { byte: 0x7f },
        ),
        (
            "quorum none\n\0".into(),
            2,
            P::ForbiddenCharacter { byte: 0 },
        ),
        ("quorum none".into(), 1, P::NoFinalNewline),
    ];
    for (text, line, problem) in cases {
        assert_eq!(
            Policy::parse(&text),
            Err(Error::MalformedPolicy {
                line,
                problem: problem.clone()
            }),
            "{text}"
        );
        // The message names the line.
        let msg = Error::MalformedPolicy { line, problem }.to_string();
        assert!(msg.starts_with(&format!("policy line {line}: ")), "{msg}");
    }
    // Bad vkeys: each an InvalidKey on its line.
    for bad in [
        "nonsense",
        "w+00000000+BAAA",
        &w1.replace("+B", "+C"),
        &w1[..w1.len() - 2],
        &format!("{}x", &w1),
    ] {
        let text = format!("quorum none\nwitness A {bad}\n");
        assert!(
            matches!(
                Policy::parse(&text),
                Err(Error::MalformedPolicy {
                    line: 2,
                    problem: P::InvalidKey(_)
                })
            ),
            "{bad}: {:?}",
            Policy::parse(&text)
        );
    }
    // No quorum line.
    for text in ["", "\n", "# only a comment\n", &format!("witness A {w1}\n")] {
        assert_eq!(
            Policy::parse(text),
            Err(Error::PolicyWithoutQuorum),
            "{text:?}"
        );
    }
    // Bytes that are not UTF-8.
    assert_eq!(
        Policy::from_bytes(b"quorum none\n# \xff\n"),
        Err(Error::MalformedPolicy {
            line: 2,
            problem: P::InvalidUtf8
        })
    );
    assert!(Policy::from_bytes(b"quorum none\n# \xc3\xa9\n").is_ok());
}

#[test]
fn policy_limits() {
    let mut text = String::new();
    for i in 0..=tlog::MAX_POLICY_GROUPS {
        text += &format!("group g{i} any w\n");
    }
    let text = format!("witness w {}\n{text}quorum none\n", wv(1));
    assert_eq!(
        Policy::parse(&text),
        Err(Error::MalformedPolicy {
            line: tlog::MAX_POLICY_GROUPS + 2,
            problem: PolicyProblem::TooMany {
                what: "groups",
                max: tlog::MAX_POLICY_GROUPS
            }
        })
    );
}

// ------------------------------------------------- verifying checkpoints

/// A checkpoint of size 3 signed by `lkey(0)`.
fn checkpoint_note() -> Note {
    let mut store = MemoryHashStore::new();
    for e in ["a", "b", "c"] {
        store.append(leaf_hash(e.as_bytes()));
    }
    Checkpoint::new("example.com/log", 3, store.root())
        .sign(&lkey(0))
        .unwrap()
}

fn with_cosigs(mut note: Note, cosigs: &[(u8, u64)]) -> Vec<u8> {
    let body = note.text().to_owned();
    for (i, ts) in cosigs {
        note.push_signature(wkey(*i).cosign(&body, *ts));
    }
    note.to_bytes()
}

const NOW: u64 = 1_800_000_000;

#[test]
fn verify_checkpoint_quorum() {
    let p = Policy::parse(&spec_example_policy()).unwrap();
    let note = checkpoint_note();
    // Two X witnesses and one Y witness, and an unknown witness (ignored).
    let bytes = with_cosigs(
        note.clone(),
        &[(1, NOW - 5), (9, NOW), (3, NOW - 1), (5, NOW)],
    );
    let w = p.verify_checkpoint(&bytes, NOW).unwrap();
    let names: Vec<&str> = w.cosigners.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["X1", "X3", "Y2"]);
    assert_eq!(w.cosigners[0].timestamp, NOW - 5);
    assert_eq!(w.cosigners[0].key_name, "w1.example/witness");
    assert_eq!(w.checkpoint.note, Note::from_bytes(&bytes).unwrap());
    assert_eq!(w.log, lkey(0).verifier_key());

    // A duplicate counts once: X1 twice and Y2 are not two X witnesses.
    let bytes = with_cosigs(note.clone(), &[(1, NOW - 5), (1, NOW - 2), (5, NOW)]);
    let err = p.verify_checkpoint(&bytes, NOW).unwrap_err();
    assert_eq!(
        err,
        Error::QuorumNotMet {
            have: vec!["X1".into(), "Y2".into()],
            quorum: p.describe_quorum()
        }
    );
    assert_eq!(
        err.to_string(),
        "witness quorum not met: cosigned by X1, Y2; the quorum needs X-and-Y = all of \
(X-witnesses, Y-witnesses); X-witnesses = 2 of (X1, X2, X3); Y-witnesses = any of (Y1, Y2, Y3)"
    );
    // The latest timestamp of a witness that cosigned twice is reported.
    let c = p
        .cosigners(&Note::from_bytes(&bytes).unwrap(), NOW)
        .unwrap();
    assert_eq!(c[0].timestamp, NOW - 2);

    // No cosignature at all.
    let err = p.verify_checkpoint(&note.to_bytes(), NOW).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("witness quorum not met: cosigned by no witness of the policy"),
        "{err}"
    );

    // `quorum none` accepts the log's signature alone, but still refuses a
    // bad cosignature from a known witness.
    let none = Policy::parse(&format!(
        "log {}\nwitness A {}\nquorum none\n",
        lkey(0).verifier_key().to_text(),
        wv(1)
    ))
    .unwrap();
    assert!(
        none.verify_checkpoint(&note.to_bytes(), NOW)
            .unwrap()
            .cosigners
            .is_empty()
    );
}

#[test]
fn verify_checkpoint_fails_closed() {
    let p = Policy::parse(&spec_example_policy()).unwrap();
    let note = checkpoint_note();
    let good = [(1, NOW), (2, NOW), (4, NOW)];
    p.verify_checkpoint(&with_cosigs(note.clone(), &good), NOW)
        .unwrap();

    // A known witness's bad cosignature: the whole checkpoint is refused,
    // even though the quorum is met without it.
    let mut bad = note.clone();
    let mut sig = wkey(3).cosign(bad.text(), NOW);
    sig.signature[20] ^= 1;
    bad.push_signature(sig);
    let bytes = with_cosigs(bad, &good);
    assert_eq!(
        p.verify_checkpoint(&bytes, NOW).unwrap_err(),
        Error::InvalidCosignature {
            name: "w3.example/witness".into(),
            key_id: wkey(3).key_id(),
            reason: "signature does not verify"
        }
    );
    // A known witness's cosignature of another checkpoint.
    let mut other = note.clone();
    other.push_signature(wkey(3).cosign("example.com/log\n2\nAAAA\n", NOW));
    assert!(matches!(
        p.verify_checkpoint(&with_cosigs(other, &good), NOW),
        Err(Error::InvalidCosignature { .. })
    ));
    // A line with a witness's name but another key ID is not the
    // witness's: ignored.
    let mut stranger = note.clone();
    let mut sig = wkey(3).cosign(stranger.text(), NOW);
    sig.key_id ^= 1;
    stranger.push_signature(sig);
    p.verify_checkpoint(&with_cosigs(stranger, &good), NOW)
        .unwrap();

    // Timestamps: up to the allowed skew after now, not one second more.
    let skew = tlog::MAX_COSIGNATURE_CLOCK_SKEW;
    let at_limit = with_cosigs(note.clone(), &[(1, NOW), (2, NOW + skew), (4, NOW)]);
    p.verify_checkpoint(&at_limit, NOW).unwrap();
    let future = with_cosigs(note.clone(), &[(1, NOW), (2, NOW + skew + 1), (4, NOW)]);
    assert_eq!(
        p.verify_checkpoint(&future, NOW).unwrap_err(),
        Error::CosignatureInFuture {
            name: "X2".into(),
            timestamp: NOW + skew + 1,
            now: NOW,
            skew
        }
    );
    // A timestamp above 2^63 - 1, correctly signed: refused.
    let huge = with_cosigs(note.clone(), &[(1, NOW), (2, 1 << 63), (4, NOW)]);
    assert!(matches!(
        p.verify_checkpoint(&huge, u64::MAX),
        Err(Error::InvalidCosignature {
            reason: "timestamp exceeds 2^63 - 1",
            ..
        })
    ));

    // The log: another key, a bad signature, no log in the policy, another origin.
    let other_log = Checkpoint::new("example.com/log", 3, Hash::EMPTY)
        .sign(&lkey(1))
        .unwrap();
    assert_eq!(
        p.verify_checkpoint(&with_cosigs(other_log, &good), NOW),
        Err(Error::NoVerifiedSignature)
    );
    let mut tampered = with_cosigs(note.clone(), &good);
    let pos = tampered.iter().position(|b| *b == b'\n').unwrap() + 1;
    tampered[pos] = b'4';
    assert!(matches!(
        p.verify_checkpoint(&tampered, NOW),
        Err(Error::InvalidSignature { .. })
    ));
    let no_logs = Policy::parse("quorum none\n").unwrap();
    assert_eq!(
        no_logs.verify_checkpoint(&note.to_bytes(), NOW),
        Err(Error::NoVerifiedSignature)
    );
    let renamed = SignerKey::from_seed("example.com/renamed", &[100; 32]).unwrap();
    let p2 = Policy::parse(&format!(
        "log {}\nquorum none\n",
        renamed.verifier_key().to_text()
    ))
    .unwrap();
    let note2 = Checkpoint::new("example.com/log", 3, Hash::EMPTY)
        .sign(&renamed)
        .unwrap();
    assert!(matches!(
        p2.verify_checkpoint(&note2.to_bytes(), NOW),
        Err(Error::OriginMismatch { .. })
    ));
    assert!(matches!(
        p.verify_checkpoint(b"not a note", NOW),
        Err(Error::MalformedNote { .. })
    ));
}

#[test]
fn two_logs_with_one_origin() {
    // Key rotation: two keys for one origin, either one verifies.
    let p = Policy::parse(&format!(
        "log {}\nlog {}\nquorum none\n",
        lkey(0).verifier_key().to_text(),
        lkey(1).verifier_key().to_text()
    ))
    .unwrap();
    for k in [lkey(0), lkey(1)] {
        let note = Checkpoint::new("example.com/log", 0, Hash::EMPTY)
            .sign(&k)
            .unwrap();
        assert_eq!(
            p.verify_checkpoint(&note.to_bytes(), NOW).unwrap().log,
            k.verifier_key()
        );
    }
}

// ------------------------------------------------------------ quorum proptest

/// A policy structure: `n` witnesses, groups over earlier names, a quorum.
#[derive(Debug, Clone)]
struct Shape {
    witnesses: usize,
    /// Each group: threshold and members (indexes into witnesses then groups).
    groups: Vec<(usize, Vec<usize>)>,
    /// `None` for `quorum none`, else an index as for members.
    quorum: Option<usize>,
}

fn name(shape: &Shape, i: usize) -> String {
    if i < shape.witnesses {
        format!("w{i}")
    } else {
        format!("g{}", i - shape.witnesses)
    }
}

fn shape() -> impl Strategy<Value = Shape> {
    (1usize..7, 0usize..6).prop_flat_map(|(n, g)| {
        // Group j may name witnesses and groups 0..j.
        let groups: Vec<_> = (0..g)
            .map(|j| {
                proptest::sample::subsequence((0..n + j).collect::<Vec<_>>(), 1..=(n + j))
                    .prop_shuffle()
                    .prop_flat_map(|members| {
                        let m = members.len();
                        (1..=m).prop_map(move |k| (k, members.clone()))
                    })
            })
            .collect();
        (groups, proptest::option::of(0..n + g)).prop_map(move |(groups, quorum)| Shape {
            witnesses: n,
            groups,
            quorum,
        })
    })
}

/// The straightforward reading of the specification: recursion on names.
fn reference(shape: &Shape, cosigned: &[bool], i: usize) -> bool {
    if i < shape.witnesses {
        return cosigned[i];
    }
    let (k, members) = &shape.groups[i - shape.witnesses];
    members
        .iter()
        .filter(|m| reference(shape, cosigned, **m))
        .count()
        >= *k
}

fn policy_text(shape: &Shape) -> String {
    let mut text = String::new();
    for i in 0..shape.witnesses {
        text += &format!("witness w{i} {}\n", wv(i as u8));
    }
    for (j, (k, members)) in shape.groups.iter().enumerate() {
        let k = match *k {
            k if k == members.len() => "all".to_owned(),
            1 => "any".to_owned(),
            k => k.to_string(),
        };
        let members: Vec<String> = members.iter().map(|m| name(shape, *m)).collect();
        text += &format!("group g{j} {k} {}\n", members.join(" "));
    }
    text += &format!(
        "quorum {}\n",
        shape.quorum.map_or("none".to_owned(), |q| name(shape, q))
    );
    text
}

proptest! {
    #[test]
    fn quorum_arithmetic(shape in shape(), bits in any::<u8>()) {
        let policy = Policy::parse(&policy_text(&shape)).unwrap();
        let cosigned: Vec<bool> = (0..shape.witnesses).map(|i| bits >> i & 1 == 1).collect();
        let names: Vec<String> = (0..shape.witnesses)
            .filter(|i| cosigned[*i])
            .map(|i| format!("w{i}"))
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let want = shape.quorum.is_none_or(|q| reference(&shape, &cosigned, q));
        prop_assert_eq!(policy.satisfied_by(&names), want);

        // The same through real cosignatures on a checkpoint.
        let log = lkey(0);
        let full = format!("log {}\n{}", log.verifier_key().to_text(), policy_text(&shape));
        let policy = Policy::parse(&full).unwrap();
        let mut note = Checkpoint::new("example.com/log", 0, Hash::EMPTY).sign(&log).unwrap();
        let body = note.text().to_owned();
        for i in (0..shape.witnesses).filter(|i| cosigned[*i]) {
            note.push_signature(wkey(i as u8).cosign(&body, NOW));
        }
        match policy.verify_checkpoint(&note.to_bytes(), NOW) {
            Ok(w) => {
                prop_assert!(want);
                prop_assert_eq!(w.cosigners.len(), names.len());
            }
            Err(Error::QuorumNotMet { have, .. }) => {
                prop_assert!(!want);
                prop_assert_eq!(have, names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>());
            }
            Err(e) => prop_assert!(false, "{e}"),
        }
    }
}

// ---------------------------------------------------------------- witness

/// A log of `n` entries, its key, and signed checkpoints at every size.
fn witness_log(n: u64) -> (MemoryHashStore, Vec<Note>) {
    let mut store = MemoryHashStore::new();
    let mut notes = vec![
        Checkpoint::new("example.com/log", 0, store.root())
            .sign(&lkey(0))
            .unwrap(),
    ];
    for i in 0..n {
        store.append(leaf_hash(&i.to_be_bytes()));
        notes.push(
            Checkpoint::new("example.com/log", i + 1, store.root())
                .sign(&lkey(0))
                .unwrap(),
        );
    }
    (store, notes)
}

fn request(old: u64, proof: Vec<Hash>, note: &Note) -> AddCheckpointRequest {
    AddCheckpointRequest {
        old_size: old,
        consistency_proof: proof,
        checkpoint: note.to_bytes(),
    }
}

/// The checks in the spec's order, each with its HTTP status.
#[test]
fn add_checkpoint_decisions() {
    let (store, notes) = witness_log(10);
    let keys = [lkey(0).verifier_key()];
    let state = |n: u64| WitnessState {
        size: n,
        root_hash: tlog::tree_hash(n, &store).unwrap(),
    };
    let proof = |m, n| prove_consistency(m, n, &store).unwrap();
    let check = |latest: Option<WitnessState>, req: &AddCheckpointRequest| {
        check_add_checkpoint(latest.as_ref(), req, &keys)
    };

    // Accepted: first checkpoint, growth, the same checkpoint again, the
    // empty tree.
    assert_eq!(
        check(None, &request(0, vec![], &notes[5]))
            .unwrap()
            .checkpoint
            .tree_size,
        5
    );
    check(Some(state(5)), &request(5, proof(5, 9), &notes[9])).unwrap();
    check(Some(state(9)), &request(9, vec![], &notes[9])).unwrap();
    check(None, &request(0, vec![], &notes[0])).unwrap();
    check(Some(state(0)), &request(0, vec![], &notes[3])).unwrap();

    let status = |r: Result<_, AddCheckpointError>| r.unwrap_err().http_status();
    // 404: no key for the origin.
    let other = Checkpoint::new("example.com/other", 1, Hash::EMPTY)
        .sign(&SignerKey::from_seed("example.com/other", &[1; 32]).unwrap())
        .unwrap();
    let err = check(None, &request(0, vec![], &other)).unwrap_err();
    assert_eq!(
        err,
        AddCheckpointError::UnknownOrigin {
            origin: "example.com/other".into()
        }
    );
    assert_eq!(err.http_status(), 404);
    // 403: the origin's name with another key; a known key's bad signature.
    let forged = Checkpoint::new("example.com/log", 9, Hash::EMPTY)
        .sign(&lkey(1))
        .unwrap();
    assert_eq!(status(check(None, &request(0, vec![], &forged))), 403);
    let mut tampered = request(5, proof(5, 9), &notes[9]);
    let pos = tampered
        .checkpoint
        .iter()
        .position(|b| *b == b'\n')
        .unwrap()
        + 1;
    tampered.checkpoint[pos] = b'8';
    assert_eq!(status(check(Some(state(5)), &tampered)), 403);
    // 400: old size above the checkpoint's size (checked before the state).
    let err = check(Some(state(5)), &request(6, vec![], &notes[5])).unwrap_err();
    assert_eq!(
        err,
        AddCheckpointError::OldSizeTooLarge {
            old_size: 6,
            tree_size: 5
        }
    );
    assert_eq!(err.http_status(), 400);
    // 409: old size is not the latest; 0 when the witness never cosigned.
    let err = check(Some(state(5)), &request(4, proof(4, 9), &notes[9])).unwrap_err();
    assert!(matches!(
        err,
        AddCheckpointError::Conflict { latest_size: 5, .. }
    ));
    assert_eq!(err.http_status(), 409);
    assert!(matches!(
        check(None, &request(4, proof(4, 9), &notes[9])),
        Err(AddCheckpointError::Conflict { latest_size: 0, .. })
    ));
    assert!(matches!(
        check(Some(state(5)), &request(0, vec![], &notes[9])),
        Err(AddCheckpointError::Conflict { latest_size: 5, .. })
    ));
    // Rollback: a smaller checkpoint than the latest is a conflict too.
    assert!(matches!(
        check(Some(state(9)), &request(5, vec![], &notes[5])),
        Err(AddCheckpointError::Conflict { latest_size: 9, .. })
    ));
    // 422: a proof that does not verify; a proof between equal sizes.
    let mut bad = proof(5, 9);
    bad[0].0[0] ^= 1;
    let err = check(Some(state(5)), &request(5, bad, &notes[9])).unwrap_err();
    assert!(matches!(err, AddCheckpointError::InconsistentProof(_)));
    assert_eq!(err.http_status(), 422);
    assert_eq!(
        status(check(Some(state(5)), &request(5, proof(4, 9), &notes[9]))),
        422
    );
    assert_eq!(
        status(check(Some(state(5)), &request(5, vec![], &notes[9]))),
        422
    );
    assert_eq!(
        status(check(
            Some(state(9)),
            &request(9, vec![Hash::EMPTY], &notes[9])
        )),
        422
    );
    // 409: same size, another root (a fork at the latest size).
    let fork = Checkpoint::new("example.com/log", 9, Hash([7; 32]))
        .sign(&lkey(0))
        .unwrap();
    let err = check(Some(state(9)), &request(9, vec![], &fork)).unwrap_err();
    assert!(matches!(
        err,
        AddCheckpointError::Conflict { latest_size: 9, .. }
    ));
    // A fork at a larger size fails its proof: 422.
    let fork12 = Checkpoint::new("example.com/log", 12, Hash([7; 32]))
        .sign(&lkey(0))
        .unwrap();
    assert_eq!(
        status(check(Some(state(9)), &request(9, proof(9, 10), &fork12))),
        422
    );
    // 400: a malformed checkpoint or body.
    let req = AddCheckpointRequest {
        old_size: 0,
        consistency_proof: vec![],
        checkpoint: b"garbage\n\n".to_vec(),
    };
    assert_eq!(status(check(None, &req)), 400);
    let bad_body = Note::new("example.com/log\nnot a size\nAAAA\n").map(|mut n| {
        n.sign(&lkey(0));
        n
    });
    assert_eq!(
        status(check(None, &request(0, vec![], &bad_body.unwrap()))),
        400
    );
}

#[test]
fn add_checkpoint_request_parsing() {
    let (store, notes) = witness_log(9);
    let note = notes[9].to_bytes();
    let proof = prove_consistency(3, 9, &store).unwrap();
    let good = request(3, proof.clone(), &notes[9]).to_bytes();
    assert_eq!(
        AddCheckpointRequest::parse(&good)
            .unwrap()
            .consistency_proof,
        proof
    );
    let h = Hash([1; 32]).to_base64();
    let cat = |head: &str| [head.as_bytes(), &note].concat();
    for (body, why) in [
        (cat("old 0\n\n"), ""),
        (cat(&format!("old 1\n{h}\n\n")), ""),
        (cat(&format!("old 18446744073709551615\n{h}\n\n")), ""),
        (
            cat(&format!("old 1\n{}\n", format!("{h}\n").repeat(63))),
            "",
        ),
        (
            cat(&format!("old 1\n{}\n", format!("{h}\n").repeat(64))),
            "more than 63",
        ),
        (cat("old 01\n\n"), "canonical"),
        (cat("old -1\n\n"), "canonical"),
        (cat("old +1\n\n"), "canonical"),
        (cat("old 18446744073709551616\n\n"), "canonical"),
        (cat("old  1\n\n"), "canonical"),
        (cat("old\t1\n\n"), "old <size>"),
        (cat("Old 1\n\n"), "old <size>"),
        (cat("old 1\r\n\n"), "canonical"),
        (cat(&format!("old 0\n{h}\n\n")), "must be empty"),
        (cat(&format!("old 1\n{}\n\n", &h[..43])), "32-byte hash"),
        (cat(&format!("old 1\n{}F=\n\n", &h[..42])), "32-byte hash"),
        (cat(&format!("old 1\n{h} \n\n")), "32-byte hash"),
        (
            cat("old 1\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE\n\n"),
            "32-byte hash",
        ),
        (cat("old 1\n"), "32-byte hash"),
        (b"old 1\n\n".to_vec(), "no checkpoint"),
        (b"old 1\n".to_vec(), "newline"),
        (b"old 1".to_vec(), "newline"),
        (b"".to_vec(), "newline"),
    ] {
        let got = AddCheckpointRequest::parse(&body);
        if why.is_empty() {
            let req = got.unwrap();
            assert_eq!(req.to_bytes(), body);
        } else {
            let err = got.unwrap_err().to_string();
            assert!(
                err.contains(why),
                "{}: {err}",
                String::from_utf8_lossy(&body)
            );
        }
    }
}

#[test]
fn cosignature_responses() {
    let body = "example.com/log\n1\nAAAA\n";
    let sig = wkey(1).cosign(body, NOW);
    let one = sig.to_line();
    assert_eq!(
        parse_cosignature_response(one.as_bytes()).unwrap(),
        vec![sig.clone()]
    );
    let two = format!("{one}{}", wkey(2).cosign(body, NOW).to_line());
    assert_eq!(parse_cosignature_response(two.as_bytes()).unwrap().len(), 2);
    for bad in [
        String::new(),
        "\n".into(),
        one.trim_end().to_owned(),
        format!("{one}\n"),
        format!("\n{one}"),
        one.replace('\u{2014}', "-"),
        one.replace('\n', "\r\n"),
        format!("{one}garbage\n"),
    ] {
        assert!(
            parse_cosignature_response(bad.as_bytes()).is_err(),
            "{bad:?}"
        );
    }
    assert!(parse_cosignature_response(b"\xff\n").is_err());
    assert_eq!(cosignature_response(&[sig]), one.as_bytes());
}

// ------------------------------------------------------------- proof files

fn proof_file(index: u64) -> (ProofFile, Policy, Vec<u8>) {
    let (store, notes) = witness_log(13);
    let note = notes[13].clone();
    let bytes = with_cosigs(note, &[(1, NOW), (2, NOW)]);
    let file = ProofFile {
        extra: None,
        index,
        inclusion_proof: prove_inclusion(index, 13, &store).unwrap(),
        checkpoint: bytes,
    };
    let policy = Policy::parse(&format!(
        "log {}\nwitness A {}\nwitness B {}\ngroup G all A B\nquorum G\n",
        lkey(0).verifier_key().to_text(),
        wv(1),
        wv(2)
    ))
    .unwrap();
    (file, policy, index.to_be_bytes().to_vec())
}

#[test]
fn proof_file_probes() {
    for index in [0, 5, 12] {
        let (file, policy, entry) = proof_file(index);
        file.verify(&entry, &policy, NOW).unwrap();
        assert_eq!(ProofFile::parse(&file.to_bytes()).unwrap(), file);
        let mut probes = vec![];
        let good = &file.inclusion_proof;
        probes.push(good[..good.len() - 1].to_vec());
        probes.push([good.as_slice(), &[Hash::EMPTY]].concat());
        probes.push([&[Hash::EMPTY], good.as_slice()].concat());
        for i in 0..good.len() {
            for bit in [0, 100, 255] {
                let mut p = good.clone();
                p[i].0[bit / 8] ^= 1 << (bit % 8);
                probes.push(p);
            }
        }
        for p in probes {
            let f = ProofFile {
                inclusion_proof: p,
                ..file.clone()
            };
            assert!(matches!(
                f.verify(&entry, &policy, NOW),
                Err(Error::InvalidInclusionProof { .. })
            ));
            let f = ProofFile::parse(&f.to_bytes()).unwrap();
            assert!(f.verify_with_key(&entry, &lkey(0).verifier_key()).is_err());
        }
        // Another index, another entry.
        for other in [index + 1, index.wrapping_sub(1), 13, u64::MAX] {
            let f = ProofFile {
                index: other,
                ..file.clone()
            };
            assert!(
                f.verify(&entry, &policy, NOW).is_err(),
                "{index} as {other}"
            );
        }
        assert!(file.verify(b"other entry", &policy, NOW).is_err());
        // Cosignatures dropped: the quorum fails; with the key alone it passes.
        let mut note = Note::from_bytes(&file.checkpoint).unwrap();
        let log_only = Note::new(note.text()).map(|mut n| {
            n.push_signature(note.signatures()[0].clone());
            n
        });
        let f = ProofFile {
            checkpoint: log_only.unwrap().to_bytes(),
            ..file.clone()
        };
        assert!(matches!(
            f.verify(&entry, &policy, NOW),
            Err(Error::QuorumNotMet { .. })
        ));
        f.verify_with_key(&entry, &lkey(0).verifier_key()).unwrap();
        // Index beyond the tree.
        note.push_signature(NoteSignature {
            name: "x".into(),
            key_id: 1,
            signature: vec![1],
        });
        let f = ProofFile {
            index: 13,
            ..file.clone()
        };
        assert!(matches!(
            f.verify(&entry, &policy, NOW),
            Err(Error::IndexOutOfRange {
                index: 13,
                tree_size: 13
            })
        ));
    }
}

#[test]
fn proof_file_parsing() {
    let (file, _, _) = proof_file(5);
    let note = file.checkpoint.clone();
    let h = file.inclusion_proof[0].to_base64();
    let cat = |head: &str| [head.as_bytes(), &note].concat();
    for (bytes, want) in [
        (
            cat(&format!("c2sp.org/tlog-proof@v1\nindex 5\n{h}\n\n")),
            Ok(()),
        ),
        (cat("c2sp.org/tlog-proof@v1\nindex 0\n\n"), Ok(())),
        (cat("c2sp.org/tlog-proof@v1\nextra \nindex 0\n\n"), Ok(())),
        (
            cat("c2sp.org/tlog-proof@v1\nextra AAEC\nindex 0\n\n"),
            Ok(()),
        ),
        (
            cat(&format!(
                "c2sp.org/tlog-proof@v1\nindex 1\n{}\n",
                format!("{h}\n").repeat(64)
            )),
            Ok(()),
        ),
        (
            cat(&format!(
                "c2sp.org/tlog-proof@v1\nindex 1\n{}\n",
                format!("{h}\n").repeat(65)
            )),
            Err((67, "more than 64")),
        ),
        (
            cat("c2sp.org/tlog-proof@v2\nindex 0\n\n"),
            Err((1, "first line")),
        ),
        (
            cat("c2sp.org/tlog-proof@v1\r\nindex 0\n\n"),
            Err((1, "first line")),
        ),
        (
            cat("c2sp.org/tlog-proof@v1\nindex 05\n\n"),
            Err((2, "canonical decimal")),
        ),
        (
            cat("c2sp.org/tlog-proof@v1\nindex -5\n\n"),
            Err((2, "canonical decimal")),
        ),
        (
            cat("c2sp.org/tlog-proof@v1\nindex\n\n"),
            Err((2, "index <decimal>")),
        ),
        (
            cat("c2sp.org/tlog-proof@v1\nindex 1 \n\n"),
            Err((2, "canonical decimal")),
        ),
        (
            cat("c2sp.org/tlog-proof@v1\nextra AAE\nindex 0\n\n"),
            Err((2, "base64")),
        ),
        (
            cat("c2sp.org/tlog-proof@v1\nextra AAF=\nindex 0\n\n"),
            Err((2, "base64")),
        ),
        (
            cat("c2sp.org/tlog-proof@v1\nindex 0\nextra AAEC\n\n"),
            Err((3, "32-byte hash")),
        ),
        (
            cat("c2sp.org/tlog-proof@v1\nextra AAEC\nextra AAEC\nindex 0\n\n"),
            Err((3, "index <decimal>")),
        ),
        (
            cat(&format!(
                "c2sp.org/tlog-proof@v1\nindex 5\n{}\n\n",
                &h[..40]
            )),
            Err((3, "32-byte hash")),
        ),
        (
            cat("c2sp.org/tlog-proof@v1\nindex 5\n"),
            Err((3, "32-byte hash")),
        ),
        (
            b"c2sp.org/tlog-proof@v1\nindex 5\n\n".to_vec(),
            Err((0, "note")),
        ),
        (
            b"c2sp.org/tlog-proof@v1\nindex 5".to_vec(),
            Err((2, "newline")),
        ),
        (
            [cat("c2sp.org/tlog-proof@v1\nindex 0\n\n"), b"\n".to_vec()].concat(),
            Err((0, "note")),
        ),
        (
            [
                cat("c2sp.org/tlog-proof@v1\nindex 0\n\n"),
                b"trailing".to_vec(),
            ]
            .concat(),
            Err((0, "note")),
        ),
    ] {
        match (ProofFile::parse(&bytes), want) {
            (Ok(f), Ok(())) => assert_eq!(f.to_bytes(), bytes),
            (Err(Error::MalformedProofFile { line, reason }), Err((want_line, why))) => {
                assert_eq!(line, want_line, "{reason}");
                assert!(reason.contains(why), "{reason}");
            }
            (Err(Error::MalformedNote { .. }), Err((0, "note"))) => {}
            (got, want) => panic!(
                "{}: {got:?}, want {want:?}",
                String::from_utf8_lossy(&bytes)
            ),
        }
    }
}

#[test]
fn vkey_helper() {
    let log = lkey(0).verifier_key();
    let w = wkey(1).verifier();
    assert_eq!(
        Vkey::from_text(&log.to_text()).unwrap(),
        Vkey::Log(log.clone())
    );
    let vk = Vkey::from_text(&w.to_text()).unwrap();
    assert_eq!(vk.signature_type(), 0x04);
    assert_eq!(vk.name(), w.name());
    assert_eq!(vk.key_id(), w.key_id());
    assert_eq!(vk.public_key(), w.public_key());
    assert_eq!(vk.to_text(), w.to_text());
    assert!(VerifierKey::from_text(&w.to_text()).is_err());
}
