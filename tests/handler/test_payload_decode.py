"""The attachment and body decoders must give exactly what compat32's get_payload(decode=True) gives."""

from __future__ import annotations

import base64
import random
from email.message import Message

from mailflow_handler.inbound.attachments import _payload_bytes

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n -_.!"


def _samples() -> list[str]:
    rnd = random.Random(1234)
    out = ["", "====", "YQ", "YQ=", "YQ==", "YQ==YQ==", "Y Q = =", "!!!!", "YWJj\r\nZGVm\r\n"]
    for _ in range(3000):
        if rnd.random() < 0.6:
            data = bytearray(base64.encodebytes(rnd.randbytes(rnd.randrange(0, 60))))
            for _ in range(rnd.randrange(0, 3)):
                if data:
                    data[rnd.randrange(len(data))] = rnd.choice(_ALPHABET)
            if data and rnd.random() < 0.3:
                del data[rnd.randrange(len(data))]
            out.append(bytes(data).decode("ascii"))
        else:
            out.append(bytes(rnd.choice(_ALPHABET) for _ in range(rnd.randrange(0, 30))).decode("ascii"))
    return out


def _part(payload: str, cte: str) -> Message:
    part = Message()
    part["Content-Transfer-Encoding"] = cte
    part.set_payload(payload)
    return part


def test_base64_fast_decode_matches_stdlib() -> None:
    for payload in _samples():
        expected = _part(payload, "base64").get_payload(decode=True)
        assert _payload_bytes(_part(payload, "base64")) == expected, payload


def test_base64_fast_decode_drops_the_encoded_payload() -> None:
    part = _part(base64.encodebytes(b"x" * 1000).decode("ascii"), "base64")
    assert _payload_bytes(part) == b"x" * 1000
    assert part.get_payload() == ""


def test_bad_padding_and_odd_encodings_fall_back_to_stdlib() -> None:
    for cte in ("base64", "BASE64", "base64 ", "quoted-printable", "7bit", ""):
        for payload in ("YQ", "a=3Db\r\n", "caf\udce9 base64"):
            expected = _part(payload, cte).get_payload(decode=True)
            assert _payload_bytes(_part(payload, cte)) == expected, (cte, payload)


def test_fast_path_body_decoder_matches_stdlib_for_every_encoding() -> None:
    from mailflow_handler.inbound.mime import decode_body

    rnd = random.Random(99)
    samples = [s.encode("ascii") for s in _samples()[:1500]]
    samples += [
        bytes(rnd.choice(_ALPHABET + b"\xe9\xff\x00") for _ in range(rnd.randrange(0, 40)))
        for _ in range(500)
    ]
    for raw in samples:
        for cte in ("base64", "quoted-printable", "7bit", "8bit", "binary", "", "x-uuencode", "unknown"):
            expected = _part(raw.decode("ascii", "surrogateescape"), cte).get_payload(decode=True)
            assert decode_body(_part("placeholder", cte), memoryview(raw)) == expected, (cte, raw)
