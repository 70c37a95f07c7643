//! One module per sub-command.

pub mod patch_zip;
