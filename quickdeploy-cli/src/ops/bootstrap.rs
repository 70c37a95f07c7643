//! `bootstrap`: work in progress (issue 11).
