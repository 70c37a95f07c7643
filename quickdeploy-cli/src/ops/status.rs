//! `status`: work in progress (issue 11).
