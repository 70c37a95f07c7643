//! What the functions run now: their CodeSha256 and whether their last update failed, read
//! by GetFunction each (a few functions) or ListFunctions (from [`LIST_FROM`] on), paced by
//! the command's shared [`Quotas`], and confirmed by GetFunction where a list leaves out
//! the update status.

use aws_sdk_lambda::types::LastUpdateStatus;
use futures::StreamExt as _;

use super::pace::Quotas;
use super::update::get_configuration;

/// What a function runs now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    /// Its CodeSha256.
    pub code_sha256: Option<String>,
    /// Its last update failed: whatever it reports, it is not live.
    pub failed: bool,
    /// Read by ListFunctions, which leaves out LastUpdateStatus: `failed` is not known until
    /// [`confirm`] reads it.
    pub listed: bool,
}

impl Current {
    /// True when it runs, successfully, the code with this CodeSha256.
    pub fn runs(&self, code_sha256: &str) -> bool {
        !self.failed && self.code_sha256.as_deref() == Some(code_sha256)
    }
}

/// From this many functions on, what they run is read by listing (ListFunctions, 50 a call)
/// rather than one GetFunction each: fewer calls, unless the account holds far more functions
/// than the app, which a small app cannot tell and should not pay for.
pub const LIST_FROM: usize = 20;

/// What each function runs now, or the error that kept it from being read. Below
/// [`LIST_FROM`] functions, one GetFunction each, at most GetFunction's quota per second;
/// from there on, ListFunctions pages (on the control-plane quota) until all are found, and
/// GetFunction for any not listed. A listed function's `failed` is not known: call [`confirm`]
/// before deciding that one running its target code is live.
pub async fn current_code(
    lambda: &aws_sdk_lambda::Client,
    quotas: &Quotas,
    names: Vec<String>,
) -> Vec<(String, Result<Current, String>)> {
    if names.len() < LIST_FROM {
        return read_each(lambda, quotas, names).await;
    }
    let mut listed = std::collections::HashMap::new();
    let mut pages = lambda
        .list_functions()
        .into_paginator()
        .page_size(50)
        .send();
    loop {
        quotas.write().await;
        match pages.next().await {
            Some(Ok(page)) => {
                for f in page.functions() {
                    if let Some(name) = f.function_name().filter(|n| names.iter().any(|w| w == n)) {
                        listed.insert(name.to_owned(), f.code_sha256().map(str::to_owned));
                    }
                }
                if listed.len() == names.len() {
                    break;
                }
            }
            // A listing that fails (a denied ListFunctions) costs the reads one at a time.
            Some(Err(_)) => return read_each(lambda, quotas, names).await,
            None => break,
        }
    }
    let (found, missing): (Vec<String>, Vec<String>) =
        names.into_iter().partition(|n| listed.contains_key(n));
    let mut out: Vec<_> = found
        .into_iter()
        .map(|n| {
            let code_sha256 = listed.remove(&n).flatten();
            let current = Current {
                code_sha256,
                failed: false,
                listed: true,
            };
            (n, Ok(current))
        })
        .collect();
    out.extend(read_each(lambda, quotas, missing).await);
    out
}

/// Reads again, by GetFunction, the listed functions that run their target code (`targets`:
/// function name to CodeSha256): whether their last update failed decides between skipping
/// them and updating them again. The others need no second read: they are updated anyway.
pub async fn confirm(
    lambda: &aws_sdk_lambda::Client,
    quotas: &Quotas,
    running: &mut [(String, Result<Current, String>)],
    targets: &std::collections::HashMap<String, String>,
) {
    let todo: Vec<String> = running
        .iter()
        .filter(|(name, r)| {
            matches!(r, Ok(c) if c.listed
                && targets.get(name).is_some_and(|t| c.code_sha256.as_deref() == Some(t.as_str())))
        })
        .map(|(name, _)| name.clone())
        .collect();
    for (name, read) in read_each(lambda, quotas, todo).await {
        if let Some(slot) = running.iter_mut().find(|(n, _)| *n == name) {
            slot.1 = read;
        }
    }
}

/// One GetFunction per function, at most GetFunction's quota per second.
async fn read_each(
    lambda: &aws_sdk_lambda::Client,
    quotas: &Quotas,
    names: Vec<String>,
) -> Vec<(String, Result<Current, String>)> {
    futures::stream::iter(names)
        .map(|name| async move {
            quotas.read().await;
            let r = get_configuration(lambda, &name)
                .await
                .map(|c| Current {
                    code_sha256: c.code_sha256().map(str::to_owned),
                    failed: c.last_update_status() == Some(&LastUpdateStatus::Failed),
                    listed: false,
                })
                .map_err(|e| format!("{e:#}"));
            (name, r)
        })
        .buffer_unordered(16)
        .collect()
        .await
}
