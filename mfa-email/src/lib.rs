#![doc = include_str!("../README.md")]

pub mod delivery;
#[cfg(feature = "smtp")]
pub mod dkim;
pub mod memory;
#[cfg(feature = "smtp")]
pub mod smtp;
pub mod template;

pub use delivery::{EmailBackend, EmailChannel, OutgoingEmail};
#[cfg(feature = "smtp")]
pub use dkim::Dkim;
pub use memory::{MemoryEmail, SentEmail};
#[cfg(feature = "smtp")]
pub use smtp::{DEFAULT_POOL_IDLE, DEFAULT_POOL_SIZE, SmtpEmail, SmtpEmailBuilder, SmtpSecurity};
pub use template::{EmailTemplate, RenderedEmail, TemplateError, Templates};
