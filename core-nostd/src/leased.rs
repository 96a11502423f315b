//! The leased store: a [`Storage`] wrapper that holds a lease for the operation running
//! through it and never lets that operation act on a lease it may have lost.
//!
//! Once [`Leased::acquire`] has taken a lease (see [`crate::lease`]):
//! - [`Leased::keep_alive`], run beside the operation, refreshes the lease every
//!   [`LockSettings::refresh_every_secs`], whether or not the operation touches storage;
//! - every storage call first looks at the caller's suspend-counting clock: if the refresh is
//!   late by a whole period (the machine slept, the process was stopped), the lease is refreshed
//!   first, which finds out whether it was revoked meanwhile;
//! - a snapshot is written under the gate and the lease is read back *after* it: a snapshot
//!   written after a revocation is removed again and the write fails with [`Error::LockLost`],
//!   so a backup that cannot show its lease was held throughout reports failure and leaves no
//!   snapshot (FORMAT.md section 6.1 shows why "after" is what makes this race-free);
//! - the first removal, and every [`Storage::fence`], checks the lease first.
//!
//! Once the lease is known lost every call fails with [`IoErrorKind::Other`] wrapping
//! [`Error::LockLost`]. Without a lease the wrapper passes everything through.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::future::poll_fn;
use core::task::{Poll, Waker};

use bytes::Bytes;
use rand_core::CryptoRng;

use crate::backend::{FileKind, Handle, ObjectInfo, ReadRange, Storage, StorageProperties, WriteMode};
use crate::compress::Compression;
use crate::config::Config;
use crate::crypto::Keys;
use crate::error::{Error, IoError, IoErrorKind};
use crate::lease::{self, Lease, LeaseClock, StaleJudge};
use crate::lock::{LockInfo, LockStore};
use crate::repository::Repository;

/// A one-at-a-time gate for futures of one task (lease operations must not interleave).
#[derive(Debug, Default)]
struct Gate {
    locked: Cell<bool>,
    waiting: RefCell<Vec<Waker>>,
}

struct GateGuard<'a>(&'a Gate);

impl Gate {
    async fn enter(&self) -> GateGuard<'_> {
        poll_fn(|cx| {
            if self.locked.get() {
                self.waiting.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            } else {
                self.locked.set(true);
                Poll::Ready(())
            }
        })
        .await;
        GateGuard(self)
    }
}

impl Drop for GateGuard<'_> {
    fn drop(&mut self) {
        self.0.locked.set(false);
        for w in self.0.waiting.borrow_mut().drain(..) {
            w.wake();
        }
    }
}

/// What a held lease needs to be kept.
#[derive(Debug)]
struct Held {
    keys: Arc<Keys>,
    compression: Compression,
    lease: Lease,
}

/// A store that holds a lease. See the [module docs](self).
#[derive(Debug)]
pub struct Leased<S, C, R> {
    inner: S,
    clock: C,
    /// Used under the gate only, moved out while in use.
    rng: RefCell<Option<R>>,
    gate: Gate,
    /// Moved out while a lease operation runs (under the gate).
    held: RefCell<Option<Held>>,
    /// A lease is held (`held` may be out for an operation meanwhile).
    leased: Cell<bool>,
    /// The lease was found revoked or removed.
    lost: Cell<bool>,
    token: Cell<Option<[u8; 16]>>,
    /// When the current lock object was issued, and the refresh period, for the quick check.
    issued_ms: Cell<u64>,
    refresh_ms: Cell<u64>,
    removal_checked: Cell<bool>,
}

fn lost_error() -> IoError {
    IoError::new(IoErrorKind::Other, Error::LockLost)
}

fn io(e: Error) -> IoError {
    match e {
        Error::LockLost => lost_error(),
        Error::Storage { source, .. } => source,
        other => IoError::new(IoErrorKind::Other, other),
    }
}

impl<S: Storage, C: LeaseClock, R: CryptoRng> Leased<S, C, R> {
    /// Wraps `inner`; no lease is held until [`Leased::acquire`].
    pub fn new(inner: S, clock: C, rng: R) -> Self {
        Self {
            inner,
            clock,
            rng: RefCell::new(Some(rng)),
            gate: Gate::default(),
            held: RefCell::new(None),
            leased: Cell::new(false),
            lost: Cell::new(false),
            token: Cell::new(None),
            issued_ms: Cell::new(0),
            refresh_ms: Cell::new(0),
            removal_checked: Cell::new(false),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// True while a lease is held and not known lost.
    pub fn is_leased(&self) -> bool {
        self.leased.get() && !self.lost.get()
    }

    /// The held lease's current lock object, if any.
    pub fn lease(&self) -> Option<Lease> {
        self.held.borrow().as_ref().map(|h| h.lease.clone())
    }

    /// Takes a lease on the repository whose `keys` and `config` these are (see
    /// [`lease::acquire`]). Fails if one is held already.
    pub async fn acquire<J: StaleJudge + ?Sized>(
        &self,
        keys: &Arc<Keys>,
        config: &Config,
        info: LockInfo,
        judge: &mut J,
    ) -> Result<(), Error> {
        let _gate = self.gate.enter().await;
        if self.leased.get() {
            return Err(Error::InvalidParameter { name: "lease", reason: "a lease is held already" });
        }
        let store = LockStore { storage: &self.inner, keys, compression: config.compression };
        let settings = config.locks;
        let mut rng = self.take_rng()?;
        let lease = lease::acquire(store, &settings, info, judge, &self.clock, &mut rng).await;
        *self.rng.borrow_mut() = Some(rng);
        let lease = lease?;
        self.token.set(Some(lease.token));
        self.issued_ms.set(lease.issued_ms);
        self.refresh_ms.set(u64::from(settings.refresh_every_secs) * 1000);
        self.lost.set(false);
        self.removal_checked.set(false);
        *self.held.borrow_mut() = Some(Held { keys: Arc::clone(keys), compression: config.compression, lease });
        self.leased.set(true);
        Ok(())
    }

    /// Gives the lease back (removes its lock objects). Nothing happens without one.
    pub async fn release(&self) {
        let _gate = self.gate.enter().await;
        self.leased.set(false);
        self.token.set(None);
        let held = self.held.borrow_mut().take();
        if let Some(h) = held {
            let store = LockStore { storage: &self.inner, keys: &h.keys, compression: h.compression };
            lease::release(store, h.lease).await;
        }
    }

    /// Refreshes the lease whenever it is due; returns only once the lease is lost (or was
    /// never taken). Run it beside the operation (see the [module docs](self)); transient
    /// failures are retried at the next tick.
    pub async fn keep_alive(&self) {
        while let Some(wait) = self.tick().await {
            // Short naps: a suspended machine resumes with its sleeping timers late, and the
            // suspend-counting clock tells the next tick that the lease is due.
            self.clock.sleep_ms(wait.min(1000)).await;
        }
    }

    /// Refreshes the lease if it is due. Returns how many milliseconds until the next refresh
    /// is due, or `None` once the lease is lost or released (or was never taken).
    pub async fn tick(&self) -> Option<u64> {
        if !self.is_leased() {
            return None;
        }
        let due = |now: u64| now.saturating_sub(self.issued_ms.get()) >= self.refresh_ms.get();
        if due(self.clock.elapsed_ms()) {
            let _gate = self.gate.enter().await;
            if self.is_leased() && due(self.clock.elapsed_ms()) {
                // A transient failure is tried again at the next tick.
                let _ = self.refresh_locked().await;
            }
        } else if self.held.borrow().as_ref().is_some_and(|h| h.lease.has_leftovers_due(self.clock.elapsed_ms())) {
            let _gate = self.gate.enter().await;
            let held = self.held.borrow_mut().take();
            if let Some(mut h) = held {
                let store = LockStore { storage: &self.inner, keys: &h.keys, compression: h.compression };
                lease::tidy(store, &mut h.lease, self.clock.elapsed_ms()).await;
                *self.held.borrow_mut() = Some(h);
            }
        }
        if !self.is_leased() {
            return None;
        }
        let due_at = self.issued_ms.get().saturating_add(self.refresh_ms.get());
        // After a failed refresh the lease is due at once: try again in a second.
        Some(due_at.saturating_sub(self.clock.elapsed_ms()).max(1000.min(self.refresh_ms.get())))
    }

    /// The RNG, moved out for a lease operation (the caller holds the gate, so it is there).
    fn take_rng(&self) -> Result<R, Error> {
        self.rng.borrow_mut().take().ok_or(Error::InvalidParameter { name: "lease", reason: "busy" })
    }

    /// Refreshes now (the caller holds the gate); marks the lease lost if it was.
    async fn refresh_locked(&self) -> Result<(), Error> {
        let Some(mut held) = self.held.borrow_mut().take() else { return Ok(()) };
        let result = match self.take_rng() {
            Ok(mut rng) => {
                let store = LockStore { storage: &self.inner, keys: &held.keys, compression: held.compression };
                let result = lease::refresh(store, &mut held.lease, &self.clock, &mut rng).await;
                *self.rng.borrow_mut() = Some(rng);
                result
            }
            Err(e) => Err(e),
        };
        self.issued_ms.set(held.lease.issued_ms);
        *self.held.borrow_mut() = Some(held);
        if matches!(result, Err(Error::LockLost)) {
            self.lost.set(true);
        }
        result
    }

    /// Reads the lease back (the caller holds the gate); marks it lost if it was.
    async fn verify_locked(&self) -> Result<(), Error> {
        let Some(held) = self.held.borrow_mut().take() else { return Ok(()) };
        let result = {
            let store = LockStore { storage: &self.inner, keys: &held.keys, compression: held.compression };
            lease::verify(store, &held.lease).await
        };
        *self.held.borrow_mut() = Some(held);
        if matches!(result, Err(Error::LockLost)) {
            self.lost.set(true);
        }
        result
    }

    /// Before a storage call: fails once the lease is lost; refreshes first if the refresh is
    /// late by a whole period (a suspended or stopped process, or a starved timer).
    async fn guard(&self) -> Result<(), IoError> {
        if !self.leased.get() {
            return Ok(());
        }
        if self.lost.get() {
            return Err(lost_error());
        }
        let overdue = |now: u64| now.saturating_sub(self.issued_ms.get()) >= 2 * self.refresh_ms.get();
        if overdue(self.clock.elapsed_ms()) {
            let _gate = self.gate.enter().await;
            if self.lost.get() {
                return Err(lost_error());
            }
            if overdue(self.clock.elapsed_ms()) {
                // The store may need a try or two to come back from the same pause.
                let mut result = self.refresh_locked().await;
                for _ in 0..2 {
                    if !matches!(result, Err(ref e) if !matches!(e, Error::LockLost)) {
                        break;
                    }
                    result = self.refresh_locked().await;
                }
                result.map_err(io)?;
            }
        }
        Ok(())
    }

    /// The error of a storage call that failed: if the refresh is overdue (the process was
    /// stopped or asleep, which is likely why the call failed), the lease is checked, and a
    /// revoked one is reported as that, the real cause.
    async fn explain(&self, e: IoError) -> IoError {
        if !self.leased.get() || self.lost.get() {
            return if self.lost.get() { lost_error() } else { e };
        }
        let overdue = self.clock.elapsed_ms().saturating_sub(self.issued_ms.get()) >= 2 * self.refresh_ms.get();
        if overdue {
            let _gate = self.gate.enter().await;
            // The store may need a try or two to come back from the same pause.
            for _ in 0..3 {
                match self.refresh_locked().await {
                    Ok(()) => break,
                    Err(Error::LockLost) => return lost_error(),
                    Err(_) => {}
                }
            }
        }
        e
    }

    /// Writes a snapshot, then reads the lease back; removes the snapshot again and fails if
    /// the lease was lost or cannot be confirmed.
    async fn write_snapshot(&self, handle: &Handle, data: Bytes, mode: WriteMode) -> Result<(), IoError> {
        let _gate = self.gate.enter().await;
        if self.lost.get() {
            return Err(lost_error());
        }
        self.inner.write(handle, data, mode).await?;
        if let Err(e) = self.verify_locked().await {
            let _ = self.inner.remove(handle).await;
            return Err(io(e));
        }
        Ok(())
    }
}

impl<S: Storage, C: LeaseClock, R: CryptoRng> Storage for Leased<S, C, R> {
    fn properties(&self) -> StorageProperties {
        self.inner.properties()
    }

    async fn list(&self, kind: FileKind) -> Result<Vec<ObjectInfo>, IoError> {
        if kind == FileKind::Lock {
            return self.inner.list(kind).await;
        }
        self.guard().await?;
        match self.inner.list(kind).await {
            Err(e) => Err(self.explain(e).await),
            ok => ok,
        }
    }

    async fn read(&self, handle: &Handle, range: ReadRange) -> Result<Bytes, IoError> {
        if handle.kind == FileKind::Lock {
            return self.inner.read(handle, range).await;
        }
        self.guard().await?;
        match self.inner.read(handle, range).await {
            Err(e) => Err(self.explain(e).await),
            ok => ok,
        }
    }

    async fn read_into(&self, handle: &Handle, range: ReadRange, buf: Vec<u8>) -> Result<Vec<u8>, IoError> {
        if handle.kind == FileKind::Lock {
            return self.inner.read_into(handle, range, buf).await;
        }
        self.guard().await?;
        match self.inner.read_into(handle, range, buf).await {
            Err(e) => Err(self.explain(e).await),
            ok => ok,
        }
    }

    async fn write(&self, handle: &Handle, data: Bytes, mode: WriteMode) -> Result<(), IoError> {
        if handle.kind == FileKind::Lock {
            return self.inner.write(handle, data, mode).await;
        }
        self.guard().await?;
        let written = if handle.kind == FileKind::Snapshot && self.leased.get() {
            self.write_snapshot(handle, data, mode).await
        } else {
            self.inner.write(handle, data, mode).await
        };
        match written {
            Err(e) => Err(self.explain(e).await),
            ok => ok,
        }
    }

    async fn remove(&self, handle: &Handle) -> Result<(), IoError> {
        if handle.kind == FileKind::Lock {
            return self.inner.remove(handle).await;
        }
        self.guard().await?;
        if self.leased.get() && !self.removal_checked.get() {
            self.fence().await?;
            self.removal_checked.set(true);
        }
        match self.inner.remove(handle).await {
            Err(e) => Err(self.explain(e).await),
            ok => ok,
        }
    }

    async fn fence(&self) -> Result<(), IoError> {
        if !self.leased.get() {
            return Ok(());
        }
        let _gate = self.gate.enter().await;
        if self.lost.get() {
            return Err(lost_error());
        }
        self.verify_locked().await.map_err(io)
    }

    fn lease_token(&self) -> Option<[u8; 16]> {
        if self.is_leased() { self.token.get() } else { None }
    }
}

impl<S: Storage, C: LeaseClock, R: CryptoRng> Repository<Leased<S, C, R>> {
    /// Takes a lease on this repository through its leased store (see [`Leased::acquire`]).
    pub async fn acquire_lease<J: StaleJudge + ?Sized>(&self, info: LockInfo, judge: &mut J) -> Result<(), Error> {
        self.storage().acquire(self.keys(), self.config(), info, judge).await
    }
}
