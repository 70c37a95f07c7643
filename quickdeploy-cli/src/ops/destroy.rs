//! `destroy`: work in progress (issue 11).
