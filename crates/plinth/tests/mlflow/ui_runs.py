"""Logs what the browser test then looks for in the UI, with the unmodified client: an
experiment with two runs, each with params, a loss history of 300 steps (with times), a
text file, a PNG image and a CSV table. Prints the experiment and run ids as JSON."""

import json
import os
import struct
import tempfile
import time
import zlib

import mlflow
from mlflow.entities import Metric

from common import client


def png(width, height):
    """A small gradient PNG, encoded by hand (no imaging library needed)."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 160)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def log_run(c, experiment_id, name, lr, final_loss, tmp):
    run = c.create_run(experiment_id, run_name=name)
    run_id = run.info.run_id
    c.log_param(run_id, "lr", lr)
    c.log_param(run_id, "optimizer", "adam")
    start = int(time.time() * 1000) - 300_000
    steps = 300
    metrics = []
    for step in range(steps):
        # Falls from 2.0 towards final_loss, with a wiggle.
        loss = final_loss + (2.0 - final_loss) * (1 - step / (steps - 1)) ** 2 + 0.02 * ((step % 7) - 3) / 3
        if step == steps - 1:
            loss = final_loss
        metrics.append(Metric("loss", loss, start + step * 1000, step))
        metrics.append(Metric("accuracy", 1 - loss / 2.5, start + step * 1000, step))
    for offset in range(0, len(metrics), 1000):
        c.log_batch(run_id, metrics=metrics[offset : offset + 1000])
    notes = os.path.join(tmp, f"{name}-notes.txt")
    with open(notes, "w") as f:
        f.write(f"run {name}: <b>not bold</b> & plain text\nsecond line\n")
    c.log_artifact(run_id, notes)
    image = os.path.join(tmp, "curve.png")
    with open(image, "wb") as f:
        f.write(png(48, 32))
    c.log_artifact(run_id, image, "plots")
    table = os.path.join(tmp, "predictions.csv")
    with open(table, "w") as f:
        f.write("id,label,score\n")
        for row in range(30):
            f.write(f'{row},"class, {row % 3}",{row / 30:.3f}\n')
    c.log_artifact(run_id, table, "data")
    c.set_terminated(run_id)
    return run_id


def main():
    c = client()
    experiment_id = c.create_experiment("ui-browser")
    c.set_experiment_tag(experiment_id, "team", "vision")
    with tempfile.TemporaryDirectory() as tmp:
        good = log_run(c, experiment_id, "good-run", "0.01", 0.1, tmp)
        bad = log_run(c, experiment_id, "bad-run", "0.5", 0.9, tmp)
    # The registry: version 1 of `vision-model` from the good run, aliased `champion`.
    c.create_registered_model("vision-model", description="the good run, registered")
    c.create_model_version("vision-model", f"runs:/{good}/plots", run_id=good)
    c.set_registered_model_alias("vision-model", "champion", "1")
    c.transition_model_version_stage("vision-model", "1", "Staging")
    # The client sees what it logged.
    found = mlflow.search_runs([experiment_id], filter_string="metrics.loss < 0.5", output_format="list")
    assert [run.info.run_id for run in found] == [good], found
    print(json.dumps({"experiment_id": experiment_id, "good": good, "bad": bad}))


if __name__ == "__main__":
    main()
