//! Writes the man pages and shell completions of the director binaries into `packaging/`,
//! generated from their clap definitions (`lvs_examples::cli`):
//!
//! ```sh
//! cargo run -p lvs-examples --example gen_docs
//! ```
//!
//! `packaging/man/NAME.1` (clap_mangen) and `packaging/completions/` (`NAME.bash`, `_NAME`
//! for zsh, `NAME.fish`; clap_complete). The generated files are committed; the test
//! `generated_docs` fails when they differ from what this writes, so run it after changing a
//! flag. `lvsadm` parses ipvsadm's command line by hand (not clap) and has no generated page.

use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;
use lvs_examples::cli::{AfPacketCli, DecapCli, PcapCli, TapCli};

/// Every generated file: its path under `packaging/` and its contents.
pub fn render() -> Vec<(PathBuf, Vec<u8>)> {
    let commands = [
        AfPacketCli::command(),
        TapCli::command(),
        PcapCli::command(),
        DecapCli::command(),
    ];
    let mut files = Vec::new();
    for cmd in commands {
        let name = cmd.get_name().to_string();
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd.clone())
            .section("8")
            .manual("lvs-rs")
            .source(format!("lvs-rs {}", env!("CARGO_PKG_VERSION")))
            .render(&mut page)
            .expect("rendering into memory cannot fail");
        files.push((PathBuf::from(format!("man/{name}.8")), page));
        for (shell, file) in [
            (Shell::Bash, format!("{name}.bash")),
            (Shell::Zsh, format!("_{name}")),
            (Shell::Fish, format!("{name}.fish")),
        ] {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut cmd.clone(), &name, &mut out);
            files.push((PathBuf::from(format!("completions/{file}")), out));
        }
    }
    files
}

/// The workspace's `packaging/` directory.
pub fn packaging_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging")
}

fn main() -> std::io::Result<()> {
    let root = packaging_dir();
    for (rel, bytes) in render() {
        let path = root.join(&rel);
        std::fs::create_dir_all(path.parent().expect("generated paths have a directory"))?;
        std::fs::write(&path, bytes)?;
        println!("wrote packaging/{}", rel.display());
    }
    Ok(())
}
