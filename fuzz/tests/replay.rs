//! Replays every committed input of every fuzz target on stable: the seed corpus in
//! `seeds/<target>/` and the minimized crashes in `crashes/<target>/`, through the same
//! body functions the libFuzzer binaries call. A crash file keeps failing this test until
//! the bug it found is fixed.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

type Body = fn(&[u8]);

const TARGETS: [(&str, Body); 11] = [
    ("parse", lvs_fuzz::parse),
    ("rules", lvs_fuzz::rules),
    ("nat", lvs_fuzz::nat),
    ("tun", lvs_fuzz::tun),
    ("dr", lvs_fuzz::dr),
    ("icmp_gen", lvs_fuzz::icmp_gen),
    ("director", lvs_fuzz::director),
    ("gso", lvs_fuzz::gso),
    ("control", lvs_fuzz::control),
    ("keepalived", lvs_fuzz::keepalived),
    ("sync", lvs_fuzz::sync),
];

/// The files in `dir` (not recursive, dot files skipped), sorted; none if it is missing.
fn inputs(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<_> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    v.sort();
    v
}

fn replay(kind: &str, require_some: bool) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut failures = Vec::new();
    for (name, body) in TARGETS {
        let files = inputs(&root.join(kind).join(name));
        assert!(
            !require_some || !files.is_empty(),
            "no {kind} for target `{name}`"
        );
        for path in files {
            let data = std::fs::read(&path).expect("read input");
            if catch_unwind(AssertUnwindSafe(|| body(&data))).is_err() {
                failures.push(path.display().to_string());
            }
        }
    }
    assert!(failures.is_empty(), "inputs that fail: {failures:#?}");
}

#[test]
fn seeds() {
    replay("seeds", true);
}

#[test]
fn crashes() {
    replay("crashes", false);
}

/// The `gso` seeds are real super-frames: all but `scratch_small` segment into several
/// frames (so the fuzzer starts from inputs that reach the segmenter's inner loop).
#[test]
fn gso_seeds_segment() {
    use lvs_forwarding::gso;
    use lvs_forwarding::offload::{Encap, Offload};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/gso");
    for path in inputs(&dir) {
        let data = std::fs::read(&path).expect("read seed");
        let mut o = Offload::from_virtio(&data[..10]).expect("seed header");
        let inner = u16::from_be_bytes([data[10], data[11]]);
        if inner != 0 {
            o.encap = Some(Encap {
                inner_offset: inner,
            });
        }
        let mut scratch = vec![0u8; usize::from(u16::from_be_bytes([data[12], data[13]]))];
        let r = gso::segment(&data[14..], &o, &mut scratch, &mut |_| {});
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        match (name.as_str(), r) {
            ("scratch_small", r) => assert!(r.is_err(), "{name}"),
            ("udp4_partial_only", r) => assert_eq!(r, Ok(1), "{name}"),
            (_, r) => assert!(r.is_ok_and(|n| n >= 3), "{name}: {r:?}"),
        }
    }
}
