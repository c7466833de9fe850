"""Verifies the DKIM signature of one message (for the mfa-email tests), with dkimpy.

  python3 dkim_verify.py MESSAGE_FILE SELECTOR DOMAIN

The public key comes from $MFA_TEST_DKIM_PUBLIC (base64 DER, as a DNS TXT record's
p= holds it) instead of DNS: the lookup of SELECTOR._domainkey.DOMAIN is answered
here, and any other name fails. Exits 0 when the signature verifies, 1 otherwise.
"""

import os
import sys

import dkim


def main():
    path, selector, domain = sys.argv[1:4]
    expected = f"{selector}._domainkey.{domain}.".encode()
    record = b"v=DKIM1; k=rsa; p=" + os.environ["MFA_TEST_DKIM_PUBLIC"].encode()

    def dns(name, timeout=5):
        return record if name == expected else None

    with open(path, "rb") as f:
        message = f.read()
    ok = dkim.verify(message, dnsfunc=dns)
    print("dkim: pass" if ok else "dkim: fail", flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
