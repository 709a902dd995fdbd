"""Generate the secrets a deployment needs, as KEY=value lines for an env file.

Runs without Django settings (settings refuse to load without these keys):
    python -m config.keygen               # print to stdout
    python -m config.keygen --write FILE  # write FILE once; an existing file is kept
"""

import argparse
import base64
import os
import secrets
import sys


def generate() -> dict[str, str]:
    return {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "PII_ENCRYPTION_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "PII_HMAC_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", metavar="FILE")
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="another line to write (e.g. DJANGO_DEBUG=1)",
    )
    args = parser.parse_args(argv)
    lines = [f"{key}={value}" for key, value in generate().items()] + args.extra
    if not args.write:
        print("\n".join(lines))
        return 0
    if os.path.exists(args.write):
        # Regenerating would make every encrypted ID number in the database unreadable.
        return 0
    os.makedirs(os.path.dirname(args.write) or ".", exist_ok=True)
    fd = os.open(args.write, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    print(f"wrote {args.write}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
