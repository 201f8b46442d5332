//! Unit tests of request parsing, validation against the model, and output shaping.

use serde_json::json;

use super::mlflow::{parse_request, Predictions};
use super::v2::{parse_infer, select_outputs, InferResponse, ModelMetadata};
use super::*;
use crate::error::ServingError;
use crate::model::{ColumnSpec, ColumnType, Signature};

const COLUMNS: [&str; 4] = [
    "sepal length (cm)",
    "sepal width (cm)",
    "petal length (cm)",
    "petal width (cm)",
];

/// An sklearn classifier as skl2onnx converts it: one input `X` of four floats, a label
/// and a ZipMap of probabilities; logged with a signature of four double columns.
fn iris() -> ModelInterface {
    ModelInterface {
        inputs: vec![InputSpec {
            name: "X".to_string(),
            dtype: Some(DType::Float32),
            shape: vec![-1, 4],
        }],
        outputs: vec![
            OutputSpec {
                name: "label".to_string(),
                kind: OutputKind::Tensor {
                    dtype: Some(DType::Int64),
                    shape: vec![-1],
                },
            },
            OutputSpec {
                name: "probabilities".to_string(),
                kind: OutputKind::SequenceOfMaps {
                    key: Some(DType::Int64),
                    value: Some(DType::Float32),
                },
            },
        ],
        signature: Some(Signature::Columns(
            COLUMNS
                .iter()
                .map(|name| ColumnSpec {
                    name: name.to_string(),
                    column_type: ColumnType::Double,
                    required: true,
                })
                .collect(),
        )),
    }
}

fn x(rows: usize, values: Vec<f32>) -> Vec<(String, Tensor)> {
    vec![(
        "X".to_string(),
        Tensor::new(vec![rows, 4], TensorData::Float32(values)).unwrap(),
    )]
}

fn mlflow(body: serde_json::Value) -> ServingResult<Vec<(String, Tensor)>> {
    let payload = parse_request(Some("application/json"), body.to_string().as_bytes())?;
    iris().feeds(payload)
}

fn bad(result: ServingResult<Vec<(String, Tensor)>>) -> String {
    match result {
        Err(ServingError::BadInput(message)) => message,
        other => panic!("expected a bad input, got {other:?}"),
    }
}

#[test]
fn dataframe_split_stacks_columns_in_signature_order() {
    // Columns in another order than the signature's: stacked in the signature's.
    let feeds = mlflow(json!({"dataframe_split": {
        "columns": [COLUMNS[3], COLUMNS[2], COLUMNS[1], COLUMNS[0]],
        "data": [[0.2, 1.4, 3.5, 5.1], [1.8, 5.1, 3.0, 5.9]]
    }}))
    .unwrap();
    assert_eq!(feeds, x(2, vec![5.1, 3.5, 1.4, 0.2, 5.9, 3.0, 5.1, 1.8]));
}

#[test]
fn dataframe_records_and_named_inputs_are_frames_too() {
    let records = mlflow(json!({"dataframe_records": [
        {COLUMNS[0]: 5.1, COLUMNS[1]: 3.5, COLUMNS[2]: 1.4, COLUMNS[3]: 0.2}
    ]}))
    .unwrap();
    assert_eq!(records, x(1, vec![5.1, 3.5, 1.4, 0.2]));
    let instances = mlflow(json!({"instances": [
        {COLUMNS[0]: 5.1, COLUMNS[1]: 3.5, COLUMNS[2]: 1.4, COLUMNS[3]: 0.2}
    ]}))
    .unwrap();
    assert_eq!(instances, records);
    let columns = mlflow(json!({"inputs": {
        COLUMNS[0]: [5.1], COLUMNS[1]: [3.5], COLUMNS[2]: [1.4], COLUMNS[3]: [0.2]
    }}))
    .unwrap();
    assert_eq!(columns, records);
}

#[test]
fn instances_and_inputs_as_rows_feed_the_graphs_input() {
    let rows = json!([[5.1, 3.5, 1.4, 0.2], [6, 3, 5, 2]]);
    let expected = x(2, vec![5.1, 3.5, 1.4, 0.2, 6.0, 3.0, 5.0, 2.0]);
    assert_eq!(mlflow(json!({"instances": rows})).unwrap(), expected);
    assert_eq!(mlflow(json!({"inputs": rows})).unwrap(), expected);
    assert_eq!(mlflow(json!({"inputs": {"X": rows}})).unwrap(), expected);
}

#[test]
fn a_missing_column_is_named() {
    let message = bad(mlflow(json!({"dataframe_split": {
        "columns": [COLUMNS[0], COLUMNS[1], COLUMNS[2]],
        "data": [[5.1, 3.5, 1.4]]
    }})));
    assert!(
        message.starts_with("missing column `petal width (cm)`"),
        "{message}"
    );
    assert!(message.contains("`sepal length (cm)`"), "{message}");
}

#[test]
fn an_unknown_column_is_named() {
    let message = bad(mlflow(json!({"dataframe_records": [
        {COLUMNS[0]: 5.1, COLUMNS[1]: 3.5, COLUMNS[2]: 1.4, COLUMNS[3]: 0.2, "colour": 1}
    ]})));
    assert!(message.starts_with("unknown column `colour`"), "{message}");
}

#[test]
fn a_value_of_the_wrong_type_names_column_and_row() {
    let message = bad(mlflow(json!({"dataframe_split": {
        "columns": COLUMNS,
        "data": [[5.1, 3.5, 1.4, 0.2], [5.1, "wide", 1.4, 0.2]]
    }})));
    assert!(message.contains("column `sepal width (cm)`"), "{message}");
    assert!(
        message.contains("row 1") && message.contains("\"wide\""),
        "{message}"
    );
    let message = bad(mlflow(json!({"instances": [[5.1, 3.5, 1.4, null]]})));
    assert!(
        message.contains("input `X`") && message.contains("null"),
        "{message}"
    );
}

#[test]
fn a_tensor_of_the_wrong_shape_is_refused_with_both_shapes() {
    let message = bad(mlflow(json!({"instances": [[5.1, 3.5, 1.4]]})));
    assert!(
        message.contains("input `X`") && message.contains("[-1, 4]") && message.contains("[1, 3]"),
        "{message}"
    );
    let message = bad(mlflow(json!({"inputs": [[5.1, 3.5], [1.4]]})));
    assert!(message.contains("different lengths"), "{message}");
}

#[test]
fn malformed_bodies_say_what_is_wrong() {
    let message = bad(mlflow(json!({"data": [[1, 2, 3, 4]]})));
    assert!(
        message.contains("exactly one of") && message.contains("`data`"),
        "{message}"
    );
    let message = bad(mlflow(
        json!({"instances": [[1, 2, 3, 4]], "inputs": [[1, 2, 3, 4]]}),
    ));
    assert!(message.contains("exactly one of"), "{message}");
    let message = bad(mlflow(
        json!({"dataframe_split": {"columns": COLUMNS, "data": [[1, 2]]}}),
    ));
    assert!(
        message.contains("row 0 has 2 values for 4 columns"),
        "{message}"
    );
    let error = parse_request(Some("application/json"), b"{not json").unwrap_err();
    assert!(error.to_string().contains("not valid JSON"), "{error}");
    let message = bad(mlflow(
        json!({"instances": [[1, 2, 3, 4]], "params": {"k": 1}}),
    ));
    assert!(message.contains("`params`"), "{message}");
}

#[test]
fn content_types_other_than_json_and_csv_are_415() {
    for content_type in [
        None,
        Some("text/html"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let error = parse_request(content_type, b"{}").unwrap_err();
        assert!(
            matches!(error, ServingError::UnsupportedMediaType(_)),
            "{error}"
        );
        assert_eq!(error.protocol_status(), 415);
    }
    let error = parse_infer(Some("text/plain"), None, b"{}").unwrap_err();
    assert_eq!(error.protocol_status(), 415);
}

#[test]
fn csv_bodies_are_frames_parsed_by_column_type() {
    let body = format!("{}\n5.1,3.5,1.4,0.2\n5.9,3.0,5.1,1.8\n", COLUMNS.join(","));
    let payload = parse_request(Some("text/csv; charset=utf-8"), body.as_bytes()).unwrap();
    assert_eq!(
        iris().feeds(payload).unwrap(),
        x(2, vec![5.1, 3.5, 1.4, 0.2, 5.9, 3.0, 5.1, 1.8])
    );
    let body = format!("{}\n5.1,x,1.4,0.2\n", COLUMNS.join(","));
    let payload = parse_request(Some("text/csv"), body.as_bytes()).unwrap();
    let message = bad(iris().feeds(payload));
    assert!(
        message.contains("column `sepal width (cm)`") && message.contains("\"x\""),
        "{message}"
    );
}

#[test]
fn without_a_signature_columns_go_to_inputs_of_their_names() {
    let interface = ModelInterface {
        inputs: vec![
            InputSpec {
                name: "age".into(),
                dtype: Some(DType::Int64),
                shape: vec![-1, 1],
            },
            InputSpec {
                name: "city".into(),
                dtype: Some(DType::String),
                shape: vec![-1, 1],
            },
        ],
        outputs: vec![],
        signature: None,
    };
    let payload = parse_request(
        Some("application/json"),
        json!({"dataframe_records": [{"age": 31, "city": "Oslo"}, {"age": 40, "city": "Bergen"}]})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let feeds = interface.feeds(payload).unwrap();
    assert_eq!(
        feeds[0],
        (
            "age".to_string(),
            Tensor::new(vec![2, 1], TensorData::Int64(vec![31, 40])).unwrap()
        )
    );
    assert_eq!(
        feeds[1],
        (
            "city".to_string(),
            Tensor::new(
                vec![2, 1],
                TensorData::String(vec!["Oslo".into(), "Bergen".into()])
            )
            .unwrap()
        )
    );
    let payload = parse_request(
        Some("application/json"),
        json!({"dataframe_records": [{"age": 31.5, "city": "Oslo"}]})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let message = bad(interface.feeds(payload));
    assert!(
        message.contains("column `age`") && message.contains("31.5"),
        "{message}"
    );
    let message = bad(interface.feeds(Payload::Single(Input::Json(JsonTensor {
        shape: vec![1],
        values: vec![json!(1)],
    }))));
    assert!(
        message.contains("takes 2 inputs") && message.contains("`age`, `city`"),
        "{message}"
    );
}

#[test]
fn v2_json_requests_take_nested_or_flat_data_of_the_declared_type() {
    let body = json!({"id": "r1", "inputs": [{"name": "X", "shape": [2, 4], "datatype": "FP64",
        "data": [[5.1, 3.5, 1.4, 0.2], [5.9, 3.0, 5.1, 1.8]]}]});
    let request = parse_infer(Some("application/json"), None, body.to_string().as_bytes()).unwrap();
    assert_eq!(request.id.as_deref(), Some("r1"));
    assert_eq!(
        iris().feeds(request.payload).unwrap(),
        x(2, vec![5.1, 3.5, 1.4, 0.2, 5.9, 3.0, 5.1, 1.8])
    );
    let body =
        json!({"inputs": [{"name": "X", "shape": [2, 4], "datatype": "FP32", "data": [1, 2, 3]}]});
    let error = parse_infer(None, None, body.to_string().as_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("input `X`") && error.contains("8 elements") && error.contains("has 3"),
        "{error}"
    );
    let body = json!({"inputs": [{"name": "X", "shape": [1, 4], "datatype": "INT64", "data": [1, 2, 3.5, 4]}]});
    let error = parse_infer(None, None, body.to_string().as_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("input `X` (INT64)") && error.contains("3.5"),
        "{error}"
    );
    let body = json!({"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP16", "data": [1, 2, 3, 4]}]});
    let error = parse_infer(None, None, body.to_string().as_bytes())
        .unwrap_err()
        .to_string();
    assert!(error.contains("`FP16` is not supported"), "{error}");
    let body = json!({"inputs": [{"name": "Y", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]});
    let request = parse_infer(None, None, body.to_string().as_bytes()).unwrap();
    let message = bad(iris().feeds(request.payload));
    assert!(message.contains("`Y`"), "{message}");
}

#[test]
fn v2_binary_tensors_follow_the_json_header() {
    let values: [f32; 4] = [5.1, 3.5, 1.4, 0.2];
    let header = json!({"inputs": [
        {"name": "X", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": 16}},
        {"name": "names", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": 13}}
    ], "parameters": {"binary_data_output": true}})
    .to_string();
    let mut body = header.clone().into_bytes();
    for value in values {
        body.extend_from_slice(&value.to_le_bytes());
    }
    for text in ["ab", "cde"] {
        body.extend_from_slice(&(text.len() as u32).to_le_bytes());
        body.extend_from_slice(text.as_bytes());
    }
    let length = header.len().to_string();
    let request = parse_infer(Some("application/octet-stream"), Some(&length), &body).unwrap();
    let Payload::Named(inputs) = request.payload else {
        panic!("named inputs")
    };
    assert_eq!(
        inputs[0].1,
        Input::Typed(Tensor::new(vec![1, 4], TensorData::Float32(values.to_vec())).unwrap())
    );
    assert_eq!(
        inputs[1].1,
        Input::Typed(
            Tensor::new(vec![2], TensorData::String(vec!["ab".into(), "cde".into()])).unwrap()
        )
    );
    // A size that does not match the shape, and bytes left over, are refused.
    let error = parse_infer(None, Some(&length), &body[..body.len() - 1])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("input `names`") && error.contains("only 12 bytes are left"),
        "{error}"
    );
    let mut longer = body.clone();
    longer.push(0);
    let error = parse_infer(None, Some(&length), &longer)
        .unwrap_err()
        .to_string();
    assert!(error.contains("1 bytes of binary data follow"), "{error}");
    let error = parse_infer(None, Some("99999"), &body)
        .unwrap_err()
        .to_string();
    assert!(error.contains("Inference-Header-Content-Length"), "{error}");
}

/// The JSON text a value is written as, read back (an `f32` is written as its shortest
/// text, `0.7`, which `to_value` would widen to `0.699999988…`).
fn as_json(value: &impl serde::Serialize) -> serde_json::Value {
    serde_json::from_str(&serde_json::to_string(value).unwrap()).unwrap()
}

fn iris_prediction() -> Prediction {
    let (probabilities, keys) = maps_to_matrix(vec![
        vec![(2_i64, 0.1_f32), (0, 0.7), (1, 0.2)],
        vec![(1, 0.5), (0, 0.25), (2, 0.25)],
    ])
    .unwrap();
    assert_eq!(keys, ["0", "1", "2"]);
    Prediction {
        outputs: vec![
            PredictionOutput {
                name: "label".into(),
                tensor: Tensor::new(vec![2], TensorData::Int64(vec![0, 1])).unwrap(),
                keys: None,
            },
            PredictionOutput {
                name: "probabilities".into(),
                tensor: probabilities,
                keys: Some(keys),
            },
        ],
    }
}

#[test]
fn zipmap_rows_become_probability_lists_in_class_order() {
    let prediction = iris_prediction();
    assert_eq!(
        as_json(&Predictions(&prediction)),
        json!({"predictions": [
            {"label": 0, "probabilities": [0.7, 0.2, 0.1]},
            {"label": 1, "probabilities": [0.25, 0.5, 0.25]}
        ]})
    );
    let error = maps_to_matrix(vec![vec![(0_i64, 1.0_f32)], vec![(1, 1.0)]]).unwrap_err();
    assert!(error.contains("row 1"), "{error}");
}

#[test]
fn one_output_answers_one_value_per_row() {
    let prediction = Prediction {
        outputs: vec![PredictionOutput {
            name: "variable".into(),
            tensor: Tensor::new(vec![2, 1], TensorData::Float32(vec![1.5, 2.25])).unwrap(),
            keys: None,
        }],
    };
    assert_eq!(
        serde_json::to_string(&Predictions(&prediction)).unwrap(),
        r#"{"predictions":[[1.5],[2.25]]}"#
    );
}

#[test]
fn v2_answers_typed_flat_tensors_and_selected_outputs() {
    let outputs = select_outputs(iris_prediction(), None).unwrap();
    let response = InferResponse {
        model_name: "iris",
        model_version: "3".into(),
        id: Some("r1"),
        outputs: &outputs,
    };
    assert_eq!(
        as_json(&response),
        json!({"model_name": "iris", "model_version": "3", "id": "r1", "outputs": [
            {"name": "label", "datatype": "INT64", "shape": [2], "data": [0, 1]},
            {"name": "probabilities", "datatype": "FP32", "shape": [2, 3], "data": [0.7, 0.2, 0.1, 0.25, 0.5, 0.25]}
        ]})
    );
    let only = select_outputs(iris_prediction(), Some(&["probabilities".to_string()])).unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].name, "probabilities");
    let error = select_outputs(iris_prediction(), Some(&["scores".to_string()]))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("unknown output `scores`") && error.contains("`label`, `probabilities`"),
        "{error}"
    );
}

#[test]
fn v2_metadata_describes_inputs_and_outputs() {
    let metadata = ModelMetadata::new("iris", 3, &iris());
    assert_eq!(
        serde_json::to_value(&metadata).unwrap(),
        json!({"name": "iris", "versions": ["3"], "platform": "onnxruntime_onnx",
            "inputs": [{"name": "X", "datatype": "FP32", "shape": [-1, 4]}],
            "outputs": [{"name": "label", "datatype": "INT64", "shape": [-1]},
                        {"name": "probabilities", "datatype": "FP32", "shape": [-1, -1]}]})
    );
}
