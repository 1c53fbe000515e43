from runner_fleet.signatures import github_signature, verify_github_signature

DOC_SECRET = b"It's a Secret to Everybody"
DOC_BODY = b"Hello, World!"
DOC_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_matches_githubs_published_test_vector() -> None:
    """The signature of GitHub's documented example equals the documented value."""
    assert github_signature(DOC_SECRET, DOC_BODY) == DOC_SIGNATURE
    assert verify_github_signature(DOC_SECRET, DOC_BODY, DOC_SIGNATURE)


def test_rejects_a_tampered_body() -> None:
    """One changed byte of the body fails verification."""
    assert not verify_github_signature(DOC_SECRET, b"Hello, World?", DOC_SIGNATURE)


def test_rejects_a_wrong_secret() -> None:
    """A signature made with another secret fails verification."""
    assert not verify_github_signature(b"another secret", DOC_BODY, DOC_SIGNATURE)


def test_rejects_missing_or_malformed_headers() -> None:
    """No header, an empty one, the sha1 form or a bare hex digest are all refused."""
    for header in (None, "", "sha1=0123", DOC_SIGNATURE.removeprefix("sha256="), "sha256=zz"):
        assert not verify_github_signature(DOC_SECRET, DOC_BODY, header)


def test_an_empty_secret_never_verifies() -> None:
    """Without a configured secret nothing is accepted, not even a signature made with the empty key."""
    assert not verify_github_signature(b"", DOC_BODY, github_signature(b"", DOC_BODY))


def test_non_ascii_header_does_not_crash() -> None:
    """A header with non-ASCII characters is a mismatch, not an exception."""
    assert not verify_github_signature(DOC_SECRET, DOC_BODY, "sha256=ü")
