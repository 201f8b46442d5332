"""The pipelines of the pipeline benchmark, written with the kfp SDK as users write them:
a chain of N lightweight steps (each adds one to its input) and a 50-wide ParallelFor
whose results a last step sums (dsl.Collected)."""
from typing import List

from kfp import dsl


@dsl.component(base_image="python:3.11")
def add_one(x: int) -> int:
    return x + 1


@dsl.component(base_image="python:3.11")
def square(x: int) -> int:
    return x * x


@dsl.component(base_image="python:3.11")
def total(values: List[int]) -> int:
    return sum(values)


@dsl.component(base_image="python:3.11")
def total_float(values: List[float]) -> float:
    return float(sum(values))


def chain(steps: int):
    @dsl.pipeline(name=f"chain-{steps}")
    def pipeline(start: int = 0) -> int:
        task = add_one(x=start)
        for _ in range(steps - 1):
            task = add_one(x=task.output)
        return task.output

    return pipeline


# Timed: the collected squares summed as floats, which both systems run.
@dsl.pipeline(name="fan-out-50")
def fan_out() -> float:
    with dsl.ParallelFor(items=list(range(50))) as item:
        squared = square(x=item)
    return total_float(values=dsl.Collected(squared.output)).output


# Correctness only: collected ints must reach `List[int]` as ints (kfp.local hands them over
# as doubles, and the step fails).
@dsl.pipeline(name="collected-ints")
def collected_ints() -> int:
    with dsl.ParallelFor(items=[1, 2, 3]) as item:
        squared = square(x=item)
    return total(values=dsl.Collected(squared.output)).output


def expected(name: str):
    return {"fan-out-50": float(sum(i * i for i in range(50))), "collected-ints": 14}.get(
        name, int(name.split("-")[-1]) if name.startswith("chain") else None)


PIPELINES = {"chain-1": chain(1), "chain-2": chain(2), "chain-10": chain(10),
             "fan-out-50": fan_out, "collected-ints": collected_ints}
