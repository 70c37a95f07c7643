//! `full`: work in progress (issue 11).
