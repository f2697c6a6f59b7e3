"""CFG-04: every line a job writes carries the job's name, its task id and its image id; a
line after the job carries none of them."""

from __future__ import annotations

import io
import json
import logging

from app.core.logging import build_handler
from app.jobs.broker import TaskiqJobQueue, build_broker

logger = logging.getLogger("tests.jobs.fields")


async def test_cfg04_job_lines_carry_job_task_and_image_id() -> None:
    stream = io.StringIO()
    handler = build_handler(json_logs=True, stream=stream)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    async def generate(image_id: int) -> None:
        logger.info("generating")

    queue = TaskiqJobQueue(build_broker(None), {"hairtryon.generate_image": generate})
    await queue.start()
    try:
        await queue.enqueue("hairtryon.generate_image", 42)
        await queue.drain()
        logger.info("after the job")
    finally:
        await queue.stop()
        logger.removeHandler(handler)
    inside, after = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["job"] == "hairtryon.generate_image"
    assert inside["image_id"] == "42"
    assert len(inside["job_id"]) >= 16
    assert not {"job", "job_id", "image_id"} & set(after)
