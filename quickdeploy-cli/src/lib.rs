//! `quickdeploy`: deploy a code change to AWS Lambda in seconds.
//!
//! The layers, from the top (see ARCHITECTURE.md): `commands` parse arguments and render
//! reports; `ops` do the work and print nothing; the I/O modules (`stack`, `remote`, `patch`,
//! `update`, `changeset`, `upload`, `scan`, `package`, ...) talk to AWS and the disk; the pure
//! decisions (`diff`, `classify`, `plan`, `rollout`, `consent`, `template`, ...) sit below
//! them all and are tested without servers. `report` holds the typed results, `render` every
//! way they are printed, `error` the one error type and its exit codes.

pub mod aws;
pub mod backoff;
pub mod bases;
pub mod build;
pub mod builder;
pub mod changeset;
pub mod classify;
pub mod clock;
pub mod commands;
pub mod config;
pub mod consent;
pub mod diff;
pub mod encode;
pub mod error;
pub mod filter;
pub mod history;
pub mod hotpatch;
pub mod inspect;
pub mod layer;
pub mod limits;
pub mod manifest;
pub mod ops;
pub mod package;
pub mod patch;
pub mod plan;
pub mod publish;
pub mod remote;
pub mod render;
pub mod report;
pub mod rollout;
pub mod scan;
pub mod stack;
pub mod template;
pub mod update;
pub mod upload;
pub mod verify;
pub mod watch;
