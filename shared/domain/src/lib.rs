//! The Integration Events domain: what an event, an integration, an API key and
//! a failure record are, the rules that govern them, and the ports (storage and
//! queue) the adapters implement. Nothing here knows about AWS or HTTP.

pub mod auth;
pub mod clock;
pub mod dispatch;
pub mod error;
pub mod event;
pub mod export;
#[cfg(test)]
mod fuzz;
pub mod integration;
pub mod isolation;
pub mod oauth;
pub mod ports;
pub mod record;
pub mod recording;
pub mod report;
pub mod resolution;
pub mod service;

pub use error::{DomainError, StoreError};
