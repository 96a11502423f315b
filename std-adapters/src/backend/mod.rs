//! Destinations: one folder per type, and what every type shares.
//!
//! - [`path_store`]: the [`PathStore`](path_store::PathStore) a type with paths provides (read,
//!   write, remove, list a folder), the repository's layout on it, and the repository's
//!   `Storage` written once over it; [`side_files`]: the files beside the repository, written
//!   once over it; [`claim`]: create-only writes where the store has none.
//! - [`destination`]: [`Destination`](destination::Destination), an open destination of any
//!   type, and the one dispatch over the types; its URLs and how each type's are parsed.
//! - One folder per type: [`local`], [`s3`] (with its [`s3::vendors`]), [`azure`], [`sftp`],
//!   [`webdav`], [`rest`] (with the [`rest::rclone`] bridge), [`ftp`].
//!
//! # Adding a type
//! A toy type that keeps a repository in memory would take:
//!
//! 1. `backend/memory/mod.rs`: its config and backend, and `impl PathStore for MemoryBackend`
//!    with the four primitives (`read_path`, `write_path`, `remove_path`, `list_folder`),
//!    `TEMPORARY_PREFIX` (`None`: its writes are whole or nothing) and `properties`. Then
//!    `crate::backend::path_store::storage_over_paths!(MemoryBackend);` gives it the
//!    repository's `Storage`, and the side-file conformance suite
//!    (`std-adapters/tests/conformance.rs`) applies to it as it is.
//! 2. One line here (`pub(crate) mod memory;`) and one variant in
//!    [`Destination`](destination::Destination), which the one `dispatch!` macro in
//!    `destination.rs` lists: the compiler lists every match that must learn the new type.
//! 3. Its URL: a `parse_memory` beside the others in `destination.rs`, and its fields in
//!    `form.rs` and `fields_of.rs` for the catalog and the window.

pub(crate) mod azure;
pub(crate) mod claim;
pub(crate) mod connection;
pub(crate) mod destination;
pub(crate) mod ftp;
pub(crate) mod local;
pub(crate) mod path_store;
pub(crate) mod rest;
pub(crate) mod s3;
pub(crate) mod secrets;
pub(crate) mod sftp;
pub(crate) mod side_files;
pub(crate) mod url;
pub(crate) mod webdav;

pub(crate) use destination::Credentials;
