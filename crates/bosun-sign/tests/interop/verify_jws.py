#!/usr/bin/env python3
"""Verify a bosun JWS with PyJWT, an independent JOSE implementation.

Usage: verify_jws.py <public-jwk-file> <token-file>
Prints the verified claims as JSON on stdout; exits non-zero if verification fails.
Needs: pip install pyjwt cryptography
"""
import json
import sys

import jwt


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        jwk = json.load(f)
    with open(sys.argv[2], encoding="utf-8") as f:
        token = f.read().strip()
    key = jwt.PyJWK(jwk).key
    claims = jwt.decode(
        token,
        key,
        algorithms=["EdDSA"],
        options={
            "verify_exp": False,
            "verify_nbf": False,
            "verify_iat": False,
            "verify_aud": False,
            "verify_iss": False,
        },
    )
    print(json.dumps(claims, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
