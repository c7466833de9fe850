"""An aiosmtpd server that requires authentication over TLS, for the mfa-email tests.

  python3 smtp_server.py --mode starttls|tls --port P --maildir DIR \
      --cert server.pem --key server.key --user USER

starttls: plain TCP that must be upgraded with STARTTLS before AUTH and MAIL.
tls: TLS from the first byte (RFC 8314 submissions). Either way AUTH PLAIN or LOGIN
with the one user and the password in $MFA_TEST_SMTP_PASSWORD (kept out of the
process list) is required, and every message goes to the Maildir.
The plain server needs no script: python3 -m aiosmtpd ... -c aiosmtpd.handlers.Mailbox DIR.
"""

import argparse
import os
import signal
import ssl
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["starttls", "tls"], required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--user", required=True)
    args = parser.parse_args()
    password = os.environ["MFA_TEST_SMTP_PASSWORD"].encode()

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == args.user.encode()
            and auth_data.password == password
        )
        # handled=False: aiosmtpd answers 535 itself (its default, True, answers nothing).
        return AuthResult(success=ok, handled=False)

    common = dict(
        hostname="127.0.0.1",
        port=args.port,
        authenticator=authenticate,
        auth_required=True,
    )
    if args.mode == "starttls":
        controller = Controller(
            Mailbox(args.maildir),
            tls_context=context,
            require_starttls=True,
            auth_require_tls=True,
            **common,
        )
    else:
        # aiosmtpd counts only STARTTLS as TLS for auth_require_tls; this connection
        # is TLS from its first byte, so AUTH is offered at once.
        controller = Controller(
            Mailbox(args.maildir), ssl_context=context, auth_require_tls=False, **common
        )
    controller.start()
    print(f"smtp {args.mode}: listening on 127.0.0.1:{args.port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
