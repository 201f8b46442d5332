"""KServe's Python model server with a scikit-learn model, as its docs set one up: the
serving benchmark's competitor. Usage: kserve_server.py NAME MODEL.joblib PORT"""
import json
import sys

import joblib
import kserve
import numpy as np


class SklearnModel(kserve.Model):
    def __init__(self, name, path):
        super().__init__(name)
        self.path = path
        self.model = None
        self.load()

    def load(self):
        self.model = joblib.load(self.path)
        self.ready = True
        return self.ready

    def predict(self, payload, headers=None):
        if isinstance(payload, (bytes, bytearray)):
            payload = json.loads(payload)
        instances = np.asarray(payload["instances"], dtype=np.float32)
        return {"predictions": self.model.predict(instances).tolist()}


if __name__ == "__main__":
    name, path, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    # Its best configuration here: REST only, no per-request latency log line. (Two uvicorn
    # workers need the model picklable to each process; one worker is what its docs run.)
    kserve.ModelServer(
        http_port=port, enable_grpc=False, enable_latency_logging=False, workers=1
    ).start([SklearnModel(name, path)])
