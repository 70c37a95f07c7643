//! `patch_zip`: work in progress (issue 11).
