//! Which member registered each application: only that member (by certificate name) or an
//! `admin` may renew its lease, end it, submit its jobs or unpersist its datasets. Kept beside
//! the master's service, in memory and bounded; an application the master does not know an
//! owner for (registered before a master restart) is left to the master's own checks.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::transport::{Identity, Role};
use crate::wire::{MasterRequest, MasterResponse};

/// Most applications whose owner is remembered; the oldest are forgotten first.
pub const MAX_OWNED_APPLICATIONS: usize = 10_000;

/// Application id -> the certificate name of the member that registered it.
#[derive(Debug, Default)]
pub struct AppOwners {
    inner: Mutex<Owners>,
}

#[derive(Debug, Default)]
struct Owners {
    by_app: HashMap<String, String>,
    order: VecDeque<String>,
}

impl AppOwners {
    /// Refuses `request` when it acts for an application registered by another member.
    pub fn check(&self, identity: &Identity, request: &MasterRequest) -> Result<(), String> {
        let app = match request {
            MasterRequest::RenewLease { app }
            | MasterRequest::EndApplication { app, .. }
            | MasterRequest::Unpersist { app, .. } => app,
            MasterRequest::RunJob(spec) => &spec.lineage.app,
            _ => return Ok(()),
        };
        if identity.role == Role::Admin {
            return Ok(());
        }
        let inner = self.inner.lock().expect("owners lock");
        match inner.by_app.get(app) {
            Some(owner) if *owner != identity.name => Err(format!(
                "permission denied: application {app} belongs to member {owner:?}; role {} \
                 (member {:?}) may not act for it",
                identity.role, identity.name
            )),
            _ => Ok(()),
        }
    }

    /// Records the owner of a newly registered application, and forgets ended ones, from a
    /// request and the master's answer to it.
    pub fn observe(&self, identity: &Identity, request: &MasterRequest, response: &MasterResponse) {
        let mut inner = self.inner.lock().expect("owners lock");
        match (request, response) {
            (
                MasterRequest::RegisterApplication { .. },
                MasterResponse::ApplicationRegistered { app, .. },
            ) => {
                if inner.order.len() >= MAX_OWNED_APPLICATIONS {
                    if let Some(oldest) = inner.order.pop_front() {
                        inner.by_app.remove(&oldest);
                    }
                }
                inner.by_app.insert(app.clone(), identity.name.clone());
                inner.order.push_back(app.clone());
            }
            (
                MasterRequest::EndApplication { app, .. } | MasterRequest::KillApplication { app },
                _,
            ) => {
                inner.by_app.remove(app);
                inner.order.retain(|a| a != app);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(role: Role, name: &str) -> Identity {
        Identity {
            role,
            name: name.into(),
            serial: vec![1],
            legacy: false,
        }
    }

    #[test]
    fn only_the_registering_member_or_an_admin_acts_for_an_application() {
        let owners = AppOwners::default();
        let etl = who(Role::Driver, "etl");
        let register = MasterRequest::RegisterApplication { name: "x".into() };
        let registered = MasterResponse::ApplicationRegistered {
            app: "app-1".into(),
            lease_timeout_ms: 1,
        };
        owners.observe(&etl, &register, &registered);
        let renew = MasterRequest::RenewLease {
            app: "app-1".into(),
        };
        owners.check(&etl, &renew).unwrap();
        let err = owners
            .check(&who(Role::Driver, "other"), &renew)
            .unwrap_err();
        assert!(
            err.contains("\"etl\"") && err.contains("\"other\""),
            "{err}"
        );
        owners.check(&who(Role::Admin, "root"), &renew).unwrap();
        let end = MasterRequest::EndApplication {
            app: "app-1".into(),
            failed: false,
        };
        owners.observe(&etl, &end, &MasterResponse::Ack);
        owners.check(&who(Role::Driver, "other"), &renew).unwrap();
    }
}
