//! `--timings`: the time line, one line per phase and call attempt (calls indented under
//! the phase they ran in), then the critical path up to the first UpdateFunctionCode.

use crate::aws::trace::SpanKind;
use crate::report::timeline::{Timeline, UPDATE_CALL};

/// The lines of a time line: `  start..end ms  (took)  name  detail`, and the critical path.
pub fn timeline_lines(t: &Timeline) -> Vec<String> {
    let mut out = vec!["timeline (ms since the deploy began):".to_owned()];
    let on_path = |i: usize| t.critical_path.contains(&i);
    for (i, s) in t.spans.iter().enumerate() {
        let (indent, mark) = match s.kind {
            SpanKind::Phase => ("", ' '),
            SpanKind::Call if on_path(i) => ("  ", '*'),
            SpanKind::Call => ("  ", ' '),
        };
        let detail = if s.detail.is_empty() {
            String::new()
        } else {
            format!(" ({})", s.detail)
        };
        out.push(format!(
            "{mark} {:>8.1} {:>8.1} {:>7.1}  {indent}{}{detail}",
            s.start_ms,
            s.end_ms,
            s.end_ms - s.start_ms,
            s.name
        ));
    }
    let path: Vec<&str> = t
        .critical_path
        .iter()
        .filter_map(|&i| t.spans.get(i).map(|s| s.name.as_str()))
        .collect();
    let ends_in_update = path.last() == Some(&UPDATE_CALL);
    out.push(format!(
        "critical path (*): {} sequential round trip(s) {}: {}",
        t.round_trips_before_update,
        if ends_in_update {
            "before UpdateFunctionCode"
        } else {
            "(no UpdateFunctionCode)"
        },
        if path.is_empty() {
            "none".to_owned()
        } else {
            path.join(" -> ")
        }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::trace::Span;

    #[test]
    fn phases_calls_and_the_path_read_as_golden_text() {
        let span = |kind, name: &str, start, end, detail: &str| Span {
            kind,
            name: name.into(),
            start_ms: start,
            end_ms: end,
            detail: detail.into(),
        };
        let t = Timeline::of(vec![
            span(SpanKind::Phase, "inspect", 0.0, 40.0, ""),
            span(
                SpanKind::Call,
                "CloudFormation.DescribeStacks",
                1.0,
                31.0,
                "200",
            ),
            span(
                SpanKind::Call,
                "Lambda.UpdateFunctionCode",
                41.0,
                70.0,
                "200",
            ),
        ]);
        assert_eq!(
            timeline_lines(&t).join("\n"),
            "timeline (ms since the deploy began):
       0.0     40.0    40.0  inspect
*      1.0     31.0    30.0    CloudFormation.DescribeStacks (200)
*     41.0     70.0    29.0    Lambda.UpdateFunctionCode (200)
critical path (*): 1 sequential round trip(s) before UpdateFunctionCode: CloudFormation.DescribeStacks -> Lambda.UpdateFunctionCode"
        );
    }
}
