//! Functions named by their construct path as well as their logical id: a CDK template's
//! resources carry `aws:cdk:path` (`QdCdkApi/getOneItemFunction/Resource`), which makes the
//! function's construct path `QdCdkApi/getOneItemFunction`; without its stack
//! (`getOneItemFunction`, `Reports/reportFunction` in a nested stack) it names the function
//! too while no other function has that short path. Pure.

use std::collections::BTreeMap;

use crate::project::template::Template;

/// The construct path of each function of `template` that has one (a CDK app's), by
/// logical id.
pub fn construct_paths(template: &Template) -> BTreeMap<String, String> {
    template
        .functions()
        .into_iter()
        .filter_map(|f| {
            let path = template.doc["Resources"][&f.logical_id]["Metadata"]["aws:cdk:path"]
                .as_str()?
                .trim_end_matches("/Resource")
                .to_owned();
            Some((f.logical_id, path))
        })
        .collect()
}

/// The logical id `name` names, by `paths` ([`construct_paths`]): a logical id of `paths`,
/// a construct path, or a construct path without its first part (the stack) when unique.
/// `Ok(None)` when it names none of them (it may still be a physical name, or a function
/// only the history knows); an error when a short path names several.
pub fn resolve(name: &str, paths: &BTreeMap<String, String>) -> Result<Option<String>, String> {
    if paths.contains_key(name) {
        return Ok(Some(name.to_owned()));
    }
    if let Some((id, _)) = paths.iter().find(|(_, p)| p.as_str() == name) {
        return Ok(Some(id.clone()));
    }
    let short: Vec<(&String, &String)> = paths
        .iter()
        .filter(|(_, p)| p.split_once('/').is_some_and(|(_, rest)| rest == name))
        .collect();
    match short.as_slice() {
        [] => Ok(None),
        [(id, _)] => Ok(Some((*id).clone())),
        many => Err(format!(
            "{name} names {} functions ({}): give the whole construct path or the logical id",
            many.len(),
            many.iter()
                .map(|(id, p)| format!("{p} = {id}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = r#"{"Resources":{
      "getOne1":{"Type":"AWS::Lambda::Function","Properties":{},"Metadata":{"aws:cdk:path":"Api/getOne/Resource"}},
      "Reports/report1":{"Type":"AWS::Lambda::Function","Properties":{},"Metadata":{"aws:cdk:path":"Jobs/Reports/report/Resource"}},
      "a1":{"Type":"AWS::Lambda::Function","Properties":{},"Metadata":{"aws:cdk:path":"Jobs/Inner/job/Resource"}},
      "b1":{"Type":"AWS::Lambda::Function","Properties":{},"Metadata":{"aws:cdk:path":"Other/Inner/job/Resource"}},
      "Plain":{"Type":"AWS::Lambda::Function","Properties":{}},
      "Role1":{"Type":"AWS::IAM::Role","Metadata":{"aws:cdk:path":"Api/getOne/ServiceRole/Resource"}}}}"#;

    #[test]
    fn functions_by_logical_id_construct_path_or_short_path_when_unique() {
        let paths = construct_paths(&Template::parse(T).expect("parse"));
        assert_eq!(paths["getOne1"], "Api/getOne");
        assert_eq!(paths["Reports/report1"], "Jobs/Reports/report");
        assert!(!paths.contains_key("Plain") && !paths.contains_key("Role1"));
        let r = |n: &str| resolve(n, &paths);
        assert_eq!(r("getOne1"), Ok(Some("getOne1".into())));
        assert_eq!(r("Api/getOne"), Ok(Some("getOne1".into())));
        assert_eq!(r("getOne"), Ok(Some("getOne1".into())));
        assert_eq!(r("Jobs/Reports/report"), Ok(Some("Reports/report1".into())));
        assert_eq!(r("Reports/report"), Ok(Some("Reports/report1".into())));
        assert_eq!(r("Reports/report1"), Ok(Some("Reports/report1".into())));
        assert_eq!(r("Jobs/Inner/job"), Ok(Some("a1".into())));
        let two = r("Inner/job").expect_err("two functions");
        assert!(
            two.contains("Jobs/Inner/job = a1") && two.contains("Other/Inner/job = b1"),
            "{two}"
        );
        assert_eq!(r("report"), Ok(None), "only the stack is left out");
        assert_eq!(r("Plain"), Ok(None));
        assert_eq!(r("my-physical-name"), Ok(None));
    }
}
