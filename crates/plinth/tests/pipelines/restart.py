"""Submits a three-step chain whose middle step sleeps, for the restart test; prints the
run's id. Environment: KFP_HOST, KFP_TOKEN."""

import os

import kfp
from kfp import dsl


@dsl.component
def first() -> str:
    return "one"


@dsl.component
def slow(x: str) -> str:
    import time

    time.sleep(8)
    return x + "-two"


@dsl.component
def last(x: str) -> str:
    return x + "-three"


@dsl.pipeline(name="restart")
def chain():
    a = first()
    b = slow(x=a.output)
    last(x=b.output)


client = kfp.Client(host=os.environ["KFP_HOST"], existing_token=os.environ["KFP_TOKEN"])
print(client.create_run_from_pipeline_func(chain, arguments={}).run_id)
