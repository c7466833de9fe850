//! Message texts: templates with `{code}`, `{app}` and `{minutes}`, built-in English
//! and Norwegian (bokmål), custom texts per locale, and the lines that let phones
//! fill the code in by themselves (WebOTP / Apple `@host #code`, Android SMS Retriever).

use std::fmt::{self, Write as _};
use std::time::Duration;

use crate::encoding::SmsLength;

/// The longest template accepted, in bytes.
pub const MAX_TEMPLATE_LEN: usize = 640;
/// The longest rendered message allowed by default, in segments.
pub const DEFAULT_MAX_SEGMENTS: usize = 3;

const ENGLISH: &str = "{code} is your {app} verification code. It expires in {minutes} min.";
const NORWEGIAN: &str = "{code} er bekreftelseskoden din for {app}. Den utløper om {minutes} min.";
const ENGLISH_DO_NOT_SHARE: &str = "Don't share it with anyone.";
const NORWEGIAN_DO_NOT_SHARE: &str = "Ikke del den med noen.";

/// A template or option that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// The template has no `{code}`.
    #[error("the template has no {{code}} placeholder")]
    MissingCode,
    /// The template names a placeholder other than `{code}`, `{app}`, `{minutes}`.
    #[error("unknown placeholder {{{0}}}: use {{code}}, {{app}} or {{minutes}}")]
    UnknownPlaceholder(String),
    /// A `{` is never closed, or a `}` was never opened (write `{{` and `}}` for braces).
    #[error("unbalanced brace at byte {0}: write {{{{ and }}}} for literal braces")]
    UnbalancedBrace(usize),
    /// The template is longer than [`MAX_TEMPLATE_LEN`].
    #[error("the template is longer than {max} bytes")]
    TooLong {
        /// The limit in bytes.
        max: usize,
    },
    /// The locale is not a language tag such as `en`, `nb` or `pt-BR`.
    #[error("the locale is not a language tag")]
    InvalidLocale,
    /// The domain for the `@host #code` line is not a host name.
    #[error("the domain is not a host name")]
    InvalidDomain,
    /// An Android SMS Retriever app hash is 11 characters of base64.
    #[error("the app hash must be 11 base64 characters")]
    InvalidAppHash,
    /// A line of text (such as the "do not share" line) is empty, too long or holds a line break.
    #[error("the line must be 1 to 160 bytes without line breaks")]
    InvalidLine,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Literal(usize, usize),
    Code,
    App,
    Minutes,
}

/// A parsed message template: literal text and `{code}`, `{app}`, `{minutes}`
/// placeholders. `{{` and `}}` stand for literal braces.
///
/// ```
/// use mfa_sms::Template;
///
/// let t = Template::parse("{app}: {code} ({minutes} min)").unwrap();
/// assert!(Template::parse("no code here").is_err());
/// assert!(Template::parse("{code} {user}").is_err());
/// # let _ = t;
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Template {
    literals: String,
    parts: Vec<Part>,
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Template")
            .field("parts", &self.parts.len())
            .finish_non_exhaustive()
    }
}

impl Template {
    /// Parses a template; it must hold `{code}` and only known placeholders.
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        if source.len() > MAX_TEMPLATE_LEN {
            return Err(TemplateError::TooLong {
                max: MAX_TEMPLATE_LEN,
            });
        }
        let mut literals = String::with_capacity(source.len());
        let mut parts = Vec::new();
        let mut start = 0;
        let mut rest = source;
        let mut offset = 0;
        let flush = |literals: &String, parts: &mut Vec<Part>, start: usize| {
            if literals.len() > start {
                parts.push(Part::Literal(start, literals.len()));
            }
        };
        while let Some(i) = rest.find(['{', '}']) {
            literals.push_str(&rest[..i]);
            let brace = rest.as_bytes()[i];
            let after = &rest[i + 1..];
            if after.as_bytes().first() == Some(&brace) {
                literals.push(char::from(brace));
                rest = &after[1..];
                offset += i + 2;
                continue;
            }
            if brace == b'}' {
                return Err(TemplateError::UnbalancedBrace(offset + i));
            }
            let Some(end) = after.find('}') else {
                return Err(TemplateError::UnbalancedBrace(offset + i));
            };
            let name = &after[..end];
            let part = match name {
                "code" => Part::Code,
                "app" => Part::App,
                "minutes" => Part::Minutes,
                _ if name.contains('{') => return Err(TemplateError::UnbalancedBrace(offset + i)),
                _ => {
                    let shown: String = name.chars().take(32).collect();
                    return Err(TemplateError::UnknownPlaceholder(shown));
                }
            };
            flush(&literals, &mut parts, start);
            start = literals.len();
            parts.push(part);
            rest = &after[end + 1..];
            offset += i + 1 + end + 1;
        }
        literals.push_str(rest);
        flush(&literals, &mut parts, start);
        if !parts.contains(&Part::Code) {
            return Err(TemplateError::MissingCode);
        }
        Ok(Template { literals, parts })
    }

    fn render_into(&self, out: &mut String, values: &MessageValues<'_>) {
        for part in &self.parts {
            match *part {
                Part::Literal(a, b) => out.push_str(&self.literals[a..b]),
                Part::Code => out.push_str(values.code),
                Part::App => out.push_str(values.app),
                Part::Minutes => {
                    // Writing to a String cannot fail.
                    let _ = write!(out, "{}", values.minutes());
                }
            }
        }
    }

    fn capacity_hint(&self, values: &MessageValues<'_>) -> usize {
        self.literals.len() + self.parts.len() * 4 + values.app.len() + values.code.len()
    }
}

/// What a message is rendered from.
#[derive(Clone, Copy)]
pub struct MessageValues<'a> {
    /// The code's digits.
    pub code: &'a str,
    /// The application's name.
    pub app: &'a str,
    /// How long the code lives; shown in whole minutes, rounded up, at least 1.
    pub expires_in: Duration,
    /// The locale (`en`, `nb`, `nb-NO`, ...).
    pub locale: &'a str,
}

impl fmt::Debug for MessageValues<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageValues")
            .field("code", &"******")
            .field("app", &self.app)
            .field("expires_in", &self.expires_in)
            .field("locale", &self.locale)
            .finish()
    }
}

impl MessageValues<'_> {
    fn minutes(&self) -> u64 {
        self.expires_in.as_secs().div_ceil(60).max(1)
    }
}

#[derive(Debug, Clone)]
struct LocaleText {
    locale: String,
    template: Option<Template>,
    do_not_share: Option<String>,
}

/// The SMS texts of an application: which template each locale uses and which extra
/// lines are added.
///
/// The lines come in this order: the template, the "do not share" line, the Android
/// app hash, and last the `@host #code` line (WebOTP requires it last).
///
/// ```
/// use std::time::Duration;
/// use mfa_sms::{MessageValues, Messages};
///
/// let messages = Messages::new()
///     .do_not_share(true)
///     .bind_to_domain("login.example.com").unwrap();
/// let values = MessageValues {
///     code: "123456",
///     app: "Example",
///     expires_in: Duration::from_secs(300),
///     locale: "nb-NO",
/// };
/// assert_eq!(
///     messages.render(&values).unwrap(),
///     "123456 er bekreftelseskoden din for Example. Den utløper om 5 min.\n\
///      Ikke del den med noen.\n\
///      @login.example.com #123456"
/// );
/// ```
#[derive(Debug, Clone)]
pub struct Messages {
    english: Template,
    norwegian: Template,
    custom: Vec<LocaleText>,
    do_not_share: bool,
    app_hash: Option<String>,
    domain: Option<String>,
    max_segments: usize,
}

impl Default for Messages {
    fn default() -> Self {
        Self::new()
    }
}

/// A message longer than the allowed number of segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the message takes {segments} SMS segments, more than the {max} allowed")]
pub struct TooManySegments {
    /// Segments the message would take.
    pub segments: usize,
    /// The limit.
    pub max: usize,
}

impl Messages {
    /// The built-in texts (English, and Norwegian bokmål for `nb`, `nn` and `no`).
    pub fn new() -> Self {
        Messages {
            english: builtin(ENGLISH),
            norwegian: builtin(NORWEGIAN),
            custom: Vec::new(),
            do_not_share: false,
            app_hash: None,
            domain: None,
            max_segments: DEFAULT_MAX_SEGMENTS,
        }
    }

    /// Uses `template` for `locale` (a language such as `sv`, or a language and
    /// region such as `pt-BR`, which wins over its language).
    pub fn template(mut self, locale: &str, template: &str) -> Result<Self, TemplateError> {
        let template = Template::parse(template)?;
        self.entry(locale)?.template = Some(template);
        Ok(self)
    }

    /// The "do not share" line for `locale` (built in for English and Norwegian).
    pub fn do_not_share_text(mut self, locale: &str, line: &str) -> Result<Self, TemplateError> {
        let line = check_line(line)?;
        self.entry(locale)?.do_not_share = Some(line.to_owned());
        Ok(self)
    }

    /// Adds the "do not share this code" line.
    pub fn do_not_share(mut self, on: bool) -> Self {
        self.do_not_share = on;
        self
    }

    /// Ends every message with `@host #code`, so browsers (WebOTP) and iOS offer the
    /// code for `host` alone.
    pub fn bind_to_domain(mut self, host: &str) -> Result<Self, TemplateError> {
        let host = host.trim();
        let valid = !host.is_empty()
            && host.len() <= 253
            && !host.starts_with(['.', '-', ':'])
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
        if !valid {
            return Err(TemplateError::InvalidDomain);
        }
        self.domain = Some(host.to_ascii_lowercase());
        Ok(self)
    }

    /// Adds an Android SMS Retriever app hash (11 base64 characters) on its own line.
    pub fn android_app_hash(mut self, hash: &str) -> Result<Self, TemplateError> {
        let valid = hash.len() == 11
            && hash
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/'));
        if !valid {
            return Err(TemplateError::InvalidAppHash);
        }
        self.app_hash = Some(hash.to_owned());
        Ok(self)
    }

    /// The most segments a message may take (default 3); longer messages are refused.
    pub fn max_segments(mut self, max: usize) -> Self {
        self.max_segments = max.max(1);
        self
    }

    /// The segment limit in force.
    pub fn segment_limit(&self) -> usize {
        self.max_segments
    }

    fn entry(&mut self, locale: &str) -> Result<&mut LocaleText, TemplateError> {
        let valid = (2..=35).contains(&locale.len())
            && locale
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
        if !valid {
            return Err(TemplateError::InvalidLocale);
        }
        let locale = locale.replace('_', "-").to_ascii_lowercase();
        let index = match self.custom.iter().position(|c| c.locale == locale) {
            Some(i) => i,
            None => {
                self.custom.push(LocaleText {
                    locale,
                    template: None,
                    do_not_share: None,
                });
                self.custom.len() - 1
            }
        };
        Ok(&mut self.custom[index])
    }

    /// The custom text for the full tag, then for its language.
    fn custom_for<T>(&self, locale: &str, pick: impl Fn(&LocaleText) -> Option<&T>) -> Option<&T> {
        let language = language_of(locale);
        let same = |a: &str, b: &str| {
            a.len() == b.len()
                && a.bytes().zip(b.bytes()).all(|(x, y)| {
                    let y = if y == b'_' { b'-' } else { y };
                    x == y.to_ascii_lowercase()
                })
        };
        self.custom
            .iter()
            .filter(|c| same(&c.locale, locale))
            .find_map(&pick)
            .or_else(|| {
                self.custom
                    .iter()
                    .filter(|c| same(&c.locale, language))
                    .find_map(&pick)
            })
    }

    fn is_norwegian(locale: &str) -> bool {
        let language = language_of(locale);
        ["nb", "nn", "no"]
            .iter()
            .any(|n| n.eq_ignore_ascii_case(language))
    }

    fn template_for(&self, locale: &str) -> &Template {
        match self.custom_for(locale, |c| c.template.as_ref()) {
            Some(t) => t,
            None if Self::is_norwegian(locale) => &self.norwegian,
            None => &self.english,
        }
    }

    fn do_not_share_for(&self, locale: &str) -> &str {
        match self.custom_for(locale, |c| c.do_not_share.as_ref()) {
            Some(line) => line,
            None if Self::is_norwegian(locale) => NORWEGIAN_DO_NOT_SHARE,
            None => ENGLISH_DO_NOT_SHARE,
        }
    }

    /// Renders the message into `out` (cleared first), without checking its length.
    pub fn render_into(&self, out: &mut String, values: &MessageValues<'_>) {
        out.clear();
        let template = self.template_for(values.locale);
        out.reserve(template.capacity_hint(values) + 64);
        template.render_into(out, values);
        if self.do_not_share {
            out.push('\n');
            out.push_str(self.do_not_share_for(values.locale));
        }
        if let Some(hash) = &self.app_hash {
            out.push('\n');
            out.push_str(hash);
        }
        if let Some(domain) = &self.domain {
            out.push_str("\n@");
            out.push_str(domain);
            out.push_str(" #");
            out.push_str(values.code);
        }
    }

    /// Renders the message; refused when it takes more than the segment limit.
    pub fn render(&self, values: &MessageValues<'_>) -> Result<String, TooManySegments> {
        let mut out = String::new();
        self.render_into(&mut out, values);
        let length = SmsLength::of(&out);
        if length.segments > self.max_segments {
            return Err(TooManySegments {
                segments: length.segments,
                max: self.max_segments,
            });
        }
        Ok(out)
    }
}

fn builtin(source: &str) -> Template {
    match Template::parse(source) {
        Ok(t) => t,
        // The built-in texts are constants covered by tests.
        Err(_) => Template {
            literals: String::new(),
            parts: vec![Part::Code],
        },
    }
}

fn language_of(locale: &str) -> &str {
    locale.split(['-', '_']).next().unwrap_or(locale)
}

fn check_line(line: &str) -> Result<&str, TemplateError> {
    let line = line.trim();
    if line.is_empty() || line.len() > 160 || line.contains(['\n', '\r']) {
        return Err(TemplateError::InvalidLine);
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::Encoding;

    fn values(locale: &str) -> MessageValues<'_> {
        MessageValues {
            code: "042917",
            app: "Contoso",
            expires_in: Duration::from_secs(300),
            locale,
        }
    }

    #[test]
    fn built_in_templates_parse() {
        Template::parse(ENGLISH).unwrap();
        Template::parse(NORWEGIAN).unwrap();
    }

    #[test]
    fn english_and_norwegian_texts() {
        let m = Messages::new();
        assert_eq!(
            m.render(&values("en")).unwrap(),
            "042917 is your Contoso verification code. It expires in 5 min."
        );
        let nb = m.render(&values("nb")).unwrap();
        assert_eq!(
            nb,
            "042917 er bekreftelseskoden din for Contoso. Den utløper om 5 min."
        );
        for locale in ["nb-NO", "NO", "nn", "no_NO"] {
            assert_eq!(m.render(&values(locale)).unwrap(), nb, "{locale}");
        }
        // Unknown locales fall back to English.
        assert!(m.render(&values("fr")).unwrap().contains("is your"));
        assert!(m.render(&values("")).unwrap().contains("is your"));
        // Both built-in texts stay in GSM-7 and in one segment.
        for locale in ["en", "nb"] {
            let len = SmsLength::of(&m.render(&values(locale)).unwrap());
            assert_eq!((len.encoding, len.segments), (Encoding::Gsm7, 1));
        }
    }

    #[test]
    fn minutes_round_up_and_are_at_least_one() {
        let m = Messages::new();
        let mut v = values("en");
        for (secs, shown) in [
            (0, "1 min"),
            (1, "1 min"),
            (60, "1 min"),
            (61, "2 min"),
            (599, "10 min"),
        ] {
            v.expires_in = Duration::from_secs(secs);
            assert!(m.render(&v).unwrap().contains(shown), "{secs}");
        }
    }

    #[test]
    fn custom_templates_per_locale() {
        let m = Messages::new()
            .template("sv", "{code} är din kod för {app}. Giltig i {minutes} min.")
            .unwrap()
            .template("en-GB", "Your {app} code: {code}")
            .unwrap()
            .template("nb", "{app}: {code}")
            .unwrap();
        assert_eq!(
            m.render(&values("sv-SE")).unwrap(),
            "042917 är din kod för Contoso. Giltig i 5 min."
        );
        assert_eq!(
            m.render(&values("en_gb")).unwrap(),
            "Your Contoso code: 042917"
        );
        assert!(m.render(&values("en-US")).unwrap().contains("is your"));
        assert_eq!(m.render(&values("nb")).unwrap(), "Contoso: 042917");
        assert!(
            m.render(&values("nn"))
                .unwrap()
                .contains("bekreftelseskoden")
        );
    }

    #[test]
    fn escaped_braces_and_repeated_placeholders() {
        let m = Messages::new()
            .template("en", "{{{code}}} {code} {{app}}")
            .unwrap();
        assert_eq!(m.render(&values("en")).unwrap(), "{042917} 042917 {app}");
    }

    #[test]
    fn bad_templates_get_typed_errors() {
        assert_eq!(Template::parse("hello"), Err(TemplateError::MissingCode));
        assert_eq!(Template::parse(""), Err(TemplateError::MissingCode));
        assert_eq!(
            Template::parse("{code} {user}"),
            Err(TemplateError::UnknownPlaceholder("user".into()))
        );
        assert_eq!(
            Template::parse("{code"),
            Err(TemplateError::UnbalancedBrace(0))
        );
        assert_eq!(
            Template::parse("{code} }"),
            Err(TemplateError::UnbalancedBrace(7))
        );
        assert_eq!(
            Template::parse("{co{de}"),
            Err(TemplateError::UnbalancedBrace(0))
        );
        assert_eq!(
            Template::parse(&format!("{{code}}{}", "x".repeat(MAX_TEMPLATE_LEN))),
            Err(TemplateError::TooLong {
                max: MAX_TEMPLATE_LEN
            })
        );
        let long_name = format!("{{code}} {{{}}}", "n".repeat(1000));
        assert!(matches!(
            Template::parse(&long_name),
            Err(TemplateError::TooLong { .. })
        ));
        assert!(Messages::new().template("", "{code}").is_err());
        assert!(Messages::new().template("e n", "{code}").is_err());
        assert!(Messages::new().do_not_share_text("en", "a\nb").is_err());
        assert!(Messages::new().do_not_share_text("en", " ").is_err());
    }

    #[test]
    fn unknown_placeholder_errors_do_not_echo_huge_input() {
        let name = "n".repeat(300);
        let err = Template::parse(&format!("{{code}} {{{name}}}")).unwrap_err();
        assert!(err.to_string().len() < 120, "{err}");
    }

    #[test]
    fn do_not_share_app_hash_and_domain_lines() {
        let m = Messages::new()
            .do_not_share(true)
            .android_app_hash("FA+9qCX9VSu")
            .unwrap()
            .bind_to_domain("Login.Example.com")
            .unwrap();
        assert_eq!(
            m.render(&values("en")).unwrap(),
            "042917 is your Contoso verification code. It expires in 5 min.\n\
             Don't share it with anyone.\n\
             FA+9qCX9VSu\n\
             @login.example.com #042917"
        );
        let m = m
            .do_not_share_text("nb", "Ikke gi koden til noen.")
            .unwrap();
        let nb = m.render(&values("nb")).unwrap();
        assert!(nb.contains("\nIkke gi koden til noen.\n"), "{nb}");
        assert!(nb.ends_with("\n@login.example.com #042917"));
    }

    #[test]
    fn bad_domains_and_hashes_are_refused() {
        for bad in [
            "",
            " ",
            "exa mple.com",
            ".example.com",
            "https://example.com",
            "ex/ample",
            "é.com",
        ] {
            assert_eq!(
                Messages::new().bind_to_domain(bad).unwrap_err(),
                TemplateError::InvalidDomain,
                "{bad:?}"
            );
        }
        Messages::new().bind_to_domain("localhost:8443").unwrap();
        for bad in ["", "short", "FA+9qCX9VSu1", "FA+9qCX9VS!", "FA+9qCX9VSø"] {
            assert_eq!(
                Messages::new().android_app_hash(bad).unwrap_err(),
                TemplateError::InvalidAppHash
            );
        }
    }

    #[test]
    fn over_long_messages_are_refused_by_segment_count() {
        let long_app = "A".repeat(200);
        let mut v = values("en");
        v.app = &long_app;
        let m = Messages::new().max_segments(1);
        assert_eq!(
            m.render(&v),
            Err(TooManySegments {
                segments: 2,
                max: 1
            })
        );
        assert!(Messages::new().render(&v).is_ok());
    }

    #[test]
    fn non_latin_app_names_switch_to_ucs2() {
        let m = Messages::new();
        let mut v = values("en");
        v.app = "Почта";
        let text = m.render(&v).unwrap();
        let len = SmsLength::of(&text);
        assert_eq!(len.encoding, Encoding::Ucs2);
        assert_eq!(len.segments, 1);
    }

    #[test]
    fn debug_output_hides_the_code() {
        let v = values("en");
        assert!(!format!("{v:?}").contains("042917"));
    }
}
