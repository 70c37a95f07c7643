//! Several targets (regions, accounts): which ones must be asked about before anything is
//! deployed, and how many remote sides run at once. Pure.

use crate::stack::consent::Decision;

/// The most targets whose remote sides run at once: each is network-bound (its own region's
/// S3, patcher and Lambda), so a handful in parallel cost about one's wall time.
pub const PARALLEL: usize = 8;

/// Whether a target marked `confirm = true` may be deployed to: `--ci` goes ahead (a
/// pipeline said so), a terminal asks (even with `--yes`: that is what `confirm` is for), and
/// otherwise it is refused, before anything is deployed to any target.
pub fn confirm(target: &str, marked: bool, ci: bool, terminal: bool) -> Decision {
    if !marked || ci {
        Decision::Execute
    } else if terminal {
        Decision::Ask
    } else {
        Decision::Refuse(format!(
            "target {target} has `confirm = true` in quickdeploy.toml, and there is no terminal to ask (--yes does not answer for it): run on a terminal, or pass --ci"
        ))
    }
}

/// The targets that failed, by name, from each target's name and whether it succeeded: what
/// the total line and the exit code name.
pub fn failed<'a>(results: impl IntoIterator<Item = (&'a str, bool)>) -> Vec<String> {
    results
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(n, _)| n.to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirm_asks_even_with_yes_and_only_ci_skips_it() {
        assert_eq!(confirm("dev", false, false, false), Decision::Execute);
        assert_eq!(confirm("prod", true, true, false), Decision::Execute);
        assert_eq!(confirm("prod", true, false, true), Decision::Ask);
        let Decision::Refuse(why) = confirm("prod", true, false, false) else {
            panic!("no terminal, no --ci: refused");
        };
        assert!(why.contains("target prod") && why.contains("--ci"), "{why}");
    }

    #[test]
    fn failed_names_the_targets_in_order() {
        assert_eq!(
            failed([("dev", true), ("eu", false), ("prod", false)]),
            ["eu", "prod"]
        );
        assert!(failed([("dev", true)]).is_empty());
    }
}
