//! `watch`: work in progress (issue 11).
