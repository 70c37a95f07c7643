//! The deploy history's entries: the zipedit crate's ([`zipedit::history`]), since the
//! patcher appends them next to S3 as this CLI does.

pub use zipedit::history::*;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::fixtures::history;

    #[test]
    fn entries_read_back_as_written_and_kinds_are_stable_strings() {
        let h = history();
        let text = serde_json::to_string(&h).expect("json");
        let back: History = serde_json::from_str(&text).expect("read back");
        assert_eq!(back, h);
        let v = serde_json::to_value(&h.entries[0]).expect("json");
        assert_eq!(v["kind"], "full");
        assert_eq!(v["outcome"], "deployed");
        assert_eq!(v["functions"][0]["change"], "updated");
        assert_eq!(
            serde_json::to_value(Kind::Layer).expect("json"),
            serde_json::json!("layer")
        );
        // A minimal entry (fields added later default).
        let e: Entry = serde_json::from_str(
            r#"{"id":1,"at":"t","who":"w","kind":"quick","outcome":"failed"}"#,
        )
        .expect("minimal");
        assert!(e.functions.is_empty() && e.git.is_none());
    }
}
