//! Checks that turn a pattern match into a finding: check digits (Luhn, IBAN mod-97), issued
//! ranges (SSN), address syntax (IP), numbering plans (phone numbers, through libphonenumber's
//! metadata in the `phonenumber` crate) and the entropy of a secret.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Luhn check over the ASCII digits of `s` (other characters are ignored). Needs 13 to 19
/// digits, the lengths of payment cards.
pub fn luhn(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let d2 = d * 2;
                if d2 > 9 {
                    d2 - 9
                } else {
                    d2
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Whether a card number's digits start with a prefix an issuer uses for that length (Visa,
/// Mastercard, American Express, Discover, JCB, Diners Club, UnionPay, Maestro).
pub fn card_prefix(digits: &str) -> bool {
    let n = digits.len();
    let p = |k: usize| {
        digits
            .get(..k)
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or(0)
    };
    match digits.as_bytes().first() {
        Some(b'4') => matches!(n, 13 | 16 | 19),
        Some(b'5') => (50..=59).contains(&p(2)) && (16..=19).contains(&n),
        Some(b'2') => (2221..=2720).contains(&p(4)) && n == 16,
        Some(b'3') => {
            (matches!(p(2), 34 | 37) && n == 15)
                || ((3528..=3589).contains(&p(4)) && (16..=19).contains(&n))
                || ((matches!(p(2), 36 | 38 | 39) || (300..=305).contains(&p(3))) && n >= 14)
        }
        Some(b'6') => {
            (p(4) == 6011 || p(2) == 65 || (644..=649).contains(&p(3)) || p(2) == 62 || p(2) == 67)
                && (16..=19).contains(&n)
        }
        _ => false,
    }
}

/// IBAN length per country (ISO 13616 registry).
fn iban_length(country: &str) -> Option<usize> {
    Some(match country {
        "NO" => 15,
        "BE" => 16,
        "DK" | "FI" | "FO" | "GL" | "NL" => 18,
        "MK" | "SI" => 19,
        "AT" | "BA" | "EE" | "KZ" | "LT" | "LU" | "XK" => 20,
        "CH" | "CR" | "HR" | "LI" | "LV" => 21,
        "BG" | "BH" | "DE" | "GB" | "GE" | "IE" | "ME" | "RS" | "VA" => 22,
        "AE" | "GI" | "IL" | "IQ" | "TL" => 23,
        "AD" | "CZ" | "ES" | "MD" | "PK" | "RO" | "SA" | "SE" | "SK" | "TN" | "VG" => 24,
        "PT" | "ST" => 25,
        "IS" | "TR" => 26,
        "FR" | "GR" | "IT" | "MC" | "MR" | "SM" => 27,
        "AL" | "AZ" | "BY" | "CY" | "DO" | "GT" | "HU" | "LB" | "PL" | "SV" => 28,
        "BR" | "EG" | "PS" | "QA" | "UA" => 29,
        "JO" | "KW" | "MU" => 30,
        "MT" | "SC" => 31,
        "LC" => 32,
        "RU" => 33,
        _ => return None,
    })
}

/// The length an IBAN starting with `country` must have, if the country issues IBANs.
pub fn iban_len_for(country: &str) -> Option<usize> {
    iban_length(country)
}

/// Mod-97 check of a compact IBAN (upper-case letters and digits, no spaces) of the right
/// length for its country.
pub fn iban(compact: &str) -> bool {
    let b = compact.as_bytes();
    if b.len() < 15 || !b.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    if iban_length(&compact[..2]) != Some(b.len()) {
        return false;
    }
    let mut rem: u32 = 0;
    for &c in b[4..].iter().chain(&b[..4]) {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// A US Social Security number in an issued range: area not 000, 666 or 900–999, group not
/// 00, serial not 0000 (`s` is `AAA-GG-SSSS` or `AAA GG SSSS`).
pub fn ssn(s: &str) -> bool {
    let d: String = s.chars().filter(char::is_ascii_digit).collect();
    if d.len() != 9 {
        return false;
    }
    let (area, group, serial) = (&d[..3], &d[3..5], &d[5..]);
    // Numbers the SSA has published as examples or that advertising made famous.
    if matches!(d.as_str(), "078051120" | "219099999" | "123456789") {
        return false;
    }
    area != "000" && area != "666" && !area.starts_with('9') && group != "00" && serial != "0000"
}

/// Dotted-quad IPv4 without leading zeros.
pub fn ipv4(s: &str) -> bool {
    s.split('.')
        .all(|part| part.len() == 1 || !part.starts_with('0'))
        && s.parse::<Ipv4Addr>().is_ok()
}

/// An IPv6 address: eight groups or a `::` abbreviation (which rules out MAC addresses and
/// times, whose colon groups never parse as an address).
pub fn ipv6(s: &str) -> bool {
    let groups = s.split(':').filter(|g| !g.is_empty()).count();
    // "a::b" in prose or code is not an address; "::1" and "fe80::1" are
    let hex = s.bytes().filter(u8::is_ascii_hexdigit).count();
    let abbreviated = s.contains("::") && (s.starts_with("::") || (groups >= 2 && hex >= 4));
    (abbreviated || groups == 8) && s.parse::<Ipv6Addr>().is_ok()
}

/// Regions whose national numbers (written with the trunk prefix 0) are recognised without a
/// `+` country code, tried in this order.
const TRUNK_REGIONS: [phonenumber::country::Id; 8] = {
    use phonenumber::country::Id::{AU, BR, DE, FR, GB, IN, JP, NL};
    [GB, DE, FR, IN, AU, BR, JP, NL]
};

/// A phone number that is valid in its numbering plan. With a leading `+` (or `00`) the
/// country code decides; otherwise a number with a trunk prefix is tried in the
/// [`TRUNK_REGIONS`], and ten digits without one in the North American plan (US and Canada
/// share it).
pub fn phone(s: &str) -> bool {
    let digits = s.chars().filter(char::is_ascii_digit).count();
    if !(7..=15).contains(&digits) {
        return false;
    }
    let t = s.trim();
    if t.starts_with('+') || t.starts_with("00") {
        let normalised = if let Some(rest) = t.strip_prefix("00") {
            format!("+{rest}")
        } else {
            t.to_string()
        };
        return phonenumber::parse(None, &normalised).is_ok_and(|n| n.is_valid());
    }
    // National formats: a trunk prefix 0 (most of the world) or the North American 10 digits.
    let first = t.trim_start_matches('(').chars().next();
    if first == Some('0') {
        TRUNK_REGIONS
            .iter()
            .any(|&r| phonenumber::parse(Some(r), t).is_ok_and(|n| n.is_valid()))
    } else {
        // North American numbers: 3-3-4 groups ("(415) 555-0199", "415.555.0199") or ten
        // digits in a row. Other trunk-less national formats (Mexico's, Spain's, Italy's)
        // need their +country code: read without it, citation numbers ("2002 101 111 120")
        // and amounts parse as valid numbers there.
        let groups: Vec<usize> = t
            .split(|c: char| !c.is_ascii_digit())
            .filter(|g| !g.is_empty())
            .map(str::len)
            .collect();
        (groups == [3, 3, 4] || groups == [10])
            && phonenumber::parse(Some(phonenumber::country::Id::US), t).is_ok_and(|n| n.is_valid())
    }
}

/// Shannon entropy in bits per character.
pub fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    let mut n = 0u32;
    for b in s.bytes() {
        counts[usize::from(b)] += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    let n = f64::from(n);
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// A value assigned to a secret-like name that looks machine-generated: long enough, varied
/// (entropy), not a word, a placeholder or a variable reference.
pub fn secret_value(v: &str) -> bool {
    let len = v.chars().count();
    if !(8..=256).contains(&len) {
        return false;
    }
    let lower = v.to_ascii_lowercase();
    const PLACEHOLDERS: [&str; 10] = [
        "redacted", "changeme", "password", "example", "xxxxxxxx", "********", "<", "${", "{{",
        "%(",
    ];
    if PLACEHOLDERS.iter().any(|p| lower.contains(p)) {
        return false;
    }
    let has_digit = v.bytes().any(|b| b.is_ascii_digit());
    let has_alpha = v.bytes().any(|b| b.is_ascii_alphabetic());
    let classes = [
        v.bytes().any(|b| b.is_ascii_lowercase()),
        v.bytes().any(|b| b.is_ascii_uppercase()),
        has_digit,
        v.bytes().any(|b| !b.is_ascii_alphanumeric()),
    ]
    .iter()
    .filter(|&&c| c)
    .count();
    if !has_digit && classes < 3 {
        // a word or an identifier in one case
        return false;
    }
    let bits = entropy(v);
    has_alpha && classes >= 2 && (bits >= 3.0 || (len >= 12 && bits >= 2.8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_and_card_prefixes() {
        assert!(luhn("4111 1111 1111 1111"));
        assert!(!luhn("4111 1111 1111 1112"));
        assert!(luhn("378282246310005"));
        assert!(card_prefix("378282246310005"));
        assert!(card_prefix("5555555555554444"));
        assert!(card_prefix("2223003122003222"));
        assert!(!card_prefix("1234567812345670"));
    }

    #[test]
    fn iban_mod_97_and_length() {
        assert!(iban("DE89370400440532013000"));
        assert!(iban("GB82WEST12345698765432"));
        assert!(!iban("DE89370400440532013001"), "wrong check");
        assert!(!iban("DE8937040044053201300"), "short for DE");
        assert!(!iban("ZZ89370400440532013000"), "no such country");
    }

    #[test]
    fn ssn_ranges() {
        assert!(ssn("536-22-1234"));
        for bad in [
            "000-12-3456",
            "666-12-3456",
            "912-12-3456",
            "536-00-1234",
            "536-22-0000",
        ] {
            assert!(!ssn(bad), "{bad}");
        }
    }

    #[test]
    fn ip_syntax() {
        assert!(ipv4("192.168.1.20"));
        assert!(!ipv4("192.168.01.20"));
        assert!(!ipv4("10.0.19045.2965"));
        assert!(ipv6("2001:db8::1"));
        assert!(ipv6("::1"));
        assert!(!ipv6("00:1A:2B:3C:4D:5E"), "a MAC address");
        assert!(!ipv6("10:30:45"), "a time");
    }

    #[test]
    fn phone_numbering_plans() {
        assert!(phone("+44 20 7946 0958"));
        assert!(phone("(415) 555-2671") || phone("(650) 253-0000"));
        assert!(phone("+49 30 901820"));
        assert!(!phone("+1 123 456"), "too short");
        assert!(!phone("2024-03-15"), "a date");
    }

    #[test]
    fn secrets_need_varied_characters() {
        assert!(secret_value("3f9a8c7e6b5d4a3f2e1d0c9b8a7f6e5d"));
        assert!(secret_value("p8Zq1LmN0vB7xR3tY6uW"));
        assert!(!secret_value("changeme123"));
        assert!(!secret_value("production"));
        assert!(!secret_value("${DB_PASSWORD}"));
        assert!(!secret_value("short1"));
    }
}
