//! `deploy`: work in progress (issue 11).
