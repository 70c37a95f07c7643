//! The deployed stack's template and physical ids, kept on disk (`.quickdeploy/stacks/`) so a
//! `deploy` asks CloudFormation one DescribeStacks instead of also GetTemplate and
//! DescribeStackResources. The copy is used only when that DescribeStacks confirms it: the
//! same stack id, and the same LastUpdatedTime (CreationTime for a stack never updated).
//! Any update of the stack, from any machine, moves that time; anything else (no copy, one
//! that does not parse, another format) is read as if there were none.
//!
//! A `deploy` may also plan from the copy alone, before asking anything: its patches then
//! carry the copy's id and time as a guard (`zipedit::event::StackGuard`), which the patcher
//! confirms with its own DescribeStacks beside its first read, and writes nothing past
//! (`ops::deploy`'s assumed plan). For that the copy holds what DescribeStacks gives too: the
//! status, parameters and tags.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Bumped when the file's meaning changes: an old file is then no copy at all. (2: the
/// status, parameters and tags.)
pub const FORMAT: u32 = 2;

/// What is kept of one stack.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cached {
    /// [`FORMAT`].
    pub format: u32,
    /// The stack's id (its ARN): a stack deleted and made again under the same name is
    /// another stack.
    pub stack_id: String,
    /// LastUpdatedTime, or CreationTime when never updated, as CloudFormation gave it.
    pub updated: String,
    /// The template as deployed (the Original stage), as GetTemplate gave it.
    pub template_body: String,
    /// Physical id by logical id (DescribeStackResources).
    pub physical: HashMap<String, String>,
    /// The status, as DescribeStacks gave it.
    pub status: String,
    /// The parameters' values, as DescribeStacks gave them.
    pub parameters: HashMap<String, String>,
    /// The tags, as DescribeStacks gave them.
    pub tags: HashMap<String, String>,
}

impl Cached {
    /// True when DescribeStacks' `stack_id` and `updated` say the copy is still the stack.
    pub fn confirms(&self, stack_id: &str, updated: &str) -> bool {
        self.format == FORMAT
            && !stack_id.is_empty()
            && !updated.is_empty()
            && self.stack_id == stack_id
            && self.updated == updated
    }
}

/// Where a stack's copy is kept under the state folder.
pub fn path(state_dir: &Path, stack: &str) -> PathBuf {
    let name: String = stack
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    state_dir.join("stacks").join(format!("{name}.json"))
}

/// The copy at `path`, if there is a readable one of this format.
pub fn load(path: &Path) -> Option<Cached> {
    let text = std::fs::read(path).ok()?;
    serde_json::from_slice::<Cached>(&text)
        .ok()
        .filter(|c| c.format == FORMAT)
}

/// Removes the stack's copy under `state_dir`, when this machine changes the stack (`full`):
/// the next deploy reads the stack instead of planning from a copy its patch would refuse.
/// (A copy left behind by a failed removal is still checked before it is used.)
pub fn forget(state_dir: &Path, stack: &str) {
    let _ = std::fs::remove_file(path(state_dir, stack));
}

/// Writes the copy (through a temporary file: a reader sees the old one or the new one).
pub fn save(path: &Path, cached: &Cached) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(
        &tmp,
        serde_json::to_vec(cached).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached() -> Cached {
        Cached {
            format: FORMAT,
            stack_id: "arn:aws:cloudformation:us-east-1:1:stack/app/abc".into(),
            updated: "1700000000.5".into(),
            template_body: "Resources: {}".into(),
            physical: HashMap::from([("Fn".into(), "app-Fn-1".into())]),
            status: "UPDATE_COMPLETE".into(),
            parameters: HashMap::from([("Stage".into(), "dev".into())]),
            tags: HashMap::from([("team".into(), "cart".into())]),
        }
    }

    #[test]
    fn only_the_same_stack_at_the_same_update_is_confirmed() {
        let c = cached();
        assert!(c.confirms(&c.stack_id, "1700000000.5"));
        assert!(!c.confirms(&c.stack_id, "1700000100.0"), "updated since");
        assert!(
            !c.confirms(
                "arn:aws:cloudformation:us-east-1:1:stack/app/def",
                "1700000000.5"
            ),
            "made again under the same name"
        );
        assert!(!c.confirms("", ""), "DescribeStacks said neither");
        let old = Cached { format: 0, ..c };
        assert!(!old.confirms(&old.stack_id, &old.updated));
    }

    #[test]
    fn a_copy_round_trips_and_a_broken_one_is_none() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = path(dir.path(), "my/stack");
        assert!(p.ends_with("stacks/my_stack.json"));
        assert!(load(&p).is_none());
        save(&p, &cached()).expect("save");
        assert_eq!(load(&p), Some(cached()));
        std::fs::write(&p, "{not json").expect("break");
        assert!(load(&p).is_none());
    }
}
