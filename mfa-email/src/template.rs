//! Email texts: a subject, a plain-text body and an HTML body, each a template with
//! `{code}`, `{app}` and `{minutes}`; built-in English and Norwegian (bokmål), and
//! custom texts per locale.
//!
//! Values put into the HTML body are escaped; values put into the subject lose any
//! control character, so an application name can never add a header line.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use mfa_core::EmailRequest;

/// The longest subject template accepted, in bytes.
pub const MAX_SUBJECT_LEN: usize = 200;
/// The longest body template (plain text or HTML) accepted, in bytes.
pub const MAX_BODY_LEN: usize = 16 * 1024;
/// The most custom locales one [`Templates`] holds.
pub const MAX_LOCALES: usize = 32;

const EN_SUBJECT: &str = "Your {app} verification code";
const EN_TEXT: &str = "Your {app} verification code is {code}.

It expires in {minutes} min. Don't share it with anyone.

If you did not ask for this code, someone may know your password: change it.
";
const EN_HTML: &str = r#"<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Your {app} verification code</title></head>
<body>
<p>Your {app} verification code is</p>
<p style="font-size:24px;font-weight:bold;letter-spacing:4px">{code}</p>
<p>It expires in {minutes} min. Don't share it with anyone.</p>
<p>If you did not ask for this code, someone may know your password: change it.</p>
</body>
</html>
"#;

const NB_SUBJECT: &str = "Bekreftelseskoden din for {app}";
const NB_TEXT: &str = "Bekreftelseskoden din for {app} er {code}.

Den utløper om {minutes} min. Ikke del den med noen.

Hvis du ikke ba om denne koden, kan noen kjenne passordet ditt: bytt det.
";
const NB_HTML: &str = r#"<!DOCTYPE html>
<html lang="nb">
<head><meta charset="utf-8"><title>Bekreftelseskoden din for {app}</title></head>
<body>
<p>Bekreftelseskoden din for {app} er</p>
<p style="font-size:24px;font-weight:bold;letter-spacing:4px">{code}</p>
<p>Den utløper om {minutes} min. Ikke del den med noen.</p>
<p>Hvis du ikke ba om denne koden, kan noen kjenne passordet ditt: bytt det.</p>
</body>
</html>
"#;

/// A template that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// A body has no `{code}`.
    #[error("the {0} body has no {{code}} placeholder")]
    MissingCode(&'static str),
    /// A placeholder other than `{code}`, `{app}`, `{minutes}`.
    #[error("unknown placeholder {{{0}}}: use {{code}}, {{app}} or {{minutes}}")]
    UnknownPlaceholder(String),
    /// A `{` is never closed, or a `}` was never opened (write `{{` and `}}` for braces).
    #[error("unbalanced brace at byte {0}: write {{{{ and }}}} for literal braces")]
    UnbalancedBrace(usize),
    /// A part is longer than allowed, or a subject holds a line break.
    #[error("the {0} is too long or holds a line break")]
    Malformed(&'static str),
    /// The locale is not a language tag such as `en`, `nb` or `pt-BR`.
    #[error("the locale is not a language tag")]
    InvalidLocale,
    /// More custom locales than [`MAX_LOCALES`].
    #[error("no more than {MAX_LOCALES} custom locales")]
    TooManyLocales,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Literal(usize, usize),
    Code,
    App,
    Minutes,
}

/// One parsed template text.
#[derive(Clone, PartialEq, Eq)]
struct Text {
    source: String,
    parts: Vec<Part>,
}

impl Text {
    fn parse(source: &str) -> Result<Self, TemplateError> {
        let bytes = source.as_bytes();
        let mut parts = Vec::new();
        let (mut i, mut start) = (0, 0);
        let mut literal = String::new();
        // Literal text is collected with `{{` and `}}` unescaped, then kept in `source`.
        let mut lits = String::new();
        let flush = |literal: &mut String, lits: &mut String, parts: &mut Vec<Part>| {
            if !literal.is_empty() {
                let from = lits.len();
                lits.push_str(literal);
                parts.push(Part::Literal(from, lits.len()));
                literal.clear();
            }
        };
        while i < bytes.len() {
            match bytes[i] {
                b'{' if bytes.get(i + 1) == Some(&b'{') => {
                    literal.push_str(&source[start..i + 1]);
                    i += 2;
                    start = i;
                }
                b'}' if bytes.get(i + 1) == Some(&b'}') => {
                    literal.push_str(&source[start..i + 1]);
                    i += 2;
                    start = i;
                }
                b'{' => {
                    literal.push_str(&source[start..i]);
                    let Some(len) = source[i + 1..].find('}') else {
                        return Err(TemplateError::UnbalancedBrace(i));
                    };
                    let name = &source[i + 1..i + 1 + len];
                    let part = match name {
                        "code" => Part::Code,
                        "app" => Part::App,
                        "minutes" => Part::Minutes,
                        other if other.contains('{') => {
                            return Err(TemplateError::UnbalancedBrace(i));
                        }
                        other => {
                            let shown: String = other.chars().take(32).collect();
                            return Err(TemplateError::UnknownPlaceholder(shown));
                        }
                    };
                    flush(&mut literal, &mut lits, &mut parts);
                    parts.push(part);
                    i += len + 2;
                    start = i;
                }
                b'}' => return Err(TemplateError::UnbalancedBrace(i)),
                _ => i += 1,
            }
        }
        literal.push_str(&source[start..]);
        flush(&mut literal, &mut lits, &mut parts);
        Ok(Text {
            source: lits,
            parts,
        })
    }

    fn has_code(&self) -> bool {
        self.parts.contains(&Part::Code)
    }

    fn render(&self, values: &Values<'_>, escape: fn(&str, &mut String)) -> String {
        let mut out = String::with_capacity(self.source.len() + 32);
        for part in &self.parts {
            match *part {
                Part::Literal(a, b) => out.push_str(&self.source[a..b]),
                Part::Code => escape(values.code, &mut out),
                Part::App => escape(values.app, &mut out),
                Part::Minutes => out.push_str(&values.minutes.to_string()),
            }
        }
        out
    }
}

struct Values<'a> {
    code: &'a str,
    app: &'a str,
    minutes: u64,
}

/// Escapes text for HTML content and attribute values: the five characters the HTML
/// standard gives meaning to. Written here because it is one match over five
/// characters; a dependency would add nothing to it.
pub fn escape_html(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => out.push(' '),
            c => out.push(c),
        }
    }
}

/// Plain text keeps every character but control characters other than line breaks.
fn plain(value: &str, out: &mut String) {
    out.extend(
        value
            .chars()
            .map(|c| if c.is_control() && c != '\n' { ' ' } else { c }),
    );
}

/// A header value: no control character at all, so no new header line.
fn header(value: &str, out: &mut String) {
    out.extend(value.chars().map(|c| if c.is_control() { ' ' } else { c }));
}

/// The subject, plain-text body and HTML body of one code email.
///
/// ```
/// use mfa_email::EmailTemplate;
///
/// let t = EmailTemplate::new(
///     "{app} sign-in code",
///     "Code: {code} ({minutes} min)",
///     "<p>Code: <b>{code}</b></p>",
/// )
/// .unwrap();
/// assert!(EmailTemplate::new("s", "no code", "<p>{code}</p>").is_err());
/// # let _ = t;
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct EmailTemplate {
    subject: Text,
    text: Text,
    html: Text,
}

impl fmt::Debug for EmailTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailTemplate")
            .field("subject", &self.subject.source)
            .finish_non_exhaustive()
    }
}

impl EmailTemplate {
    /// A template from its three texts. Both bodies need `{code}`; the subject may
    /// hold none (a code in a subject shows on lock screens) but may not break lines.
    pub fn new(subject: &str, text: &str, html: &str) -> Result<Self, TemplateError> {
        if subject.len() > MAX_SUBJECT_LEN || subject.contains(['\r', '\n']) {
            return Err(TemplateError::Malformed("subject"));
        }
        if text.len() > MAX_BODY_LEN {
            return Err(TemplateError::Malformed("plain-text body"));
        }
        if html.len() > MAX_BODY_LEN {
            return Err(TemplateError::Malformed("HTML body"));
        }
        let template = EmailTemplate {
            subject: Text::parse(subject)?,
            text: Text::parse(text)?,
            html: Text::parse(html)?,
        };
        if !template.text.has_code() {
            return Err(TemplateError::MissingCode("plain-text"));
        }
        if !template.html.has_code() {
            return Err(TemplateError::MissingCode("HTML"));
        }
        Ok(template)
    }

    /// The built-in English template.
    pub fn english() -> Self {
        Self::builtin(EN_SUBJECT, EN_TEXT, EN_HTML)
    }

    /// The built-in Norwegian (bokmål) template.
    pub fn norwegian() -> Self {
        Self::builtin(NB_SUBJECT, NB_TEXT, NB_HTML)
    }

    fn builtin(subject: &str, text: &str, html: &str) -> Self {
        // The built-in texts are constants, checked by the tests below.
        let parse = |s: &str| {
            Text::parse(s).unwrap_or_else(|_| Text {
                source: String::new(),
                parts: Vec::new(),
            })
        };
        EmailTemplate {
            subject: parse(subject),
            text: parse(text),
            html: parse(html),
        }
    }

    /// Renders the three parts for a code, the application's name and a lifetime.
    pub fn render(&self, code: &str, app: &str, expires_in: Duration) -> RenderedEmail {
        let values = Values {
            code,
            app,
            minutes: expires_in.as_secs().div_ceil(60).max(1),
        };
        RenderedEmail {
            subject: self.subject.render(&values, header),
            text: self.text.render(&values, plain),
            html: self.html.render(&values, escape_html),
        }
    }
}

/// An email ready to send. `Debug` hides the bodies: they hold the code.
#[derive(Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: String,
}

impl fmt::Debug for RenderedEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RenderedEmail")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// The template for each locale: English and Norwegian built in, custom ones added.
///
/// A request's locale picks a custom template by its exact tag, then by its language
/// (`nb-NO` finds `nb`); Norwegian tags (`nb`, `no`, `nn`) find the built-in bokmål,
/// anything else the built-in English.
///
/// ```
/// use mfa_email::{EmailTemplate, Templates};
///
/// let templates = Templates::new()
///     .with("sv", EmailTemplate::new("Din kod", "Koden: {code}", "<p>{code}</p>").unwrap())
///     .unwrap();
/// assert_eq!(templates.for_locale("sv-SE").render("1", "x", Default::default()).subject, "Din kod");
/// assert!(templates.for_locale("nb-NO").render("1", "x", Default::default()).subject.starts_with("Bekreftelseskoden"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Templates {
    english: EmailTemplate,
    norwegian: EmailTemplate,
    custom: BTreeMap<String, EmailTemplate>,
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    /// The built-in English and Norwegian templates.
    pub fn new() -> Self {
        Templates {
            english: EmailTemplate::english(),
            norwegian: EmailTemplate::norwegian(),
            custom: BTreeMap::new(),
        }
    }

    /// Adds or replaces the template for `locale` (a tag such as `en`, `nb`, `pt-BR`).
    pub fn with(mut self, locale: &str, template: EmailTemplate) -> Result<Self, TemplateError> {
        let tag = normalise_locale(locale).ok_or(TemplateError::InvalidLocale)?;
        if !self.custom.contains_key(&tag) && self.custom.len() >= MAX_LOCALES {
            return Err(TemplateError::TooManyLocales);
        }
        self.custom.insert(tag, template);
        Ok(self)
    }

    /// The template a locale gets.
    pub fn for_locale(&self, locale: &str) -> &EmailTemplate {
        let tag = normalise_locale(locale).unwrap_or_default();
        let language = tag.split('-').next().unwrap_or("");
        if let Some(t) = self.custom.get(&tag).or_else(|| self.custom.get(language)) {
            return t;
        }
        match language {
            // Nynorsk readers read bokmål: better than English for them.
            "nb" | "no" | "nn" => &self.norwegian,
            _ => &self.english,
        }
    }

    /// Renders the email for a request.
    pub fn render(&self, request: &EmailRequest) -> RenderedEmail {
        self.for_locale(&request.locale).render(
            request.code.expose(),
            &request.app_name,
            request.expires_in,
        )
    }
}

/// A language tag in lower case, or `None` when it is not one (letters, digits and
/// hyphens, 2 to 35 bytes, starting with 2 or 3 letters).
fn normalise_locale(locale: &str) -> Option<String> {
    let tag = locale.trim().replace('_', "-").to_ascii_lowercase();
    let language = tag.split('-').next()?;
    let ok = (2..=35).contains(&tag.len())
        && (2..=3).contains(&language.len())
        && language.bytes().all(|b| b.is_ascii_lowercase())
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !tag.ends_with('-')
        && !tag.contains("--");
    ok.then_some(tag)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const FIVE_MINUTES: Duration = Duration::from_secs(300);

    #[test]
    fn the_built_in_templates_parse_and_carry_the_code() {
        for (subject, text, html) in [
            (EN_SUBJECT, EN_TEXT, EN_HTML),
            (NB_SUBJECT, NB_TEXT, NB_HTML),
        ] {
            EmailTemplate::new(subject, text, html).unwrap();
        }
        let en = EmailTemplate::english().render("123456", "Contoso", FIVE_MINUTES);
        assert_eq!(en.subject, "Your Contoso verification code");
        assert!(
            en.text
                .contains("Your Contoso verification code is 123456.")
        );
        assert!(en.text.contains("expires in 5 min"));
        assert!(en.html.contains(">123456</p>"));
        assert!(en.html.contains("lang=\"en\""));
        let nb = EmailTemplate::norwegian().render("123456", "Contoso", FIVE_MINUTES);
        assert_eq!(nb.subject, "Bekreftelseskoden din for Contoso");
        assert!(nb.text.contains("Contoso er 123456."));
        assert!(nb.text.contains("utløper om 5 min"));
        assert!(nb.html.contains("lang=\"nb\""));
    }

    #[test]
    fn values_are_escaped_in_html_and_cannot_break_the_subject() {
        let app = "<script>alert('x')</script> & \"Co\"\r\nBcc: evil@example.com";
        let r = EmailTemplate::english().render("123456", app, FIVE_MINUTES);
        assert!(!r.html.contains("<script>"), "{}", r.html);
        assert!(
            r.html
                .contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;Co&quot;")
        );
        assert!(!r.subject.contains(['\r', '\n']), "{:?}", r.subject);
        assert!(r.text.contains("<script>"), "plain text is not HTML");
        assert!(!r.text.contains('\r'));
    }

    #[test]
    fn minutes_round_up_and_are_at_least_one() {
        let t = EmailTemplate::english();
        assert!(
            t.render("1", "a", Duration::from_secs(61))
                .text
                .contains("in 2 min")
        );
        assert!(t.render("1", "a", Duration::ZERO).text.contains("in 1 min"));
    }

    #[test]
    fn custom_templates_are_checked() {
        let ok = |s: &str, t: &str, h: &str| EmailTemplate::new(s, t, h);
        assert_eq!(
            ok("s", "none", "<p>{code}</p>"),
            Err(TemplateError::MissingCode("plain-text"))
        );
        assert_eq!(
            ok("s", "{code}", "<p>none</p>"),
            Err(TemplateError::MissingCode("HTML"))
        );
        assert_eq!(
            ok("s", "{code} {user}", "{code}"),
            Err(TemplateError::UnknownPlaceholder("user".into()))
        );
        assert!(matches!(
            ok("s", "{code", "{code}"),
            Err(TemplateError::UnbalancedBrace(_))
        ));
        assert!(matches!(
            ok("s", "{code} }", "{code}"),
            Err(TemplateError::UnbalancedBrace(_))
        ));
        assert_eq!(
            ok("a\r\nBcc: x", "{code}", "{code}"),
            Err(TemplateError::Malformed("subject"))
        );
        assert_eq!(
            ok("s", &"{code}".repeat(4000), "{code}"),
            Err(TemplateError::Malformed("plain-text body"))
        );
        let braces = ok(
            "{{x}}",
            "{{{code}}}",
            "<style>p {{color:red}}</style>{code}",
        )
        .unwrap();
        let r = braces.render("42", "a", FIVE_MINUTES);
        assert_eq!(r.subject, "{x}");
        assert_eq!(r.text, "{42}");
        assert_eq!(r.html, "<style>p {color:red}</style>42");
    }

    #[test]
    fn locales_pick_custom_then_built_in() {
        let custom = EmailTemplate::new("Kode", "{code}", "{code}").unwrap();
        let t = Templates::new().with("nb-NO", custom).unwrap();
        let subject = |l: &str| t.for_locale(l).render("1", "a", FIVE_MINUTES).subject;
        assert_eq!(subject("nb_no"), "Kode");
        assert_eq!(subject("nb"), "Bekreftelseskoden din for a");
        assert_eq!(subject("nn"), "Bekreftelseskoden din for a");
        assert_eq!(subject("de"), "Your a verification code");
        assert_eq!(subject("not a tag"), "Your a verification code");
        assert!(
            Templates::new()
                .with("x", EmailTemplate::english())
                .is_err()
        );
        let mut many = Templates::new();
        for i in 0..MAX_LOCALES {
            many = many
                .with(&format!("en-{i}"), EmailTemplate::english())
                .unwrap();
        }
        assert_eq!(
            many.with("fr", EmailTemplate::english()),
            Err(TemplateError::TooManyLocales)
        );
    }
}
