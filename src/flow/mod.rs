//! The flow engine, pure: process definitions, their validation, form
//! values, business calendars, and the diagram. No actix, no diesel.

pub mod added;
pub mod branches;
pub mod calendar;
pub mod change;
pub mod deadline;
pub mod decision;
pub mod definition;
pub mod diagram;
pub mod figures;
pub mod form;
pub mod freeze;
pub mod plan;
pub mod validate;
pub mod votes;

pub use branches::{BranchDef, BranchRef, GatewayDef, GatewayKind};
pub use definition::*;
