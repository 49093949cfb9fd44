"""A real WeChat Pay API v3 peer for Gatehouse's tests: wechatpayv3 (PyPI), driven from Rust.

  verify-notification PLATFORM_PUBLIC_KEY_FILE  < {"timestamp","nonce","body","signature"}
      prints "valid" or "invalid" (the SDK's rsa_verify over timestamp\\nnonce\\nbody\\n).
  decrypt APIV3_KEY  < {"nonce","ciphertext","associated_data"}
      prints the plaintext, or "invalid" (the SDK's aes_decrypt, AEAD_AES_256_GCM).
  sign-request MERCHANT_PRIVATE_KEY_FILE METHOD PATH MCHID SERIAL  < body
      prints the Authorization header the SDK builds for that request.
"""
import json
import sys

from wechatpayv3.utils import aes_decrypt, build_authorization, load_private_key, load_public_key, rsa_verify


def main():
    command = sys.argv[1]
    if command == "verify-notification":
        key = load_public_key(open(sys.argv[2]).read())
        n = json.load(sys.stdin)
        ok = rsa_verify(n["timestamp"], n["nonce"], n["body"], n["signature"], key)
        print("valid" if ok else "invalid")
    elif command == "decrypt":
        r = json.load(sys.stdin)
        plain = aes_decrypt(r["nonce"], r["ciphertext"], r["associated_data"], sys.argv[2])
        print(plain if plain is not None else "invalid")
    elif command == "sign-request":
        key_file, method, path, mchid, serial = sys.argv[2:7]
        body = sys.stdin.read()
        key = load_private_key(open(key_file).read())
        print(build_authorization(path, method, mchid, serial, key, data=body))
    else:
        sys.exit("unknown command " + command)


if __name__ == "__main__":
    main()
