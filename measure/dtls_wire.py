"""Parse the DTLS 1.2 datagrams a relay saw (RFC 6347): records, epochs, handshake messages,
retransmissions. Reads only; measure.dgram_proxy records, reports present."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

from measure import tls_wire

RECORD_HEADER = 13        # type, version(2), epoch(2), sequence(6), length(2)
HANDSHAKE_HEADER = 12     # type, length(3), message_seq(2), fragment_offset(3), fragment_length(3)
CT_CHANGE_CIPHER_SPEC = 20
CT_ALERT = 21
CT_HANDSHAKE = 22
CT_APPLICATION_DATA = 23
CT_TLS12_CID = 25         # RFC 9146 record with a Connection ID
HS_HELLO_VERIFY_REQUEST = 3
DTLS_VERSIONS = {0xFEFF: "DTLS 1.0", 0xFEFD: "DTLS 1.2"}
SENDERS = ("client", "server")


class _Datagram(Protocol):
    sender: str
    data: bytes
    fate: str


@dataclass(frozen=True)
class DtlsRecord:
    sender: str
    content_type: int
    version: int
    epoch: int
    sequence: int
    fragment: bytes
    datagram: int             # index of its datagram in the relay's recording


@dataclass(frozen=True)
class DtlsSummary:
    datagrams_client: int             # sent by the firmware (dropped ones included)
    datagrams_server: int
    dropped: int                      # datagrams the relay dropped on purpose (LossPlan)
    bytes_client: int                 # datagram bytes, as on the UDP socket
    bytes_server: int
    version: str | None               # from the server's ServerHello record version, e.g. "DTLS 1.2"
    group: str | None                 # ServerKeyExchange group, when it is in the clear
    alert: str | None                 # first cleartext alert, "bad_record_mac (from server)"
    handshake: tuple[str, ...]        # "client ClientHello", "server HelloVerifyRequest", ... (epoch 0)
    retransmits_client: int           # handshake fragments the firmware sent again
    retransmits_server: int
    hello_verify: bool                # the server asked for a cookie
    epochs: tuple[int, ...]           # epochs seen, in order of first appearance
    last_client: str | None
    last_server: str | None
    duplicated: int = 0               # datagrams the relay delivered twice on purpose (a replay)
    app_data_server: int = 0          # the server's datagrams starting with an application_data record

    def as_report(self) -> dict[str, object]:
        return {"datagrams": {"client": self.datagrams_client, "server": self.datagrams_server,
                              "dropped": self.dropped, "duplicated": self.duplicated,
                              "server_application_data": self.app_data_server},
                "version": self.version, "hello_verify": self.hello_verify,
                "retransmits": {"client": self.retransmits_client, "server": self.retransmits_server},
                "handshake": list(self.handshake), "epochs": list(self.epochs)}


def split_records(data: bytes, sender: str, index: int) -> tuple[DtlsRecord, ...]:
    """The records of one datagram (a cut record at the end is kept, shorter)."""
    out: list[DtlsRecord] = []
    pos = 0
    while pos + RECORD_HEADER <= len(data):
        ctype = data[pos]
        version = int.from_bytes(data[pos + 1:pos + 3], "big")
        epoch = int.from_bytes(data[pos + 3:pos + 5], "big")
        seq = int.from_bytes(data[pos + 5:pos + 11], "big")
        if ctype == CT_TLS12_CID:
            break  # the CID length is not in the record: stop here (only after the handshake)
        length = int.from_bytes(data[pos + 11:pos + 13], "big")
        out.append(DtlsRecord(sender, ctype, version, epoch, seq,
                              data[pos + RECORD_HEADER:pos + RECORD_HEADER + length], index))
        pos += RECORD_HEADER + length
    return tuple(out)


def _name(msg_type: int) -> str:
    return "HelloVerifyRequest" if msg_type == HS_HELLO_VERIFY_REQUEST else tls_wire.handshake_name(msg_type)


def summarize(datagrams: Sequence[_Datagram]) -> DtlsSummary:
    counts = {s: 0 for s in SENDERS}
    sizes = {s: 0 for s in SENDERS}
    seen: set[tuple[str, int, int, int]] = set()   # (sender, message_seq, fragment_offset, epoch)
    retransmits = {s: 0 for s in SENDERS}
    last: dict[str, str | None] = {s: None for s in SENDERS}
    handshake: list[str] = []
    epochs: list[int] = []
    version = group = alert = None
    hello_verify = False
    dropped = duplicated = app_data_server = 0
    for index, d in enumerate(datagrams):
        counts[d.sender] += 1
        sizes[d.sender] += len(d.data)
        dropped += d.fate == "dropped"
        duplicated += d.fate == "duplicated"
        app_data_server += d.sender == "server" and d.data[:1] == bytes([CT_APPLICATION_DATA])
        for rec in split_records(d.data, d.sender, index):
            if rec.epoch not in epochs:
                epochs.append(rec.epoch)
            if rec.content_type == CT_ALERT and alert is None:
                if rec.epoch == 0 and len(rec.fragment) >= 2:
                    desc = tls_wire.ALERT_DESCRIPTIONS.get(rec.fragment[1], f"alert_{rec.fragment[1]}")
                    alert = f"{desc} (from {d.sender})"
                elif rec.epoch > 0:
                    alert = f"encrypted alert (from {d.sender})"
            if rec.content_type == CT_CHANGE_CIPHER_SPEC:
                last[d.sender] = "ChangeCipherSpec"
            if rec.content_type != CT_HANDSHAKE:
                continue
            if rec.epoch > 0:
                key = (d.sender, -1, rec.sequence, rec.epoch)  # Finished: encrypted, one per flight
                if any(k[0] == d.sender and k[1] == -1 and k[3] == rec.epoch for k in seen):
                    retransmits[d.sender] += 1
                seen.add(key)
                last[d.sender] = "Finished"
                continue
            frag = rec.fragment
            if len(frag) < HANDSHAKE_HEADER:
                continue
            msg_type = frag[0]
            msg_seq = int.from_bytes(frag[4:6], "big")
            offset = int.from_bytes(frag[6:9], "big")
            key = (d.sender, msg_seq, offset, rec.epoch)
            if key in seen:
                retransmits[d.sender] += 1
                continue
            seen.add(key)
            name = _name(msg_type)
            if offset == 0:
                handshake.append(f"{d.sender} {name}")
            last[d.sender] = name
            if msg_type == HS_HELLO_VERIFY_REQUEST:
                hello_verify = True
            if d.sender == "server" and msg_type == 2 and version is None and len(frag) >= HANDSHAKE_HEADER + 2:
                body_version = int.from_bytes(frag[HANDSHAKE_HEADER:HANDSHAKE_HEADER + 2], "big")
                version = DTLS_VERSIONS.get(body_version, f"0x{body_version:04x}")
            if d.sender == "server" and msg_type == 12 and group is None and offset == 0:
                group = tls_wire.server_key_exchange_group(frag[HANDSHAKE_HEADER:])
    return DtlsSummary(
        datagrams_client=counts["client"], datagrams_server=counts["server"], dropped=dropped,
        bytes_client=sizes["client"], bytes_server=sizes["server"], version=version, group=group,
        alert=alert, handshake=tuple(handshake), retransmits_client=retransmits["client"],
        retransmits_server=retransmits["server"], hello_verify=hello_verify, epochs=tuple(epochs),
        last_client=last["client"], last_server=last["server"], duplicated=duplicated,
        app_data_server=app_data_server)
