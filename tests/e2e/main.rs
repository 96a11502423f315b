//! End-to-end tests of the `cairn` binary.
