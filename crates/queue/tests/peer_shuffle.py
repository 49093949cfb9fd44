"""The waiting room's shuffle re-run by an outsider: ChaCha20 from OpenSSL (through Python's
`cryptography`), Fisher-Yates with rejection sampling exactly as gatehouse-queue's shuffle.rs
describes. Usage: python3 peer_shuffle.py <seed hex> <n>; prints the order of 0..n as JSON."""
import json
import struct
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms


def main():
    seed = bytes.fromhex(sys.argv[1])
    n = int(sys.argv[2])
    # rand_chacha's ChaCha20Rng: the key is the seed, the 64-bit block counter starts at 0 and
    # the stream (nonce) is 0, which is OpenSSL's 16-byte IV of zeros.
    stream = Cipher(algorithms.ChaCha20(seed, bytes(16)), mode=None).encryptor()
    buffered = []

    def next_u64():
        if len(buffered) < 2:
            block = stream.update(bytes(4096))
            buffered.extend(struct.unpack("<1024I", block))
        low, high = buffered.pop(0), buffered.pop(0)
        return (high << 32) | low

    top = 2**64 - 1
    items = list(range(n))
    for i in range(n - 1, 0, -1):
        size = i + 1
        zone = top - (top % size + 1) % size
        while True:
            word = next_u64()
            if word <= zone:
                j = word % size
                break
        items[i], items[j] = items[j], items[i]
    print(json.dumps(items))


if __name__ == "__main__":
    main()
