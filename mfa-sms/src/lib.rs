#![doc = include_str!("../README.md")]

pub mod delivery;
pub mod encoding;
pub mod memory;
pub mod message;

pub use delivery::{OutgoingSms, SmsBackend, SmsDelivery};
pub use encoding::{Encoding, SmsLength, is_gsm7};
pub use memory::{ConsoleSms, MemorySms, SentSms};
pub use message::{MessageValues, Messages, Template, TemplateError, TooManySegments};
