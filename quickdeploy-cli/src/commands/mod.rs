//! One module per sub-command.

pub mod bootstrap;
pub mod deploy;
pub mod destroy;
pub mod full;
pub mod init;
pub mod patch_zip;
pub mod status;
pub mod watch;
