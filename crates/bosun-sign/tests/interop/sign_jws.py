#!/usr/bin/env python3
"""Sign claims with PyJWT (alg EdDSA), for bosun to verify.

Usage: sign_jws.py <private-jwk-file> <claims-json-file>
Prints the compact JWS on stdout. Needs: pip install pyjwt cryptography
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
        claims = json.load(f)
    key = jwt.PyJWK(jwk).key
    print(jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": jwk.get("kid")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
