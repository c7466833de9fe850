#![doc = include_str!("../README.md")]

pub mod delivery;
pub mod memory;
#[cfg(feature = "smtp")]
pub mod smtp;
pub mod template;

pub use delivery::{EmailBackend, EmailChannel, OutgoingEmail};
pub use memory::{MemoryEmail, SentEmail};
#[cfg(feature = "smtp")]
pub use smtp::{SmtpEmail, SmtpEmailBuilder, SmtpSecurity};
pub use template::{EmailTemplate, RenderedEmail, TemplateError, Templates};
