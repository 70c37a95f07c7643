//! The situation and what to do about it: reading everything at once ([`inspect`]: the
//! project, the deployed stack, each artifact and its manifest, each package's diff), which
//! functions share which artifact ([`groups`], pure), what each change is ([`classify`],
//! pure), and what to do to each function ([`rollout`], pure: `deploy` acts on it and
//! `status` reports it); what `watch` keeps of the remote side between its rounds ([`kept`]).
//! With several targets: the local side done once for all of them
//! ([`local`]), and which targets to ask about and what their results add up to ([`targets`],
//! pure).
//!
//! May use: every concept folder below it (`aws`, `project`, `artifact`, `package`, `build`,
//! `stack`, `lambda`).
//! Must not: change anything in AWS (it reads; `ops` acts).

pub mod classify;
pub mod groups;
pub mod inspect;
pub mod kept;
pub mod local;
pub mod rollout;
pub mod targets;
