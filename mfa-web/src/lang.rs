//! English and Norwegian: the language is the one chosen in this session (the
//! footer's switch), else the user's stored locale ([`mfa_core::Mfa::locale`], set on
//! the security-info page) when the pages have it, else the first of
//! `Accept-Language` we speak, else the policy's locale, else English.

use axum::http::HeaderMap;
use axum::http::header::ACCEPT_LANGUAGE;
use serde::{Deserialize, Serialize};

/// A language the pages speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// English.
    #[default]
    En,
    /// Norwegian (bokmål); `no` and `nn` are answered in it too.
    Nb,
}

impl Lang {
    /// The language for a tag such as `en-GB` or `nb`; `None` for one we do not speak.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.split(['-', '_']).next()?.trim().to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Lang::En),
            "nb" | "no" | "nn" => Some(Lang::Nb),
            _ => None,
        }
    }

    /// The language of a stored locale (`nb-NO` is Norwegian); `None` for one the
    /// pages do not have.
    pub fn from_locale(locale: &mfa_core::Locale) -> Option<Lang> {
        Lang::from_tag(locale.language())
    }

    /// The best language for an `Accept-Language` header: the highest `q` we speak.
    /// Written by hand: twenty lines, where a crate would bring a full RFC 4647
    /// matcher for two languages.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut best: Option<(u16, Lang)> = None;
        // Bounded: a header of any length is read for its first 32 entries only.
        for item in header.split(',').take(32) {
            let mut parts = item.split(';');
            let Some(lang) = parts.next().and_then(Lang::from_tag) else {
                continue;
            };
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(1000, |q| {
                    q.trim()
                        .parse::<f32>()
                        .map_or(0, |v| (v.clamp(0.0, 1.0) * 1000.0) as u16)
                });
            if q > 0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, lang)| lang)
    }

    /// The language of a request: `setting` (the user's choice) first.
    pub fn choose(setting: Option<Lang>, headers: &HeaderMap, fallback: &str) -> Lang {
        setting
            .or_else(|| {
                headers
                    .get(ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(Lang::from_accept_language)
            })
            .or_else(|| Lang::from_tag(fallback))
            .unwrap_or_default()
    }

    /// The `lang` attribute.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Nb => "nb",
        }
    }

    /// The page texts.
    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::En => &EN,
            Lang::Nb => &NB,
        }
    }
}

/// Every fixed text of the pages, in one language.
#[derive(Debug)]
#[allow(missing_docs)] // each field is the text its name says
pub struct Texts {
    pub lang: &'static str,
    pub other_lang: &'static str,
    pub other_lang_name: &'static str,
    pub language: &'static str,
    pub enroll_title: &'static str,
    pub enroll_body: &'static str,
    pub set_up_now: &'static str,
    pub method_title: &'static str,
    pub method_intro: &'static str,
    pub phone_legend: &'static str,
    pub country_code: &'static str,
    pub phone_number: &'static str,
    pub send_sms: &'static str,
    pub call_me: &'static str,
    pub office_legend: &'static str,
    pub extension: &'static str,
    pub call_office: &'static str,
    pub app_legend: &'static str,
    pub app_body: &'static str,
    pub use_app: &'static str,
    pub cost_home: &'static str,
    pub cost_abroad: &'static str,
    pub risk: &'static str,
    pub risk_app: &'static str,
    pub code_title: &'static str,
    pub code_sms: &'static str,
    pub code_call: &'static str,
    pub code_app: &'static str,
    pub code_label: &'static str,
    pub check: &'static str,
    pub resend: &'static str,
    pub resend_wait: &'static str,
    pub cancel: &'static str,
    pub remember: &'static str,
    pub call_title: &'static str,
    pub call_body: &'static str,
    pub call_done: &'static str,
    pub app_scan: &'static str,
    pub app_qr_alt: &'static str,
    pub app_manual: &'static str,
    pub app_shown_once: &'static str,
    pub app_key_gone: &'static str,
    pub verified_title: &'static str,
    pub verified_body: &'static str,
    pub complete: &'static str,
    pub complete_title: &'static str,
    pub complete_body: &'static str,
    pub continue_: &'static str,
    pub recovery_title: &'static str,
    pub recovery_body: &'static str,
    pub signin_title: &'static str,
    pub stepup_title: &'static str,
    pub stepup_body: &'static str,
    pub send_code_to: &'static str,
    pub another_way: &'static str,
    pub recovery_label: &'static str,
    pub use_recovery: &'static str,
    pub security_title: &'static str,
    pub security_intro: &'static str,
    pub default_marker: &'static str,
    pub blocked_marker: &'static str,
    pub make_default: &'static str,
    pub change_number: &'static str,
    pub remove: &'static str,
    pub rename: &'static str,
    pub rename_label: &'static str,
    pub add_method: &'static str,
    pub regenerate: &'static str,
    pub devices_title: &'static str,
    pub no_devices: &'static str,
    pub device_until: &'static str,
    pub forget: &'static str,
    pub locale_label: &'static str,
    pub locale_browser: &'static str,
    pub save_locale: &'static str,
    pub bad_language: &'static str,
    pub sign_out: &'static str,
    pub not_signed_in: &'static str,
    pub not_signed_in_body: &'static str,
    pub suspended: &'static str,
    pub wrong_code: &'static str,
    pub wrong_recovery: &'static str,
    pub expired: &'static str,
    pub locked: &'static str,
    pub user_locked: &'static str,
    pub user_locked_for_good: &'static str,
    pub rate_limited: &'static str,
    pub resend_too_soon: &'static str,
    pub too_many_sends: &'static str,
    pub already_used: &'static str,
    pub denied: &'static str,
    pub canceled: &'static str,
    pub call_waiting: &'static str,
    pub call_not_completed: &'static str,
    pub delivery_failed: &'static str,
    pub bad_number: &'static str,
    pub bad_extension: &'static str,
    pub bad_code: &'static str,
    pub country_refused: &'static str,
    pub not_sms: &'static str,
    pub already_enrolled: &'static str,
    pub too_many_methods: &'static str,
    pub last_method: &'static str,
    pub stepup_needed: &'static str,
    pub csrf_refused: &'static str,
    pub unavailable: &'static str,
    pub changed: &'static str,
    pub sms_kind: &'static str,
    pub call_kind: &'static str,
    pub office_kind: &'static str,
    pub app_kind: &'static str,
    pub code_email: &'static str,
    pub email_kind: &'static str,
    pub passkey_kind: &'static str,
    pub passkey_legend: &'static str,
    pub passkey_body: &'static str,
    pub passkey_name: &'static str,
    pub create_passkey: &'static str,
    pub passkey_title: &'static str,
    pub passkey_create_body: &'static str,
    pub passkey_get_body: &'static str,
    pub passkey_start: &'static str,
    pub passkey_failed: &'static str,
    pub passkey_needs_script: &'static str,
    pub sign_in_passkey: &'static str,
    pub email_legend: &'static str,
    pub email_address: &'static str,
    pub send_email: &'static str,
    pub access_pass_link: &'static str,
    pub access_pass_title: &'static str,
    pub access_pass_body: &'static str,
    pub access_pass_label: &'static str,
    pub use_access_pass: &'static str,
    pub passkey_rejected: &'static str,
    pub bad_passkey_response: &'static str,
    pub bad_email: &'static str,
    pub email_not_allowed: &'static str,
    pub bad_name: &'static str,
    pub name_required: &'static str,
    pub name_taken: &'static str,
    pub wrong_access_pass: &'static str,
}

/// English.
pub static EN: Texts = Texts {
    lang: "en",
    other_lang: "nb",
    other_lang_name: "Norsk",
    language: "Language",
    enroll_title: "More information required",
    enroll_body: "Your organisation needs more information to keep your account secure. You will set up a second way to prove it is you.",
    set_up_now: "Set it up now",
    method_title: "Additional security verification",
    method_intro: "Secure your account by adding phone verification or the authenticator app to your password.",
    phone_legend: "Authentication phone",
    country_code: "Country or region",
    phone_number: "Phone number",
    send_sms: "Send me a code by text message",
    call_me: "Call me",
    office_legend: "Office phone",
    extension: "Extension (optional)",
    call_office: "Call my office phone",
    app_legend: "Authenticator app",
    app_body: "Use a verification code from an authenticator app. It works without phone signal and costs nothing.",
    use_app: "Use verification code through app",
    cost_home: "Text messages and calls are free for +{home} numbers; for numbers in other countries your operator may charge. The authenticator app avoids that.",
    cost_abroad: "Codes sent to +{cc} numbers may be charged by your operator (they are free for +{home} numbers). To avoid the charge, use the authenticator app.",
    risk: "Codes sent by text message or call can be intercepted, for example by someone who takes over your phone number.",
    risk_app: "Codes sent by text message or call can be intercepted, for example by someone who takes over your phone number. The authenticator app is safer.",
    code_title: "Enter code",
    code_sms: "We have sent a text message with a verification code to {to}.",
    code_call: "We are calling {to}. Listen for the code and type it below.",
    code_app: "Enter the code shown in your authenticator app.",
    code_label: "Verification code",
    check: "Check",
    resend: "Send a new code",
    resend_wait: "No code? The button to ask for a new one appears in {secs} seconds.",
    cancel: "Cancel",
    remember: "Don't ask again on this device for {days} days",
    call_title: "Answer your phone",
    call_body: "We are calling {to}. Answer it and press # to verify, then choose Check.",
    call_done: "I have answered: Check",
    app_scan: "Scan the QR code with your authenticator app, then enter the code it shows.",
    app_qr_alt: "QR code for the authenticator app",
    app_manual: "Can't scan? Enter this key in the app:",
    app_shown_once: "The key is shown on this page only once.",
    app_key_gone: "The key was shown once. If you did not add it to your app, cancel and start again.",
    verified_title: "Verified",
    verified_body: "The code was right. Choose Complete to finish setting up {method}.",
    complete: "Complete",
    complete_title: "Authentication is complete",
    complete_body: "{method} is set up. These settings can be changed later on the security info page.",
    continue_: "Continue",
    recovery_title: "Your recovery codes",
    recovery_body: "Keep these codes somewhere safe. Each one signs you in once if you lose your phone. They are shown only now.",
    signin_title: "Verify your identity",
    stepup_title: "Confirm it's you",
    stepup_body: "Changing your security info needs a fresh second factor.",
    send_code_to: "Continue with {method}",
    another_way: "Sign in another way",
    recovery_label: "Recovery code",
    use_recovery: "Use a recovery code",
    security_title: "Security info",
    security_intro: "These are the methods you use to sign in.",
    default_marker: "default",
    blocked_marker: "blocked",
    make_default: "Make default",
    change_number: "Change number",
    remove: "Remove",
    rename: "Rename",
    rename_label: "Name",
    add_method: "Add sign-in method",
    regenerate: "Make new recovery codes",
    devices_title: "Remembered devices",
    no_devices: "No device is remembered.",
    device_until: "remembered until {date}",
    forget: "Forget",
    locale_label: "Language for these pages, texts and calls",
    locale_browser: "As my browser asks",
    save_locale: "Save language",
    bad_language: "Choose English or Norwegian.",
    sign_out: "Sign out",
    not_signed_in: "Sign in first",
    not_signed_in_body: "Sign in with your user name and password, then come back.",
    suspended: "Your security settings are locked after a fraud report. Sign in with a recovery code or ask an administrator.",
    wrong_code: "That code is not right. {n} attempts left.",
    wrong_recovery: "That recovery code is not valid.",
    expired: "The code has expired. Cancel and ask for a new one.",
    locked: "Too many wrong codes. Cancel and start again.",
    user_locked: "Too many failed attempts. Try again in {secs} seconds.",
    user_locked_for_good: "Too many failed attempts. Ask an administrator to unlock your account.",
    rate_limited: "Too many codes were sent. Try again in {secs} seconds.",
    resend_too_soon: "Wait {secs} seconds before asking for a new code.",
    too_many_sends: "No more codes can be sent for this attempt. Cancel and start again.",
    already_used: "That code was already used.",
    denied: "The call was reported as fraud. Sign in another way.",
    canceled: "That attempt was canceled.",
    call_waiting: "We have not heard back from the call yet. Answer it, press #, then choose Check.",
    call_not_completed: "The call was not completed. Send a new one or choose another method.",
    delivery_failed: "We could not send the code. Try again or choose another method.",
    bad_number: "That phone number is not valid. Choose the country and write the number.",
    bad_extension: "An extension is 1 to 10 digits.",
    bad_code: "A code has only digits.",
    country_refused: "Numbers in that country cannot be used. Choose another number or the authenticator app.",
    not_sms: "That number cannot receive text messages. Choose a call or the authenticator app.",
    already_enrolled: "That method is already set up.",
    too_many_methods: "No more methods can be added. Remove one first.",
    last_method: "Your last method cannot be removed.",
    stepup_needed: "Confirm it's you first.",
    csrf_refused: "The form was stale. Reload the page and try again.",
    unavailable: "Something went wrong on our side. Try again in a moment.",
    changed: "Your security info was updated.",
    sms_kind: "text message",
    call_kind: "call",
    office_kind: "office phone",
    app_kind: "authenticator app",
    code_email: "We have sent an email with a verification code to {to}.",
    email_kind: "email",
    passkey_kind: "passkey",
    passkey_legend: "Passkey",
    passkey_body: "Sign in with your fingerprint, face or screen lock, or a security key. Nothing to type, and nothing a fake site can catch.",
    passkey_name: "Name this passkey",
    create_passkey: "Create a passkey",
    passkey_title: "Use your passkey",
    passkey_create_body: "Your browser will ask you to create a passkey for this account, with your fingerprint, face, screen lock or security key.",
    passkey_get_body: "Your browser will ask for your passkey: your fingerprint, face, screen lock or security key.",
    passkey_start: "Continue",
    passkey_failed: "The browser did not use a passkey. Try again, or sign in another way.",
    passkey_needs_script: "Passkeys need JavaScript in this browser.",
    sign_in_passkey: "Sign in with your passkey",
    email_legend: "Email",
    email_address: "Email address",
    send_email: "Email me a code",
    access_pass_link: "Use a temporary access pass",
    access_pass_title: "Temporary Access Pass",
    access_pass_body: "Type the Temporary Access Pass your administrator gave you. It signs you in so you can set up a new way to sign in.",
    access_pass_label: "Temporary Access Pass",
    use_access_pass: "Sign in",
    passkey_rejected: "The passkey did not verify. {n} attempts left.",
    bad_passkey_response: "The browser's answer was not a passkey. Try again.",
    bad_email: "That email address is not valid.",
    email_not_allowed: "Codes by email are not allowed here.",
    bad_name: "Give a name of 1 to 64 characters.",
    name_required: "Give this one a name, to tell it from the other.",
    name_taken: "Another method has that name already.",
    wrong_access_pass: "That Temporary Access Pass is wrong, used up or expired.",
};

/// Norwegian (bokmål).
pub static NB: Texts = Texts {
    lang: "nb",
    other_lang: "en",
    other_lang_name: "English",
    language: "Språk",
    enroll_title: "Mer informasjon kreves",
    enroll_body: "Organisasjonen din trenger mer informasjon for å holde kontoen din sikker. Du skal sette opp en ekstra måte å bekrefte at det er deg.",
    set_up_now: "Konfigurer nå",
    method_title: "Ekstra sikkerhetsbekreftelse",
    method_intro: "Sikre kontoen din ved å legge til telefonbekreftelse eller godkjenningsappen i tillegg til passordet.",
    phone_legend: "Godkjenningstelefon",
    country_code: "Land eller region",
    phone_number: "Telefonnummer",
    send_sms: "Send meg en kode på SMS",
    call_me: "Ring meg",
    office_legend: "Kontortelefon",
    extension: "Internnummer (valgfritt)",
    call_office: "Ring kontortelefonen min",
    app_legend: "Godkjenningsapp",
    app_body: "Bruk en bekreftelseskode fra en godkjenningsapp. Den virker uten dekning og koster ingenting.",
    use_app: "Bruk bekreftelseskode fra app",
    cost_home: "SMS og anrop er gratis for +{home}-numre; for numre i andre land kan operatøren ta betalt. Godkjenningsappen unngår det.",
    cost_abroad: "Koder sendt til +{cc}-numre kan koste penger hos operatøren (de er gratis for +{home}-numre). Bruk godkjenningsappen for å unngå det.",
    risk: "Koder sendt på SMS eller anrop kan fanges opp, for eksempel av noen som tar over telefonnummeret ditt.",
    risk_app: "Koder sendt på SMS eller anrop kan fanges opp, for eksempel av noen som tar over telefonnummeret ditt. Godkjenningsappen er tryggere.",
    code_title: "Skriv inn koden",
    code_sms: "Vi har sendt en SMS med en bekreftelseskode til {to}.",
    code_call: "Vi ringer {to}. Lytt etter koden og skriv den inn nedenfor.",
    code_app: "Skriv inn koden som vises i godkjenningsappen.",
    code_label: "Bekreftelseskode",
    check: "Kontroller",
    resend: "Send en ny kode",
    resend_wait: "Ingen kode? Knappen for å be om en ny kommer om {secs} sekunder.",
    cancel: "Avbryt",
    remember: "Ikke spør igjen på denne enheten i {days} dager",
    call_title: "Svar på telefonen",
    call_body: "Vi ringer {to}. Svar og trykk # for å bekrefte, og velg deretter Kontroller.",
    call_done: "Jeg har svart: Kontroller",
    app_scan: "Skann QR-koden med godkjenningsappen, og skriv inn koden den viser.",
    app_qr_alt: "QR-kode for godkjenningsappen",
    app_manual: "Får du ikke skannet? Skriv inn denne nøkkelen i appen:",
    app_shown_once: "Nøkkelen vises bare én gang på denne siden.",
    app_key_gone: "Nøkkelen ble vist én gang. Har du ikke lagt den inn i appen, avbryt og begynn på nytt.",
    verified_title: "Bekreftet",
    verified_body: "Koden var riktig. Velg Fullfør for å bli ferdig med å sette opp {method}.",
    complete: "Fullfør",
    complete_title: "Godkjenningen er fullført",
    complete_body: "{method} er satt opp. Disse innstillingene kan endres senere på siden for sikkerhetsinformasjon.",
    continue_: "Fortsett",
    recovery_title: "Gjenopprettingskodene dine",
    recovery_body: "Ta vare på disse kodene på et trygt sted. Hver av dem logger deg på én gang hvis du mister telefonen. De vises bare nå.",
    signin_title: "Bekreft identiteten din",
    stepup_title: "Bekreft at det er deg",
    stepup_body: "For å endre sikkerhetsinformasjonen trenger vi en ny bekreftelse.",
    send_code_to: "Fortsett med {method}",
    another_way: "Logg på en annen måte",
    recovery_label: "Gjenopprettingskode",
    use_recovery: "Bruk en gjenopprettingskode",
    security_title: "Sikkerhetsinformasjon",
    security_intro: "Dette er metodene du bruker for å logge på.",
    default_marker: "standard",
    blocked_marker: "blokkert",
    make_default: "Gjør til standard",
    change_number: "Endre nummer",
    remove: "Fjern",
    rename: "Gi nytt navn",
    rename_label: "Navn",
    add_method: "Legg til påloggingsmetode",
    regenerate: "Lag nye gjenopprettingskoder",
    devices_title: "Huskede enheter",
    no_devices: "Ingen enhet er husket.",
    device_until: "husket til {date}",
    forget: "Glem",
    locale_label: "Språk for disse sidene, meldinger og anrop",
    locale_browser: "Som nettleseren ber om",
    save_locale: "Lagre språk",
    bad_language: "Velg engelsk eller norsk.",
    sign_out: "Logg av",
    not_signed_in: "Logg på først",
    not_signed_in_body: "Logg på med brukernavn og passord, og kom så tilbake.",
    suspended: "Sikkerhetsinnstillingene dine er låst etter en svindelrapport. Logg på med en gjenopprettingskode eller kontakt en administrator.",
    wrong_code: "Koden er ikke riktig. {n} forsøk igjen.",
    wrong_recovery: "Gjenopprettingskoden er ikke gyldig.",
    expired: "Koden er utløpt. Avbryt og be om en ny.",
    locked: "For mange feil koder. Avbryt og begynn på nytt.",
    user_locked: "For mange mislykkede forsøk. Prøv igjen om {secs} sekunder.",
    user_locked_for_good: "For mange mislykkede forsøk. Be en administrator om å låse opp kontoen.",
    rate_limited: "For mange koder er sendt. Prøv igjen om {secs} sekunder.",
    resend_too_soon: "Vent {secs} sekunder før du ber om en ny kode.",
    too_many_sends: "Det kan ikke sendes flere koder for dette forsøket. Avbryt og begynn på nytt.",
    already_used: "Koden er allerede brukt.",
    denied: "Anropet ble rapportert som svindel. Logg på en annen måte.",
    canceled: "Forsøket ble avbrutt.",
    call_waiting: "Vi har ikke fått svar fra anropet ennå. Svar, trykk #, og velg Kontroller.",
    call_not_completed: "Anropet ble ikke fullført. Ring på nytt eller velg en annen metode.",
    delivery_failed: "Vi fikk ikke sendt koden. Prøv igjen eller velg en annen metode.",
    bad_number: "Telefonnummeret er ikke gyldig. Velg land og skriv nummeret.",
    bad_extension: "Et internnummer har 1 til 10 sifre.",
    bad_code: "En kode har bare sifre.",
    country_refused: "Numre i dette landet kan ikke brukes. Velg et annet nummer eller godkjenningsappen.",
    not_sms: "Dette nummeret kan ikke motta SMS. Velg anrop eller godkjenningsappen.",
    already_enrolled: "Denne metoden er allerede satt opp.",
    too_many_methods: "Du kan ikke legge til flere metoder. Fjern en først.",
    last_method: "Den siste metoden kan ikke fjernes.",
    stepup_needed: "Bekreft at det er deg først.",
    csrf_refused: "Skjemaet var utdatert. Last inn siden på nytt og prøv igjen.",
    unavailable: "Noe gikk galt hos oss. Prøv igjen om litt.",
    changed: "Sikkerhetsinformasjonen er oppdatert.",
    sms_kind: "SMS",
    call_kind: "anrop",
    office_kind: "kontortelefon",
    app_kind: "godkjenningsapp",
    code_email: "Vi har sendt en e-post med en bekreftelseskode til {to}.",
    email_kind: "e-post",
    passkey_kind: "passnøkkel",
    passkey_legend: "Passnøkkel",
    passkey_body: "Logg på med fingeravtrykk, ansikt, skjermlås eller en sikkerhetsnøkkel. Ingenting å skrive, og ingenting en falsk side kan fange opp.",
    passkey_name: "Gi passnøkkelen et navn",
    create_passkey: "Opprett en passnøkkel",
    passkey_title: "Bruk passnøkkelen din",
    passkey_create_body: "Nettleseren ber deg opprette en passnøkkel for denne kontoen, med fingeravtrykk, ansikt, skjermlås eller sikkerhetsnøkkel.",
    passkey_get_body: "Nettleseren ber om passnøkkelen din: fingeravtrykk, ansikt, skjermlås eller sikkerhetsnøkkel.",
    passkey_start: "Fortsett",
    passkey_failed: "Nettleseren brukte ingen passnøkkel. Prøv igjen, eller logg på en annen måte.",
    passkey_needs_script: "Passnøkler krever JavaScript i denne nettleseren.",
    sign_in_passkey: "Logg på med passnøkkelen din",
    email_legend: "E-post",
    email_address: "E-postadresse",
    send_email: "Send meg en kode på e-post",
    access_pass_link: "Bruk et midlertidig tilgangspass",
    access_pass_title: "Midlertidig tilgangspass",
    access_pass_body: "Skriv inn det midlertidige tilgangspasset administratoren ga deg. Det logger deg på slik at du kan sette opp en ny måte å logge på.",
    access_pass_label: "Midlertidig tilgangspass",
    use_access_pass: "Logg på",
    passkey_rejected: "Passnøkkelen ble ikke godkjent. {n} forsøk igjen.",
    bad_passkey_response: "Svaret fra nettleseren var ingen passnøkkel. Prøv igjen.",
    bad_email: "E-postadressen er ikke gyldig.",
    email_not_allowed: "Koder på e-post er ikke tillatt her.",
    bad_name: "Gi et navn på 1 til 64 tegn.",
    name_required: "Gi denne et navn, så den skilles fra den andre.",
    name_taken: "En annen metode har allerede det navnet.",
    wrong_access_pass: "Det midlertidige tilgangspasset er feil, brukt opp eller utløpt.",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_highest_q_we_speak() {
        assert_eq!(
            Lang::from_accept_language("de-DE, nb;q=0.9, en;q=0.8"),
            Some(Lang::Nb)
        );
        assert_eq!(
            Lang::from_accept_language("en-GB;q=0.5, no;q=0.7"),
            Some(Lang::Nb)
        );
        assert_eq!(Lang::from_accept_language("nn;q=0, en-US"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language("fr, de"), None);
        assert_eq!(Lang::from_accept_language(&"x;q=,".repeat(10_000)), None);
    }
}
