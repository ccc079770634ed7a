# Parses a message from stdin with Python's email package (policy=default) and prints what the tests compare.
import sys, json, hashlib
from email.parser import BytesParser
from email import policy

msg = BytesParser(policy=policy.default).parse(sys.stdin.buffer)
parts = []
for part in msg.walk():
    entry = {"type": part.get_content_type()}
    if not part.is_multipart():
        if part.get_content_maintype() == "text" and part.get_filename() is None:
            entry["text"] = part.get_content()
        else:
            payload = part.get_payload(decode=True)
            entry["sha256"] = hashlib.sha256(payload).hexdigest()
            entry["filename"] = part.get_filename()
            entry["cid"] = part.get("Content-ID")
    parts.append(entry)
print(json.dumps({
    "subject": str(msg["Subject"]),
    "from_name": msg["From"].addresses[0].display_name,
    "from": msg["From"].addresses[0].addr_spec,
    "to_name": msg["To"].addresses[0].display_name,
    "uuid": str(msg["X-Uuid"]),
    "defects": [str(d) for d in msg.defects],
    "parts": parts,
}))
