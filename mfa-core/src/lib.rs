#![doc = include_str!("../README.md")]

pub mod access_pass;
pub mod app;
pub mod challenge;
pub mod clock;
pub mod code;
pub mod delivery;
pub mod device;
pub mod email;
pub mod error;
pub mod event;
pub mod http;
mod inline;
pub mod inventory;
mod keyed;
pub mod locale;
pub mod machine;
pub mod method;
mod mfa;
pub mod number_match;
pub mod passkey;
pub mod phone;
pub mod policy;
pub mod proof;
pub mod record;
pub mod report;
pub mod request;
#[cfg(feature = "serde")]
mod serde_text;
pub mod store;
mod sync;
#[cfg(feature = "tracing")]
pub mod trace;
pub mod user;

pub use access_pass::{
    AccessPass, AccessPassInfo, AccessPassOptions, AccessPassPolicy, AccessPassSignIn,
    AccessPassState, IssuedAccessPass,
};
pub use app::{AppMatch, AppProvisioning, AppVerifier};
pub use challenge::{Challenge, ChallengeStatus, EnrollmentState};
pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use code::{
    CodeHash, CodeKey, OneTimeCode, OsRandomness, Randomness, RecoveryCode, SecretBytes,
    SeededRandomness, ThreadRandomness, random_code,
};
pub use delivery::{
    AttemptOutcome, CallOutcome, Content, Delivery, DeliveryError, DeliveryErrorKind,
    DeliveryRequest, MemoryDelivery, ProviderCode, Purpose, Receipt, SentMessage,
};
pub use device::{DeviceToken, RememberedDevice};
pub use email::{EmailAddress, EmailDelivery, EmailRequest};
pub use error::{
    Error, InputError, LimitScope, Missing, PolicyError, StoreError, StoreErrorKind,
    TransitionError,
};
pub use event::{Event, EventSink, MemoryEvents, NoEvents, Refusal};
pub use http::http_status;
pub use inventory::{
    Assignment, HardwareTokenInfo, HardwareTokenPage, ImportOutcome, OathKind, TokenImport,
};
pub use locale::Locale;
pub use machine::{Approved, Verification};
pub use method::{
    AccessPassId, AppCredential, ChallengeId, Channel, Destination, Extension, Method, MethodId,
    MethodKind, MethodName, MethodRecord, MethodStatus, PhoneMode, TokenSerial,
};
pub use mfa::{Completion, Mfa, MfaBuilder, Pending, RecoverySignIn, Status};
pub use number_match::SignInNumber;
pub use passkey::{
    Ceremony, PasskeyAssertion, PasskeyCredential, PasskeyError, PasskeyUser, PasskeyVerifier,
};
pub use phone::{NumberKind, PhoneNumber};
pub use policy::{CallConfirmation, CostNotice, CountryPolicy, Policy, RiskNotice};
pub use proof::Proof;
pub use record::{UserRecord, UserStatus, Version};
pub use report::{DeliveryReport, NextStep, ReportAnswer, ReportStatus};
pub use request::{EventMeta, RequestContext};
pub use store::{Commit, InPlace, MemoryStore, Store, Versioned, WindowCount, WindowHit};
#[cfg(feature = "tracing")]
pub use trace::TracingEvents;
pub use user::UserId;
