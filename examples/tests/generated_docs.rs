//! The committed man pages and completions in `packaging/` are what `gen_docs` writes from
//! today's flags: a flag added, removed or reworded without regenerating fails here.

#[allow(dead_code)]
#[path = "../examples/gen_docs.rs"]
mod gen_docs;

#[test]
fn committed_docs_match_the_flags() {
    let root = gen_docs::packaging_dir();
    let mut stale = Vec::new();
    for (rel, bytes) in gen_docs::render() {
        match std::fs::read(root.join(&rel)) {
            Ok(committed) if committed == bytes => {}
            Ok(_) => stale.push(format!("{} differs", rel.display())),
            Err(e) => stale.push(format!("{}: {e}", rel.display())),
        }
    }
    assert!(
        stale.is_empty(),
        "packaging/ is stale ({}); run `cargo run -p lvs-examples --example gen_docs` and commit",
        stale.join(", ")
    );
}

/// Each director's page documents its own port flags only.
#[test]
fn man_pages_show_each_binary_its_own_flags() {
    let pages: std::collections::HashMap<_, _> = gen_docs::render()
        .into_iter()
        .filter(|(p, _)| p.starts_with("man"))
        .map(|(p, b)| (p, String::from_utf8(b).unwrap()))
        .collect();
    let afp = &pages[std::path::Path::new("man/lvs-afpacket.8")];
    let tap = &pages[std::path::Path::new("man/lvs-tap.8")];
    assert!(afp.contains("iface") && afp.contains("fanout") && !afp.contains("\\-\\-tap"));
    assert!(tap.contains("\\-\\-tap") && !tap.contains("iface") && !tap.contains("fanout"));
}
