"""Which query-parameter names carry a secret: the rule behind span redaction.

A name is read as words: percent-decoded, split at ``-``, ``_``, ``.``, other
punctuation and camelCase humps, lower-cased (``X-Amz-Security-Token`` → ``x amz
security token``, ``SAMLResponse`` → ``saml response``, ``PHPSESSID`` →
``phpsessid``). It is sensitive when, checked in this order:

1. its words joined are an ordinary name of :data:`ORDINARY_NAMES` → **not**
   sensitive (pagination tokens, ``max_tokens``, ``sort_key``...);
2. its words joined are one of :data:`SECRET_NAMES` (short or ambiguous names that
   are secrets only as a whole: ``key``, ``sig``, ``pwd``, ``pass``, ``code``,
   ``auth``, ``otp``, ``pin``, ``ticket``, ``hmac``...);
3. one of its words is in :data:`SECRET_WORDS` (``token``, ``secret``,
   ``password``, ``signature``, ``credential``, ``session``, ``jwt``...) or ends with
   one of :data:`SECRET_SUFFIXES` (``accesstoken``, ``clientsecret``,
   ``jsessionid``...);
4. one of its words is ``key`` next to a qualifier of :data:`KEY_QUALIFIERS`
   (``api key``, ``access key``, ``secret key``, ``subscription key``), or a word
   is such a compound (``apikey``, ``accesskey``).

So ``tokenizer``, ``keyword``, ``monkey``, ``passenger``, ``author``, ``state``,
``nonce``, ``page``, ``limit`` stay readable, and the names real APIs use for
keys, secrets, tokens, JWTs, signatures, sessions and passwords do not (the table
in ``tests/data/query_parameter_names.csv`` lists them with their sources).
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import unquote_plus

ORDINARY_NAMES = frozenset(
    {
        # pagination cursors (Google pageToken, AWS NextToken, Azure continuationToken)
        "pagetoken",
        "nextpagetoken",
        "prevpagetoken",
        "previouspagetoken",
        "nexttoken",
        "continuationtoken",
        "synctoken",
        # counts of language-model tokens
        "maxtokens",
        "maxnewtokens",
        "maxcompletiontokens",
        "maxoutputtokens",
        "tokentype",  # OAuth's token_type is "Bearer"; the others are URNs
        "subjecttokentype",
        "actortokentype",
        "requestedtokentype",
        "clientassertiontype",
        # keys that name data, not credentials
        "sortkey",
        "partitionkey",
        "rangekey",
        "hashkey",
        "rowkey",
        "shardkey",
        "routingkey",
        "cachekey",
        "groupkey",
        "lookupkey",
        "objectkey",
        "primarykey",
        "foreignkey",
        "idempotencykey",
        # descriptions of a signature, not the signature (AWS SigV2, OAuth 1.0a)
        "signatureversion",
        "signaturemethod",
        "oauthsignaturemethod",
    }
)
"""Names that are never sensitive (words joined), checked first."""

SECRET_NAMES = frozenset(
    {
        "key",
        "sig",
        "pwd",
        "pass",
        "pin",
        "otp",
        "auth",
        "authorization",
        "bearer",
        "code",  # OAuth 2 authorization code
        "authcode",
        "authorizationcode",
        "devicecode",
        "usercode",
        "verificationcode",
        "confirmationcode",
        "activationcode",
        "resetcode",
        "recoverycode",
        "backupcode",
        "securitycode",
        "smscode",
        "mfacode",
        "otpcode",
        "totpcode",
        "invitecode",
        "ticket",  # CAS service ticket
        "samlresponse",
        "samlart",
        "hmac",  # Shopify's OAuth callback
        "awsaccesskeyid",
        "googleaccessid",
        "keypairid",  # CloudFront signed URLs
        "dsn",
        "connectionstring",
        "cvv",
        "cvc",
        "cvv2",
        "cardnumber",
        "ssn",
    }
)
"""Names sensitive as a whole (words joined)."""

SECRET_WORDS = frozenset(
    {
        "token",
        "secret",
        "secrets",
        "password",
        "passwords",
        "passwd",
        "passphrase",
        "passcode",
        "pwd",
        "signature",
        "credential",
        "credentials",
        "jwt",
        "session",
        "sessionid",
        "sessid",
        "cookie",
        "otp",
        "totp",
        "mfa",
        "hmac",
        "assertion",  # JWT/SAML bearer grants, client_assertion
        "verifier",  # PKCE code_verifier, OAuth 1.0a oauth_verifier
        "apikey",
        "privatekey",
    }
)
"""Words that make any name containing them sensitive."""

SECRET_SUFFIXES = (
    "token",
    "secret",
    "password",
    "passwd",
    "signature",
    "sessionid",
    "sessid",
)
"""Endings that make a word sensitive (``accesstoken``, ``jsessionid``, ``phpsessid``)."""

KEY_QUALIFIERS = frozenset(
    {
        "api",
        "access",
        "secret",
        "private",
        "signing",
        "master",
        "encryption",
        "client",
        "consumer",
        "account",
        "shared",
        "subscription",
        "sas",
        "license",
        "app",
        "developer",
        "auth",
        "session",
        "storage",
        "service",
        "admin",
        "publishable",
        "restricted",
        "partner",
        "merchant",
    }
)
"""Words that turn ``key`` into a credential (``api_key``, ``apikey``, ``x-api-key``)."""

_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def words(name: str) -> list[str]:
    """The lower-cased words of a parameter name (see the module docstring)."""
    return [w.lower() for w in _WORDS.findall(unquote_plus(name))]


@lru_cache(maxsize=1024)
def is_sensitive(name: str) -> bool:
    """Whether the query parameter ``name`` carries a secret by its name."""
    parts = words(name)
    joined = "".join(parts)
    if joined in ORDINARY_NAMES:
        return False
    if joined in SECRET_NAMES:
        return True
    for i, word in enumerate(parts):
        if word in SECRET_WORDS or word.endswith(SECRET_SUFFIXES):
            return True
        if word == "key" and (len(parts) == 1 or any(p in KEY_QUALIFIERS for p in parts[:i])):
            return True
        if word.endswith("key") and word[:-3] in KEY_QUALIFIERS:
            return True
    return False
