//! Appended fields: how a top-level object grows within a format version.
//!
//! FORMAT.md's versioning rule lets writers append fields at the end of a top-level object
//! (config, key, snapshot, index object, lock). A reader decodes the fields it always had, then
//! each appended group from what is left: nothing left means the object was written before the
//! group existed, and the group takes its default. Writers leave a trailing group out when it
//! holds its default, so that objects without it keep their exact bytes (and golden vectors).

use serde::de::DeserializeOwned;

use crate::error::DecodeError;

/// Decodes one appended group from `rest`, or `None` if the object ends before it.
pub(crate) fn field<T: DeserializeOwned>(rest: &[u8]) -> Result<Option<(T, &[u8])>, DecodeError> {
    if rest.is_empty() {
        return Ok(None);
    }
    postcard::take_from_bytes::<T>(rest).map(Some).map_err(DecodeError::from)
}
