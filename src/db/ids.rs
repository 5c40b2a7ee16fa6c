//! Typed ids, so a user id can never be passed where a role id is expected.

use diesel_derive_newtype::DieselNewType;
use serde::{Deserialize, Serialize};

macro_rules! typed_id {
    ($($name:ident),* $(,)?) => {$(
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, DieselNewType, Serialize, Deserialize,
        )]
        pub struct $name(pub i32);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<$name> for i32 {
            fn from(id: $name) -> i32 {
                id.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.trim().parse().map($name)
            }
        }
    )*};
}

typed_id!(
    UserId,
    BusinessId,
    RoleId,
    AssignmentId,
    DelegationId,
    AuditEventId,
    ProcessId,
    VersionId,
    ServiceId,
    CatalogNodeId,
    ResourceId,
    ApplyId,
    ApproveId,
    ApproveUserId,
    GrantId,
    OutboxId,
    ApiTokenId,
    WebhookId,
    DeliveryId,
    AttachmentId,
);
