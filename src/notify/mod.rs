//! Email: the notices ticket events write to the outbox (composed in the
//! recipient's language), and the worker that sends them.

pub mod delegation;
pub mod hooks;
pub mod notices;
pub mod worker;
