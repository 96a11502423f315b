//! The filesystem side: the backup source, the restore target, tar exports of snapshots, and
//! staged files (put in place in one step).

pub(crate) mod archive;
pub(crate) mod source;
pub(crate) mod staged;
pub(crate) mod target;
