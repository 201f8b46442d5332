//! IR parsing and the checks made at submission, on what `kfp==2.17.3` compiles
//! (`tests-data/chain.yaml`: parameters of every type, an artifact, `dsl.If` twice).

use serde_json::json;

use crate::ir::{dependencies, find_cycle, parse_package, ParameterType, Resolved};

const CHAIN: &str = include_str!("../tests-data/chain.yaml");

fn mutated(change: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut value: serde_json::Value = serde_norway::from_str(CHAIN).unwrap();
    change(&mut value);
    serde_json::to_string(&value).unwrap()
}

fn refusal(text: &str) -> String {
    parse_package(text).unwrap_err().message()
}

#[test]
fn the_compilers_output_is_read() {
    let package = parse_package(CHAIN).unwrap();
    let spec = package.spec;
    assert_eq!(spec.pipeline_info.name, "chain");
    assert!(package.platform_spec.is_none());
    let root = &spec.root.input_definitions.parameters;
    assert_eq!(root["n"].parameter_type, ParameterType::NumberInteger);
    assert_eq!(root["n"].default_value, Some(json!(3.0)));
    assert_eq!(root["cfg"].parameter_type, ParameterType::Struct);
    assert!(root["tags"].is_optional);
    let dag = spec.root.dag.as_ref().unwrap();
    assert_eq!(
        dag.tasks["condition-1"]
            .trigger_policy
            .as_ref()
            .unwrap()
            .condition
            .as_deref(),
        Some("inputs.parameter_values['pipelinechannel--flip-Output'] == 'heads'")
    );
    match spec.resolve("comp-make").unwrap() {
        Resolved::Container(_, container) => {
            assert_eq!(container.image, "python:3.11");
            assert_eq!(container.args[1], "{{$}}");
        }
        Resolved::Dag(..) => panic!("comp-make is a container"),
    }
    assert!(matches!(
        spec.resolve("comp-condition-1").unwrap(),
        Resolved::Dag(..)
    ));
    // Order: write waits for make; read for write; the condition for flip and write.
    let upstream = dependencies(dag);
    assert!(upstream["write"].contains("make"));
    assert!(upstream["read"].contains("write"));
    assert!(upstream["condition-1"].contains("flip") && upstream["condition-1"].contains("write"));
    assert!(upstream["make"].is_empty());
    assert!(find_cycle(dag).is_none());
}

#[test]
fn a_second_document_is_the_platform_spec() {
    let text = format!("{CHAIN}\n---\nplatforms:\n  kubernetes:\n    deploymentSpec: {{}}\n");
    let package = parse_package(&text).unwrap();
    assert_eq!(
        package.platform_spec.unwrap()["platforms"]["kubernetes"],
        json!({"deploymentSpec": {}})
    );
}

#[test]
fn bad_pipelines_are_refused_naming_the_task_and_field() {
    assert!(refusal("a: [").contains("not a YAML or JSON document"));
    assert!(
        refusal("apiVersion: argoproj.io/v1alpha1\nkind: Workflow\n")
            .contains("not a PipelineSpec")
    );
    assert!(refusal("name: x\nimplementation: {}\n").contains("looks like a component"));
    let importer = mutated(|v| {
        v["deploymentSpec"]["executors"]["exec-flip"] =
            json!({ "importer": { "artifactUri": {} } });
    });
    let message = refusal(&importer);
    assert!(
        message.contains("executor `exec-flip` is an importer"),
        "{message}"
    );
    let unknown = mutated(|v| {
        v["deploymentSpec"]["executors"]["exec-flip"] = json!({ "somethingNew": {} });
    });
    assert!(refusal(&unknown).contains("executor `exec-flip` is of an unknown kind"));
    let cycle = mutated(|v| {
        v["root"]["dag"]["tasks"]["make"]["dependentTasks"] = json!(["read"]);
    });
    let message = refusal(&cycle);
    assert!(
        message.contains("cycle") && message.contains("make"),
        "{message}"
    );
    let missing = mutated(|v| {
        v["root"]["dag"]["tasks"]["make"]["inputs"]["parameters"]
            .as_object_mut()
            .unwrap()
            .remove("n");
    });
    let message = refusal(&missing);
    assert!(
        message.contains("task `make`") && message.contains("required input parameter `n`"),
        "{message}"
    );
    let dangling = mutated(|v| {
        v["root"]["dag"]["tasks"]["write"]["dependentTasks"] = json!(["nope"]);
    });
    let message = refusal(&dangling);
    assert!(
        message.contains("task `write`") && message.contains("`nope`"),
        "{message}"
    );
    let undeclared = mutated(|v| {
        v["root"]["dag"]["tasks"]["flip"]["inputs"] =
            json!({ "parameters": { "zz": { "componentInputParameter": "nope" } } });
    });
    let message = refusal(&undeclared);
    assert!(
        message.contains("task `flip`") && message.contains("`nope`"),
        "{message}"
    );
    let bad_condition = mutated(|v| {
        v["root"]["dag"]["tasks"]["condition-1"]["triggerPolicy"]["condition"] = json!("((");
    });
    let message = refusal(&bad_condition);
    assert!(
        message.contains("task `condition-1`") && message.contains("triggerPolicy.condition"),
        "{message}"
    );
    let bad_type = mutated(|v| {
        v["root"]["inputDefinitions"]["parameters"]["n"]["parameterType"] = json!("COMPLEX");
    });
    assert!(refusal(&bad_type).contains("COMPLEX"));
    let loop_task = mutated(|v| {
        v["root"]["dag"]["tasks"]["flip"]["parameterIterator"] =
            json!({ "items": { "raw": "[1]" } });
    });
    assert!(refusal(&loop_task).contains("not supported yet"));
}
