//! The integration suite: one binary, the real server on a random port, a
//! fresh database per test (SQLite, or PostgreSQL with `TEST_DATABASE_URL`).

mod helpers;

mod access_requests;
mod admin_users;
mod api;
mod api_actions;
mod api_tokens;
mod approval_rules;
mod assignments;
mod auth;
mod browser;
mod catalog;
mod change_calendar;
mod chinese;
mod cli;
mod database;
mod deadlines;
mod delegations;
mod designer;
mod designer_guidance;
mod email;
mod forms;
mod inbox_and_home;
mod language;
mod layers;
mod leavers;
mod mail_delivery;
mod one_door;
mod people_picker;
mod planning;
mod process;
mod profile;
mod request_view;
mod roles_and_businesses;
mod round_trips;
mod security;
mod segregation;
mod sessions;
mod silences;
mod smtp;
mod startup;
mod ticket_page;
mod tickets;
mod webhooks;
mod what_happened;
