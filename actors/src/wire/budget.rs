//! A shared byte budget for data that is being received: a peer's announced length is never
//! reserved up front; memory is taken from the budget as the bytes arrive, and given back when
//! the frame or body is done with.
//!
//! The budget counts in KiB units (a tokio semaphore), so one budget covers up to several TiB.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes per semaphore permit.
const UNIT_BYTES: u64 = 1024;

/// A process-wide (or per-purpose) cap on bytes held by partially received data. Cheap to clone;
/// clones share the budget.
#[derive(Debug, Clone)]
pub struct ByteBudget {
    sem: Arc<Semaphore>,
    total_bytes: u64,
}

/// Bytes taken from a [`ByteBudget`]; given back on drop.
#[derive(Debug, Default)]
pub struct Lease {
    permit: Option<OwnedSemaphorePermit>,
}

impl Lease {
    /// Bytes held by this lease.
    pub fn bytes(&self) -> u64 {
        self.permit
            .as_ref()
            .map_or(0, |p| p.num_permits() as u64 * UNIT_BYTES)
    }
}

impl ByteBudget {
    /// A budget of `total_bytes` (rounded down to whole KiB, at least 1 KiB).
    pub fn new(total_bytes: u64) -> Self {
        let units = (total_bytes / UNIT_BYTES).clamp(1, Semaphore::MAX_PERMITS as u64);
        Self {
            sem: Arc::new(Semaphore::new(units as usize)),
            total_bytes: units * UNIT_BYTES,
        }
    }

    /// The whole budget in bytes.
    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    /// Bytes not held by any lease right now.
    pub fn available_bytes(&self) -> u64 {
        self.sem.available_permits() as u64 * UNIT_BYTES
    }

    /// Adds `bytes` (rounded up to whole KiB) to `lease` without waiting; false when the budget
    /// cannot cover them now.
    pub fn try_grow(&self, lease: &mut Lease, bytes: u64) -> bool {
        let units = units_for(bytes);
        match self.sem.clone().try_acquire_many_owned(units) {
            Ok(permit) => {
                merge(lease, permit);
                true
            }
            Err(_) => false,
        }
    }

    /// Adds `bytes` (rounded up to whole KiB) to `lease`, waiting until the budget can cover
    /// them. Callers bound the wait with their own deadline.
    pub async fn grow(&self, lease: &mut Lease, bytes: u64) {
        let units = units_for(bytes).min(self.sem_units());
        if let Ok(permit) = self.sem.clone().acquire_many_owned(units).await {
            merge(lease, permit);
        }
    }

    fn sem_units(&self) -> u32 {
        u32::try_from(self.total_bytes / UNIT_BYTES).unwrap_or(u32::MAX)
    }
}

fn units_for(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(UNIT_BYTES)).unwrap_or(u32::MAX)
}

fn merge(lease: &mut Lease, permit: OwnedSemaphorePermit) {
    match lease.permit.as_mut() {
        Some(held) => held.merge(permit),
        None => lease.permit = Some(permit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn leases_take_and_give_back() {
        let budget = ByteBudget::new(64 * 1024);
        let mut a = Lease::default();
        budget.grow(&mut a, 40 * 1024).await;
        assert_eq!(a.bytes(), 40 * 1024);
        let mut b = Lease::default();
        assert!(!budget.try_grow(&mut b, 40 * 1024));
        assert!(budget.try_grow(&mut b, 24 * 1024));
        assert_eq!(budget.available_bytes(), 0);
        drop(a);
        assert_eq!(budget.available_bytes(), 40 * 1024);
        // Rounded up to whole KiB.
        assert!(budget.try_grow(&mut b, 1));
        assert_eq!(b.bytes(), 25 * 1024);
    }
}
