//! ONNX Runtime from a real `onnxruntime` wheel running a real skl2onnx conversion of a
//! scikit-learn model (the test venv, `scripts/test-requirements.txt`): the library is
//! found through the venv's Python, and the model's ai.onnx.ml operators (ZipMap,
//! LinearClassifier, Scaler, TreeEnsembleClassifier) answer what scikit-learn answers.

use std::path::PathBuf;

use plinth_serving::model::Signature;
use plinth_serving::protocol::mlflow::{parse_request, Predictions};
use plinth_serving::{OnnxRuntime, RuntimeSettings};

const MAKE_MODELS: &str = r#"
import json, sys
import numpy as np
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skl2onnx import to_onnx

X, y = load_iris(return_X_y=True)
X = X.astype(np.float32)
out = sys.argv[1]
answers = {}
for name, model in [
    ("logistic", make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))),
    ("forest", RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0)),
]:
    model.fit(X, y)
    onx = to_onnx(model, X[:1])
    with open(f"{out}/{name}.onnx", "wb") as f:
        f.write(onx.SerializeToString())
    answers[name] = {"labels": model.predict(X[:5]).tolist(),
                     "probabilities": model.predict_proba(X[:5]).tolist()}
json.dump({"rows": X[:5].tolist(), "answers": answers}, open(f"{out}/answers.json", "w"))
"#;

fn venv_python() -> Option<PathBuf> {
    std::env::var_os("PLINTH_TEST_VENV").map(|venv| PathBuf::from(venv).join("bin/python"))
}

#[test]
#[ignore = "needs PLINTH_TEST_VENV (onnxruntime, skl2onnx, scikit-learn)"]
fn sklearn_models_converted_by_skl2onnx_answer_as_sklearn_does() {
    let python = venv_python().expect("PLINTH_TEST_VENV is set");
    let folder = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(&python)
        .args(["-c", MAKE_MODELS])
        .arg(folder.path())
        .status()
        .unwrap();
    assert!(status.success(), "making the models failed");
    let answers: serde_json::Value =
        serde_json::from_slice(&fs_err::read(folder.path().join("answers.json")).unwrap()).unwrap();
    let runtime = OnnxRuntime::new(RuntimeSettings {
        library_path: None,
        python,
        intra_op_threads: 1,
    });
    let library = runtime.ensure().unwrap();
    assert!(
        library
            .to_string_lossy()
            .contains("onnxruntime/capi/libonnxruntime.so"),
        "{library:?}"
    );
    let rows = answers["rows"].clone();
    let body = serde_json::json!({ "instances": rows }).to_string();
    for name in ["logistic", "forest"] {
        let bytes = fs_err::read(folder.path().join(format!("{name}.onnx"))).unwrap();
        let signature = Signature::parse(
            r#"[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}]"#,
        )
        .unwrap();
        let model = runtime.load(&bytes, Some(signature)).unwrap();
        let payload = parse_request(Some("application/json"), body.as_bytes()).unwrap();
        let feeds = model.interface.feeds(payload).unwrap();
        let prediction = model.run(feeds).unwrap();
        let written: serde_json::Value =
            serde_json::from_str(&serde_json::to_string(&Predictions(&prediction)).unwrap())
                .unwrap();
        let expected = &answers["answers"][name];
        // skl2onnx names them `output_label` and `output_probability` (a ZipMap).
        let names: Vec<&str> = model
            .interface
            .outputs
            .iter()
            .map(|output| output.name.as_str())
            .collect();
        assert_eq!(names, ["output_label", "output_probability"]);
        for (row, answer) in written["predictions"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            assert_eq!(
                answer["output_label"], expected["labels"][row],
                "{name} row {row}"
            );
            let got = answer["output_probability"].as_array().unwrap();
            let want = expected["probabilities"][row].as_array().unwrap();
            assert_eq!(got.len(), 3, "{name}: {answer}");
            for (g, w) in got.iter().zip(want) {
                assert!(
                    (g.as_f64().unwrap() - w.as_f64().unwrap()).abs() < 1e-5,
                    "{name} row {row}: {got:?} vs {want:?}"
                );
            }
        }
    }
}
