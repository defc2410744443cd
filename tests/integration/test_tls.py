"""TLS and mutual TLS from settings (TARIF_TLS_CERT / TARIF_TLS_KEY / TARIF_TLS_CLIENT_CA)."""

from __future__ import annotations

import datetime
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from redis.asyncio import Redis

from tarif.charging.v1 import charging_pb2 as pb
from tarif.charging.v1 import charging_pb2_grpc as pb_grpc
from tests.integration.harness import running_engine

PEM = serialization.Encoding.PEM


def _issue(
    name: str,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
):  # type: ignore[no-untyped-def]
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False
        )
    cert = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    return cert, key


def _write(
    path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> tuple[Path, Path]:
    cert_path, key_path = path.with_suffix(".crt"), path.with_suffix(".key")
    cert_path.write_bytes(cert.public_bytes(PEM))
    key_path.write_bytes(
        key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


async def _query(port: int, credentials: grpc.ChannelCredentials) -> pb.BalanceReport:
    options = (("grpc.ssl_target_name_override", "localhost"),)
    async with grpc.aio.secure_channel(
        f"127.0.0.1:{port}", credentials, options=options
    ) as channel:
        stub = pb_grpc.ChargingServiceStub(channel)
        return await stub.GetBalances(pb.BalanceQuery(subscriber="nobody"), timeout=5)


async def test_mutual_tls(tmp_path: Path, redis_url: str, redis: Redis) -> None:
    ca = _issue("tarif test CA", None, ca=True)
    server_cert, server_key = _write(tmp_path / "server", *_issue("localhost", ca))
    client_cert, client_key = _issue("a network element", ca)
    ca_pem = ca[0].public_bytes(PEM)
    (tmp_path / "ca.crt").write_bytes(ca_pem)
    settings = {
        "tls_cert": server_cert,
        "tls_key": server_key,
        "tls_client_ca": tmp_path / "ca.crt",
    }
    async with running_engine(redis_url, redis, **settings) as engine:
        port = engine.app.grpc_port
        trusted = grpc.ssl_channel_credentials(
            root_certificates=ca_pem,
            private_key=client_key.private_bytes(
                PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            certificate_chain=client_cert.public_bytes(PEM),
        )
        report = await _query(port, trusted)
        assert report.result == pb.USER_UNKNOWN  # the call went through, over mTLS
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _query(port, grpc.ssl_channel_credentials(root_certificates=ca_pem))
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE  # no client certificate
