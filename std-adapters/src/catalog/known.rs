//! The snapshots seen in each repository, kept in the catalog (see [`crate::known`]).

use std::collections::BTreeMap;

use rusqlite::params;

use super::{Catalog, db_error};
use crate::error::Error;
use crate::known::Remembered;

impl Catalog {
    /// The snapshots remembered for the repository `repository` (its id in hex).
    pub fn known_snapshots(&self, repository: &str) -> Result<BTreeMap<String, Remembered>, Error> {
        let mut stmt = self
            .conn
            .prepare("SELECT snapshot_id, time, hostname FROM known_snapshots WHERE repository = ?1")
            .map_err(|e| db_error("cannot read the known snapshots", e))?;
        let rows = stmt
            .query_map([repository], |r| {
                Ok((r.get::<_, String>(0)?, Remembered { time: r.get(1)?, hostname: r.get(2)? }))
            })
            .map_err(|e| db_error("cannot read the known snapshots", e))?;
        rows.collect::<Result<BTreeMap<_, _>, _>>().map_err(|e| db_error("cannot read the known snapshots", e))
    }

    /// Remembers snapshots of `repository` (adds; never removes).
    pub fn remember_snapshots(&self, repository: &str, snapshots: &BTreeMap<String, Remembered>) -> Result<(), Error> {
        let tx = self.conn.unchecked_transaction().map_err(|e| db_error("cannot save", e))?;
        for (id, r) in snapshots {
            tx.execute(
                "INSERT OR IGNORE INTO known_snapshots (repository, snapshot_id, time, hostname) VALUES (?1, ?2, ?3, ?4)",
                params![repository, id, r.time, r.hostname],
            )
            .map_err(|e| db_error("cannot remember snapshots", e))?;
        }
        tx.commit().map_err(|e| db_error("cannot save", e))
    }

    /// Stops expecting snapshots of `repository` (forgotten here, or accepted as gone).
    pub fn forget_known_snapshots(&self, repository: &str, ids: &[String]) -> Result<(), Error> {
        let tx = self.conn.unchecked_transaction().map_err(|e| db_error("cannot save", e))?;
        for id in ids {
            tx.execute(
                "DELETE FROM known_snapshots WHERE repository = ?1 AND snapshot_id = ?2",
                params![repository, id],
            )
            .map_err(|e| db_error("cannot update the known snapshots", e))?;
        }
        tx.commit().map_err(|e| db_error("cannot save", e))
    }
}
