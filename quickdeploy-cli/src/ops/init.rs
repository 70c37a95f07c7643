//! `init`: work in progress (issue 11).
