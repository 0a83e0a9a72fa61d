"""The record store, file store and URL signer on their own (no HTTP): the layer every record
domain stands on, tested against a real SQLite file and a real data directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.signing import KEY_FILE, SignatureError, UrlSigner
from server.storage import Condition, DuplicateRecordError, Query, Storage


def test_records_survive_reopening_the_data_dir(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    storage.records.insert("rating", "r1", "org1", 1000, {"score": 5, "comment": "ok"})
    storage.close()

    reopened = Storage(tmp_path)
    record = reopened.records.get("rating", "r1")
    assert record is not None
    assert record.organization_id == "org1"
    assert record.body == {"score": 5, "comment": "ok"}
    assert reopened.records.get("snapshot", "r1") is None  # kinds are separate namespaces
    reopened.close()


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    storage.records.insert("interaction", "i1", "org1", 1, {})
    with pytest.raises(DuplicateRecordError, match="interaction i1 already exists"):
        storage.records.insert("interaction", "i1", "org2", 2, {})


def test_update_with_expected_version_is_compare_and_set(tmp_path: Path) -> None:
    records = Storage(tmp_path).records
    records.insert("interaction", "i1", "org1", 1, {"n": 0})
    assert records.update("interaction", "i1", {"n": 1}, expected_version=0) == 1
    assert records.update("interaction", "i1", {"n": 2}, expected_version=0) is None
    stored = records.get("interaction", "i1")
    assert stored is not None and stored.body == {"n": 1} and stored.version == 1
    assert records.update("interaction", "i1", {"n": 3}) == 2
    assert records.update("interaction", "missing", {"n": 3}) is None


def test_find_filters_orders_and_pages(tmp_path: Path) -> None:
    records = Storage(tmp_path).records
    for i in range(10):
        body = {"type": "video" if i % 2 else "chat", "tags": [f"t{i % 3}"], "n": i}
        records.insert("interaction", f"i{i}", "org1" if i < 8 else "org2", 100 + i, body)

    org1 = Query(organization_id="org1")
    assert records.count("interaction", org1) == 8
    videos = records.find(
        "interaction", Query(organization_id="org1", conditions=[Condition("$.type", "=", "video")])
    )
    assert [r.id for r in videos] == ["i1", "i3", "i5", "i7"]
    tagged = records.find("interaction", Query(conditions=[Condition("$.tags", "CONTAINS", "t0")]))
    assert [r.id for r in tagged] == ["i0", "i3", "i6", "i9"]
    ranged = records.find("interaction", Query(created_from=102, created_to=104))
    assert [r.id for r in ranged] == ["i2", "i3", "i4"]
    page = records.find(
        "interaction",
        Query(organization_id="org1", order_by=[("$.n", False)], limit=3, offset=3),
    )
    assert [r.id for r in page] == ["i4", "i3", "i2"]
    some = records.find("interaction", Query(conditions=[Condition("$.n", "IN", [1, 9, 42])]))
    assert [r.id for r in some] == ["i1", "i9"]


def test_record_paths_cannot_inject_sql(tmp_path: Path) -> None:
    records = Storage(tmp_path).records
    with pytest.raises(ValueError, match="invalid record path"):
        records.find("x", Query(order_by=[("$.a'); DROP TABLE records; --", True)]))


async def test_file_store_names_are_generated_and_checked(tmp_path: Path) -> None:
    files = Storage(tmp_path).files
    key = await files.save("snapshots", b"\xff\xd8\xffdata")
    assert files.path("snapshots", key).read_bytes() == b"\xff\xd8\xffdata"
    assert files.path("snapshots", key).parent == tmp_path / "files" / "snapshots"
    for bad in ("../platform.sqlite3", "a" * 31 + "/", "A" * 32):
        with pytest.raises(ValueError):
            files.path("snapshots", bad)
    await files.delete("snapshots", key)
    assert not files.exists("snapshots", key)


def test_signed_paths_verify_and_survive_restart(tmp_path: Path) -> None:
    signer = UrlSigner.from_data_dir(tmp_path)
    assert (tmp_path / KEY_FILE).stat().st_mode & 0o777 == 0o600
    signed = signer.sign("snapshots", "s1", ttl_seconds=60)
    path, _, query = signed.path.partition("?signature=")
    assert path.startswith("/rtc-api/snapshots/signed/s1/")
    expiration = path.rsplit("/", 1)[1]

    again = UrlSigner.from_data_dir(tmp_path)  # a restarted server reads the same key
    again.verify("snapshots", "s1", expiration, query)
    with pytest.raises(SignatureError, match="does not match"):
        again.verify("snapshots", "s2", expiration, query)
    with pytest.raises(SignatureError, match="does not match"):
        again.verify("assets", "s1", expiration, query)
    with pytest.raises(SignatureError, match="does not match"):
        again.verify("snapshots", "s1", str(int(expiration) + 1), query)
    with pytest.raises(SignatureError, match="epoch milliseconds"):
        again.verify("snapshots", "s1", "-1", query)
    assert "key" not in repr(signer).replace("key=<hidden>", "")


def test_signed_paths_expire(tmp_path: Path) -> None:
    now = [1_000_000.0]
    signer = UrlSigner(b"k" * 32, clock=lambda: now[0])
    signed = signer.sign("assets", "a/b", ttl_seconds=10)
    path, _, signature = signed.path.partition("?signature=")
    assert "/assets/signed/a%2Fb/" in path
    expiration = path.rsplit("/", 1)[1]
    now[0] += 9.9
    signer.verify("assets", "a/b", expiration, signature)
    now[0] += 0.2
    with pytest.raises(SignatureError, match="expired"):
        signer.verify("assets", "a/b", expiration, signature)
