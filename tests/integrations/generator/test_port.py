from __future__ import annotations

import pickle

import pytest

from app.integrations.generator import GenerationFailed, GenerationRequest, StyleSpec, View


@pytest.mark.parametrize(
    "palette", [(), ("#111111", "#222222", "#333333", "#444444"), ("red",), ("#12345",)]
)
def test_a_style_palette_must_be_one_to_three_hex_colours(palette: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="palette"):
        StyleSpec(name="x", prompt="x", palette=palette)


def test_a_request_needs_an_image_by_bytes_or_url() -> None:
    style = StyleSpec(name="x", prompt="x", palette=("#aa3311",))
    with pytest.raises(ValueError, match="image"):
        GenerationRequest(style=style, view=View.FRONT, deadline_s=10)


def test_selfies_and_presigned_urls_stay_out_of_the_request_repr() -> None:
    style = StyleSpec(name="x", prompt="x", palette=("#aa3311",))
    request = GenerationRequest(
        style=style,
        view=View.BACK,
        deadline_s=10,
        image_bytes=b"\xff\xd8secret-pixels",
        image_url="https://bucket.example/a.jpg?X-Amz-Signature=secret",
    )

    assert "secret" not in repr(request)


def test_failure_retryability_follows_the_code_unless_told() -> None:
    assert GenerationFailed("GENERATION_TIMEOUT").retryable
    assert GenerationFailed("PROVIDER_UNAVAILABLE").retryable
    assert not GenerationFailed("NO_FACE_DETECTED").retryable
    assert not GenerationFailed("GENERATION_FAILED").retryable
    assert GenerationFailed("GENERATION_FAILED", retryable=True).retryable


def test_a_failure_survives_pickling_between_job_processes() -> None:
    failure = GenerationFailed("GENERATION_FAILED", "model said no", retryable=True)

    copy = pickle.loads(pickle.dumps(failure))

    assert (copy.code, copy.message, copy.retryable) == ("GENERATION_FAILED", "model said no", True)
    assert str(copy) == "GENERATION_FAILED: model said no"
