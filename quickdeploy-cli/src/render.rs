//! Everything the commands print, human and JSON, and how it reaches stdout.

use std::io::Write as _;

/// Prints one line on stdout. A closed pipe (`quickdeploy status | head -1`) ends the output
/// quietly instead of panicking as `println!` would; other write errors are ignored too, as
/// there is nowhere left to report them.
pub fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}
