#![doc = include_str!("../README.md")]

mod console;
mod failover;
mod keys;
mod memory;
mod report;
mod script;
#[cfg(feature = "sip")]
pub mod sip;
#[cfg(feature = "twilio")]
pub mod twilio;

pub use console::ConsoleVoice;
pub use failover::FailoverVoice;
pub use keys::{Heard, KeyPrompt, KeyResult, MAX_KEYS, interpret_keys, is_keypad_key};
pub use memory::{CallState, Callee, MemoryVoice, PlacedCall};
pub use report::{CallEvent, CallReporter, ReportError};
pub use script::{
    CallEnd, CallScript, Expect, Language, Playback, ScriptOptions, Step, WORDS_PER_MINUTE,
};
