//! The pages' templates (compiled at build time by askama) and what they show.

use askama::Template;

use crate::lang::Texts;

/// What every page shows around its content.
pub(crate) struct Base {
    pub t: &'static Texts,
    pub title: &'static str,
    pub prefix: String,
    pub csrf: String,
    pub app_name: String,
    /// A problem to tell the user (`role="alert"`).
    pub alert: Option<String>,
    /// A confirmation (`role="status"`).
    pub info: Option<String>,
    pub signed_in: bool,
}

/// One entry of the country list.
pub(crate) struct Country {
    pub code: u16,
    pub name: &'static str,
    pub selected: bool,
}

/// Countries offered first, by calling code, with English and Norwegian names; the
/// policy's allow-list filters them. A number written with `+` reaches any country.
pub(crate) const COUNTRIES: &[(u16, &str, &str)] = &[
    (47, "Norway", "Norge"),
    (46, "Sweden", "Sverige"),
    (45, "Denmark", "Danmark"),
    (358, "Finland", "Finland"),
    (354, "Iceland", "Island"),
    (44, "United Kingdom", "Storbritannia"),
    (49, "Germany", "Tyskland"),
    (33, "France", "Frankrike"),
    (34, "Spain", "Spania"),
    (39, "Italy", "Italia"),
    (31, "Netherlands", "Nederland"),
    (48, "Poland", "Polen"),
    (1, "United States / Canada", "USA / Canada"),
    (61, "Australia", "Australia"),
    (91, "India", "India"),
];

#[derive(Template)]
#[template(path = "enroll.html")]
pub(crate) struct EnrollPage {
    pub b: Base,
}

#[derive(Template)]
#[template(path = "method.html")]
pub(crate) struct MethodPage {
    pub b: Base,
    pub countries: Vec<Country>,
    pub cost_home: Option<String>,
    pub replaces: Option<String>,
    pub number: String,
    pub offer_app: bool,
    pub offer_phone: bool,
    pub offer_office: bool,
    pub offer_email: bool,
    pub offer_passkey: bool,
}

/// The code page's changing parts.
pub(crate) struct CodeView {
    pub intro: String,
    pub call_key: bool,
    pub digits: usize,
    pub resend: bool,
    pub resend_in: u64,
    pub resend_note: String,
    pub cost_notice: Option<String>,
    pub risk_notice: Option<&'static str>,
    pub remember: Option<String>,
    pub qr_svg: Option<String>,
    pub manual_key: Option<String>,
    pub key_gone: bool,
    /// Whether the code comes by SMS (the WebOTP enhancement applies).
    pub sms: bool,
}

#[derive(Template)]
#[template(path = "code.html")]
pub(crate) struct CodePage {
    pub b: Base,
    pub c: CodeView,
}

#[derive(Template)]
#[template(path = "passkey.html")]
pub(crate) struct PasskeyPage {
    pub b: Base,
    pub body: &'static str,
    /// `create` (setting one up) or `get` (signing in).
    pub ceremony: &'static str,
    /// The options, as JSON, for the browser's WebAuthn call.
    pub options: String,
    pub remember: Option<String>,
}

#[derive(Template)]
#[template(path = "access_pass.html")]
pub(crate) struct AccessPassPage {
    pub b: Base,
}

#[derive(Template)]
#[template(path = "verified.html")]
pub(crate) struct VerifiedPage {
    pub b: Base,
    pub body: String,
}

#[derive(Template)]
#[template(path = "complete.html")]
pub(crate) struct CompletePage {
    pub b: Base,
    pub body: String,
    pub codes: Vec<String>,
    pub next: String,
}

/// A method offered at sign-in.
pub(crate) struct SignInOption {
    pub id: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "signin.html")]
pub(crate) struct SignInPage {
    pub b: Base,
    pub step_up: bool,
    /// Whether to link the Temporary Access Pass page.
    pub access_pass: bool,
    pub first: Option<SignInOption>,
    pub others: Vec<SignInOption>,
}

/// A method on the security-info page.
pub(crate) struct MethodRow {
    pub id: String,
    pub label: String,
    pub is_default: bool,
    pub blocked: bool,
    pub phone: bool,
    /// The name the user gave it, or empty.
    pub name: String,
}

/// A remembered device on the security-info page.
pub(crate) struct DeviceRow {
    pub id: String,
    pub until: String,
}

#[derive(Template)]
#[template(path = "security.html")]
pub(crate) struct SecurityPage {
    pub b: Base,
    pub methods: Vec<MethodRow>,
    pub devices: Vec<DeviceRow>,
    pub codes: Vec<String>,
    /// The stored page language's tag, empty when none is stored.
    pub locale: &'static str,
}

#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct MessagePage {
    pub b: Base,
    pub body: String,
    pub link: Option<(String, String)>,
}
