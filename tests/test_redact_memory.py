"""Redaction stays small in a process that renews tokens for weeks (issue 16).

Every token renewal registers a new secret; every error message and log record is redacted.
A redaction that compiled one regular expression of all registered secrets put each rebuilt
pattern in `re`'s module cache (512 entries), so a soak with faults kept hundreds of KiB more per
renewal-then-error, growing with the number of secrets: this counts what stays allocated.
"""

from __future__ import annotations

import secrets
import tracemalloc

from agent.redact import REDACTED, forget_secret, redact, register_secret


def test_renewing_and_redacting_keeps_no_compiled_patterns() -> None:
    tokens = [f"eyJ{secrets.token_urlsafe(300)}" for _ in range(150)]  # JWT-sized secrets
    tracemalloc.start()
    try:
        for token in tokens[:50]:  # the registry at its working size
            register_secret(token)
            assert redact(f"401 for {token}") == f"401 for {REDACTED}"
        before, _ = tracemalloc.get_traced_memory()
        for token in tokens[50:]:  # a renewal, then an error message to redact
            register_secret(token)
            assert redact(f"HTTP 404 with {token}: not registered") == (
                f"HTTP 404 with {REDACTED}: not registered"
            )
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        for token in tokens:
            forget_secret(token)
    # 100 more secrets of ~400 bytes are ~60 KiB with their registry entries.
    assert kept < 1 * 2**20, f"{kept / 2**20:.1f} MiB kept by 100 renewals"


def test_a_secret_inside_another_is_replaced_whole() -> None:
    register_secret("abcdefgh")
    register_secret("xxabcdefghyy")
    try:
        assert redact("a xxabcdefghyy b abcdefgh") == f"a {REDACTED} b {REDACTED}"
    finally:
        forget_secret("abcdefgh")
        forget_secret("xxabcdefghyy")
