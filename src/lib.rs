//! countersign: a process service for operations teams — change management
//! and access requests with multi-person approval, server-rendered.

pub mod api;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod flow;
pub mod i18n;
pub mod jobs;
pub mod ldap;
pub mod metrics;
pub mod notify;
pub mod oidc;
pub mod password;
pub mod refusal;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod token;
pub mod web;

rust_i18n::i18n!("locales", fallback = "en");
