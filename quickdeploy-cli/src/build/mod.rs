//! Builds: what to build and where ([`decide`], pure: from a template's `BuildMethod`, a
//! `build` command of `quickdeploy.toml`, or a Rust crate; the layers in [`layer`]), what
//! each method is and its commands ([`method`], pure; what pip installs for in [`python`],
//! a Go function's command in [`go`], native addons for another machine in [`node`], a Rust
//! crate's tool and target in [`rust`], why a tool failed in [`diagnose`], all pure), and
//! the runner that does it ([`runner`]: dependency installs cached by key, then the
//! method's tool through [`tool`], cargo through [`cargo`], build folders written by change
//! only through [`folder`]). A new `BuildMethod` is a [`method::Method`] variant with its
//! commands in `method`, chosen in `method::method_of`, and its step in `runner`.
//!
//! May use: `project`, `package`, `artifact` (file entries), `aws` (the clock).
//! Must not: talk to AWS, or print (the tools' output goes through [`tool::Output`]).

pub mod cargo;
pub mod decide;
pub mod diagnose;
pub mod folder;
pub mod fresh;
pub mod go;
pub mod layer;
pub mod method;
pub mod node;
pub mod pip;
pub mod python;
pub mod runner;
pub mod rust;
pub mod state;
pub mod tool;
