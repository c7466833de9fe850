#![doc = include_str!("../README.md")]

pub mod delivery;
pub mod encoding;
pub mod failover;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "kannel")]
pub mod kannel;
pub mod memory;
pub mod message;
pub mod reports;
#[cfg(feature = "smpp")]
pub mod smpp;
#[cfg(any(feature = "twilio", feature = "http", feature = "kannel"))]
mod transport;
#[cfg(feature = "twilio")]
pub mod twilio;

pub use delivery::{ConfigError, OutgoingSms, SmsBackend, SmsDelivery};
pub use encoding::{Encoding, SmsLength, gsm7_decode, gsm7_encode, is_gsm7};
pub use failover::FailoverSms;
#[cfg(feature = "http")]
pub use http::{HttpBody, HttpGateway, HttpMethod};
#[cfg(feature = "kannel")]
pub use kannel::{KannelAcceptance, KannelMethod, KannelSms};
pub use memory::{ConsoleSms, MemorySms, SentSms};
pub use message::{MessageValues, Messages, Template, TemplateError, TooManySegments};
pub use reports::{ReportError, SentMessage, SentMessages, SmsReport};
#[cfg(feature = "smpp")]
pub use smpp::{DeliveryReceipt, LongMessages, SmppSettings, SmppSms};
#[cfg(feature = "twilio")]
pub use twilio::{TwilioSender, TwilioSms};
