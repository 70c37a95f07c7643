//! Builds: what to build, how and where ([`decide`], pure: a template's `BuildMethod`, a
//! `build` command of `quickdeploy.toml`, a Rust crate in [`rust`]), and the runner that does
//! it ([`runner`]: installs, tools with their output shown live, build folders written by
//! change only). A new `BuildMethod` is a [`decide::Method`] variant, its commands in
//! `decide`, and its runner step in `runner`.
//!
//! May use: `project`, `package`, `artifact` (file entries), `aws` (the clock).
//! Must not: talk to AWS, or print (the runner's output goes through its `Output` trait).

pub mod decide;
pub mod runner;
pub mod rust;
