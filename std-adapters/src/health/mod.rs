//! Destination health: the **Test** action, ownership of backup directories, disk info, the
//! raw object browser and the catalog's snapshot cache.
//!
//! - The Test connects and lists, writes a probe object, reads it back and deletes it (skipped
//!   for a read-only destination), then finds the repository: opens it with the destination's
//!   password or, if there is none, initialises it. Every step is reported with its time, as it
//!   happens, so a window can show them live.
//! - **Ownership**: a backup directory belongs to one destination of one catalog. The owner is
//!   recorded beside the repository in `cairn-owner.json` (the catalog id and the destination's
//!   name, plus host and user for people reading it). A writable destination whose directory
//!   names another owner is refused, with the advice to add it read-only. A REST server cannot
//!   hold that file; there, a repository the destination's password does not open is refused
//!   the same way.

//! - `owner.rs`: the owner file and the ownership checks; `test.rs`: the Test and saving a
//!   destination behind it; `disk.rs`: disk info, the raw browser and reindexing;
//!   [`recovery`]: configuration exports and rebuilding a catalog from one.

mod disk;
mod owner;
pub mod recovery;
mod test;

pub use disk::{RawObject, SIDE_DIRS, browse, measure_disk, reindex};
pub use owner::{OWNER_FILE, Owner, check_owner, claim, read_owner, refuse_foreign_folder, write_owner};
pub use test::{Saved, TestReport, TestStep, create_tested, test_destination, test_saved, test_unsaved, update_tested};
