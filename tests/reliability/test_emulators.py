"""The local emulators cannot be brought down by a client: a dropped connection, a half request, garbage on the port."""

from __future__ import annotations

import socket
import struct
import time

import pytest

from headcount.local.config import LocalConfig
from headcount.local.processes import wait_for_port
from headcount.local.stack import start_kinesalite
from support.stack_process import local_client

pytestmark = pytest.mark.e2e  # starts processes of the local stack: `-m "not e2e"` leaves it out


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def kinesalite(tmp_path):
    config = LocalConfig(state_dir=tmp_path, kinesis_port=free_port())
    process = start_kinesalite(config)
    try:
        wait_for_port(config.kinesis_port, 30, process)
        yield config, process
    finally:
        process.stop()


def half_request(port: int, reset: bool) -> None:
    """A PutRecord whose body stops short, then the connection closed (or reset, as a killed process's is)."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.1\r\n"
            b"X-Amz-Target: Kinesis_20131202.PutRecord\r\nContent-Length: 4096\r\n\r\n" + b'{"StreamName": "s'
        )
        time.sleep(0.2)
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def test_kinesalite_serves_on_after_clients_drop_mid_request_or_send_garbage(kinesalite) -> None:
    config, process = kinesalite
    client = local_client("kinesis", config.kinesis_port)
    client.create_stream(StreamName="s", ShardCount=1)
    client.put_record(StreamName="s", Data=b"kept", PartitionKey="p")
    # When clients go away mid-request, closed and reset, and one writes garbage
    for reset in (False, True, False, True):
        half_request(config.kinesis_port, reset)
    with socket.create_connection(("127.0.0.1", config.kinesis_port)) as sock:
        sock.sendall(b"\x00\xff\xfe not http at all\r\n\r\n")
        sock.recv(1024)
    time.sleep(0.5)
    # Then kinesalite still runs and still holds the stream's record
    assert process.alive()
    shard = client.list_shards(StreamName="s")["Shards"][0]["ShardId"]
    iterator = client.get_shard_iterator(StreamName="s", ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    assert [r["Data"] for r in client.get_records(ShardIterator=iterator["ShardIterator"])["Records"]] == [b"kept"]


def test_moto_serves_on_after_clients_drop_mid_request_or_send_garbage(tmp_path) -> None:
    from headcount.local.stack import start_moto

    config = LocalConfig(state_dir=tmp_path, moto_port=free_port())
    process = start_moto(config)
    try:
        wait_for_port(config.moto_port, 60, process)
        for reset in (False, True):
            half_request(config.moto_port, reset)
        with socket.create_connection(("127.0.0.1", config.moto_port)) as sock:
            sock.sendall(b"\x00\xff\xfe not http at all\r\n\r\n")
            sock.recv(1024)
        dynamodb = local_client("dynamodb", config.moto_port)
        assert process.alive() and dynamodb.list_tables()["TableNames"] == []
    finally:
        process.stop()
