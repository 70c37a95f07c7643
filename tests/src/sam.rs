//! SAM templates on the rig. moto has no `AWS::Serverless-2016-10-31` transform (it skips
//! `AWS::Serverless::*` resources), so the proxy ([`crate::proxy::S3Proxy`]) does what
//! CloudFormation does on AWS:
//! - a change set whose template declares the transform is expanded to plain CloudFormation
//!   with SAM's own translator (PyPI `aws-sam-translator`, pinned in the Makefile's
//!   `rig-deps`; `tests/support/sam_expand.py`) before moto sees it;
//! - `GetTemplate` with `TemplateStage=Original` answers the template as submitted (the SAM
//!   one), as AWS does, so quickdeploy reads the SAM template, never the expansion.
//!
//! moto does not create `AWS::Lambda::Alias` resources from a template either:
//! [`make_aliases`] makes the aliases the expansion declares, as CloudFormation would.

use std::collections::HashMap;
use std::path::Path;

/// A stack deployed from a SAM template.
#[derive(Debug, Clone)]
pub struct SamStack {
    /// The template as submitted.
    pub original: String,
    /// Its expansion, as moto got it.
    pub expanded: serde_json::Value,
}

/// `application/x-www-form-urlencoded` to pairs.
pub fn form_decode(body: &str) -> Vec<(String, String)> {
    let unescape = |s: &str| {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                    match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                        Some(b) => {
                            out.push(b);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    body.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (unescape(k), unescape(v))
        })
        .collect()
}

/// Pairs to `application/x-www-form-urlencoded`.
pub fn form_encode(pairs: &[(String, String)]) -> String {
    let escape = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// True for a template that declares the SAM transform.
pub fn is_sam(template: &serde_json::Value) -> bool {
    let sam = |t: &serde_json::Value| t.as_str().is_some_and(|s| s.starts_with("AWS::Serverless"));
    match &template["Transform"] {
        serde_json::Value::Array(a) => a.iter().any(sam),
        t => sam(t),
    }
}

/// Expands a SAM template (JSON) with SAM's translator; `params` are the stack's parameters.
pub fn expand(
    template: &str,
    params: &HashMap<String, String>,
) -> Result<serde_json::Value, String> {
    use std::io::Write as _;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("support/sam_expand.py");
    let params = serde_json::to_string(params).map_err(|e| e.to_string())?;
    let mut child = std::process::Command::new(crate::rig::python())
        .arg(script)
        .arg(params)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("run sam_expand.py (make rig-deps installs its Python): {e}"))?;
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(template.as_bytes())
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "SAM's translator refused the template: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("sam_expand.py printed no JSON: {e}"))
}

/// The query-protocol actions that hand CloudFormation a template: what the proxy rewrites.
pub const TEMPLATE_ACTIONS: [&str; 3] = ["CreateChangeSet", "CreateStack", "UpdateStack"];

/// A CreateChangeSet, CreateStack or UpdateStack request body (query protocol) with its SAM
/// template expanded: the new body, the stack's name and the SAM stack; `None` for a request
/// without a SAM template.
pub fn expand_change_set(body: &str) -> Option<Result<(String, String, SamStack), String>> {
    let mut pairs = form_decode(body);
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if !get("Action").is_some_and(|a| TEMPLATE_ACTIONS.contains(&a.as_str())) {
        return None;
    }
    let original = get("TemplateBody")?;
    let doc: serde_json::Value = serde_json::from_str(&original).ok()?;
    if !is_sam(&doc) {
        return None;
    }
    let stack = get("StackName")?;
    let mut params = HashMap::new();
    for n in 1.. {
        let Some(k) = get(&format!("Parameters.member.{n}.ParameterKey")) else {
            break;
        };
        let v = get(&format!("Parameters.member.{n}.ParameterValue")).unwrap_or_default();
        params.insert(k, v);
    }
    Some(expand(&original, &params).map(|expanded| {
        for (k, v) in &mut pairs {
            if k == "TemplateBody" {
                *v = expanded.to_string();
            }
        }
        (form_encode(&pairs), stack, SamStack { original, expanded })
    }))
}

/// The stack a GetTemplate request (query protocol) asks for, when it asks for the Original
/// stage (the default is Original too).
pub fn get_template_stack(body: &str) -> Option<String> {
    let pairs = form_decode(body);
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if get("Action").as_deref() != Some("GetTemplate")
        || get("TemplateStage").is_some_and(|s| s != "Original")
    {
        return None;
    }
    get("StackName")
}

/// moto's GetTemplate answer with `template` as its body.
pub fn with_template_body(answer: &str, template: &str) -> Option<String> {
    let from = answer.find("<TemplateBody>")? + "<TemplateBody>".len();
    let to = answer[from..].find("</TemplateBody>")? + from;
    let escaped = template
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    Some(format!("{}{escaped}{}", &answer[..from], &answer[to..]))
}

/// Makes the aliases the expansion of `stack` declares (`AWS::Lambda::Alias`), each on a
/// version published now, as CloudFormation would have: moto skips them. Returns
/// (function's logical id, alias name, version).
pub async fn make_aliases(
    lambda: &aws_sdk_lambda::Client,
    stack: &SamStack,
    physical: &HashMap<String, String>,
) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let resources = stack.expanded["Resources"].as_object().cloned();
    for r in resources.into_iter().flatten().map(|(_, r)| r) {
        if r["Type"] != "AWS::Lambda::Alias" {
            continue;
        }
        let (Some(id), Some(name)) = (
            r["Properties"]["FunctionName"]["Ref"].as_str(),
            r["Properties"]["Name"].as_str(),
        ) else {
            continue;
        };
        let function = &physical[id];
        let version = lambda
            .publish_version()
            .function_name(function)
            .send()
            .await
            .expect("publish_version")
            .version()
            .unwrap_or_default()
            .to_owned();
        lambda
            .create_alias()
            .function_name(function)
            .name(name)
            .function_version(&version)
            .send()
            .await
            .expect("create_alias");
        out.push((id.to_owned(), name.to_owned(), version));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_round_trip() {
        let pairs = vec![
            ("Action".to_owned(), "CreateChangeSet".to_owned()),
            (
                "TemplateBody".to_owned(),
                "{\"a\": \"b c&d=%+é\"}".to_owned(),
            ),
        ];
        assert_eq!(form_decode(&form_encode(&pairs)), pairs);
        assert_eq!(form_decode("a=b+c%2Bd"), [("a".into(), "b c+d".into())]);
    }
}
