//! Rendering SMS texts: templates with the autofill lines, and measuring encodings and
//! segments.
//!
//! `cargo bench --bench sms_render`

#![allow(missing_docs)] // criterion's macros generate undocumented functions
#![allow(clippy::expect_used)] // a bench that cannot set up should stop loudly

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mfa::sms::{MessageValues, Messages, SmsLength};

fn values(locale: &str) -> MessageValues<'_> {
    MessageValues {
        code: "042917",
        app: "Contoso",
        expires_in: Duration::from_secs(300),
        locale,
    }
}

fn render(c: &mut Criterion) {
    let plain = Messages::new();
    let full = Messages::new()
        .do_not_share(true)
        .android_app_hash("FA+9qCX9VSu")
        .expect("a valid hash")
        .bind_to_domain("login.example.com")
        .expect("a valid domain")
        .template("sv", "{code} är din kod för {app}. Giltig i {minutes} min.")
        .expect("a valid template");
    let mut out = String::with_capacity(256);

    c.bench_function("render_into english (buffer reused)", |b| {
        b.iter(|| {
            plain.render_into(&mut out, black_box(&values("en")));
            black_box(out.len())
        })
    });
    c.bench_function("render english (checked, new string)", |b| {
        b.iter(|| black_box(plain.render(black_box(&values("en")))))
    });
    c.bench_function("render norwegian with autofill lines", |b| {
        b.iter(|| black_box(full.render(black_box(&values("nb-NO")))))
    });
    c.bench_function("render custom locale", |b| {
        b.iter(|| black_box(full.render(black_box(&values("sv-SE")))))
    });
}

fn measure(c: &mut Criterion) {
    let gsm = "042917 er bekreftelseskoden din for Contoso. Den utløper om 5 min.\n@login.example.com #042917";
    let ucs2 = "Код Почта: 042917. Действует 5 минут.";
    let long = "a".repeat(1000);
    c.bench_function("SmsLength::of GSM-7", |b| {
        b.iter(|| black_box(SmsLength::of(black_box(gsm))))
    });
    c.bench_function("SmsLength::of UCS-2", |b| {
        b.iter(|| black_box(SmsLength::of(black_box(ucs2))))
    });
    c.bench_function("SmsLength::of 1000 septets", |b| {
        b.iter(|| black_box(SmsLength::of(black_box(&long))))
    });
}

criterion_group!(benches, render, measure);
criterion_main!(benches);
