#!/usr/bin/env python3
"""Writes fixtures/pii/labelled.jsonl: the labelled set that benches/pii.rs scores ragops's PII
detector (and Microsoft Presidio's pattern recognizers) on.

Each line is one short passage: {"id", "text", "spans": [{"type", "start", "end", "value"}]},
offsets in Unicode code points. Every value is generated to be valid for its type (phone
numbers valid in libphonenumber's numbering plans, card numbers passing Luhn, IBANs passing
mod-97, SSNs in issued ranges), and the passages are full of hard negatives that look like
PII but are not: order numbers failing Luhn, dates, times, version strings, commit hashes,
UUIDs, ISBNs, SKUs, ZIP+4 codes, MAC addresses, SSNs from never-issued ranges, IBANs with a
wrong check, prices and the like. Hard negatives carry no span, so any finding on them is a
false positive.

Deterministic (fixed seed). Needs the `phonenumbers` package (pulled in by presidio-analyzer):
    python3 scripts/gen-pii-fixtures.py > fixtures/pii/labelled.jsonl
"""

import base64
import json
import random
import string
import sys

import phonenumbers

R = random.Random(20261203)

# ---------------------------------------------------------------- values


def luhn_digit(body):
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_ok(num):
    return luhn_digit(num[:-1]) == num[-1]


def card():
    brand = R.choice(["visa", "mc", "mc2", "amex", "discover", "visa", "jcb", "diners"])
    if brand == "visa":
        prefix, n = "4", 16
    elif brand == "mc":
        prefix, n = str(R.randint(51, 55)), 16
    elif brand == "mc2":
        prefix, n = str(R.randint(2221, 2720)), 16
    elif brand == "amex":
        prefix, n = R.choice(["34", "37"]), 15
    elif brand == "jcb":
        prefix, n = str(R.randint(3528, 3589)), 16
    elif brand == "diners":
        prefix, n = R.choice(["36", "38", "300", "305"]), 14
    else:
        prefix, n = "6011", 16
    body = prefix + "".join(R.choice(string.digits) for _ in range(n - len(prefix) - 1))
    num = body + luhn_digit(body)
    sep = R.choice([" ", "-", "", " "])
    if n == 15:
        groups = [num[:4], num[4:10], num[10:]]
    elif n == 14:
        groups = [num[:4], num[4:10], num[10:]]
    else:
        groups = [num[i : i + 4] for i in range(0, 16, 4)]
    return sep.join(groups)


def bad_card():
    """16 digits grouped like a card that fail Luhn."""
    body = "4" + "".join(R.choice(string.digits) for _ in range(14))
    good = luhn_digit(body)
    bad = str((int(good) + R.randint(1, 9)) % 10)
    num = body + bad
    return R.choice([" ", "-", ""]).join(num[i : i + 4] for i in range(0, 16, 4))


IBAN_FORMATS = {
    # country: list of (kind, count), kind n = digit, a = upper letter, c = alphanumeric
    "DE": [("n", 18)],
    "GB": [("a", 4), ("n", 14)],
    "FR": [("n", 10), ("c", 11), ("n", 2)],
    "ES": [("n", 20)],
    "IT": [("a", 1), ("n", 10), ("c", 12)],
    "NL": [("a", 4), ("n", 10)],
    "BE": [("n", 12)],
    "CH": [("n", 5), ("c", 12)],
    "AT": [("n", 16)],
    "PL": [("n", 24)],
    "IE": [("a", 4), ("n", 14)],
    "SE": [("n", 20)],
}


def iban_check(country, bban):
    rearranged = bban + country + "00"
    digits = "".join(str(int(ch, 36)) for ch in rearranged)
    return "%02d" % (98 - int(digits) % 97)


def iban_parts():
    country = R.choice(sorted(IBAN_FORMATS))
    bban = ""
    for kind, count in IBAN_FORMATS[country]:
        pool = {
            "n": string.digits,
            "a": string.ascii_uppercase,
            "c": string.digits + string.ascii_uppercase,
        }[kind]
        bban += "".join(R.choice(pool) for _ in range(count))
    return country, bban


def group4(s):
    return " ".join(s[i : i + 4] for i in range(0, len(s), 4))


def iban():
    country, bban = iban_parts()
    code = country + iban_check(country, bban) + bban
    return group4(code) if R.random() < 0.5 else code


def bad_iban():
    country, bban = iban_parts()
    check = iban_check(country, bban)
    wrong = "%02d" % ((int(check) + R.randint(1, 50)) % 97 + 2)
    if wrong == check:
        wrong = "%02d" % ((int(check) + 3) % 97 + 2)
    code = country + wrong + bban
    return group4(code) if R.random() < 0.5 else code


PHONE_REGIONS = ["US", "US", "US", "GB", "DE", "FR", "IN", "JP", "BR", "AU", "ES", "NL", "IT", "CA", "MX", "SE"]


def phone():
    while True:
        region = R.choice(PHONE_REGIONS)
        kind = R.choice(
            [phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]
        )
        ex = phonenumbers.example_number_for_type(region, kind)
        if ex is None:
            continue
        nat = str(ex.national_number)
        # keep the leading digits (area / mobile prefix), randomise the rest
        keep = max(3, len(nat) - 4)
        nat = nat[:keep] + "".join(R.choice(string.digits) for _ in range(len(nat) - keep))
        num = phonenumbers.parse("+%d%s" % (ex.country_code, nat))
        if not phonenumbers.is_valid_number(num):
            continue
        style = R.random()
        if region in ("US", "CA") and style < 0.45:
            d = nat
            text = R.choice(
                [
                    "(%s) %s-%s" % (d[:3], d[3:6], d[6:]),
                    "%s-%s-%s" % (d[:3], d[3:6], d[6:]),
                    "%s.%s.%s" % (d[:3], d[3:6], d[6:]),
                    "+1 %s-%s-%s" % (d[:3], d[3:6], d[6:]),
                ]
            )
        elif style < 0.75:
            text = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        elif style < 0.85:
            text = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
        elif style < 0.93:
            # the national format, with its trunk prefix where the country has one
            text = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.NATIONAL)
        elif region in ("US", "CA"):
            d = nat
            text = "+1 (%s) %s-%s" % (d[:3], d[3:6], d[6:])
        else:
            text = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.RFC3966)
        return text


def ipv4():
    first = R.choice([10, 172, 192, 34, 52, 81, 104, 151, 203, 8])
    return "%d.%d.%d.%d" % (first, R.randint(0, 255), R.randint(0, 255), R.randint(1, 254))


def ipv6():
    groups = ["%x" % R.randint(0, 0xFFFF) for _ in range(8)]
    style = R.random()
    if style < 0.3:
        return "2001:db8::%x:%x" % (R.randint(1, 0xFFFF), R.randint(1, 0xFFFF))
    if style < 0.5:
        return "fe80::%x:%x:%x:%x" % tuple(R.randint(1, 0xFFFF) for _ in range(4))
    if style < 0.6:
        return "::1"
    return "2a02:" + ":".join(groups[1:])


def ssn():
    area = R.choice([x for x in range(1, 900) if x != 666])
    sep = R.choice(["-", "-", "-", " "])
    return "%03d%s%02d%s%04d" % (area, sep, R.randint(1, 99), sep, R.randint(1, 9999))


def bad_ssn():
    return R.choice(
        [
            "000-%02d-%04d" % (R.randint(1, 99), R.randint(1, 9999)),
            "666-%02d-%04d" % (R.randint(1, 99), R.randint(1, 9999)),
            "9%02d-%02d-%04d" % (R.randint(0, 99), R.randint(1, 99), R.randint(1, 9999)),
            "%03d-00-%04d" % (R.randint(1, 665), R.randint(1, 9999)),
            "%03d-%02d-0000" % (R.randint(1, 665), R.randint(1, 99)),
        ]
    )


def rand(pool, n):
    return "".join(R.choice(pool) for _ in range(n))


ALNUM = string.ascii_letters + string.digits
B32 = string.ascii_uppercase + "234567"


def aws_key():
    return R.choice(["AKIA", "ASIA", "AKIA"]) + rand(B32, 16)


def aws_secret():
    return rand(ALNUM + "/+", 40)


def gcp_key():
    return "AIza" + rand(ALNUM + "_-", 35)


def github_token():
    kind = R.random()
    if kind < 0.7:
        return R.choice(["ghp_", "gho_", "ghs_", "ghu_"]) + rand(ALNUM, 36)
    return "github_pat_" + rand(ALNUM, 22) + "_" + rand(ALNUM, 59)


def slack_token():
    if R.random() < 0.7:
        return "%s-%s-%s-%s" % (
            R.choice(["xoxb", "xoxp"]),
            rand(string.digits, 12),
            rand(string.digits, 13),
            rand(ALNUM, 24),
        )
    return "https://hooks.slack.com/services/T%s/B%s/%s" % (
        rand(string.ascii_uppercase + string.digits, 8),
        rand(string.ascii_uppercase + string.digits, 10),
        rand(ALNUM, 24),
    )


def stripe_key():
    return R.choice(["sk_live_", "sk_test_", "rk_live_"]) + rand(ALNUM, R.choice([24, 32, 99]))


def b64url(raw):
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def jwt():
    header = b64url(json.dumps({"alg": R.choice(["HS256", "RS256"]), "typ": "JWT"}).encode())
    payload = b64url(
        json.dumps(
            {"sub": rand(string.digits, 10), "name": R.choice(NAMES), "iat": R.randint(1.6e9, 1.8e9)}
        ).encode()
    )
    sig = b64url(bytes(R.randrange(256) for _ in range(32)))
    return "%s.%s.%s" % (header, payload, sig)


def private_key():
    kind = R.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"])
    body = base64.b64encode(bytes(R.randrange(256) for _ in range(R.choice([96, 144, 192])))).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN %s-----\n%s\n-----END %s-----" % (kind, "\n".join(lines), kind)


def secret():
    style = R.random()
    if style < 0.4:
        return rand(string.hexdigits.lower()[:16], R.choice([32, 40]))
    if style < 0.8:
        return rand(ALNUM, R.choice([20, 24, 32]))
    return rand(ALNUM + "!#$%^&*", R.choice([16, 20]))


NAMES = ["Ana Souza", "Jonas Berg", "Priya Nair", "Tom Becker", "Li Wei", "Sara Costa", "Omar Haddad",
         "Emma Laurent", "Kenji Sato", "Lucia Romero", "Noah Fischer", "Mia Jensen"]
USERS = ["jane.doe", "ops", "j.smith", "maria_garcia", "dev-team", "billing", "noreply", "a.nguyen",
         "support+tickets", "k.oconnor", "hr", "x"]
DOMAINS = ["example.com", "acme.io", "mail.example.org", "corp.example.co.uk", "shop.de", "uni.edu",
           "startup.ai", "company-name.net"]


def email():
    e = "%s@%s" % (R.choice(USERS), R.choice(DOMAINS))
    return e.upper() if R.random() < 0.1 else e


# ---------------------------------------------------------------- hard negatives


def negative():
    kind = R.choice(
        [
            "order", "date", "date2", "time", "version", "version4", "sha", "uuid", "isbn", "sku",
            "zip", "mac", "badssn", "badiban", "price", "tracking", "ticket", "build", "semver",
            "hashkw", "coords", "range", "famous_ssn", "phone_short", "cidr_version", "account",
            "bigint", "percent",
        ]
    )
    if kind == "order":
        return "order #%s" % bad_card().replace(" ", "").replace("-", "")
    if kind == "date":
        return "%04d-%02d-%02d" % (R.randint(1990, 2030), R.randint(1, 12), R.randint(1, 28))
    if kind == "date2":
        return "%02d/%02d/%04d" % (R.randint(1, 28), R.randint(1, 12), R.randint(1990, 2030))
    if kind == "time":
        return "%02d:%02d:%02d" % (R.randint(0, 23), R.randint(0, 59), R.randint(0, 59))
    if kind == "version":
        return "v%d.%d.%d" % (R.randint(0, 20), R.randint(0, 40), R.randint(0, 99))
    if kind == "version4":
        return "10.0.%d.%d" % (R.randint(17000, 22631), R.randint(256, 4000))
    if kind == "sha":
        return "commit %s" % rand("0123456789abcdef", 40)
    if kind == "uuid":
        h = rand("0123456789abcdef", 32)
        return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])
    if kind == "isbn":
        return R.choice(["ISBN 978-3-16-148410-0", "ISBN 0-306-40615-2", "ISBN 978-0-596-52068-7",
                         "ISBN 978-1-4028-9462-6"])
    if kind == "sku":
        return "SKU %s-%s-%s" % (rand(string.digits, 3), rand(string.digits, 3), rand(string.digits, 3))
    if kind == "zip":
        return "%05d-%04d" % (R.randint(10000, 99999), R.randint(1, 9999))
    if kind == "mac":
        return ":".join("%02X" % R.randrange(256) for _ in range(6))
    if kind == "badssn":
        return bad_ssn()
    if kind == "badiban":
        return bad_iban()
    if kind == "price":
        return "$%d,%03d.%02d" % (R.randint(1, 99), R.randint(0, 999), R.randint(0, 99))
    if kind == "tracking":
        return "1Z%s%s" % (rand(string.ascii_uppercase + string.digits, 6), rand(string.digits, 10))
    if kind == "ticket":
        return "JIRA-%d" % R.randint(100, 99999)
    if kind == "build":
        return "build %d" % R.randint(1000000, 99999999)
    if kind == "semver":
        return "%d.%d.%d-rc.%d" % (R.randint(0, 9), R.randint(0, 30), R.randint(0, 30), R.randint(1, 9))
    if kind == "hashkw":
        return "sha256 checksum %s" % rand("0123456789abcdef", 64)
    if kind == "coords":
        return "%.4f, %.4f" % (R.uniform(-90, 90), R.uniform(-180, 180))
    if kind == "famous_ssn":
        return R.choice(["123-45-6789", "078-05-1120", "219-09-9999"])
    if kind == "phone_short":
        return R.choice(["911", "112", "ext. 4410", "room 1204", "line 3"])
    if kind == "cidr_version":
        return "schema %d.%d" % (R.randint(1, 9), R.randint(0, 20))
    if kind == "account":
        return "account %s" % rand(string.digits, R.choice([8, 10, 12]))
    if kind == "bigint":
        return "%d bytes" % R.randint(10**9, 10**13)
    if kind == "percent":
        return "%d.%d%%" % (R.randint(0, 99), R.randint(0, 99))
    return "%d-%d" % (R.randint(1900, 2000), R.randint(2001, 2030))


# ---------------------------------------------------------------- passages

GENERATORS = {
    "EMAIL": email,
    "PHONE": phone,
    "CREDIT_CARD": card,
    "IBAN": iban,
    "IP_ADDRESS": lambda: ipv4() if R.random() < 0.6 else ipv6(),
    "US_SSN": ssn,
    "AWS_KEY": aws_key,
    "GCP_KEY": gcp_key,
    "GITHUB_TOKEN": github_token,
    "SLACK_TOKEN": slack_token,
    "STRIPE_KEY": stripe_key,
    "JWT": jwt,
    "PRIVATE_KEY": private_key,
    "SECRET": secret,
}

# Sentences with one slot; {N} is a hard negative. Types choose from their own templates.
TEMPLATES = {
    "EMAIL": [
        "Please send the signed form to {V} before Friday.",
        "\"Jane Doe\" <{V}> wrote:",
        "Questions? {V}, or the help desk.",
        "Contact: {V}",
        "The report was forwarded by {V} (see thread).",
        "Reply-To: <{V}>",
        "For access requests write to {V}; include ticket {N}.",
        "mailto:{V}",
    ],
    "PHONE": [
        "Call the on-call engineer at {V} if the pager is silent.",
        "Mobile: {V} (after 6 pm)",
        "Ring me on {V}, or leave a message with the front desk.",
        "Phone: {V}",
        "You can reach the Berlin office on {V}, weekdays only.",
        "Customer called from {V} about order {N}.",
        "Tel. {V} / fax not available",
        "Emergency line {V}.",
    ],
    "CREDIT_CARD": [
        "The customer paid with card {V}, expiry 04/27.",
        "Card number: {V}",
        "Refund issued to {V} on {N}.",
        "A charge on {V} was disputed.",
    ],
    "IBAN": [
        "Wire the deposit to IBAN {V}.",
        "Bank account: {V} (reference {N})",
        "Salary is paid into {V} each month.",
        "Please update the supplier's IBAN to {V}.",
    ],
    "IP_ADDRESS": [
        "Failed login from {V} at {N}.",
        "Connect to {V}:5432 with the read-only role.",
        "The subnet route {V}/24 was withdrawn.",
        "upstream [{V}] timed out",
        "The load balancer forwards to {V} on port 8443.",
        "Allowlist {V} for the VPN.",
        "GET /healthz 200 from {V}",
        "The node {V} stopped answering after upgrading to {N}.",
    ],
    "US_SSN": [
        "Employee SSN: {V}",
        "Her social security number is {V}.",
        "SSN {V} was entered twice in the HR form.",
        "Verify the SSN ({V}) against the W-2.",
    ],
    "AWS_KEY": [
        "aws_access_key_id = {V}",
        "The leaked access key {V} was rotated.",
        "export AWS_ACCESS_KEY_ID={V}",
    ],
    "GCP_KEY": [
        "Maps API key: {V}",
        "The frontend still ships {V} in its bundle.",
        "GOOGLE_API_KEY={V}",
    ],
    "GITHUB_TOKEN": [
        "Use the token {V} for the release workflow.",
        "GITHUB_TOKEN={V}",
        "A personal access token ({V}) was found in the log.",
    ],
    "SLACK_TOKEN": [
        "The bot authenticates with {V}.",
        "SLACK_WEBHOOK={V}",
        "Alerts post to {V} every hour.",
    ],
    "STRIPE_KEY": [
        "STRIPE_SECRET_KEY={V}",
        "The checkout service used {V} in staging.",
        "Rotate {V} after the incident.",
    ],
    "JWT": [
        "Authorization: Bearer {V}",
        "The session cookie held {V}.",
        "Decode this token: {V}",
    ],
    "PRIVATE_KEY": [
        "The deploy key was committed by mistake:\n{V}\nRemove it from history.",
        "id_rsa contents:\n{V}",
    ],
    "SECRET": [
        "password: {V}",
        "{\"api_key\": \"{V}\", \"region\": \"eu-west-1\"}",
        "  auth_token: \"{V}\"",
        "Set DATABASE_PASSWORD to {V} and restart.",
        "api_key={V}",
        "client_secret: \"{V}\"",
        "db_password = '{V}'",
        "The access token is {V} for the staging cluster.",
        "aws_secret_access_key = {V}",
        "SECRET_KEY={V}",
    ],
}

NEGATIVE_SENTENCES = [
    "Release {N} fixes the memory leak.",
    "The invoice dated {N} is overdue.",
    "Checksum verified: {N}.",
    "See {N} in the changelog.",
    "The parcel {N} left the warehouse.",
    "Ticket {N} was closed as a duplicate.",
    "Upgrade the agents to {N} tonight.",
    "The sensor reported {N}.",
    "Reference: {N}.",
]

FILLER = [
    "The migration finished without errors.",
    "Nothing else changed in the configuration.",
    "See the runbook for the rollback steps.",
    "This note is internal.",
    "The team reviewed it on Monday.",
    "",
    "",
]


def fill(template, value):
    """Returns (text, [(start, end)]) with {V} replaced by value and each {N} by a negative."""
    text, spans = "", []
    i = 0
    while i < len(template):
        if template.startswith("{V}", i):
            spans.append((len(text), len(text) + len(value)))
            text += value
            i += 3
        elif template.startswith("{N}", i):
            text += negative()
            i += 3
        else:
            text += template[i]
            i += 1
    return text, spans


def passage(types):
    parts, spans = [], []
    offset = 0
    for t in types:
        if t is None:
            sentence, _ = fill(R.choice(NEGATIVE_SENTENCES), "")
            local = []
        else:
            value = GENERATORS[t]()
            template = R.choice(TEMPLATES[t])
            if ":" in value and "{V}:" in template:
                template = template.replace("{V}:", "[{V}]:")  # an IPv6 address with a port
            sentence, local = fill(template, value)
        filler = R.choice(FILLER)
        piece = sentence + (" " + filler if filler else "")
        for s, e in local:
            spans.append({"type": t, "start": offset + s, "end": offset + e, "value": piece[s:e]})
        parts.append(piece)
        offset += len(piece) + 1
    return " ".join(parts), spans


def main():
    types = sorted(GENERATORS)
    # Each type at least 20 times (phones, emails and cards more: they are the common ones).
    weights = {t: 20 for t in types}
    weights.update({"EMAIL": 40, "PHONE": 50, "CREDIT_CARD": 35, "IBAN": 30, "IP_ADDRESS": 35, "US_SSN": 25})
    queue = [t for t in types for _ in range(weights[t])]
    # Passages of only hard negatives.
    queue += [None] * 120
    R.shuffle(queue)
    out = []
    while queue:
        n = min(len(queue), R.choice([1, 2, 3]))
        group, queue = queue[:n], queue[n:]
        text, spans = passage(group)
        out.append({"id": len(out), "text": text, "spans": spans})
    for rec in out:
        for s in rec["spans"]:
            assert rec["text"][s["start"] : s["end"]] == s["value"]
    for rec in out:
        sys.stdout.write(json.dumps(rec, ensure_ascii=False) + "\n")
    total = sum(len(r["spans"]) for r in out)
    print("%d passages, %d labelled spans over %d types" % (len(out), total, len(types)), file=sys.stderr)


if __name__ == "__main__":
    main()
