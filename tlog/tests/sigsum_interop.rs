//! Interoperability with an independent implementation: the `sigsum` crate
//! (Mullvad's sigsum-rs, MIT), a Rust verifier of Sigsum proofs. Sigsum
//! logs sign C2SP checkpoints, its witnesses cosign them with
//! `cosignature/v1` (Ed25519, the same signed message), and its policy
//! format is the one c2sp.org/tlog-policy grew from (hex keys where
//! tlog-policy has vkeys; the same groups and quorum).
//!
//! 1. A real proof from Sigsum's test log, cosigned by eight witnesses that
//!    run independent software, re-encoded as a c2sp.org/tlog-proof file and
//!    a c2sp.org/tlog-policy, verifies with this crate (and every tamper is
//!    caught); sigsum's own verifier accepts the original.
//! 2. Cosignatures made by this crate, on a tree built by this crate,
//!    verify with sigsum's verifier.
//! 3. Quorum arithmetic agrees with sigsum's on random nested groups.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use tlog::{
    Checkpoint, CosignerKey, CosignerVerifier, Error, Hash, MemoryHashStore, Note, NoteSignature,
    Policy, ProofFile, SignerKey, VerifierKey, key_id, leaf_hash, prove_inclusion,
};

// From mullvad/sigsum-rs v0.3.0 (crates.io `sigsum` 0.3.0, MIT): the proof
// in the crate documentation's example (`src/lib.rs`), its message and
// signer, and the policy `builtin-policies/sigsum-test-2025-3.builtin-policy`
// it verifies under. The cosignatures were made by the witnesses of that
// policy on 2026-02-04 (timestamp 1770193051).
const SIGSUM_MESSAGE: &[u8] = b"Hello, Sigsum!\n";
const SIGSUM_SIGNER: &str = "99ed58583e8750b20548e69df4a4e1a592379a9a66c51cd32e42fbe4e1bde78a";
const SIGSUM_PROOF: &str = "version=2
log=1643169b32bef33a3f54f8a353b87c475d19b6223cbb106390d10a29978e1cba
leaf=2c8d843ed6237e9ea033207113329fdd1428c75f8fd3c6782ae46c92c7a00c40 38dd0b42cab5166611a4f8346db1c6ffe81ee2345f3ffe36a466eb8fce1d4b2879fbb5f26291d25e610b2dc7f30eaa603efd97739ae585657d0f7181726eec00

size=381382
root_hash=901fefc6f1d978d2c2bedb82d448755bcdc7e8626e67ac7ee80873771be9b667
signature=8a8bf1fca60d1344fb6e2106e8f8906af833d3d75a21fe8d3af72be459f7a11f2ae6606ec6344a13b851cd454b3d281a2b1ae47732f7a8d6afbcc0134d1a2d00
cosignature=1c997261f16e6e81d13f420900a2542a4b6a049c2d996324ee5d82a90ca3360c 1770193051 a1ee1182b265204499cbef3ae59f3ea228b928b3cbda8817a4ed5a12776823e9ad8ef1ce986b9b98d9954f1798ec4315c1820704600a231c69038ccc9726d202
cosignature=49c4cd6124b7c572f3354d854d50b2a4b057a750f786cf03103c09de339c4ea3 1770193051 aaf642e81a54399777180f238573d74878b68c7b645d8011583621405bb450b4e7887fc76502a8142c493d64e3ed3e556d82dad1706411082e58805f64fa9d02
cosignature=70b861a010f25030de6ff6a5267e0b951e70c04b20ba4a3ce41e7fba7b9b7dfc 1770193051 f5953f406f5fd97d9c9d1328b00b07bf434a5eb76d8da359aeda98c414de29ca1ced1872971ea0f137508a7bb05c7d322548409425677af96433706319bc0801
cosignature=86b5414ae57f45c2953a074640bb5bedebad023925d4dc91a31de1350b710089 1770193051 3434b4646904714f4983c8e7e976a45332711f10012b19fbeb5549b6c0c04fb4ed52feed2da829354623c52b22b90093776034a8d57d660f9ff27a118f5bf801
cosignature=c1d2d6935c2fb43bef395792b1f3c1dfe4072d4c6cadd05e0cc90b28d7141ed3 1770193051 f0dce1bcdda3a2826479d62e6afedbe9ec06e8f990ae59d8cefa84d9a6ee68c12c2820fb00e1dbdc30044b16c7695a9d1047cec4788dc757f698d34ebaec4305
cosignature=d960fcff859a34d677343e4789c6843e897c9ff195ea7140a6ef382566df3b65 1770193051 b44c41f75566850003f7f655a6dc7bb38bb980e8e2c383871e29883805d3adec7782a08388b9386d9718380a4bb6900043e2b46080cff0fa75a500c36ef9df0a
cosignature=e4a6a1e4657d8d7a187cc0c20ed51055d88c72f340d29534939aee32d86b4021 1770193051 70697b4a6b07e79e49d0a8e41fd7450a593ee9df11da6244cebe4b0c15c8e52f28ad3931b95a806fc7f16b4ad90197971ddc087434c7985b8b3a0223c9fa3603
cosignature=42351ad474b29c04187fd0c8c7670656386f323f02e9a4ef0a0055ec061ecac8 1770193051 6610e5cf4ead2062d9783fbc19d2bae65eded35335495ad0cf0386277ed2d51854ced64efa21a6db0a398fdfb6761aa7d5659e54950a060d167fbdcb7b5ece05

leaf_index=381381
node_hash=d009c5dbeaaa5be1788ea9533f6f398747755a8245012165ac73f753b7917672
node_hash=fb515551fe18f6e53d7d7f49b80abbb5c702b9662ee74fc7730e4a7685000aa4
node_hash=e21e73ee8caf0d49cdcd2f334b3f64e85e4a151daf8d09b6034306bb21b88480
node_hash=f77bc4db00e509149b6e2fc0028d7107dd415929dc9972f32fe758ce39bcc9a0
node_hash=3acb38f01c633d917b899ed4e522a49a02bf20d358f98ca530e3a3065591e7f2
node_hash=889de80c543a5ae8e35430988dc120ac7edde74b776f9082f814ea88190a601f
node_hash=199f812b9f3667dec31f964098e32652477a2f3d458019b6f8f4acc645cf0131
node_hash=084580f8f6324d4ae42dbcb779502ab9fab77e0c2b92519fe089be72e38d60ed
node_hash=9ddbece4939d621df53f31e2729d5fa7802fd82f3edfb784483d8b7fa9cf41e2
node_hash=e1c7a90c09949c263807e5970aef47f9a06164b759995ab814aff94aff9dcd00
";
const SIGSUM_POLICY: &str = "\
log 4644af2abd40f4895a003bca350f9d5912ab301a49c77f13e5b6d905c20a5fe6 https://test.sigsum.org/barreleye
log 47e481606d8acba747a6b053d6c2d191605fb122175d410a1202a91430abce39 https://serviceberry.tlog.stagemole.eu
witness poc.sigsum.org/nisse                       1c25f8a44c635457e2e391d1efbca7d4c2951a0aef06225a881e46b98962ac6c
witness rgdd.se/poc-witness                        28c92a5a3a054d317c86fc2eeb6a7ab2054d6217100d0be67ded5b74323c5806
witness witness1.smartit.nu/witness1               f4855a0f46e8a3e23bb40faf260ee57ab8a18249fa402f2ca2d28a60e1a3130e
witness witness.navigli.sunlight.geomys.org        dcbf728e02d479f5a7e20dc09adf525833ed6e797526517aeb07fc6854849fc6
witness remora.n621.de                             ebcdeb78e7fdb2ef9227b2c1ef11e94600b55b4d6d9a57877e31ee89e59adc36
witness witness.stagemole.eu                       4a921b7caef58ae670cdc11ef4184f1c058f7b9259a9107a969f69fa54aa496f
witness tillitis.se/test-witness-1                 636582aec12f32c18a21733db9e3f718058ee7aaec6dbe4eb81781e0f4300c6e
witness transparency.dev/DEV:witness-little-garden 2b6eb0ec483503544cde4e8fc1ce6d1921db21dffccc186865f808f7625443cc
group glasklar-test-witnesses 2 poc.sigsum.org/nisse rgdd.se/poc-witness witness1.smartit.nu/witness1
group quorum-rule 4 glasklar-test-witnesses witness.navigli.sunlight.geomys.org remora.n621.de witness.stagemole.eu tillitis.se/test-witness-1 transparency.dev/DEV:witness-little-garden
quorum quorum-rule
";
const SIGSUM_TIME: u64 = 1_770_193_051;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex32(s: &str) -> [u8; 32] {
    unhex(s).try_into().unwrap()
}

/// A Sigsum log's origin: `sigsum.org/v1/tree/<hex SHA-256 of its key>`.
fn sigsum_origin(pk: &[u8; 32]) -> String {
    format!("sigsum.org/v1/tree/{}", hex(&Sha256::digest(pk)))
}

/// The Sigsum policy in c2sp.org/tlog-policy form: hex keys become vkeys
/// (logs named by origin, type 0x01; witnesses named by their Sigsum name,
/// type 0x04); groups and the quorum are copied as they are.
fn to_tlog_policy(sigsum: &str) -> String {
    let mut out = String::new();
    for line in sigsum.lines() {
        let items: Vec<&str> = line.split_whitespace().collect();
        match items.as_slice() {
            ["log", key, rest @ ..] => {
                let pk = unhex32(key);
                let vkey = VerifierKey::new(&sigsum_origin(&pk), &pk).unwrap();
                out += &format!("log {} {}\n", vkey.to_text(), rest.join(" "));
            }
            ["witness", name, key] => {
                let vkey = CosignerVerifier::new(name, &unhex32(key)).unwrap();
                out += &format!("witness {name} {}\n", vkey.to_text());
            }
            _ => out += &format!("{line}\n"),
        }
    }
    out
}

/// The fields of a Sigsum proof, by name, in order.
fn fields(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split_once('=').unwrap())
        .collect()
}

/// The Sigsum proof as a c2sp.org/tlog-proof file, and its entry (the
/// Sigsum leaf: checksum, signature, signer's key hash).
fn sigsum_as_tlog_proof() -> (ProofFile, Vec<u8>) {
    let f = fields(SIGSUM_PROOF);
    let get = |k: &str| f.iter().find(|(n, _)| *n == k).unwrap().1;
    let log_pk = SIGSUM_POLICY
        .lines()
        .filter_map(|l| l.strip_prefix("log "))
        .map(|l| unhex32(l.split_whitespace().next().unwrap()))
        .find(|pk| hex(&Sha256::digest(pk)) == get("log"))
        .unwrap();
    let origin = sigsum_origin(&log_pk);
    let root = Hash(unhex32(get("root_hash")));
    let mut note = Checkpoint::new(&origin, get("size").parse().unwrap(), root)
        .to_body()
        .parse::<String>()
        .map(Note::new)
        .unwrap()
        .unwrap();
    note.push_signature(NoteSignature {
        name: origin.clone(),
        key_id: key_id(&origin, &log_pk),
        signature: unhex(get("signature")),
    });
    let witnesses: Vec<(&str, [u8; 32])> = SIGSUM_POLICY
        .lines()
        .filter_map(|l| l.strip_prefix("witness "))
        .map(|l| {
            let mut it = l.split_whitespace();
            (it.next().unwrap(), unhex32(it.next().unwrap()))
        })
        .collect();
    for (_, v) in f.iter().filter(|(n, _)| *n == "cosignature") {
        let mut it = v.split(' ');
        let (keyhash, ts, sig) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
        let Some((name, pk)) = witnesses
            .iter()
            .find(|(_, pk)| hex(&Sha256::digest(pk)) == keyhash)
        else {
            continue; // a witness this policy does not list
        };
        let mut signature = ts.parse::<u64>().unwrap().to_be_bytes().to_vec();
        signature.extend(unhex(sig));
        note.push_signature(NoteSignature {
            name: (*name).to_owned(),
            key_id: tlog::cosigner_key_id(name, pk),
            signature,
        });
    }
    let (leaf_keyhash, leaf_sig) = get("leaf").split_once(' ').unwrap();
    let checksum = Sha256::digest(Sha256::digest(SIGSUM_MESSAGE));
    let entry = [&checksum[..], &unhex(leaf_sig), &unhex(leaf_keyhash)].concat();
    let file = ProofFile {
        extra: None,
        index: get("leaf_index").parse().unwrap(),
        inclusion_proof: f
            .iter()
            .filter(|(n, _)| *n == "node_hash")
            .map(|(_, h)| Hash(unhex32(h)))
            .collect(),
        checkpoint: note.to_bytes(),
    };
    (file, entry)
}

#[test]
fn sigsum_accepts_its_own_proof() {
    // The vector is genuine: the independent verifier accepts it.
    let sig = sigsum::SigsumSignature::from_ascii(SIGSUM_PROOF).unwrap();
    let policy = sigsum::Policy::parse(SIGSUM_POLICY).unwrap();
    let signer: sigsum::PublicKey = unhex32(SIGSUM_SIGNER).into();
    sigsum::verify(&sigsum::Hash::new(SIGSUM_MESSAGE), &sig, &[signer], &policy).unwrap();
}

#[test]
fn real_sigsum_proof_verifies_as_tlog_proof() {
    let (file, entry) = sigsum_as_tlog_proof();
    // The signer's key hash in the entry is the one in the proof.
    assert_eq!(
        hex(&entry[96..]),
        hex(&Sha256::digest(unhex(SIGSUM_SIGNER)))
    );
    let policy = Policy::parse(&to_tlog_policy(SIGSUM_POLICY)).unwrap();
    let bytes = file.to_bytes();
    let file = ProofFile::parse(&bytes).unwrap();
    let w = file.verify(&entry, &policy, SIGSUM_TIME + 3600).unwrap();
    assert_eq!(w.checkpoint.checkpoint.tree_size, 381_382);
    let names: Vec<&str> = w.cosigners.iter().map(|c| c.name.as_str()).collect();
    assert!(names.len() >= 6, "{names:?}");
    assert!(w.cosigners.iter().all(|c| c.timestamp == SIGSUM_TIME));
    // With the log key alone.
    file.verify_with_key(&entry, &policy.logs()[1].key).unwrap();

    // The witnesses' clocks: a verifier whose clock is more than a minute
    // behind the cosignatures refuses them.
    assert!(matches!(
        file.verify(&entry, &policy, SIGSUM_TIME - 61),
        Err(Error::CosignatureInFuture { .. })
    ));
    file.verify(&entry, &policy, SIGSUM_TIME - 60).unwrap();

    // Every cosignature line flipped in turn: refused as invalid.
    let note = Note::from_bytes(&file.checkpoint).unwrap();
    for i in 1..note.signatures().len() {
        let mut sigs = note.signatures().to_vec();
        sigs[i].signature[40] ^= 1;
        let mut n = Note::new(note.text()).unwrap();
        sigs.into_iter().for_each(|s| n.push_signature(s));
        let f = ProofFile {
            checkpoint: n.to_bytes(),
            ..file.clone()
        };
        assert!(
            matches!(
                f.verify(&entry, &policy, SIGSUM_TIME),
                Err(Error::InvalidCosignature { .. })
            ),
            "line {i}"
        );
    }
    // Drop cosignatures until the quorum (4 of 6, two of them from the
    // Glasklar group of three) is no longer met.
    let mut kept = note.signatures().to_vec();
    let mut met = true;
    while met {
        kept.pop();
        let mut n = Note::new(note.text()).unwrap();
        kept.iter().cloned().for_each(|s| n.push_signature(s));
        let f = ProofFile {
            checkpoint: n.to_bytes(),
            ..file.clone()
        };
        let have: Vec<String> = policy
            .cosigners(&n, SIGSUM_TIME)
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        let have: Vec<&str> = have.iter().map(String::as_str).collect();
        met = policy.satisfied_by(&have);
        assert_eq!(f.verify(&entry, &policy, SIGSUM_TIME).is_ok(), met);
    }
    // The entry and the proof.
    let mut other = entry.clone();
    other[0] ^= 1;
    assert!(file.verify(&other, &policy, SIGSUM_TIME).is_err());
}

/// A Sigsum-shaped log built by this crate: leaves are Sigsum leaves, the
/// checkpoint is signed by a log key named by its Sigsum origin and
/// cosigned by this crate's cosigner keys. Sigsum's verifier checks it.
#[test]
fn our_cosignatures_verify_with_sigsum() {
    let log = {
        let seed = [9; 32];
        let pk = *SignerKey::from_seed("x", &seed)
            .unwrap()
            .verifier_key()
            .public_key();
        SignerKey::from_seed(&sigsum_origin(&pk), &seed).unwrap()
    };
    let log_pk = *log.verifier_key().public_key();
    let signer = SignerKey::from_seed("signer", &[8; 32]).unwrap();
    let signer_pk = *signer.verifier_key().public_key();
    let witnesses: Vec<CosignerKey> = (0..3)
        .map(|i| CosignerKey::from_seed(&format!("w{i}.example"), &[20 + i; 32]).unwrap())
        .collect();

    let messages: Vec<Vec<u8>> = (0..7)
        .map(|i| format!("message {i}").into_bytes())
        .collect();
    let mut store = MemoryHashStore::new();
    let mut leaves = Vec::new();
    for m in &messages {
        let checksum = Sha256::digest(Sha256::digest(m));
        let sig = signer.sign(&[b"sigsum.org/v1/tree-leaf\0".as_slice(), &checksum].concat());
        let leaf = [
            &checksum[..],
            &sig.signature,
            &Sha256::digest(signer_pk)[..],
        ]
        .concat();
        store.append(leaf_hash(&leaf));
        leaves.push((sig.signature, leaf));
    }
    let mut note = Checkpoint::new(log.name(), store.size(), store.root())
        .sign(&log)
        .unwrap();
    let body = note.text().to_owned();
    let ts = 1_700_000_000;
    let cosigs: Vec<NoteSignature> = witnesses.iter().map(|w| w.cosign(&body, ts)).collect();
    cosigs.iter().for_each(|c| note.push_signature(c.clone()));

    let sigsum_policy = format!(
        "log {}\nwitness A {}\nwitness B {}\nwitness C {}\ngroup G 2 A B C\nquorum G\n",
        hex(&log_pk),
        hex(witnesses[0].verifier().public_key()),
        hex(witnesses[1].verifier().public_key()),
        hex(witnesses[2].verifier().public_key())
    );
    let sigsum_policy = sigsum::Policy::parse(&sigsum_policy).unwrap();
    // Our policy names the witnesses' keys by their own names (sigsum
    // identifies witnesses by key hash only).
    let our_policy = Policy::parse(&format!(
        "log {}\nwitness A {}\nwitness B {}\nwitness C {}\ngroup G 2 A B C\nquorum G\n",
        log.verifier_key().to_text(),
        witnesses[0].verifier().to_text(),
        witnesses[1].verifier().to_text(),
        witnesses[2].verifier().to_text()
    ))
    .unwrap();

    // The proof for each leaf, in Sigsum's format, with our cosignatures.
    let sigsum_proof = |index: u64, cosigs: &[(usize, &NoteSignature)]| {
        let (leaf_sig, _) = &leaves[index as usize];
        let mut text = format!(
            "version=2\nlog={}\nleaf={} {}\n\nsize={}\nroot_hash={}\nsignature={}\n",
            hex(&Sha256::digest(log_pk)),
            hex(&Sha256::digest(signer_pk)),
            hex(leaf_sig),
            store.size(),
            store.root().to_hex(),
            hex(&note.signatures()[0].signature),
        );
        for (w, c) in cosigs {
            text += &format!(
                "cosignature={} {} {}\n",
                hex(&Sha256::digest(witnesses[*w].verifier().public_key())),
                u64::from_be_bytes(c.signature[..8].try_into().unwrap()),
                hex(&c.signature[8..])
            );
        }
        text += &format!("\nleaf_index={index}\n");
        for h in prove_inclusion(index, store.size(), &store).unwrap() {
            text += &format!("node_hash={}\n", h.to_hex());
        }
        sigsum::SigsumSignature::from_ascii(&text).unwrap()
    };
    let signers: Vec<sigsum::PublicKey> = vec![signer_pk.into()];
    for (i, m) in messages.iter().enumerate() {
        let all: Vec<(usize, &NoteSignature)> = cosigs.iter().enumerate().collect();
        let proof = sigsum_proof(i as u64, &all);
        sigsum::verify(&sigsum::Hash::new(m), &proof, &signers, &sigsum_policy).unwrap();
        // The same proof as a tlog-proof file verifies here too.
        let file = ProofFile {
            extra: None,
            index: i as u64,
            inclusion_proof: prove_inclusion(i as u64, store.size(), &store).unwrap(),
            checkpoint: note.to_bytes(),
        };
        file.verify(&leaves[i].1, &our_policy, ts).unwrap();
        // One cosignature is not a quorum of two, for sigsum either.
        let proof = sigsum_proof(i as u64, &all[..1]);
        assert!(sigsum::verify(&sigsum::Hash::new(m), &proof, &signers, &sigsum_policy).is_err());
    }
    // A cosignature over another timestamp than it carries: sigsum refuses it.
    let mut forged = cosigs[1].clone();
    forged.signature[..8].copy_from_slice(&(ts + 1).to_be_bytes());
    let proof = sigsum_proof(0, &[(0, &cosigs[0]), (1, &forged)]);
    assert!(
        sigsum::verify(
            &sigsum::Hash::new(&messages[0]),
            &proof,
            &signers,
            &sigsum_policy
        )
        .is_err()
    );
    // And base64 of our line is what Sigsum's hex says, byte for byte.
    let line = cosigs[2].to_line();
    let data = B64
        .decode(line.trim_end().rsplit(' ').next().unwrap())
        .unwrap();
    assert_eq!(&data[4..], &cosigs[2].signature[..]);
}

/// A random policy: `n` witnesses, groups over earlier names, a quorum.
#[derive(Debug, Clone)]
struct Shape {
    witnesses: usize,
    groups: Vec<(usize, Vec<usize>)>,
    quorum: Option<usize>,
}

fn shape() -> impl Strategy<Value = Shape> {
    (1usize..7, 0usize..6).prop_flat_map(|(n, g)| {
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

fn witness_pk(i: usize) -> [u8; 32] {
    *CosignerKey::from_seed("w", &[i as u8 + 1; 32])
        .unwrap()
        .verifier()
        .public_key()
}

/// The policy in Sigsum's format (hex keys).
fn sigsum_text(shape: &Shape) -> String {
    let name = |i: usize| {
        if i < shape.witnesses {
            format!("w{i}")
        } else {
            format!("g{}", i - shape.witnesses)
        }
    };
    let mut text = String::new();
    for i in 0..shape.witnesses {
        text += &format!("witness w{i} {}\n", hex(&witness_pk(i)));
    }
    for (j, (k, members)) in shape.groups.iter().enumerate() {
        let members: Vec<String> = members.iter().map(|m| name(*m)).collect();
        text += &format!("group g{j} {k} {}\n", members.join(" "));
    }
    text += &format!("quorum {}\n", shape.quorum.map_or("none".into(), name));
    text
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn quorum_agrees_with_sigsum(shape in shape(), bits in any::<u8>()) {
        let text = sigsum_text(&shape);
        let theirs = sigsum::Policy::parse(&text).unwrap();
        let ours = Policy::parse(&to_tlog_policy(&text)).unwrap();
        let cosigned: Vec<usize> = (0..shape.witnesses).filter(|i| bits >> i & 1 == 1).collect();
        let names: Vec<String> = cosigned.iter().map(|i| format!("w{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let keyhashes: Vec<sigsum::Hash> =
            cosigned.iter().map(|i| sigsum::Hash::new(witness_pk(*i))).collect();
        prop_assert_eq!(ours.satisfied_by(&names), theirs.check_quorum(&keyhashes));
    }
}
