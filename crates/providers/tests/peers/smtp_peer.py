"""A real SMTP server for the SMTP adapter's test: aiosmtpd (PyPI). Prints the port it
listens on, then one JSON line per message it accepted, decoded by Python's email package
(headers per RFC 2047, body per its transfer encoding). Refuses recipients whose address
starts with "refused". Stops when its standard input closes."""

import json
import socket
import sys
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller


class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("refused"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=policy.default)
        print(
            json.dumps(
                {
                    "mail_from": envelope.mail_from,
                    "rcpt_tos": envelope.rcpt_tos,
                    "from": str(message["From"]),
                    "to": str(message["To"]),
                    "subject": str(message["Subject"]),
                    "content_type": message.get_content_type(),
                    "charset": message.get_content_charset(),
                    "body": message.get_content(),
                },
                ensure_ascii=False,
            ),
            flush=True,
        )
        return "250 Message accepted for delivery"


# The controller needs a port it can connect to itself to check it started: take a free one.
with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
controller = Controller(Handler(), hostname="127.0.0.1", port=port)
controller.start()
print(port, flush=True)
sys.stdin.read()
controller.stop()
