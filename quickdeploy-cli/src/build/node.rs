//! Native addons in a Node.js build (pure): npm installs them for this machine (as `sam
//! build` does without a container), so an `arm64` function built on x86_64, or the other way
//! round, gets `.node` files it cannot load. They are found by their ELF machine and reported.

/// ELF's `e_machine` for a Lambda architecture.
pub fn elf_machine_of(architecture: &str) -> Option<u16> {
    match architecture {
        "x86_64" => Some(62),
        "arm64" => Some(183),
        _ => None,
    }
}

/// The `e_machine` of an ELF file, from its first 20 bytes; `None` when it is not ELF.
pub fn elf_machine(head: &[u8]) -> Option<u16> {
    (head.len() >= 20 && head.starts_with(b"\x7fELF")).then(|| match head[5] {
        2 => u16::from_be_bytes([head[18], head[19]]),
        _ => u16::from_le_bytes([head[18], head[19]]),
    })
}

/// The warning for the native addons (`(path, e_machine)`) that are not for `architecture`;
/// `None` when there are none.
pub fn foreign_addons(ids: &str, architecture: &str, addons: &[(String, u16)]) -> Option<String> {
    let want = elf_machine_of(architecture)?;
    let foreign: Vec<&str> = addons
        .iter()
        .filter(|(_, m)| *m != want)
        .map(|(p, _)| p.as_str())
        .collect();
    if foreign.is_empty() {
        return None;
    }
    let shown: Vec<&str> = foreign.iter().take(5).copied().collect();
    let more = foreign.len() - shown.len();
    Some(format!(
        "warning: {ids}: {} native addon(s) in node_modules are not built for {architecture}, and the function cannot load them: {}{}. npm installs addons for this machine: build in a container of the Lambda image (`sam build --use-container`, then `package =`), or install with npm's `--cpu`/`--os` for packages that ship prebuilt binaries, in a `build = \"...\"` command of your own",
        foreign.len(),
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf(machine: u16) -> Vec<u8> {
        let mut h = b"\x7fELF\x02\x01\x01".to_vec();
        h.resize(18, 0);
        h.extend(machine.to_le_bytes());
        h
    }

    #[test]
    fn addons_for_another_machine_are_reported_by_name() {
        assert_eq!(elf_machine(&elf(62)), Some(62));
        assert_eq!(elf_machine(b"not an elf file at all"), None);
        assert_eq!(elf_machine(&elf(183)[..10]), None);
        let addons = vec![
            ("node_modules/a/build/Release/a.node".to_owned(), 62),
            ("node_modules/b/b.node".to_owned(), 183),
        ];
        let w = foreign_addons("Fn", "arm64", &addons).expect("one is x86_64");
        assert!(w.contains("1 native addon(s)"), "{w}");
        assert!(w.contains("node_modules/a/build/Release/a.node"), "{w}");
        assert!(!w.contains("b.node"), "{w}");
        assert!(w.contains("--use-container"), "{w}");
        assert_eq!(foreign_addons("Fn", "arm64", &addons[1..]), None);
        assert_eq!(foreign_addons("Fn", "x86_64", &addons[..1]), None);
        let many: Vec<_> = (0..7).map(|i| (format!("m{i}.node"), 62)).collect();
        let w = foreign_addons("Fn", "arm64", &many).expect("many");
        assert!(w.contains("m4.node and 2 more"), "{w}");
    }
}
