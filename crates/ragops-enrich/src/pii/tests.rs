use super::*;

fn detector() -> Detector {
    Detector::new(&[], &[]).unwrap()
}

/// `(kind, value)` of every finding.
fn found(text: &str) -> Vec<(PiiKind, String)> {
    detector()
        .find(text)
        .into_iter()
        .map(|f| (f.kind, text[f.start..f.end].to_string()))
        .collect()
}

fn one(text: &str, kind: PiiKind, value: &str) {
    assert_eq!(found(text), vec![(kind, value.to_string())], "in {text:?}");
}

fn none(text: &str) {
    assert_eq!(found(text), vec![], "in {text:?}");
}

#[test]
fn each_kind_is_found_with_its_exact_range() {
    use PiiKind::*;
    let cases: &[(&str, PiiKind, &str)] = &[
        ("Write to jane.doe@example.com.", Email, "jane.doe@example.com"),
        ("Reply-To: <support+tickets@acme.io>", Email, "support+tickets@acme.io"),
        ("Call +44 20 7946 0958 today", Phone, "+44 20 7946 0958"),
        ("Phone: (650) 253-0000", Phone, "(650) 253-0000"),
        ("Phone: 650-253-0000, ext 4", Phone, "650-253-0000"),
        ("Berlin: +49 30 901820.", Phone, "+49 30 901820"),
        ("Card 4111 1111 1111 1111, exp 04/27", CreditCard, "4111 1111 1111 1111"),
        ("Amex 3782-822463-10005 on file", CreditCard, "3782-822463-10005"),
        ("IBAN DE89 3704 0044 0532 0130 00 (ref)", Iban, "DE89 3704 0044 0532 0130 00"),
        ("IBAN GB82WEST12345698765432.", Iban, "GB82WEST12345698765432"),
        ("from 192.168.10.20 at noon", IpAddress, "192.168.10.20"),
        ("from 2001:db8::8a2e:370:7334, port 22", IpAddress, "2001:db8::8a2e:370:7334"),
        ("SSN: 536-22-1234", UsSsn, "536-22-1234"),
        ("id AKIAIOSFODNN7EXAMPLE rotated", AwsKey, "AKIAIOSFODNN7EXAMPLE"),
        (
            "key=AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
            GcpKey,
            "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
        ),
        (
            "token ghp_16C7e42F292c6912E7710c838347Ae178B4a in CI",
            GithubToken,
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        ),
        (
            "bot xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx.",
            SlackToken,
            "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        ),
        (
            "STRIPE=sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            StripeKey,
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        ),
        (
            "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            Jwt,
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        ),
        ("db_password = 'Xk9mQ2vL8pR4zT1w'", Secret, "Xk9mQ2vL8pR4zT1w"),
        (
            "DATABASE_URL=postgres://app:e9HXthVqZ0*P3v@db.internal:5432/db",
            Secret,
            "e9HXthVqZ0*P3v",
        ),
        (
            "The passphrase for the key is 1EXmb.l^Rn_eaKW~R0r@ if needed",
            Secret,
            "1EXmb.l^Rn_eaKW~R0r@",
        ),
        ("route 2600:1f18:5005::/48 added", IpAddress, "2600:1f18:5005::"),
        ("Her SSN 536 22 1234 is on file", UsSsn, "536 22 1234"),
        (
            "SECRET_KEY=3f9a8c7e6b5d4a3f2e1d0c9b8a7f6e5d",
            Secret,
            "3f9a8c7e6b5d4a3f2e1d0c9b8a7f6e5d",
        ),
    ];
    for &(text, kind, value) in cases {
        one(text, kind, value);
    }
}

#[test]
fn a_private_key_block_is_one_finding_even_when_truncated() {
    let block = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn\nAbCdEf0123456789==\n-----END RSA PRIVATE KEY-----";
    let text = format!("key:\n{block}\nbye");
    one(&text, PiiKind::PrivateKey, block);
    let cut = "-----BEGIN PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn\nAbCdEf0123456789==";
    one(&format!("{cut}\nand then prose"), PiiKind::PrivateKey, cut);
}

#[test]
fn hard_negatives_are_not_reported() {
    for text in [
        "order #4111111111111112 shipped",
        "invoice 4111-1111-1111-1112",
        "released on 2024-03-15 at 10:30:45",
        "dated 15/03/2024",
        "upgrade to v2.14.3 or 10.0.19045.2965",
        "version 1.2.3.4 is out",
        "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
        "id 550e8400-e29b-41d4-a716-446655440000",
        "ISBN 978-3-16-148410-0 and ISBN 0-306-40615-2",
        "SKU 123-456-789",
        "ZIP 94103-1234",
        "MAC 00:1A:2B:3C:4D:5E",
        "SSN-like 000-12-3456, 666-12-3456, 912-12-3456",
        "IBAN DE88 3704 0044 0532 0130 00 has a wrong check",
        "price $1,234.56",
        "the password is required",
        "password: ${DB_PASSWORD}",
        "use std::vec for a::b",
        "Version:               4.8.2.1 (4821)",
        "\"token_uri\": \"https://oauth2.googleapis.com/token\",",
        "503 UF 211 91 5003 - \"GET /\"",
        "postgres://app:${DB_PASSWORD}@db:5432/app",
        // citations and amounts from the chunking-eval corpora
        "Exp Parasitol 2002 101 111 120 12427465 and Mol Microbiol 2001 39 26 36 11123685",
        "the balance at the end of 2005? 663750000.0 and $201.18 104.81.",
    ] {
        none(text);
    }
}

#[test]
fn allow_patterns_are_never_reported() {
    let d = Detector::new(&[], &["noreply@example\\.com".into(), "10\\..*".into()]).unwrap();
    let text = "From noreply@example.com via 10.0.0.1 to jane@example.com";
    let kinds: Vec<&str> = d.find(text).iter().map(|f| &text[f.start..f.end]).collect();
    assert_eq!(kinds, vec!["jane@example.com"]);
    assert!(matches!(
        Detector::new(&[], &["(".into()]),
        Err(PiiError::BadAllowPattern { .. })
    ));
}

#[test]
fn kinds_can_be_chosen() {
    let d = Detector::new(&[PiiKind::Email], &[]).unwrap();
    let text = "jane@example.com 192.168.1.1";
    assert_eq!(d.find(text).len(), 1);
    assert_eq!(
        "credit_card".parse::<PiiKind>().unwrap(),
        PiiKind::CreditCard
    );
    assert!("passport".parse::<PiiKind>().is_err());
}

#[test]
fn redaction_replaces_values_and_keeps_the_rest() {
    let text = "Mail jane@example.com or call +44 20 7946 0958.";
    let f = detector().find(text);
    assert_eq!(redact(text, &f), "Mail [EMAIL] or call [PHONE].");
    let c = counts(&f);
    assert_eq!(c[&PiiKind::Email], 1);
    assert_eq!(c[&PiiKind::Phone], 1);
}

#[test]
fn specific_kinds_win_overlaps() {
    // the Stripe key is also a high-entropy value after "KEY="; the card is also digits a
    // phone pattern could take
    one(
        "STRIPE_SECRET_KEY=sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        PiiKind::StripeKey,
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    );
    one(
        "card 5555-5555-5555-4444",
        PiiKind::CreditCard,
        "5555-5555-5555-4444",
    );
}

#[test]
fn findings_never_overlap_and_are_ordered() {
    let text = "a@b.io 4111111111111111 192.168.0.1 a@b.io ".repeat(50);
    let f = detector().find(&text);
    assert_eq!(f.len(), 150);
    assert!(f.windows(2).all(|w| w[0].end <= w[1].start));
}
