"""A real Alipay peer for Gatehouse's tests: python-alipay-sdk (PyPI), driven from the Rust tests.

  call-gateway GATEWAY APP_ID APP_PRIVATE_KEY_FILE ALIPAY_PUBLIC_KEY_FILE CODE
      The SDK signs an alipay.system.oauth.token request, sends it to GATEWAY (Gatehouse's fake),
      verifies the signed response, and prints the token response as JSON.
  verify-notification ALIPAY_PUBLIC_KEY_FILE  < params.json
      Checks an asynchronous notification with the SDK's verify() (which drops sign_type and signs
      the sorted rest); prints "valid" or "invalid".
  sign-notification ALIPAY_PRIVATE_KEY_FILE  < params.json
      Signs notification parameters the way the SDK verifies them and prints the signature.
  verify-request APP_PUBLIC_KEY_FILE  < params.json
      Checks a request signed by Gatehouse the way the SDK builds the string to sign (every
      parameter but sign, sorted) and verifies it; prints "valid" or "invalid".
"""
import json
import sys

from alipay import AliPay


def client(app_id, private_key, public_key):
    return AliPay(appid=app_id, app_private_key_string=private_key,
                  alipay_public_key_string=public_key, sign_type="RSA2")


def main():
    command = sys.argv[1]
    if command == "call-gateway":
        gateway, app_id, private_file, public_file, code = sys.argv[2:7]
        sdk = client(app_id, open(private_file).read(), open(public_file).read())
        sdk._gateway = gateway
        result = sdk.server_api("alipay.system.oauth.token", grant_type="authorization_code", code=code)
        print(json.dumps(result))
    elif command == "verify-notification":
        sdk = client("verifier", private_key_for_sdk(), open(sys.argv[2]).read())
        params = json.load(sys.stdin)
        sign = params.pop("sign")
        print("valid" if sdk.verify(params, sign) else "invalid")
    elif command == "sign-notification":
        from Cryptodome.PublicKey import RSA
        private = open(sys.argv[2]).read()
        public = RSA.import_key(private).publickey().export_key().decode()
        sdk = client("signer", private, public)
        params = json.load(sys.stdin)
        params.pop("sign", None)
        params.pop("sign_type", None)
        message = "&".join("{}={}".format(k, v) for k, v in sdk._ordered_data(params))
        print(sdk._sign(message))
    elif command == "verify-request":
        public = open(sys.argv[2]).read()
        params = json.load(sys.stdin)
        sign = params.pop("sign")
        # The SDK's own canonical form of a request: sorted items joined as k=v with '&'.
        sdk = client("verifier", private_key_for_sdk(), public)
        message = "&".join("{}={}".format(k, v) for k, v in sdk._ordered_data(params))
        print("valid" if sdk._verify(message, sign) else "invalid")
    else:
        sys.exit("unknown command " + command)


def private_key_for_sdk():
    # AliPay() insists on loading a private key; verification never uses it.
    from Cryptodome.PublicKey import RSA
    return RSA.generate(1024).export_key().decode()


if __name__ == "__main__":
    main()
