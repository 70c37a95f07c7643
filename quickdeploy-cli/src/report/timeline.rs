//! `--timings`: the command's time line (every phase and call attempt, `aws::trace`) and its
//! critical path up to the first UpdateFunctionCode, the longest chain of calls each of which
//! began after the one before it had ended. Each link of that chain is a round trip the
//! deploy waited for before any function could change: what there is to cut. Pure.

use serde::Serialize;

use crate::aws::trace::{Span, SpanKind};

/// The call whose start ends the critical path.
pub const UPDATE_CALL: &str = "Lambda.UpdateFunctionCode";

/// The time line of one deploy, as `--timings` prints it and `--json` carries it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Timeline {
    /// Every phase and call attempt, by start.
    pub spans: Vec<Span>,
    /// The sequential calls before the first UpdateFunctionCode (indexes into `spans`, in
    /// order), that call included; every call when there was none.
    pub critical_path: Vec<usize>,
    /// Round trips before the first UpdateFunctionCode: the critical path without it.
    pub round_trips_before_update: usize,
}

impl Timeline {
    /// The time line of `spans` and its critical path.
    pub fn of(mut spans: Vec<Span>) -> Timeline {
        // A phase before the calls that began in the same instant: they ran inside it.
        spans.sort_by(|a, b| {
            a.start_ms
                .total_cmp(&b.start_ms)
                .then((a.kind == SpanKind::Call).cmp(&(b.kind == SpanKind::Call)))
        });
        let update = spans
            .iter()
            .position(|s| s.kind == SpanKind::Call && s.name == UPDATE_CALL);
        let critical_path = critical_path(&spans, update);
        let round_trips_before_update = match update {
            Some(_) => critical_path.len().saturating_sub(1),
            None => critical_path.len(),
        };
        Timeline {
            spans,
            critical_path,
            round_trips_before_update,
        }
    }
}

/// The longest chain of calls, each starting after the previous one ended, that ends at
/// `spans[end]` (its start) or, without one, anywhere. Indexes into `spans`, in order.
fn critical_path(spans: &[Span], end: Option<usize>) -> Vec<usize> {
    let calls: Vec<usize> = (0..spans.len())
        .filter(|&i| spans[i].kind == SpanKind::Call)
        .filter(|&i| end.is_none_or(|e| i == e || spans[i].end_ms <= spans[e].start_ms))
        .collect();
    // Longest chain ending at each call (calls are sorted by start).
    let mut best: Vec<(usize, Option<usize>)> = Vec::with_capacity(calls.len());
    for (k, &i) in calls.iter().enumerate() {
        let mut here = (1, None);
        for (j, &p) in calls[..k].iter().enumerate() {
            if spans[p].end_ms <= spans[i].start_ms && best[j].0 + 1 > here.0 {
                here = (best[j].0 + 1, Some(j));
            }
        }
        best.push(here);
    }
    let last = match end {
        Some(e) => calls.iter().position(|&i| i == e),
        None => (0..best.len()).max_by_key(|&k| best[k].0),
    };
    let mut path = Vec::new();
    let mut at = last;
    while let Some(k) = at {
        path.push(calls[k]);
        at = best[k].1;
    }
    path.reverse();
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, start: f64, end: f64) -> Span {
        Span {
            kind: SpanKind::Call,
            name: name.into(),
            start_ms: start,
            end_ms: end,
            detail: "200".into(),
        }
    }

    #[test]
    fn the_path_counts_the_sequential_rounds_before_the_first_update() {
        let spans = vec![
            Span {
                kind: SpanKind::Phase,
                name: "inspect".into(),
                start_ms: 0.0,
                end_ms: 80.0,
                detail: String::new(),
            },
            call("CloudFormation.DescribeStacks", 1.0, 31.0),
            call("S3.HeadObject", 2.0, 32.0),
            call("S3.GetObject", 33.0, 63.0),
            call("Lambda.GetFunction", 33.0, 64.0),
            call("Lambda.Invoke", 64.0, 120.0),
            call("Lambda.UpdateFunctionCode", 121.0, 150.0),
            call("Lambda.UpdateFunctionCode", 122.0, 151.0),
            call("S3.PutObject", 152.0, 180.0),
        ];
        let t = Timeline::of(spans);
        let names: Vec<&str> = t
            .critical_path
            .iter()
            .map(|&i| t.spans[i].name.as_str())
            .collect();
        assert_eq!(names.len(), 4, "{names:?}");
        assert_eq!(names[3], UPDATE_CALL);
        assert_eq!(names[2], "Lambda.Invoke");
        assert_eq!(t.round_trips_before_update, 3);
    }

    #[test]
    fn without_an_update_the_path_is_the_longest_chain() {
        let t = Timeline::of(vec![
            call("A", 0.0, 10.0),
            call("B", 0.0, 30.0),
            call("C", 11.0, 20.0),
        ]);
        assert_eq!(t.critical_path.len(), 2);
        assert_eq!(t.round_trips_before_update, 2);
        assert!(Timeline::of(Vec::new()).critical_path.is_empty());
    }
}
